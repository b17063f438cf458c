//! OBS Studio's websocket (obs-websocket protocol v5, built into OBS 28 and later), for
//! `vodnest watch --obs`: which file a recording writes and when OBS is done with it.
//!
//! The client speaks JSON (`obswebsocket.json`): the server's Hello (op 0) may carry an
//! authentication challenge; the Identify (op 1) answers it and subscribes to the Outputs
//! events only; Identified (op 2) opens the session; then the Events (op 5)
//! `RecordStateChanged` and `RecordFileChanged` become [`Recording`]s, and every other message
//! is ignored. A refused identification (wrong password, unsupported version) is an error for
//! the person at the terminal; a lost connection is retried with a capped backoff.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::CliError;

/// The JSON flavour of the protocol (the other one is MessagePack).
const SUBPROTOCOL: &str = "obswebsocket.json";
/// The RPC version this client speaks.
const RPC_VERSION: u32 = 1;
/// `EventSubscription::Outputs`: the recording's events, nothing else.
const OUTPUT_EVENTS: u32 = 1 << 6;
/// `WebSocketCloseCode::AuthenticationFailed` and `UnsupportedRpcVersion`.
const AUTHENTICATION_FAILED: u16 = 4009;
const UNSUPPORTED_RPC_VERSION: u16 = 4010;
/// Connecting and identifying take this long at most (a guard against a server that is not
/// OBS and never says Hello).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the first reconnection, doubled at each failure up to the cap.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The password of OBS's websocket server; never shown (`Debug` hides it).
#[derive(Clone)]
pub struct Password(String);

impl std::str::FromStr for Password {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

/// What OBS said about its recording.
#[derive(Debug, PartialEq, Eq)]
pub enum Recording {
    /// A recording started writing this file (recent versions of OBS name it; where it is not
    /// named, the folder watch finds the file).
    Started(Option<PathBuf>),
    /// The recording stopped: OBS is done with this file (with the one it was writing, when it
    /// does not say).
    Stopped(Option<PathBuf>),
    /// OBS split the recording (automatic file splitting): the file it wrote is done, it now
    /// writes this one.
    Split(PathBuf),
}

/// Why there is no session.
#[derive(Debug)]
enum Failure {
    /// OBS (or whatever answers) refused this client: trying again cannot help.
    Refused(String),
    /// OBS could not be reached, or the connection broke: worth another try.
    Unreachable(String),
}

/// The `authentication` string of an Identify: base64(sha256(base64(sha256(password + salt))
/// + challenge)).
fn authentication(password: &str, salt: &str, challenge: &str) -> String {
    let secret = BASE64.encode(Sha256::digest(format!("{password}{salt}")));
    BASE64.encode(Sha256::digest(format!("{secret}{challenge}")))
}

/// The base object of every message.
#[derive(Deserialize)]
struct Envelope {
    op: u8,
    #[serde(default)]
    d: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hello {
    rpc_version: u32,
    authentication: Option<Challenge>,
}

#[derive(Deserialize)]
struct Challenge {
    challenge: String,
    salt: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_type: String,
    #[serde(default)]
    event_data: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordStateChanged {
    output_state: String,
    #[serde(default)]
    output_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordFileChanged {
    new_output_path: String,
}

/// The [`Recording`] a text frame tells, if it is one of the events this client reads; any
/// other message, and a malformed one, is `None`.
fn recording(text: &str) -> Option<Recording> {
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    if envelope.op != 5 {
        return None;
    }
    let event: Event = serde_json::from_value(envelope.d).ok()?;
    let path = |p: String| (!p.is_empty()).then(|| PathBuf::from(p));
    match event.event_type.as_str() {
        "RecordStateChanged" => {
            let state: RecordStateChanged = serde_json::from_value(event.event_data).ok()?;
            let file = state.output_path.and_then(path);
            match state.output_state.as_str() {
                "OBS_WEBSOCKET_OUTPUT_STARTED" => Some(Recording::Started(file)),
                "OBS_WEBSOCKET_OUTPUT_STOPPED" => Some(Recording::Stopped(file)),
                _ => None,
            }
        }
        "RecordFileChanged" => {
            let changed: RecordFileChanged = serde_json::from_value(event.event_data).ok()?;
            path(changed.new_output_path).map(Recording::Split)
        }
        _ => None,
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An identified connection to OBS.
struct Session {
    socket: Socket,
}

impl Session {
    /// Connects and identifies, within [`HANDSHAKE_TIMEOUT`].
    async fn open(url: &str, password: Option<&Password>) -> Result<Self, Failure> {
        let handshake = async {
            let mut request = url
                .into_client_request()
                .map_err(|e| Failure::Refused(format!("{url} is not a websocket URL ({e})")))?;
            request.headers_mut().insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
            let (mut socket, _) = tokio_tungstenite::connect_async(request)
                .await
                .map_err(connect_failure)?;
            identify(&mut socket, password).await?;
            Ok(Self { socket })
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Unreachable(
                    "no answer to the identification".into(),
                ))
            })
    }

    /// The next recording event; an error (why) once the connection is lost.
    async fn next(&mut self) -> Result<Recording, String> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(recording) = recording(text.as_str()) {
                        return Ok(recording);
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(closed(frame.as_ref())),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.to_string()),
                None => return Err("the connection ended".into()),
            }
        }
    }
}

/// Hello, Identify, Identified.
async fn identify(socket: &mut Socket, password: Option<&Password>) -> Result<(), Failure> {
    let hello: Hello = serde_json::from_value(expect(socket, 0).await?).map_err(|e| {
        Failure::Refused(format!("OBS's Hello is not what this client reads ({e})"))
    })?;
    if hello.rpc_version < RPC_VERSION {
        return Err(Failure::Refused(format!(
            "OBS speaks RPC version {}, this client needs {RPC_VERSION} (obs-websocket 5)",
            hello.rpc_version
        )));
    }
    let mut identify = json!({"rpcVersion": RPC_VERSION, "eventSubscriptions": OUTPUT_EVENTS});
    if let Some(challenge) = hello.authentication {
        let Some(Password(password)) = password else {
            return Err(Failure::Refused(
                "OBS's websocket server asks for a password: pass --obs-password or set VODNEST_OBS_PASSWORD".into(),
            ));
        };
        identify["authentication"] =
            authentication(password, &challenge.salt, &challenge.challenge).into();
    }
    let text = json!({"op": 1, "d": identify}).to_string();
    socket
        .send(Message::text(text))
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    expect(socket, 2).await.map(drop)
}

/// The data of the next message, which must have opcode `op`; OBS closing the connection
/// instead says why it refused.
async fn expect(socket: &mut Socket, op: u8) -> Result<Value, Failure> {
    loop {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(Failure::Unreachable(err.to_string())),
            None => return Err(Failure::Unreachable("the connection ended".into())),
        };
        match message {
            Message::Text(text) => {
                let envelope: Envelope = serde_json::from_str(text.as_str()).map_err(|e| {
                    Failure::Refused(format!("the server does not speak obs-websocket ({e})"))
                })?;
                if envelope.op == op {
                    return Ok(envelope.d);
                }
            }
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let why = closed(frame.as_ref());
                return Err(match code {
                    Some(AUTHENTICATION_FAILED) => Failure::Refused(format!(
                        "OBS refused the password (authentication failed: {why}); check --obs-password or VODNEST_OBS_PASSWORD"
                    )),
                    Some(UNSUPPORTED_RPC_VERSION) => Failure::Refused(format!(
                        "OBS does not speak RPC version {RPC_VERSION} ({why})"
                    )),
                    Some(_) => Failure::Refused(format!("OBS refused the identification ({why})")),
                    None => Failure::Unreachable(why),
                });
            }
            _ => {}
        }
    }
}

/// Words for a close frame.
fn closed(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(frame) if frame.reason.is_empty() => {
            format!("closed with code {}", u16::from(frame.code))
        }
        Some(frame) => format!(
            "closed with code {}: {}",
            u16::from(frame.code),
            frame.reason.as_str()
        ),
        None => "closed".into(),
    }
}

/// Errors of the websocket connection: a bad URL or an answer that is not a websocket
/// upgrade is refused for good; anything else (nothing listens yet, OBS is starting) is not.
fn connect_failure(err: tungstenite::Error) -> Failure {
    use tungstenite::Error;
    match err {
        Error::Url(e) => Failure::Refused(format!("cannot connect to OBS: {e}")),
        Error::Http(response) => Failure::Refused(format!(
            "the server answered HTTP {} instead of obs-websocket",
            response.status()
        )),
        Error::Protocol(e) => Failure::Refused(format!("the server is not obs-websocket ({e})")),
        other => Failure::Unreachable(other.to_string()),
    }
}

/// OBS's recording events, for as long as the watcher runs: reconnects after a loss. Dropping
/// it stops the connection.
pub struct Link {
    /// A recording event, or why OBS refused this client (the watcher stops).
    updates: mpsc::Receiver<Result<Recording, CliError>>,
    task: JoinHandle<()>,
}

impl Link {
    /// Connects to OBS at `url`. A refusal (wrong or missing password, a server that is not
    /// obs-websocket 5) is an error now; OBS not running yet is not (it is tried again).
    pub async fn start(url: String, password: Option<Password>) -> Result<Self, CliError> {
        let first = match Session::open(&url, password.as_ref()).await {
            Ok(session) => Some(session),
            Err(Failure::Refused(why)) => return Err(CliError(why)),
            Err(Failure::Unreachable(why)) => {
                eprintln!(
                    "cannot reach OBS at {url} yet ({why}); trying again in {} s",
                    FIRST_RETRY.as_secs()
                );
                None
            }
        };
        let (tx, updates) = mpsc::channel(16);
        let task = tokio::spawn(keep_up(url, password, first, tx));
        Ok(Self { updates, task })
    }

    /// The next event; waits forever once the link ended.
    pub async fn next(&mut self) -> Result<Recording, CliError> {
        match self.updates.recv().await {
            Some(update) => update,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Passes the session's events on; after a loss (or without a first session), connects again
/// after a wait that doubles at each failure (reset by a session that worked). Ends when the
/// watcher stops listening or OBS refuses this client.
async fn keep_up(
    url: String,
    password: Option<Password>,
    mut session: Option<Session>,
    tx: mpsc::Sender<Result<Recording, CliError>>,
) {
    let mut wait = FIRST_RETRY;
    loop {
        if let Some(mut open) = session.take() {
            eprintln!("connected to OBS at {url}");
            wait = FIRST_RETRY;
            let why = loop {
                match open.next().await {
                    Ok(recording) => {
                        if tx.send(Ok(recording)).await.is_err() {
                            return;
                        }
                    }
                    Err(why) => break why,
                }
            };
            eprintln!(
                "lost the connection to OBS ({why}); reconnecting in {} s (files are still followed meanwhile)",
                wait.as_secs()
            );
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RETRY);
        match Session::open(&url, password.as_ref()).await {
            Ok(open) => session = Some(open),
            Err(Failure::Refused(why)) => {
                // The send fails only when the watcher stopped listening.
                let _ = tx.send(Err(CliError(why))).await;
                return;
            }
            Err(Failure::Unreachable(why)) => eprintln!(
                "cannot reach OBS at {url} ({why}); trying again in {} s",
                wait.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authentication_string_is_the_protocols() {
        // The example of obs-websocket's protocol.md ("Creating an authentication string"),
        // computed independently with Python:
        //   secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
        //   base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest())
        let auth = authentication(
            "supersecretpassword",
            "lM1GncleQOaCu9lT1yeUZhFYnqhsLLP1G5lAGo3ixaI=",
            "+IxH4CnCiqpX1rM9scsNynZzbOe4KhDeYcTNS3PDaeY=",
        );
        assert_eq!(auth, "1Ct943GAT+6YQUUX47Ia/ncufilbe6+oD6lY+5kaCu4=");
    }

    fn event(kind: &str, data: Value) -> String {
        json!({"op": 5, "d": {"eventType": kind, "eventIntent": 64, "eventData": data}}).to_string()
    }

    #[test]
    fn recording_events_are_read() {
        let state = |active: bool, state: &str, path: Value| json!({"outputActive": active, "outputState": state, "outputPath": path});
        let cases = [
            (
                "RecordStateChanged",
                state(true, "OBS_WEBSOCKET_OUTPUT_STARTED", "/rec/a.mkv".into()),
                Recording::Started(Some("/rec/a.mkv".into())),
            ),
            (
                "RecordStateChanged",
                state(false, "OBS_WEBSOCKET_OUTPUT_STOPPED", "/rec/a.mkv".into()),
                Recording::Stopped(Some("/rec/a.mkv".into())),
            ),
            // Older versions of OBS name no file on STARTED (`null`).
            (
                "RecordStateChanged",
                state(true, "OBS_WEBSOCKET_OUTPUT_STARTED", Value::Null),
                Recording::Started(None),
            ),
            (
                "RecordFileChanged",
                json!({"newOutputPath": "/rec/b.mkv"}),
                Recording::Split("/rec/b.mkv".into()),
            ),
        ];
        for (kind, data, expected) in cases {
            assert_eq!(recording(&event(kind, data)), Some(expected), "{kind}");
        }
    }

    #[test]
    fn other_and_malformed_messages_are_ignored() {
        let stopping = event(
            "RecordStateChanged",
            json!({"outputActive": false, "outputState": "OBS_WEBSOCKET_OUTPUT_STOPPING"}),
        );
        let scene = event("CurrentProgramSceneChanged", json!({"sceneName": "Game"}));
        let wrong_type = event("RecordStateChanged", json!({"outputState": 3}));
        let no_data = json!({"op": 5, "d": {"eventType": "RecordFileChanged"}}).to_string();
        let response = json!({"op": 7, "d": {"requestType": "GetVersion"}}).to_string();
        for text in [
            stopping.as_str(),
            &scene,
            &wrong_type,
            &no_data,
            &response,
            "not json",
            "{}",
        ] {
            assert_eq!(recording(text), None, "{text}");
        }
    }

    #[test]
    fn the_password_is_not_shown() {
        let password: Password = "hunter2".parse().unwrap_or_else(|e| match e {});
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
