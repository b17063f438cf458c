//! Back-off of password sign-ins per (username, client address): each failure doubles the wait
//! before the next try (1 s, 2 s, 4 s, … up to a cap); a success clears it. While blocked, a
//! sign-in is refused before its password is even checked, so guessing costs the guesser time
//! and costs the server no Argon2. The wait is answered (429 + `Retry-After`), never served by
//! holding the connection.

use std::time::Duration;

use sqlx::PgExecutor;

/// Usernames tried are stored as given (any text), cut to this many characters: enough for any
/// real username, too little to fill the table with megabytes.
const MAX_KEY_CHARS: usize = 64;

/// A failure older than this no longer counts: the next one starts again at 1 s.
const FORGET_AFTER: &str = "1 day";

/// The wait after the `failures`-th failure in a row: 1 s doubled each time, at most `cap`.
pub fn wait_after(failures: u32, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    Duration::from_secs(1u64 << doublings).min(cap)
}

/// The username as the back-off keys it (also what the audit log records for a failure).
pub fn key(username: &str) -> String {
    username
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_KEY_CHARS)
        .collect()
}

/// How long `username` must still wait before trying from `ip`, if at all.
pub async fn blocked_for(
    db: impl PgExecutor<'_>,
    username: &str,
    ip: &str,
) -> Result<Option<Duration>, sqlx::Error> {
    let millis = sqlx::query_scalar!(
        r#"select (extract(epoch from blocked_until - now()) * 1000)::bigint as "millis!"
           from sign_in_failures where username = $1 and ip = $2 and blocked_until > now()"#,
        key(username),
        ip,
    )
    .fetch_optional(db)
    .await?;
    Ok(millis.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs())))
}

/// Counts a failure and returns the wait it imposes before the next try.
pub async fn record_failure(
    db: &mut sqlx::PgConnection,
    username: &str,
    ip: &str,
    cap: Duration,
) -> Result<Duration, sqlx::Error> {
    let key = key(username);
    let failures = sqlx::query_scalar!(
        "insert into sign_in_failures (username, ip, failures, blocked_until)
         values ($1, $2, 1, now())
         on conflict (username, ip) do update set failures =
             case when sign_in_failures.blocked_until < now() - $3::text::interval then 1
                  else sign_in_failures.failures + 1 end
         returning failures",
        key,
        ip,
        FORGET_AFTER,
    )
    .fetch_one(&mut *db)
    .await?;
    let wait = wait_after(u32::try_from(failures).unwrap_or(u32::MAX), cap);
    sqlx::query!(
        "update sign_in_failures set blocked_until = now() + $3::float8 * interval '1 second'
         where username = $1 and ip = $2",
        key,
        ip,
        wait.as_secs_f64(),
    )
    .execute(&mut *db)
    .await?;
    Ok(wait)
}

/// A successful sign-in forgets the failures of that (username, address).
pub async fn clear(db: impl PgExecutor<'_>, username: &str, ip: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from sign_in_failures where username = $1 and ip = $2",
        key(username),
        ip,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes the rows of failures that no longer count (run now and then: the names tried are
/// whatever strangers typed).
pub async fn sweep(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "delete from sign_in_failures where blocked_until < now() - $1::text::interval",
        FORGET_AFTER,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_doubles_the_wait_up_to_the_cap() {
        let cap = Duration::from_secs(900);
        let waits: Vec<u64> = (1..=5).map(|n| wait_after(n, cap).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16]);
        assert_eq!(wait_after(11, cap), cap);
        assert_eq!(wait_after(u32::MAX, cap), cap);
        assert_eq!(wait_after(0, cap), Duration::from_secs(1));
    }

    #[test]
    fn keys_are_trimmed_lowercase_and_bounded() {
        assert_eq!(key("  Alice "), "alice");
        assert_eq!(key(&"x".repeat(1000)).len(), MAX_KEY_CHARS);
    }
}
