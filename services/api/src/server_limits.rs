//! What one API process lets its clients hold: how long a connection may take to send a
//! request's headers or sit idle, how many connections and websockets may be open (in all,
//! per client address, per key), how large a request body may be, and how long a request
//! waits for a pooled database connection. Each is a setting; see docs/limits.md.

use std::time::Duration;

const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ServerLimits {
    /// Seconds a client has, from the first byte of a request, to send all of its headers
    /// (slow-header clients are disconnected).
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit without a request before it is closed. Keep it
    /// above the load balancer's own idle timeout (60 s on an ALB).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Open connections (websockets included); one more is answered 503 and closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Open connections per client address (an IPv6 /64); one more is answered 429 and
    /// closed. Connections from `TRUSTED_PROXIES` count only towards `MAX_CONNECTIONS`.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: u32,
    /// Event websockets open at once, public and with a key; one more is answered 503.
    #[arg(long, env = "MAX_SOCKETS", default_value_t = 2048,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sockets: u32,
    /// Event websockets one key (or session, or `ADMIN_TOKEN`) may hold open; one more is
    /// answered 429.
    #[arg(long, env = "SOCKETS_PER_KEY", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sockets_per_key: u32,
    /// Largest request body in bytes on any route; a larger one is answered 413. A complete
    /// of 10,000 parts needs about 700 KB.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 2 * MIB,
          value_parser = clap::value_parser!(usize))]
    pub max_body_bytes: usize,
    /// Milliseconds a request waits for a pooled database connection before it is answered
    /// 503 with `Retry-After`.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_ms: u64,
    /// Connections of the small pool that upload completes hold while they take their
    /// video's turn (an advisory lock) and call S3, apart from the pool every other request
    /// uses.
    #[arg(long, env = "COMPLETE_LOCK_CONNECTIONS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub complete_lock_connections: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout_secs: 10,
            idle_timeout_secs: 75,
            max_connections: 4096,
            max_connections_per_ip: 256,
            max_sockets: 2048,
            sockets_per_key: 100,
            max_body_bytes: 2 * MIB,
            db_acquire_timeout_ms: 2000,
            complete_lock_connections: 4,
        }
    }
}

impl ServerLimits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }
}
