//! `/api/v1/webhooks`: a user's endpoints, their delivery logs, and redelivery. An endpoint is
//! its maker's: others (admins apart) get 404 for it. Its URL must resolve to public addresses
//! only (see `webhooks::targets`), checked here and again at every send.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vodnest_core::audit::{self, Action, Actor};
use vodnest_core::caller::{Caller, Scope};
use vodnest_core::webhooks::{self, Delivery, Event, Redelivery, Webhook};

use super::path_uuid;
use super::videos::{checked_cursor, checked_limit, cursor_at, page_of};
use crate::auth::{Authenticated, require};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ErrorBody, Json, Query};
use crate::openapi::{CrossOrigin, InsufficientScope, Internal, NotJson, Unauthorized};
use crate::state::AppState;
use crate::webhooks::targets::{self, TargetError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are POSTed: `https://` (or `http://`), at most 2048 characters, a host
    /// that resolves to public addresses only.
    #[schema(min_length = 1, max_length = 2048)]
    url: String,
    /// The events to send; at least one.
    #[schema(min_items = 1)]
    events: Vec<Event>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookCreated)]
pub struct Created {
    webhook: Webhook,
    /// The signing secret: shown this once. Check each delivery's `Vodnest-Signature` with it.
    secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    webhooks: Vec<Webhook>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    /// Newest first.
    deliveries: Vec<Delivery>,
    /// The cursor of the next page; null on the last.
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Deliveries per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The `{id}` of a webhook; anything that is not a UUID names none (404).
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct WebhookId(
    /// The webhook's id.
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for WebhookId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        path_uuid(parts, state, "no such webhook").await.map(Self)
    }
}

/// `{id}` and `{delivery}`: a webhook and one of its deliveries.
#[derive(utoipa::IntoParams)]
#[into_params(names("id", "delivery"), parameter_in = Path)]
pub struct DeliveryPath(
    /// The webhook's id.
    pub Uuid,
    /// The delivery's id.
    pub Uuid,
);

impl<S: Send + Sync> FromRequestParts<S> for DeliveryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let missing = || ApiError::NotFound("no such delivery");
        let axum::extract::Path((hook, delivery)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| missing())?;
        Ok(Self(
            hook.parse().map_err(|_| missing())?,
            delivery.parse().map_err(|_| missing())?,
        ))
    }
}

/// The events asked for, each once, in a stable order.
fn checked_events(events: &[Event]) -> Result<Vec<Event>, ApiError> {
    let events: Vec<Event> = Event::ALL
        .iter()
        .copied()
        .filter(|e| events.contains(e))
        .collect();
    if events.is_empty() {
        return Err(ApiError::invalid(
            "invalid_field",
            "events must name at least one event",
        ));
    }
    Ok(events)
}

/// The URL, if its shape is right and its host resolves to addresses a webhook may reach.
async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    let settings = &state.config.webhooks;
    let parsed =
        targets::parse(url.trim()).map_err(|e| ApiError::invalid("invalid_url", e.to_string()))?;
    targets::resolve(&parsed, &settings.resolver, settings.policy())
        .await
        .map_err(|err| match err {
            TargetError::Refused { .. } => ApiError::invalid("forbidden_address", err.to_string()),
            TargetError::Unresolvable { .. } => {
                ApiError::invalid("unresolvable_host", err.to_string())
            }
            TargetError::Invalid(message) => ApiError::invalid("invalid_url", message),
        })?;
    Ok(parsed.to_string())
}

/// The caller's webhook `id` (any with `admin`), or 404.
async fn owned(state: &AppState, caller: &Caller, id: Uuid) -> Result<Webhook, ApiError> {
    webhooks::get(&state.pool, id, caller.owner_filter())
        .await?
        .ok_or(ApiError::NotFound("no such webhook"))
}

#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    summary = "Add a webhook endpoint",
    description = "Each event of your videos that the endpoint asks for is POSTed to it, \
                   signed with the secret returned here (once). See the README's Webhooks \
                   section for the body and how to check the signature.",
    security(("bearer" = ["videos:write"]), ("session_cookie" = ["videos:write"])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook and its secret (shown this once)", body = Created, links(
            ("delete_webhook" = (operation_id = "delete_webhook", parameters(("id" = "$response.body#/webhook/id")))),
            ("list_webhook_deliveries" = (operation_id = "list_webhook_deliveries", parameters(("id" = "$response.body#/webhook/id")))),
        )),
        NotJson,
        Unauthorized,
        (status = 403, description = "The key lacks `videos:write` (`insufficient_scope`), or the request came from another site (`cross_origin_request`)", body = ErrorBody),
        (status = 409, description = "You have the most webhooks allowed (`too_many_webhooks`)", body = ErrorBody),
        (status = 422, description = "A field is wrong (`invalid_body`, `invalid_field`, `invalid_url`), the host resolves to a private, loopback or link-local address (`forbidden_address`) or not at all (`unresolvable_host`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    Json(body): Json<NewWebhook>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let events = checked_events(&body.events)?;
    let url = checked_url(&state, &body.url).await?;
    let cap = state.config.webhooks.per_user;
    let mut tx = state.pool.begin().await?;
    // One maker at a time per user, so that two concurrent creates cannot both pass the cap.
    vodnest_core::videos::lock_usage(&mut *tx, caller.user.id).await?;
    if webhooks::count(&mut *tx, caller.user.id).await? >= cap {
        return Err(ApiError::conflict(
            "too_many_webhooks",
            format!("you already have {cap} webhooks, the most allowed; delete one first"),
        ));
    }
    let (webhook, secret) = webhooks::create(&mut *tx, caller.user.id, &url, &events).await?;
    let target = format!("webhook {} to {}", webhook.id, webhook.url);
    let actor = Actor::User(&caller.user);
    let ip = ip.text();
    audit::record(
        &mut *tx,
        actor,
        Action::WebhookCreated,
        &target,
        ip.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Created { webhook, secret })))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    summary = "List your webhook endpoints (never their secrets)",
    security(("bearer" = ["videos:read"]), ("session_cookie" = ["videos:read"])),
    responses(
        (status = 200, description = "Your webhooks, newest first", body = WebhookList),
        Unauthorized,
        InsufficientScope,
        Internal,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<WebhookList>, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let webhooks = webhooks::list(&state.pool, caller.user.id).await?;
    Ok(Json(WebhookList { webhooks }))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    summary = "Remove a webhook endpoint",
    description = "Its pending deliveries are canceled and its log goes with it.",
    security(("bearer" = ["videos:write"]), ("session_cookie" = ["videos:write"])),
    params(WebhookId),
    responses(
        (status = 204, description = "Removed"),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        (status = 404, description = "No such webhook of yours (`not_found`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ip: ClientIp,
    WebhookId(id): WebhookId,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let mut tx = state.pool.begin().await?;
    if !webhooks::delete(&mut *tx, id, caller.owner_filter()).await? {
        return Err(ApiError::NotFound("no such webhook"));
    }
    let actor = Actor::User(&caller.user);
    let ip = ip.text();
    let target = format!("webhook {id}");
    audit::record(
        &mut *tx,
        actor,
        Action::WebhookDeleted,
        &target,
        ip.as_deref(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    summary = "A webhook's delivery log, newest first",
    security(("bearer" = ["videos:read"]), ("session_cookie" = ["videos:read"])),
    params(WebhookId, LogQuery),
    responses(
        (status = 200, description = "A page of deliveries; `next_cursor` is null on the last page", body = DeliveryLog),
        (status = 400, description = "A malformed query or a cursor this API did not return (`invalid_query`, `invalid_cursor`)", body = ErrorBody),
        Unauthorized,
        InsufficientScope,
        (status = 404, description = "No such webhook of yours (`not_found`)", body = ErrorBody),
        (status = 422, description = "`limit` out of range (`invalid_limit`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    WebhookId(id): WebhookId,
    Query(query): Query<LogQuery>,
) -> Result<Json<DeliveryLog>, ApiError> {
    require(&caller, Scope::VideosRead)?;
    let limit = checked_limit(query.limit)?;
    let after = checked_cursor(query.cursor.as_deref())?;
    let webhook = owned(&state, &caller, id).await?;
    let rows = webhooks::deliveries(&state.pool, webhook.id, limit + 1, after).await?;
    let (deliveries, next_cursor) = page_of(rows, limit, |d| cursor_at(d.created_at, d.id));
    Ok(Json(DeliveryLog {
        deliveries,
        next_cursor,
    }))
}

#[utoipa::path(
    post,
    path = "/webhooks/{id}/deliveries/{delivery}/redeliver",
    operation_id = "redeliver_webhook",
    tag = "webhooks",
    summary = "Send a finished delivery again",
    description = "The same body under the same id (receivers dedupe on it), now, with a \
                   fresh day of retries. A delivery still pending is left as it is.",
    security(("bearer" = ["videos:write"]), ("session_cookie" = ["videos:write"])),
    params(DeliveryPath),
    responses(
        (status = 202, description = "Queued: it is sent within seconds"),
        Unauthorized,
        InsufficientScope,
        CrossOrigin,
        (status = 404, description = "No such webhook of yours, or no such delivery of it (`not_found`)", body = ErrorBody),
        (status = 409, description = "The delivery is still pending (`delivery_pending`)", body = ErrorBody),
        Internal,
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    DeliveryPath(id, delivery): DeliveryPath,
) -> Result<StatusCode, ApiError> {
    require(&caller, Scope::VideosWrite)?;
    let webhook = owned(&state, &caller, id).await?;
    match webhooks::redeliver(&state.pool, webhook.id, delivery).await? {
        Redelivery::Queued => {
            state.hub.video_changes().notify_one();
            Ok(StatusCode::ACCEPTED)
        }
        Redelivery::AlreadyPending => Err(ApiError::conflict(
            "delivery_pending",
            "the delivery is still pending: it is retried by itself",
        )),
        Redelivery::NotFound => Err(ApiError::NotFound("no such delivery")),
    }
}
