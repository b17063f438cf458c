//! Webhooks: users' endpoints are told of their videos' events by signed POSTs.
//!
//! - [`targets`]: which URLs and addresses an endpoint may have (no private networks).
//! - [`sender`]: the worker that sends deliveries from the `api` job queue.
//! - The routes are in `routes/webhooks.rs`; the tables, the trigger that makes deliveries
//!   and the delivery log in `vodnest_core::webhooks` and migration 0015.

pub mod sender;
pub mod targets;

use std::time::Duration;

use vodnest_core::job_kind::{JobKind, RetryPolicy};

const TIMEOUT_SECS: u64 = 10;
const CONCURRENCY: u32 = 8;
const RETRY_FIRST_MS: u64 = 10_000;
const RETRY_MAX_SECS: u64 = 3600;
const GIVE_UP_SECS: u64 = 24 * 3600;
const PER_USER: i64 = 10;

/// Webhook settings (environment variables and flags).
#[derive(clap::Args, Clone, Debug)]
pub struct WebhookSettings {
    /// Let webhooks reach loopback addresses (127.0.0.0/8, ::1): a receiver on this machine.
    /// Private and link-local addresses stay refused. `./dev up` turns it on.
    #[arg(long, env = "WEBHOOK_ALLOW_LOOPBACK", default_value_t = false)]
    pub allow_loopback: bool,
    /// How long one attempt may take, connection and answer (seconds).
    #[arg(long, env = "WEBHOOK_TIMEOUT_SECS", default_value_t = TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout_secs: u64,
    /// Deliveries one API process sends at once.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// The delay after the first failed attempt (milliseconds); it doubles with each further
    /// one, up to `WEBHOOK_RETRY_MAX_SECS`.
    #[arg(long, env = "WEBHOOK_RETRY_FIRST_MS", default_value_t = RETRY_FIRST_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub retry_first_ms: u64,
    /// The longest delay between two attempts (seconds).
    #[arg(long, env = "WEBHOOK_RETRY_MAX_SECS", default_value_t = RETRY_MAX_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_max_secs: u64,
    /// A delivery still failing this long after it was made (or redelivered) is given up and
    /// shown as failed (seconds; default a day).
    #[arg(long, env = "WEBHOOK_GIVE_UP_SECS", default_value_t = GIVE_UP_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub give_up_secs: u64,
    /// Webhooks one user may have.
    #[arg(long, env = "WEBHOOKS_PER_USER", default_value_t = PER_USER,
          value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub per_user: i64,
    /// How host names are resolved (the system's resolver; tests give a fixed table).
    #[arg(skip)]
    pub resolver: targets::Resolver,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            timeout_secs: TIMEOUT_SECS,
            concurrency: CONCURRENCY,
            retry_first_ms: RETRY_FIRST_MS,
            retry_max_secs: RETRY_MAX_SECS,
            give_up_secs: GIVE_UP_SECS,
            per_user: PER_USER,
            resolver: targets::Resolver::default(),
        }
    }
}

impl WebhookSettings {
    pub fn policy(&self) -> targets::AddressPolicy {
        targets::AddressPolicy {
            allow_loopback: self.allow_loopback,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub fn give_up_after(&self) -> Duration {
        Duration::from_secs(self.give_up_secs)
    }

    /// The kind's retry policy with these delays.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_millis(self.retry_first_ms),
            max_delay: Duration::from_secs(self.retry_max_secs),
            ..JobKind::Webhook.retry()
        }
    }
}
