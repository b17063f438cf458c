//! Argon2id off the async threads. Hashing or checking a password takes tens of milliseconds
//! of CPU and 19 MiB of memory, so it runs on the blocking pool, and at most a few at once (one
//! per core, doubled): a burst of sign-ins queues here instead of taking all the memory.

use std::sync::{LazyLock, OnceLock};

use tokio::sync::Semaphore;
use vodnest_core::users;

use crate::error::ApiError;

static RUNNING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Semaphore::new(cores * 2)
});

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = RUNNING
        .acquire()
        .await
        .map_err(|_| ApiError::internal("the password checker is closed"))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(format!("password task: {err}")))
}

/// The Argon2id PHC string of a password the caller has checked with `users::check_password`.
pub async fn hash(password: String) -> Result<String, ApiError> {
    blocking(move || users::hash_password(&password))
        .await?
        .map_err(|err| ApiError::internal(format!("hashing a password: {err}")))
}

/// Whether `password` matches `phc`. Without a hash (no such user, or no password set yet) a
/// hash of nothing is checked instead, so that the answer takes as long either way and the
/// time does not tell which usernames exist.
pub async fn matches(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    blocking(move || match phc {
        Some(phc) => users::password_matches(&password, &phc),
        None => {
            users::password_matches(&password, decoy());
            false
        }
    })
    .await
}

/// A hash no password is checked against for real (made once, on the blocking pool).
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| users::hash_password("decoy password").unwrap_or_default())
}
