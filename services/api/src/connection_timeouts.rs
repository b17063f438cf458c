//! The header-read and idle timeouts of one HTTP connection (`HTTP_HEADER_TIMEOUT_SECS`,
//! `HTTP_IDLE_TIMEOUT_SECS`). hyper's own header timeout starts as soon as the connection is
//! ready for a request, so it would close idle keep-alive connections as early as slow
//! senders; these are kept apart instead: the socket records when bytes last moved and when
//! the first byte of the next request arrived, the service records requests in a handler,
//! and [`Activity::verdict`] says when the connection is to be closed:
//!
//! - a request whose first byte arrived `header` ago but which has not reached a handler
//!   (slowloris) is cut off at once;
//! - a connection with no request in a handler and no byte moved for `idle` is closed
//!   gracefully (an idle keep-alive connection at once; a response still being written is
//!   finished first, unless it too moves nothing for another `idle`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

const NONE: u64 = u64::MAX;

/// What a connection has been doing, shared by its socket, its requests and its watchdog.
#[derive(Debug)]
pub struct Activity {
    /// The origin of the millisecond stamps below.
    opened: Instant,
    last_io_ms: AtomicU64,
    /// When the first byte of a request not yet handed to a handler arrived, or [`NONE`].
    head_started_ms: AtomicU64,
    in_handler: AtomicUsize,
}

/// What to do with a connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet: look again at this instant.
    LookAgainAt(Instant),
    /// No request and no traffic for the idle timeout.
    Idle,
    /// A request's headers took longer than the header timeout.
    SlowHeaders,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NONE),
            in_handler: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn on_read(&self) {
        self.on_read_at(self.now_ms());
    }

    fn on_read_at(&self, now: u64) {
        self.last_io_ms.store(now, Ordering::Relaxed);
        if self.in_handler.load(Ordering::Acquire) == 0 {
            // Only the first byte of a request starts its clock.
            let _ = self.head_started_ms.compare_exchange(
                NONE,
                now,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    fn on_write(&self) {
        self.last_io_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Marks a request as in its handler until the guard is dropped.
    pub fn enter_handler(self: &Arc<Self>) -> InHandler {
        self.in_handler.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(NONE, Ordering::Release);
        InHandler(Arc::clone(self))
    }

    pub fn verdict(&self, header: Duration, idle: Duration) -> Verdict {
        self.verdict_at(self.now_ms(), header, idle)
    }

    /// The verdict `now` milliseconds after the connection opened. The watchdog looks again
    /// at least every `header`, so that the first byte of a request (which the socket records
    /// without waking anyone, to cost nothing per request) is never noticed later than that:
    /// looking again at `now + header` when no request has started means any request
    /// starting before then is still inside its own header deadline at that look.
    fn verdict_at(&self, now: u64, header: Duration, idle: Duration) -> Verdict {
        let header_ms = u64::try_from(header.as_millis()).unwrap_or(NONE - 1);
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(NONE - 1);
        let next_look = now.saturating_add(header_ms);
        if self.in_handler.load(Ordering::Acquire) > 0 {
            return Verdict::LookAgainAt(self.at(next_look));
        }
        let head_started = self.head_started_ms.load(Ordering::Acquire);
        if head_started != NONE {
            let deadline = head_started.saturating_add(header_ms);
            return if now >= deadline {
                Verdict::SlowHeaders
            } else {
                Verdict::LookAgainAt(self.at(deadline))
            };
        }
        let deadline = self
            .last_io_ms
            .load(Ordering::Relaxed)
            .saturating_add(idle_ms);
        if now >= deadline {
            Verdict::Idle
        } else {
            Verdict::LookAgainAt(self.at(deadline.min(next_look)))
        }
    }
}

/// A request in its handler; dropping it counts as traffic, so the idle clock restarts.
#[derive(Debug)]
pub struct InHandler(Arc<Activity>);

impl Drop for InHandler {
    fn drop(&mut self) {
        self.0.on_write();
        self.0.in_handler.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A socket that reports its traffic to an [`Activity`] and holds `guard` (the connection's
/// permit) for as long as it lives, which for a websocket is the socket's whole life.
#[derive(Debug)]
pub struct WatchedIo<IO, G> {
    io: IO,
    activity: Arc<Activity>,
    _guard: G,
}

impl<IO, G> WatchedIo<IO, G> {
    pub fn new(io: IO, activity: Arc<Activity>, guard: G) -> Self {
        Self {
            io,
            activity,
            _guard: guard,
        }
    }
}

impl<IO: AsyncRead + Unpin, G: Unpin> AsyncRead for WatchedIo<IO, G> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin, G: Unpin> AsyncWrite for WatchedIo<IO, G> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);
    const HEADER_MS: u64 = 10_000;
    const IDLE_MS: u64 = 60_000;

    fn verdict(activity: &Activity, at: u64) -> Verdict {
        activity.verdict_at(at, HEADER, IDLE)
    }

    #[test]
    fn a_quiet_connection_is_idle_after_the_idle_timeout() {
        let activity = Activity::new();
        assert!(matches!(
            verdict(&activity, IDLE_MS - 1),
            Verdict::LookAgainAt(_)
        ));
        assert_eq!(verdict(&activity, IDLE_MS), Verdict::Idle);
    }

    #[test]
    fn a_started_request_has_the_header_timeout() {
        let activity = Activity::new();
        activity.on_read_at(1_000);
        // More bytes do not restart the header clock.
        activity.on_read_at(1_000 + HEADER_MS / 2);
        assert!(matches!(
            verdict(&activity, 1_000 + HEADER_MS - 1),
            Verdict::LookAgainAt(_)
        ));
        assert_eq!(verdict(&activity, 1_000 + HEADER_MS), Verdict::SlowHeaders);
        // Once the request reached its handler, the connection is busy, however long.
        let handler = activity.enter_handler();
        assert!(matches!(
            verdict(&activity, 10 * IDLE_MS),
            Verdict::LookAgainAt(_)
        ));
        drop(handler);
        // The idle clock starts when the handler is done (now, in real time: early on).
        assert_eq!(verdict(&activity, 2 * IDLE_MS), Verdict::Idle);
    }

    #[tokio::test]
    async fn the_socket_reports_the_first_byte_of_a_request() {
        let (mut client, server) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut io = WatchedIo::new(server, Arc::clone(&activity), ());
        assert!(matches!(
            verdict(&activity, HEADER_MS),
            Verdict::LookAgainAt(_)
        ));
        client.write_all(b"GET / HT").await.expect("write");
        let mut buf = [0u8; 8];
        io.read_exact(&mut buf).await.expect("read");
        assert_eq!(verdict(&activity, IDLE_MS / 2), Verdict::SlowHeaders);
    }
}
