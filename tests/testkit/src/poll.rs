//! Waiting for something that happens in the background (a job ending, a sweep, a server
//! answering): one poll loop, instead of a sleep loop written by hand in each test.

use std::time::Duration;

use anyhow::{Result, bail};
use tokio::time::Instant;

/// How often [`eventually`] looks again.
const EVERY: Duration = Duration::from_millis(50);

/// What one look found.
pub enum Look<T> {
    /// What the test waits for.
    Done(T),
    /// Not yet: how things stand, quoted by the error if it never comes.
    NotYet(String),
}

/// Looks every 50 ms until `look` finds what `what` names, and returns it. Fails when nothing
/// came within `patience` (a guard against a hung test, not a performance limit), or at once
/// when `look` itself fails.
pub async fn eventually<T>(
    what: &str,
    patience: Duration,
    mut look: impl AsyncFnMut() -> Result<Look<T>>,
) -> Result<T> {
    let deadline = Instant::now() + patience;
    loop {
        let now = match look().await? {
            Look::Done(found) => return Ok(found),
            Look::NotYet(now) => now,
        };
        if Instant::now() >= deadline {
            bail!("{what}: not within {patience:?}; last look: {now}");
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_what_a_later_look_finds() -> Result<()> {
        let mut looks = 0;
        let found = eventually("the third look", Duration::from_secs(5), async || {
            looks += 1;
            Ok(if looks == 3 {
                Look::Done(looks)
            } else {
                Look::NotYet(format!("look {looks}"))
            })
        })
        .await?;
        assert_eq!(found, 3);
        Ok(())
    }

    #[tokio::test]
    async fn fails_after_its_patience_quoting_the_last_look() {
        let waited = eventually::<()>("never", Duration::from_millis(200), async || {
            Ok(Look::NotYet("still waiting".into()))
        })
        .await;
        let message = waited.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("never") && message.contains("still waiting"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn stops_at_the_first_error() {
        let mut looks = 0;
        let waited = eventually::<()>("an error", Duration::from_secs(60), async || {
            looks += 1;
            anyhow::bail!("the database went away")
        })
        .await;
        assert!(waited.is_err());
        assert_eq!(looks, 1);
    }
}
