//! The HTTP/1.1 server under the router, in place of `axum::serve`, for what that one lacks:
//! the connection caps ([`crate::connection_gate`]), applied at accept, and the header-read
//! and idle timeouts ([`crate::connection_timeouts`]). A refused connection is answered with
//! the API's JSON error and closed without reading its request. On shutdown it stops
//! accepting, asks every connection to finish its request in flight and waits for them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::connection_gate::ConnectionGate;
use crate::connection_timeouts::{Activity, Verdict, WatchedIo};
use crate::error::ApiError;
use crate::server_limits::ServerLimits;

/// How long a refused connection is given to take its answer before it is closed.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
/// After an accept error (out of file descriptors, say), a pause before the next accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Server {
    pub router: Router,
    pub gate: Arc<ConnectionGate>,
    pub limits: ServerLimits,
}

impl Server {
    /// Serves `listener` until `shutdown` is cancelled, then drains the connections.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) {
        let connections = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accepting a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            match self.gate.admit(peer.ip()) {
                Ok(permit) => {
                    let activity = Activity::new();
                    let io = WatchedIo::new(stream, Arc::clone(&activity), permit);
                    connections.spawn(serve_connection(
                        io,
                        activity,
                        peer,
                        self.router.clone(),
                        self.limits,
                        shutdown.clone(),
                    ));
                }
                Err(refusal) => {
                    tracing::debug!(%peer, reason = %refusal, "connection refused");
                    tokio::spawn(refuse(stream, refusal));
                }
            }
        }
        drop(listener);
        connections.close();
        connections.wait().await;
    }
}

async fn serve_connection(
    io: WatchedIo<TcpStream, crate::connection_gate::ConnectionPermit>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let in_handlers = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let in_handler = in_handlers.enter_handler();
        // The peer address: the client's, or the trusted proxy's (see `client_ip`).
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            let response = router.call(request).await;
            drop(in_handler);
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let look = tokio::time::sleep(limits.header_timeout());
    tokio::pin!(look);
    let mut closing = false;
    loop {
        let look_again_at = match activity.verdict(limits.header_timeout(), limits.idle_timeout()) {
            Verdict::LookAgainAt(at) => at,
            Verdict::SlowHeaders => {
                tracing::debug!(%peer, "closing a connection slow to send its headers");
                return;
            }
            Verdict::Idle if closing => {
                tracing::debug!(%peer, "closing a connection that stopped moving");
                return;
            }
            Verdict::Idle => {
                tracing::debug!(%peer, "closing an idle connection");
                connection.as_mut().graceful_shutdown();
                closing = true;
                tokio::time::Instant::now() + limits.idle_timeout()
            }
        };
        look.as_mut().reset(look_again_at);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "connection ended");
                }
                return;
            }
            () = look.as_mut() => {}
            () = shutdown.cancelled(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Writes `refusal` as a whole HTTP response, then closes. The request is not read; what the
/// client sent meanwhile is drained briefly so that closing does not reset the connection
/// before the client has read the answer.
async fn refuse(mut stream: TcpStream, refusal: ApiError) {
    let bytes = match response_bytes(refusal.into_response()).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "rendering a refusal");
            return;
        }
    };
    let _ = tokio::time::timeout(REFUSAL_GRACE, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// A small response as the bytes of HTTP/1.1, `Connection: close`.
async fn response_bytes(response: Response) -> Result<Vec<u8>, axum::Error> {
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024).await?;
    let mut out = format!("HTTP/1.1 {}\r\n", parts.status).into_bytes();
    for (name, value) in &parts.headers {
        if name == axum::http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_is_a_whole_json_response() {
        let refusal = ApiError::RateLimited {
            message: "too many".into(),
            retry_after_secs: 1,
        };
        let bytes = response_bytes(refusal.into_response())
            .await
            .expect("renders");
        let text = String::from_utf8(bytes).expect("text");
        assert!(
            text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{text}"
        );
        assert!(text.contains("retry-after: 1\r\n"), "{text}");
        assert!(text.contains("connection: close\r\n"), "{text}");
        let (_, body) = text.split_once("\r\n\r\n").expect("a body");
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "rate_limited");
    }
}
