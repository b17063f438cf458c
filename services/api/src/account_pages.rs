//! The pages of accounts: `/signup` (an invitee sets their password and is signed in),
//! `/account` (your keys, webhooks, password, sessions and usage) and `/admin/users` (admins manage
//! users). The last two act through the JSON API from `account.js` and `admin_users.js`, with
//! the session cookie (their writes pass the same-origin check: they come from these pages).
//! `pages::router` routes them.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use minijinja::context;
use serde::Deserialize;
use vodnest_core::caller::{Caller, Credential, Scope};
use vodnest_core::{auth, users};

use crate::client_ip::ClientIp;
use crate::error::Query;
use crate::pages::{PageError, SignedIn, redirect};
use crate::routes::account_usage;
use crate::same_origin::SameOrigin;
use crate::state::AppState;
use crate::{passwords, session_cookie, sign_in};

const NO_INVITE: &str = "This invite link has expired or was already used. Ask an admin for a \
                         fresh one.";

#[derive(Deserialize)]
pub(crate) struct InviteQuery {
    invite: Option<String>,
}

pub(crate) async fn signup_form(
    State(state): State<AppState>,
    Query(query): Query<InviteQuery>,
) -> Result<Html<String>, PageError> {
    let invite = query.invite.unwrap_or_default();
    let user = users::invitee(&state.pool, &invite)
        .await?
        .ok_or(PageError::Gone(NO_INVITE))?;
    let ctx = context! { invite, username => user.username, error => None::<&str>,
    signed_in => false };
    state.site.render("signup.html", ctx)
}

#[derive(Deserialize)]
pub(crate) struct SignupForm {
    invite: String,
    password: String,
    confirm: String,
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    _: SameOrigin,
    ip: ClientIp,
    jar: CookieJar,
    Form(form): Form<SignupForm>,
) -> Result<Response, PageError> {
    // The invite first: a stranger's guess costs no Argon2.
    let invitee = users::invitee(&state.pool, &form.invite)
        .await?
        .ok_or(PageError::Gone(NO_INVITE))?;
    let problem = match users::check_password(&form.password) {
        Err(refused) => Some(format!("{}.", capitalized(&refused.to_string()))),
        Ok(()) if form.password != form.confirm => Some("The two passwords differ.".to_owned()),
        Ok(()) => None,
    };
    if let Some(error) = problem {
        let ctx = context! { invite => form.invite, username => invitee.username, error,
        signed_in => false };
        let page = state.site.render("signup.html", ctx)?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let hash = passwords::hash(form.password).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::accept_invite(&mut tx, &form.invite, &hash)
        .await?
        .ok_or(PageError::Gone(NO_INVITE))?;
    tx.commit().await?;
    let credential = Credential::Session { key: None };
    let caller = Caller::new(user.as_ref(), user.role, user.role.scopes(), credential);
    let secret = sign_in::open_session(&state, &caller, ip, "invite").await?;
    let ttl = state.config.session_ttl();
    let cookie = session_cookie::issue(state.config.serves_https(), secret, ttl);
    Ok((jar.add(cookie), redirect("/")).into_response())
}

fn capitalized(sentence: &str) -> String {
    let mut chars = sentence.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub(crate) async fn account(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> Result<Html<String>, PageError> {
    let user = users::get(&state.pool, caller.user.id)
        .await?
        .ok_or(PageError::NotFound("There is no such user."))?;
    let keys = auth::list_keys(&state.pool, caller.user.id).await?;
    let webhooks = vodnest_core::webhooks::list(&state.pool, caller.user.id).await?;
    let usage = account_usage(&state, &caller).await?;
    // A key can be made with the scopes this session carries, within the role.
    let grantable: Vec<Scope> = Scope::ALL
        .iter()
        .copied()
        .filter(|s| caller.may_grant(caller.role, &[*s]).is_ok())
        .collect();
    let ctx = context! {
        user, keys, usage, grantable, scopes => caller.scopes, webhooks,
        webhook_events => vodnest_core::webhooks::Event::ALL,
        is_admin => caller.has(Scope::Admin),
        builtin => caller.user.id == vodnest_core::caller::BUILTIN_ADMIN,
        signed_in => true,
    };
    state.site.render("account.html", ctx)
}

pub(crate) async fn admin_users(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> Result<Html<String>, PageError> {
    // Like others' videos: a page a caller may not see does not exist for them.
    if !caller.has(Scope::Admin) {
        return Err(PageError::NotFound("There is no such page."));
    }
    let users = users::list(&state.pool).await?;
    let ctx = context! { users, signed_in => true, builtin => vodnest_core::caller::BUILTIN_ADMIN };
    state.site.render("admin_users.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::capitalized;

    #[test]
    fn sentences_start_with_a_capital() {
        assert_eq!(capitalized("a password is"), "A password is");
        assert_eq!(capitalized(""), "");
    }
}
