//! The audit log: who did what from where. Never secrets: targets are ids and names.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::caller::UserRef;
use crate::text_enum::text_enum;

text_enum! {
    /// What happened; `audit_events.action`.
    pub enum Action {
        SignIn = "sign_in",
        SignInFailed = "sign_in_failed",
        SignOutEverywhere = "sign_out_everywhere",
        PasswordChanged = "password_changed",
        KeyCreated = "key_created",
        KeyRevoked = "key_revoked",
        UserAdded = "user_added",
        UserRemoved = "user_removed",
        InviteSent = "invite_sent",
        VideoCreated = "video_created",
        VideoEdited = "video_edited",
        VideoDeleted = "video_deleted",
        VisibilityChanged = "visibility_changed",
        WebhookCreated = "webhook_created",
        WebhookDeleted = "webhook_deleted",
    }
}

/// One event as `GET /api/v1/audit` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The acting user's name (or the name tried, for a failed sign-in).
    pub actor: String,
    pub action: Action,
    pub target: String,
    pub ip: Option<String>,
}

/// Who acted: a known user, or a name someone tried to sign in as.
pub enum Actor<'a> {
    User(&'a UserRef),
    Tried(&'a str),
}

pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Actor<'_>,
    action: Action,
    target: &str,
    ip: Option<&str>,
) -> Result<(), sqlx::Error> {
    let (actor_id, name): (Option<Uuid>, &str) = match actor {
        Actor::User(user) => (Some(user.id), &user.username),
        Actor::Tried(name) => (None, name),
    };
    sqlx::query!(
        "insert into audit_events (actor_id, actor, action, target, ip) values ($1, $2, $3, $4, $5)",
        actor_id,
        name,
        action as Action,
        target,
        ip,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Newest first; `before` is the id of the last event of the previous page.
pub async fn list(
    db: impl PgExecutor<'_>,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    sqlx::query_as!(
        AuditEvent,
        r#"select id, at, actor, action as "action: Action", target, ip from audit_events
           where ($1::bigint is null or id < $1) order by id desc limit $2"#,
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::Action;
    use crate::text_enum::assert_names_round_trip;

    #[test]
    fn actions_round_trip() {
        assert_names_round_trip(Action::ALL);
    }
}
