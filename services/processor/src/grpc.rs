//! The `vodnest.processor.v1.Processor` control plane: look at the queue and steer it.

use std::pin::Pin;
use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use vodnest_core::auth;
use vodnest_core::caller::Scope;
use vodnest_core::jobs::{self, JobRow, JobsError};
use vodnest_core::secret::Secret;
use vodnest_proto::bearer::token_of;
use vodnest_proto::pb::processor_server::{Processor, ProcessorServer};
use vodnest_proto::pb::{
    CancelJobRequest, GetJobRequest, Job, JobEvent, JobState, ListJobsRequest, ListJobsResponse,
    QueueStatsRequest, QueueStatsResponse, RetryJobRequest, SubmitJobRequest, WatchJobRequest,
};

/// How often `WatchJob` looks at the job.
const WATCH_EVERY: Duration = Duration::from_millis(500);

pub struct ControlPlane {
    pool: PgPool,
    admin_token: Option<Secret>,
}

/// The service; every call needs a token with the `admin` scope: an admin key or `admin_token`.
pub fn server(pool: PgPool, admin_token: Option<Secret>) -> ProcessorServer<ControlPlane> {
    ProcessorServer::new(ControlPlane { pool, admin_token })
}

impl ControlPlane {
    /// UNAUTHENTICATED without a valid token, PERMISSION_DENIED without the `admin` scope. Keys
    /// are checked in Postgres on each call, so a revoked key stops at once.
    async fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(token) = token_of(request) else {
            return Err(Status::unauthenticated(
                "send `authorization: Bearer <token>` with a key that has the admin scope",
            ));
        };
        let admin_token = self.admin_token.as_ref().map(Secret::expose);
        let caller = auth::authenticate_token(&self.pool, admin_token, token)
            .await
            .map_err(|err| status(JobsError::Db(err)))?
            .ok_or_else(|| Status::unauthenticated("that token is not valid"))?;
        if caller.has(Scope::Admin) {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "the control plane needs a key with the admin scope",
            ))
        }
    }
}

fn parse_id(text: &str, field: &str) -> Result<Uuid, Status> {
    text.parse()
        .map_err(|_| Status::invalid_argument(format!("{field} is not a UUID: {text:?}")))
}

fn status(err: JobsError) -> Status {
    match err {
        JobsError::NotFound(message) => Status::not_found(message),
        JobsError::InvalidState(message) => Status::failed_precondition(message),
        JobsError::Db(err) => {
            tracing::error!(error = %err, "control plane database error");
            Status::internal("internal error")
        }
    }
}

fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}

fn job(row: &JobRow) -> Job {
    Job {
        id: row.id.to_string(),
        video_id: row.video_id.to_string(),
        state: JobState::from(row.state).into(),
        attempt: row.attempt,
        max_attempts: row.max_attempts,
        last_error: row.last_error.clone().unwrap_or_default(),
        worker_id: row.worker_id.clone().unwrap_or_default(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        run_at: Some(timestamp(row.run_at)),
        lease_expires_at: row.lease_expires_at.map(timestamp),
        progress: row.progress,
        stage: row.stage.clone().unwrap_or_default(),
        kind: row.kind.to_string(),
    }
}

fn event(row: &JobRow) -> JobEvent {
    JobEvent {
        job: Some(job(row)),
        video_status: row.video_status.to_string(),
        playable: row.playable,
    }
}

/// A page token is `{created_at unix nanos}.{id}` of the last job of the previous page.
fn decode_token(token: &str) -> Result<Option<(OffsetDateTime, Uuid)>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Status::invalid_argument("page_token is not one this server returned");
    let (nanos, id) = token.split_once('.').ok_or_else(invalid)?;
    let at = nanos
        .parse()
        .ok()
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
        .ok_or_else(invalid)?;
    Ok(Some((at, id.parse().map_err(|_| invalid())?)))
}

type JobEvents = Pin<Box<dyn tokio_stream::Stream<Item = Result<JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Processor for ControlPlane {
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<Job>, Status> {
        self.authorize(&request).await?;
        let video_id = parse_id(&request.get_ref().video_id, "video_id")?;
        let row = jobs::submit(&self.pool, video_id).await.map_err(status)?;
        Ok(Response::new(job(&row)))
    }

    async fn get_job(&self, request: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
        self.authorize(&request).await?;
        let id = parse_id(&request.get_ref().job_id, "job_id")?;
        let row = jobs::get(&self.pool, id).await.map_err(status)?;
        Ok(Response::new(job(&row)))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        self.authorize(&request).await?;
        let request = request.into_inner();
        let state = JobState::try_from(request.state)
            .map_err(|_| Status::invalid_argument("unknown job state"))?;
        // Unspecified: every state.
        let state = state.try_into().ok();
        let size = match request.page_size {
            0 => 50,
            n @ 1..=500 => i64::from(n),
            _ => {
                return Err(Status::invalid_argument(
                    "page_size must be between 1 and 500",
                ));
            }
        };
        let after = decode_token(&request.page_token)?;
        let mut rows = jobs::list(&self.pool, state, size + 1, after)
            .await
            .map_err(status)?;
        let more = rows.len() as i64 > size;
        rows.truncate(size as usize);
        let next_page_token = match rows.last() {
            Some(last) if more => format!("{}.{}", last.created_at.unix_timestamp_nanos(), last.id),
            _ => String::new(),
        };
        Ok(Response::new(ListJobsResponse {
            jobs: rows.iter().map(job).collect(),
            next_page_token,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<Job>, Status> {
        self.authorize(&request).await?;
        let id = parse_id(&request.get_ref().job_id, "job_id")?;
        let row = jobs::cancel(&self.pool, id).await.map_err(status)?;
        Ok(Response::new(job(&row)))
    }

    async fn retry_job(&self, request: Request<RetryJobRequest>) -> Result<Response<Job>, Status> {
        self.authorize(&request).await?;
        let id = parse_id(&request.get_ref().job_id, "job_id")?;
        let row = jobs::retry(&self.pool, id).await.map_err(status)?;
        Ok(Response::new(job(&row)))
    }

    type WatchJobStream = JobEvents;

    /// Sends the job now and on every change until it reaches a terminal state.
    async fn watch_job(
        &self,
        request: Request<WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        self.authorize(&request).await?;
        let id = parse_id(&request.get_ref().job_id, "job_id")?;
        let first = jobs::get(&self.pool, id).await.map_err(status)?;
        let pool = self.pool.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut last = None;
            let mut row = first;
            loop {
                let seen = (row.state, row.progress, row.stage.clone(), row.playable);
                if last.as_ref() != Some(&seen) {
                    if tx.send(Ok(event(&row))).await.is_err() {
                        return;
                    }
                    last = Some(seen);
                }
                if row.is_terminal() {
                    return;
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(WATCH_EVERY) => {}
                }
                row = match jobs::get(&pool, id).await {
                    Ok(row) => row,
                    Err(err) => {
                        let _ = tx.send(Err(status(err))).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn queue_stats(
        &self,
        request: Request<QueueStatsRequest>,
    ) -> Result<Response<QueueStatsResponse>, Status> {
        self.authorize(&request).await?;
        let stats = jobs::stats(&self.pool).await.map_err(status)?;
        Ok(Response::new(QueueStatsResponse {
            queued: stats.queued,
            running: stats.running,
            succeeded: stats.succeeded,
            failed: stats.failed,
            canceled: stats.canceled,
            oldest_queued_age_s: stats.oldest_queued_age_s,
        }))
    }
}
