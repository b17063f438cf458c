//! Users, their passwords (Argon2id) and the invite links that let a new user set one.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::{digest, new_secret};
use crate::caller::{Role, UserRef};

/// A user as the API shows them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn as_ref(&self) -> UserRef {
        UserRef {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted: Argon2 takes any length, but hashing megabytes is a cheap DoS.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a username or password is refused, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "a username is 2 to 32 characters: lowercase letters, digits, '_', '.' or '-', starting \
         with a letter or digit"
    )]
    Username,
    #[error("a password is {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")]
    Password,
}

/// Checks a username against the same rule as the table's CHECK.
pub fn check_username(name: &str) -> Result<(), Refused> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if first_ok && rest_ok && (2..=32).contains(&name.len()) {
        Ok(())
    } else {
        Err(Refused::Username)
    }
}

pub fn check_password(password: &str) -> Result<(), Refused> {
    let len = password.chars().count();
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len)
        && password.len() <= 4 * MAX_PASSWORD_LEN
    {
        Ok(())
    } else {
        Err(Refused::Password)
    }
}

/// The Argon2id PHC string of a password (the crate's defaults: 19 MiB, 2 passes). CPU-bound
/// for tens of milliseconds: call it from a blocking task.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string. CPU-bound like [`hash_password`].
pub fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Creates a user; `password_hash` is `None` for one who will set it through an invite.
/// `Ok(None)` when the username is taken.
pub async fn create(
    db: impl PgExecutor<'_>,
    username: &str,
    role: Role,
    password_hash: Option<&str>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"insert into users (id, username, role, password_hash) values ($1, $2, $3, $4)
           on conflict (username) do nothing
           returning id, username, role as "role: Role", created_at"#,
        Uuid::now_v7(),
        username,
        role as Role,
        password_hash,
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"select id, username, role as "role: Role", created_at from users
           order by created_at, id"#
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"select id, username, role as "role: Role", created_at from users where id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

pub async fn by_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"select id, username, role as "role: Role", created_at from users
           where username = $1"#,
        username,
    )
    .fetch_optional(db)
    .await
}

/// The user and their password hash, for signing in (`None` hash: no password set yet).
pub async fn credentials(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select id, username, role as "role: Role", created_at, password_hash from users
           where username = $1"#,
        username,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        let user = User {
            id: r.id,
            username: r.username,
            role: r.role,
            created_at: r.created_at,
        };
        (user, r.password_hash)
    }))
}

/// Sets a user's password and ends all their sessions (the caller opens a new one for the
/// browser that made the change).
pub async fn set_password(
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update users set password_hash = $2 where id = $1",
        user,
        password_hash
    )
    .execute(&mut *tx)
    .await?;
    crate::auth::end_all_sessions(&mut *tx, user).await?;
    Ok(())
}

/// Deletes a user; their keys, sessions and invites go with them. The caller has deleted or
/// transferred their videos first (the foreign key refuses otherwise). The built-in admin
/// cannot be deleted. Returns whether a user was deleted.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!("delete from users where id = $1 and not builtin", id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Takes every way in away from a user at once: their keys, sessions and invites go and their
/// password is cleared. Removing a user does this first, so that nothing they hold works while
/// their videos are being deleted.
pub async fn lock_out(tx: &mut sqlx::PgConnection, user: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from api_tokens where user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("delete from invites where user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("update users set password_hash = null where id = $1", user)
        .execute(&mut *tx)
        .await?;
    crate::auth::end_all_sessions(&mut *tx, user).await?;
    Ok(())
}

/// Gives every video of `from` to `to`. Returns how many moved.
pub async fn transfer_videos(
    db: impl PgExecutor<'_>,
    from: Uuid,
    to: Uuid,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "update videos set owner_id = $2 where owner_id = $1",
        from,
        to
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Makes an invite for `user` that expires after `ttl`; returns its secret (for the link).
/// Earlier invites of the user stop working: re-sending replaces.
pub async fn create_invite(
    tx: &mut sqlx::PgConnection,
    user: Uuid,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    sqlx::query!("delete from invites where user_id = $1", user)
        .execute(&mut *tx)
        .await?;
    let secret = new_secret();
    sqlx::query!(
        "insert into invites (id_hash, user_id, expires_at) values ($1, $2, $3)",
        &digest(&secret)[..],
        user,
        OffsetDateTime::now_utc() + ttl,
    )
    .execute(&mut *tx)
    .await?;
    Ok(secret)
}

/// The user an unexpired invite is for.
pub async fn invitee(db: impl PgExecutor<'_>, secret: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as!(
        User,
        r#"select u.id, u.username, u.role as "role: Role", u.created_at
           from invites i join users u on u.id = i.user_id
           where i.id_hash = $1 and i.expires_at > now()"#,
        &digest(secret)[..],
    )
    .fetch_optional(db)
    .await
}

/// Uses an invite: sets the password of its user and spends the invite, in one transaction.
/// `None` when the invite is unknown, expired or already used.
pub async fn accept_invite(
    tx: &mut sqlx::PgConnection,
    secret: &str,
    password_hash: &str,
) -> Result<Option<User>, sqlx::Error> {
    let user = sqlx::query_scalar!(
        "delete from invites where id_hash = $1 and expires_at > now() returning user_id",
        &digest(secret)[..],
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user) = user else {
        return Ok(None);
    };
    set_password(tx, user, password_hash).await?;
    get(&mut *tx, user).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_table_rule() {
        for ok in ["ab", "alice", "a.b-c_d", "0cool", &"x".repeat(32)] {
            assert_eq!(check_username(ok), Ok(()), "{ok}");
        }
        for bad in ["a", "Alice", "_a", "a b", "é", "", &"x".repeat(33), "a/b"] {
            assert_eq!(check_username(bad), Err(Refused::Username), "{bad}");
        }
    }

    #[test]
    fn passwords_hash_and_verify() {
        assert_eq!(check_password("short"), Err(Refused::Password));
        assert_eq!(check_password(&"p".repeat(257)), Err(Refused::Password));
        let phc = hash_password("correct horse").expect("hashes");
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("correct horse", &phc));
        assert!(!password_matches("wrong horse", &phc));
        assert!(!password_matches("correct horse", "not a phc string"));
    }
}
