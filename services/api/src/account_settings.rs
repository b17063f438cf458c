//! Settings of accounts: how long invites live, how long a failed sign-in can make the next
//! one wait, and how many keys one user may hold.

use std::time::Duration;

/// Each field is an environment variable and a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct AccountSettings {
    /// How long an invite link works (seconds; default 7 days).
    #[arg(long, env = "INVITE_TTL_SECS", default_value_t = 7 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(60..))]
    pub invite_ttl_secs: u64,
    /// The longest wait repeated failed sign-ins impose on a (username, address) (seconds;
    /// each failure doubles the wait from 1 s up to this).
    #[arg(long, env = "SIGN_IN_BACKOFF_MAX_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sign_in_backoff_max_secs: u64,
    /// Most API keys one user may hold.
    #[arg(long, env = "MAX_KEYS_PER_USER", default_value_t = 100,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub max_keys_per_user: i64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            invite_ttl_secs: 7 * 24 * 3600,
            sign_in_backoff_max_secs: 900,
            max_keys_per_user: 100,
        }
    }
}

impl AccountSettings {
    pub fn invite_ttl(&self) -> Duration {
        Duration::from_secs(self.invite_ttl_secs)
    }

    pub fn sign_in_backoff_max(&self) -> Duration {
        Duration::from_secs(self.sign_in_backoff_max_secs)
    }
}
