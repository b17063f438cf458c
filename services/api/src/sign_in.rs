//! Signing in to the pages, with a username and password or with a token. A password session
//! carries the user's role's scopes; a token session carries the token's, no more. Failed
//! password sign-ins back off per (username, address) ([`sign_in_backoff`]): while one is
//! blocked it is refused before the password is checked. Every attempt is audited.

use std::time::Duration;

use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{Caller, Credential};
use vodnest_core::{auth, sign_in_backoff, users};

use crate::auth::token_caller;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::passwords;
use crate::state::AppState;

/// How a sign-in went.
pub enum Outcome {
    /// The secret of the new session, for the cookie.
    SignedIn(String),
    /// Wrong username, password or token (which one is not said).
    Refused,
    /// Too many failures from this address for this username: try again after this long.
    Blocked(Duration),
}

/// Signs in with a username and password.
pub async fn with_password(
    state: &AppState,
    ip: ClientIp,
    username: &str,
    password: String,
) -> Result<Outcome, ApiError> {
    let name = sign_in_backoff::key(username);
    // Without a peer address (a router called directly) all such requests share one back-off.
    let from = ip.text().unwrap_or_default();
    if let Some(wait) = sign_in_backoff::blocked_for(&state.pool, &name, &from).await? {
        return Ok(Outcome::Blocked(wait));
    }
    let found = users::credentials(&state.pool, &name).await?;
    // An over-long password is wrong without hashing it (Argon2 of megabytes is a cheap DoS).
    let plausible = password.len() <= 4 * users::MAX_PASSWORD_LEN;
    let (user, hash) = found.unzip();
    let right = plausible && passwords::matches(password, hash.flatten()).await?;
    let Some(user) = user.filter(|_| right) else {
        let mut db = state.pool.acquire().await?;
        let cap = state.config.accounts.sign_in_backoff_max();
        sign_in_backoff::record_failure(&mut db, &name, &from, cap).await?;
        let actor = Actor::Tried(&name);
        audit::record(
            &mut *db,
            actor,
            Action::SignInFailed,
            "password",
            ip.text().as_deref(),
        )
        .await?;
        return Ok(Outcome::Refused);
    };
    sign_in_backoff::clear(&state.pool, &name, &from).await?;
    let scopes = user.role.scopes();
    let caller = Caller::new(
        user.as_ref(),
        user.role,
        scopes,
        Credential::Session { key: None },
    );
    open_session(state, &caller, ip, "password")
        .await
        .map(Outcome::SignedIn)
}

/// Signs in with an API key or `ADMIN_TOKEN`. Keys are random: guessing one is hopeless, so
/// no back-off (the rate limiter bounds the tries).
pub async fn with_token(state: &AppState, ip: ClientIp, token: &str) -> Result<Outcome, ApiError> {
    match token_caller(state, token).await? {
        Some(caller) => open_session(state, &caller, ip, "token")
            .await
            .map(Outcome::SignedIn),
        None => {
            let actor = Actor::Tried("(a token)");
            let ip = ip.text();
            audit::record(
                &state.pool,
                actor,
                Action::SignInFailed,
                "token",
                ip.as_deref(),
            )
            .await?;
            Ok(Outcome::Refused)
        }
    }
}

/// Opens a session for `caller` (with its scopes), audits the sign-in made `how`, and returns
/// the session's secret for the cookie.
pub async fn open_session(
    state: &AppState,
    caller: &Caller,
    ip: ClientIp,
    how: &str,
) -> Result<String, ApiError> {
    let ttl = state.config.session_ttl();
    let admin_token = state.config.admin_token();
    let mut tx = state.pool.begin().await?;
    let secret = auth::create_session(&mut *tx, caller, admin_token, ttl).await?;
    let actor = Actor::User(&caller.user);
    audit::record(&mut *tx, actor, Action::SignIn, how, ip.text().as_deref()).await?;
    tx.commit().await?;
    Ok(secret)
}
