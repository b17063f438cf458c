//! The API's one error type. Every failure answers
//! `{"error": {"code": "snake_case_code", "message": "human sentence"}}` with its status;
//! a 5xx is logged in full and answered without internal details.

use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vodnest_core::edits::EditError;
use vodnest_core::queue::QueueError;
use vodnest_core::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// `429 rate_limited` with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// `503` with `Retry-After`: this process is at a capacity limit; try again soon.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// Any other failure on our side (logged, answered as `internal_error`).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into())
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Db(sqlx::Error::PoolTimedOut) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Db(_) | Self::Queue(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Storage(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Storage(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Invalid { code, .. }
            | Self::Conflict { code, .. }
            | Self::TooLarge { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Db(sqlx::Error::PoolTimedOut) => "database_busy",
            Self::Db(_) | Self::Queue(_) | Self::Internal(_) => "internal_error",
            Self::Storage(_) => "storage_unavailable",
        }
    }
}

/// How long a client refused for want of a pooled database connection is asked to wait.
const DATABASE_BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The answer to a request body over `MAX_BODY_BYTES`.
pub fn body_too_large(max_bytes: usize) -> ApiError {
    ApiError::TooLarge {
        code: "body_too_large",
        message: format!("the request body is larger than the {max_bytes} bytes allowed"),
    }
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "no such video"}}))]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `unauthorized`, `not_found`, `invalid_field`,
    /// `upload_not_active`, `upload_too_large`, `body_too_large`, `quota_exceeded`,
    /// `rate_limited`, `internal_error`, `storage_unavailable`, `database_busy`, `server_busy`.
    code: &'static str,
    /// A human sentence; a 5xx never carries internal details.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            // A capacity limit is expected under load, and its message is for the client.
            Self::Unavailable { .. } => self.to_string(),
            Self::Db(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("no pooled database connection within the acquire timeout");
                "the database is busy, try again shortly".to_owned()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %self, "request failed");
                match self {
                    Self::Storage(_) => "object storage is unavailable, try again later".to_owned(),
                    _ => "internal error".to_owned(),
                }
            }
            _ => self.to_string(),
        };
        let retry_after = match &self {
            Self::RateLimited {
                retry_after_secs, ..
            }
            | Self::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::Db(sqlx::Error::PoolTimedOut) => Some(DATABASE_BUSY_RETRY_AFTER_SECS),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// `axum::Json` whose rejections answer in the API's error shape. Every request body of the
/// API is an object; serde would also read a struct from a JSON array (`[null, null]` was an
/// edit that changed nothing, found by Schemathesis), so anything else is refused first.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError::invalid(
                "invalid_body",
                "the body must be a JSON object",
            ));
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e| {
                ApiError::invalid(
                    "invalid_body",
                    format!("Failed to deserialize the JSON body into the target type: {e}"),
                )
            })
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejections answer in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` whose rejections answer in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A body that is not JSON is a 400; JSON of the wrong shape (a missing field, a wrong type)
/// is a 422.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // The body limit (see `body_limit`) cut the body off.
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge {
                code: "body_too_large",
                message: other.body_text(),
            },
            JsonRejection::JsonDataError(e) => Self::invalid("invalid_body", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::bad_request(
                "invalid_content_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            other => Self::bad_request("invalid_json", other.body_text()),
        }
    }
}

/// A path whose segments do not parse (an id that is not a UUID, a number past its type's
/// range) names nothing: 404, as for a well-formed path that names nothing.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(_) => Self::NotFound("no such file"),
            // A route whose handler wants parameters its path lacks: our bug.
            other => Self::Internal(other.body_text()),
        }
    }
}

/// What an edit of a video's trim or captions answers when it cannot be made.
impl From<EditError> for ApiError {
    fn from(err: EditError) -> Self {
        match err {
            EditError::NoSuchVideo => Self::NotFound("no such video"),
            EditError::NoSuchCaption(_) => {
                Self::NotFound("the video has no captions in that language")
            }
            EditError::NotReady(_) => Self::conflict("not_ready", err.to_string()),
            EditError::InvalidTrim(message) => Self::invalid("invalid_trim", message),
            EditError::TooManyCaptions => Self::invalid("too_many_captions", err.to_string()),
            EditError::Busy => Self::Unavailable {
                code: "video_busy",
                message: err.to_string(),
                retry_after_secs: 1,
            },
            EditError::Storage(e) => Self::Storage(e),
            EditError::Db(e) => Self::Db(e),
            EditError::Playlist { .. } => Self::internal(err.to_string()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}
