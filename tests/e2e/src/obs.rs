//! An OBS Studio stand-in for the tests of `vodnest watch --obs`: an obs-websocket 5 server on
//! 127.0.0.1 that asks for a password, checks the client's Identify (RPC version, the Outputs
//! events, the authentication string) and then sends the recording events a test asks for.
//! The authentication string it expects was computed beforehand with Python, so the check
//! does not reuse the client's own code. A wrong one is refused as OBS refuses it: the
//! connection is closed with code 4009 (AuthenticationFailed). It can also drop its client,
//! as a crashed OBS would, and take the next one.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The password the stand-in's server is set up with.
pub const PASSWORD: &str = "obs-stand-in password";
const SALT: &str = "c2FsdC1mb3ItdGVzdHM=";
const CHALLENGE: &str = "Y2hhbGxlbmdlLWZvci10ZXN0cw==";
/// The authentication string for [`PASSWORD`], [`SALT`] and [`CHALLENGE`], from Python:
/// `b64(sha256(b64(sha256((PASSWORD + SALT).encode()).digest()) + CHALLENGE.encode()).digest())`
/// with `b64 = base64.b64encode` and `sha256 = hashlib.sha256`.
const AUTHENTICATION: &str = "cDlxhrDKYgTr/f3w3Inv6iBaJPPzFlbmNWiNsODDMxg=";
/// `EventSubscription::Outputs`, where the recording's events are.
const OUTPUT_EVENTS: u64 = 1 << 6;
const SUBPROTOCOL: &str = "obswebsocket.json";

/// How many clients the stand-in let in, and how many it refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clients {
    pub identified: u32,
    pub refused: u32,
}

/// A running stand-in; dropping it stops the server.
pub struct ObsStandIn {
    /// `ws://127.0.0.1:PORT`
    pub url: String,
    outbox: mpsc::UnboundedSender<Out>,
    clients: watch::Receiver<Clients>,
    server: JoinHandle<()>,
}

impl ObsStandIn {
    /// Listens on an ephemeral port of 127.0.0.1, one client at a time.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}", listener.local_addr()?);
        let (outbox, to_send) = mpsc::unbounded_channel();
        let (count, clients) = watch::channel(Clients::default());
        let server = tokio::spawn(serve(listener, to_send, count));
        Ok(Self {
            url,
            outbox,
            clients,
            server,
        })
    }

    /// Waits until `enough` says yes to the clients let in and refused (30 s at most).
    pub async fn clients(&mut self, enough: impl Fn(&Clients) -> bool) -> Result<Clients> {
        let waited = tokio::time::timeout(Duration::from_secs(30), self.clients.wait_for(enough))
            .await
            .map(|seen| seen.map(|clients| *clients));
        match waited {
            Ok(Ok(clients)) => Ok(clients),
            Ok(Err(_)) => bail!("the OBS stand-in stopped"),
            Err(_) => bail!("clients of the OBS stand-in: {:?}", *self.clients.borrow()),
        }
    }

    /// `RecordStateChanged` with `OBS_WEBSOCKET_OUTPUT_STARTED` naming `file`.
    pub fn record_started(&self, file: &Path) -> Result<()> {
        self.record_state(true, "OBS_WEBSOCKET_OUTPUT_STARTED", file)
    }

    /// `RecordStateChanged` with `OBS_WEBSOCKET_OUTPUT_STOPPED` for `file`.
    pub fn record_stopped(&self, file: &Path) -> Result<()> {
        self.record_state(false, "OBS_WEBSOCKET_OUTPUT_STOPPED", file)
    }

    fn record_state(&self, active: bool, state: &str, file: &Path) -> Result<()> {
        let data = json!({"outputActive": active, "outputState": state, "outputPath": file});
        self.event("RecordStateChanged", data)
    }

    /// Sends an event (op 5) of the Outputs category to the client, once one is identified.
    pub fn event(&self, kind: &str, data: Value) -> Result<()> {
        let event = json!({"op": 5, "d": {"eventType": kind, "eventIntent": OUTPUT_EVENTS, "eventData": data}});
        self.send(Out::Event(event))
    }

    /// Drops the connection of the client without a close frame (OBS crashed or quit).
    pub fn drop_client(&self) -> Result<()> {
        self.send(Out::Drop)
    }

    fn send(&self, out: Out) -> Result<()> {
        self.outbox
            .send(out)
            .ok()
            .context("the OBS stand-in stopped")
    }
}

/// What the test has the stand-in do with its client.
enum Out {
    Event(Value),
    Drop,
}

impl Drop for ObsStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    listener: TcpListener,
    mut outbox: mpsc::UnboundedReceiver<Out>,
    clients: watch::Sender<Clients>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, json_subprotocol).await
        else {
            continue;
        };
        match identify(&mut socket).await {
            Ok(()) => {
                clients.send_modify(|c| c.identified += 1);
                send_events(&mut socket, &mut outbox).await;
            }
            Err(_) => clients.send_modify(|c| c.refused += 1),
        }
    }
}

/// Accepts only a client that asks for JSON, and says it speaks it.
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
fn json_subprotocol(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let asked = request
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == SUBPROTOCOL));
    if !asked {
        let mut refusal = ErrorResponse::new(Some("obswebsocket.json only".into()));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    response.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(response)
}

/// Hello with a challenge, the client's Identify checked, Identified; a client that fails the
/// check is closed with OBS's code for it.
async fn identify(socket: &mut WebSocketStream<TcpStream>) -> Result<()> {
    let hello = json!({"op": 0, "d": {
        "obsWebSocketVersion": "5.5.0", "rpcVersion": 1,
        "authentication": {"challenge": CHALLENGE, "salt": SALT},
    }});
    socket.send(Message::text(hello.to_string())).await?;
    let identify: Value = loop {
        match socket.next().await.context("the client left")?? {
            Message::Text(text) => break serde_json::from_str(text.as_str())?,
            Message::Close(_) => bail!("the client left"),
            _ => {}
        }
    };
    let d = &identify["d"];
    let (code, why) = if identify["op"] != 1 || d["rpcVersion"] != 1 {
        (4007, "Identify expected with rpcVersion 1.")
    } else if d["eventSubscriptions"]
        .as_u64()
        .is_none_or(|s| s & OUTPUT_EVENTS == 0)
    {
        (4005, "The Outputs events are needed.")
    } else if d["authentication"] != AUTHENTICATION {
        (4009, "Authentication failed.")
    } else {
        let identified = json!({"op": 2, "d": {"negotiatedRpcVersion": 1}});
        socket.send(Message::text(identified.to_string())).await?;
        return Ok(());
    };
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: why.into(),
    };
    socket.send(Message::Close(Some(frame))).await?;
    bail!("{why}")
}

/// Sends the test's events until the client leaves or the test drops it.
async fn send_events(
    socket: &mut WebSocketStream<TcpStream>,
    outbox: &mut mpsc::UnboundedReceiver<Out>,
) {
    loop {
        tokio::select! {
            out = outbox.recv() => {
                let Some(Out::Event(event)) = out else { return };
                if socket.send(Message::text(event.to_string())).await.is_err() {
                    return;
                }
            }
            message = socket.next() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
