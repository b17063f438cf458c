//! API keys and browser sessions: how a presented secret becomes a [`Caller`]. Only SHA-256
//! digests of secrets are stored (keys and session ids are random, so a fast digest is as good
//! as a slow one; passwords, which are not, go through Argon2 in [`crate::users`]).

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::caller::{Caller, Credential, Role, Scope, UserRef};

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh random secret, 64 hex characters.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    crate::signing::hex(&bytes)
}

/// What every API key starts with, so that secret scanners and people can tell one.
pub const KEY_PREFIX: &str = "vn_";
/// How many characters of a key its listing shows.
const SHOWN_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

/// Whether `presented` is `ADMIN_TOKEN`. Digests are compared, so the comparison time says
/// nothing about the secret.
pub fn is_admin_token(admin_token: Option<&str>, presented: &str) -> bool {
    admin_token.is_some_and(|admin| !admin.is_empty() && digest(admin) == digest(presented))
}

/// The caller a bearer token stands for: `ADMIN_TOKEN`, or a live key of an existing user.
/// Using a key stamps its `last_used_at`, at most once a minute, in the same statement.
pub async fn authenticate_token(
    db: impl PgExecutor<'_>,
    admin_token: Option<&str>,
    presented: &str,
) -> Result<Option<Caller>, sqlx::Error> {
    if presented.is_empty() {
        return Ok(None);
    }
    if is_admin_token(admin_token, presented) {
        return Ok(Some(Caller::admin_token()));
    }
    Ok(authenticate_key(db, &digest(presented))
        .await?
        .map(|key| key.caller))
}

/// A live key's caller, and when the key expires (for callers that keep it a while).
#[derive(Debug, Clone)]
pub struct AuthenticatedKey {
    pub caller: Caller,
    pub expires_at: Option<OffsetDateTime>,
}

/// The key with this token digest, if it is live and its user exists; stamps `last_used_at`
/// at most once a minute in the same statement.
pub async fn authenticate_key(
    db: impl PgExecutor<'_>,
    token_digest: &[u8; 32],
) -> Result<Option<AuthenticatedKey>, sqlx::Error> {
    let row = sqlx::query!(
        r#"with k as (
               select t.id, t.scopes, t.expires_at, u.id as user_id, u.username, u.role
               from api_tokens t join users u on u.id = t.user_id
               where t.token_hash = $1 and (t.expires_at is null or t.expires_at > now())
           ), touched as (
               update api_tokens set last_used_at = now()
               where id in (select id from k)
                 and (last_used_at is null or last_used_at < now() - interval '1 minute')
           )
           select id, scopes as "scopes: Vec<Scope>", expires_at, user_id, username,
                  role as "role: Role"
           from k"#,
        &token_digest[..],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| {
        let user = UserRef {
            id: r.user_id,
            username: r.username,
        };
        AuthenticatedKey {
            caller: Caller::new(user, r.role, &r.scopes, Credential::Key(r.id)),
            expires_at: r.expires_at,
        }
    }))
}

/// Stamps a key's `last_used_at` (at most once a minute), for a use that did not read it.
pub async fn touch_key(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update api_tokens set last_used_at = now()
         where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An API key as its owner sees it (never its token).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The first characters of the token, to recognise it by.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// Makes a key for `user` and returns it with its token, which is shown this once. The caller
/// checks the scopes first ([`Caller::may_grant`]).
pub async fn create_key(
    db: impl PgExecutor<'_>,
    user: Uuid,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<OffsetDateTime>,
) -> Result<(ApiKey, String), sqlx::Error> {
    let token = format!("{KEY_PREFIX}{}", new_secret());
    let key = sqlx::query_as!(
        ApiKey,
        r#"insert into api_tokens (id, user_id, name, token_hash, scopes, prefix, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7)
           returning id, name, scopes as "scopes: Vec<Scope>", prefix, created_at, expires_at,
                     last_used_at"#,
        Uuid::now_v7(),
        user,
        name,
        &digest(&token)[..],
        scopes as &[Scope],
        &token[..SHOWN_PREFIX_LEN],
        expires_at,
    )
    .fetch_one(db)
    .await?;
    Ok((key, token))
}

/// A user's keys, newest first.
pub async fn list_keys(db: impl PgExecutor<'_>, user: Uuid) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as!(
        ApiKey,
        r#"select id, name, scopes as "scopes: Vec<Scope>", prefix, created_at, expires_at,
                  last_used_at
           from api_tokens where user_id = $1 order by created_at desc, id desc"#,
        user,
    )
    .fetch_all(db)
    .await
}

/// Revokes a key of `user` (any user's when `user` is `None`): it is deleted, so the next
/// request with it, and every session signed in with it, is refused. Returns the key's owner.
pub async fn revoke_key(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "delete from api_tokens where id = $1 and ($2::uuid is null or user_id = $2)
         returning user_id",
        id,
        user,
    )
    .fetch_optional(db)
    .await
}

/// Opens a session for the caller that signed in, with the caller's scopes, and returns the
/// secret to put in the cookie. A session made with `ADMIN_TOKEN` dies when the token changes.
pub async fn create_session(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    admin_token: Option<&str>,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let secret = new_secret();
    let (key, admin_token_hash) = match caller.credential {
        Credential::Key(id) | Credential::Session { key: Some(id) } => (Some(id), None),
        Credential::AdminToken => (None, admin_token.map(|t| digest(t).to_vec())),
        Credential::Session { key: None } => (None, None),
    };
    sqlx::query!(
        "insert into sessions (id_hash, expires_at, user_id, scopes, key_id, admin_token_hash)
         values ($1, $2, $3, $4, $5, $6)",
        &digest(&secret)[..],
        OffsetDateTime::now_utc() + ttl,
        caller.user.id,
        &caller.scopes as &[Scope],
        key,
        admin_token_hash,
    )
    .execute(db)
    .await?;
    Ok(secret)
}

/// The caller a session cookie stands for, while the session lives (it dies with its user, its
/// key, a password change, sign-out, and, when made with `ADMIN_TOKEN`, a change of that token).
pub async fn authenticate_session(
    db: impl PgExecutor<'_>,
    admin_token: Option<&str>,
    secret: &str,
) -> Result<Option<Caller>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select s.scopes as "scopes: Vec<Scope>", s.key_id, s.admin_token_hash, u.id,
                  u.username, u.role as "role: Role"
           from sessions s join users u on u.id = s.user_id
           where s.id_hash = $1 and s.expires_at > now()"#,
        &digest(secret)[..],
    )
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|r| {
        let admin_token_changed = r.admin_token_hash.is_some_and(|hash| {
            admin_token.is_none_or(|t| t.is_empty() || digest(t)[..] != hash[..])
        });
        let user = UserRef {
            id: r.id,
            username: r.username,
        };
        let credential = Credential::Session { key: r.key_id };
        (!admin_token_changed).then(|| Caller::new(user, r.role, &r.scopes, credential))
    }))
}

/// Signs one session out (and sweeps expired ones while at it).
pub async fn end_session(db: impl PgExecutor<'_>, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "delete from sessions where id_hash = $1 or expires_at < now()",
        &digest(secret)[..],
    )
    .execute(db)
    .await?;
    Ok(())
}

/// "Sign out everywhere": ends every session of the user.
pub async fn end_all_sessions(db: impl PgExecutor<'_>, user: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!("delete from sessions where user_id = $1", user)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// How many keys a user has (new keys are refused past a cap, to bound what one user costs).
pub async fn count_keys(db: impl PgExecutor<'_>, user: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from api_tokens where user_id = $1"#,
        user
    )
    .fetch_one(db)
    .await
}
