//! The gRPC control plane served on an ephemeral port against a fresh database, called with
//! the generated client: every RPC, its error codes, health and reflection.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sqlx::PgPool;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;
use vodnest_core::auth;
use vodnest_core::caller::Scope;
use vodnest_core::domain::VideoStatus;
use vodnest_core::queue;
use vodnest_core::videos::{self, MediaFacts};
use vodnest_proto::pb::{
    CancelJobRequest, GetJobRequest, JobState, ListJobsRequest, QueueStatsRequest, RetryJobRequest,
    SubmitJobRequest, WatchJobRequest,
};
use vodnest_testkit::control_plane::{Client, ControlPlane};
use vodnest_testkit::fake_video;

/// The control plane and a connected client.
struct Plane {
    client: Client,
    pool: PgPool,
    addr: String,
    server: ControlPlane,
}

impl Plane {
    async fn start() -> Result<Self> {
        let server = ControlPlane::start().await?;
        Ok(Self {
            client: server.client().await?,
            pool: server.pool.clone(),
            addr: server.addr.clone(),
            server,
        })
    }

    async fn stop(self) -> Result<()> {
        self.server.stop().await
    }

    async fn video(&self, enqueue: bool) -> Result<(Uuid, Option<Uuid>)> {
        fake_video(&self.pool, enqueue).await
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    result.err().map_or(Code::Ok, |s| s.code())
}

#[tokio::test]
async fn get_list_and_stats() -> Result<()> {
    let mut plane = Plane::start().await?;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(plane.video(true).await?.1.context("job")?);
    }
    let stats = plane
        .client
        .queue_stats(QueueStatsRequest {})
        .await?
        .into_inner();
    ensure!(stats.queued == 3 && stats.running == 0, "{stats:?}");
    ensure!(stats.oldest_queued_age_s >= 0.0, "{stats:?}");

    let job = plane
        .client
        .get_job(GetJobRequest {
            job_id: jobs[0].to_string(),
        })
        .await?
        .into_inner();
    ensure!(
        job.state == JobState::Queued as i32 && job.attempt == 0,
        "{job:?}"
    );

    let first = plane
        .client
        .list_jobs(ListJobsRequest {
            state: 0,
            page_size: 2,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    ensure!(
        first.jobs.len() == 2 && !first.next_page_token.is_empty(),
        "{first:?}"
    );
    ensure!(first.jobs[0].id == jobs[2].to_string(), "newest first");
    let second = plane
        .client
        .list_jobs(ListJobsRequest {
            state: 0,
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await?
        .into_inner();
    ensure!(
        second.jobs.len() == 1 && second.next_page_token.is_empty(),
        "{second:?}"
    );
    ensure!(second.jobs[0].id == jobs[0].to_string());
    let failed = plane
        .client
        .list_jobs(ListJobsRequest {
            state: JobState::Failed as i32,
            page_size: 0,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    ensure!(failed.jobs.is_empty());
    plane.stop().await
}

#[tokio::test]
async fn bad_requests_get_proper_codes() -> Result<()> {
    let mut plane = Plane::start().await?;
    let c = &mut plane.client;
    ensure!(
        code(
            c.get_job(GetJobRequest {
                job_id: "nope".into()
            })
            .await
        ) == Code::InvalidArgument
    );
    let unknown = Uuid::new_v4().to_string();
    ensure!(
        code(
            c.get_job(GetJobRequest {
                job_id: unknown.clone()
            })
            .await
        ) == Code::NotFound
    );
    ensure!(
        code(
            c.cancel_job(CancelJobRequest {
                job_id: unknown.clone()
            })
            .await
        ) == Code::NotFound
    );
    ensure!(
        code(
            c.watch_job(WatchJobRequest {
                job_id: unknown.clone()
            })
            .await
        ) == Code::NotFound
    );
    ensure!(code(c.submit_job(SubmitJobRequest { video_id: unknown }).await) == Code::NotFound);
    let bad_page = ListJobsRequest {
        state: 0,
        page_size: 0,
        page_token: "garbage".into(),
    };
    ensure!(code(c.list_jobs(bad_page).await) == Code::InvalidArgument);
    let huge_page = ListJobsRequest {
        state: 0,
        page_size: 100_000,
        page_token: String::new(),
    };
    ensure!(code(c.list_jobs(huge_page).await) == Code::InvalidArgument);
    let (waiting, _) = plane.video(false).await?;
    let submit = plane
        .client
        .submit_job(SubmitJobRequest {
            video_id: waiting.to_string(),
        })
        .await;
    let status = submit
        .err()
        .context("submitting an unfinished upload must fail")?;
    ensure!(status.code() == Code::FailedPrecondition, "{status:?}");
    ensure!(
        status.message().contains("upload"),
        "a useful message: {status:?}"
    );
    plane.stop().await
}

#[tokio::test]
async fn cancel_then_retry() -> Result<()> {
    let mut plane = Plane::start().await?;
    let (video, job) = plane.video(true).await?;
    let job = job.context("job")?.to_string();
    let canceled = plane
        .client
        .cancel_job(CancelJobRequest {
            job_id: job.clone(),
        })
        .await?
        .into_inner();
    ensure!(canceled.state == JobState::Canceled as i32, "{canceled:?}");
    let row = videos::get(&plane.pool, video).await?.context("video")?;
    ensure!(row.status == VideoStatus::Failed, "{}", row.status);
    let again = plane
        .client
        .cancel_job(CancelJobRequest {
            job_id: job.clone(),
        })
        .await;
    ensure!(code(again) == Code::FailedPrecondition);

    let retried = plane
        .client
        .retry_job(RetryJobRequest {
            job_id: job.clone(),
        })
        .await?
        .into_inner();
    ensure!(
        retried.id != job && retried.state == JobState::Queued as i32,
        "{retried:?}"
    );
    let row = videos::get(&plane.pool, video).await?.context("video")?;
    ensure!(
        row.status == VideoStatus::Queued && row.error.is_none(),
        "{row:?}"
    );
    let retry_live = plane
        .client
        .retry_job(RetryJobRequest {
            job_id: retried.id.clone(),
        })
        .await;
    ensure!(code(retry_live) == Code::FailedPrecondition);
    // Submitting while a job is live returns that job rather than a second one.
    let submitted = plane
        .client
        .submit_job(SubmitJobRequest {
            video_id: video.to_string(),
        })
        .await?
        .into_inner();
    ensure!(submitted.id == retried.id, "{submitted:?}");
    plane.stop().await
}

#[tokio::test]
async fn watch_streams_progress_until_the_end() -> Result<()> {
    let mut plane = Plane::start().await?;
    let (video, job) = plane.video(true).await?;
    let mut stream = plane
        .client
        .watch_job(WatchJobRequest {
            job_id: job.context("job")?.to_string(),
        })
        .await?
        .into_inner();
    let first = stream.next().await.context("a first event")??;
    ensure!(first.job.context("job")?.state == JobState::Queued as i32);

    let pool = plane.pool.clone();
    let worker = tokio::spawn(async move {
        let claimed = queue::claim(&pool, "test", Duration::from_secs(30))
            .await?
            .context("claim")?;
        for progress in [0.25, 0.5, 0.75] {
            videos::set_progress(&pool, video, "transcoding", progress).await?;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        queue::succeed(&pool, &claimed, &MediaFacts::default()).await?;
        anyhow::Ok(())
    });
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event?);
    }
    worker.await??;
    let last = events.last().context("events")?;
    let last_job = last.job.as_ref().context("job")?;
    ensure!(last_job.state == JobState::Succeeded as i32, "{events:?}");
    ensure!(last.video_status == "ready" && last.playable, "{last:?}");
    let progress: Vec<f64> = events
        .iter()
        .filter_map(|e| e.job.as_ref())
        .map(|j| j.progress)
        .collect();
    ensure!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    ensure!(
        progress.contains(&0.5),
        "intermediate progress is streamed: {progress:?}"
    );
    plane.stop().await
}

/// The code of each `Processor` RPC made by `client`, in a fixed order.
macro_rules! every_rpc_code {
    ($client:expr, $job:expr, $video:expr) => {{
        let client = &mut $client;
        let job_id = || $job.to_string();
        vec![
            (
                "SubmitJob",
                code(
                    client
                        .submit_job(SubmitJobRequest {
                            video_id: $video.to_string(),
                        })
                        .await,
                ),
            ),
            (
                "GetJob",
                code(client.get_job(GetJobRequest { job_id: job_id() }).await),
            ),
            (
                "ListJobs",
                code(client.list_jobs(ListJobsRequest::default()).await),
            ),
            (
                "QueueStats",
                code(client.queue_stats(QueueStatsRequest {}).await),
            ),
            (
                "WatchJob",
                code(client.watch_job(WatchJobRequest { job_id: job_id() }).await),
            ),
            (
                "RetryJob",
                code(client.retry_job(RetryJobRequest { job_id: job_id() }).await),
            ),
            (
                "CancelJob",
                code(
                    client
                        .cancel_job(CancelJobRequest { job_id: job_id() })
                        .await,
                ),
            ),
        ]
    }};
}

#[tokio::test]
async fn every_call_needs_a_token_with_the_admin_scope() -> Result<()> {
    let plane = Plane::start().await?;
    let (video, job) = plane.video(true).await?;
    let job = job.context("job")?;
    let admin = vodnest_core::caller::BUILTIN_ADMIN;
    let key = |scopes: &'static [Scope]| {
        let pool = plane.pool.clone();
        async move { auth::create_key(&pool, admin, "k", scopes, None).await }
    };
    let (_, writer) = key(&[Scope::VideosRead, Scope::VideosWrite]).await?;
    let (_, admin_key) = key(&[Scope::Admin]).await?;

    let mut anonymous = plane.server.anonymous_client().await?;
    for (rpc, code) in every_rpc_code!(anonymous, job, video) {
        ensure!(
            code == Code::Unauthenticated,
            "{rpc} without a token: {code:?}"
        );
    }
    let mut forged = plane.server.client_with("vn_not-a-key").await?;
    for (rpc, code) in every_rpc_code!(forged, job, video) {
        ensure!(
            code == Code::Unauthenticated,
            "{rpc} with a bad token: {code:?}"
        );
    }
    let mut weak = plane.server.client_with(&writer).await?;
    for (rpc, code) in every_rpc_code!(weak, job, video) {
        ensure!(
            code == Code::PermissionDenied,
            "{rpc} with videos:write: {code:?}"
        );
    }
    // Nothing reached the queue: the job is still queued, once.
    let (_, state, _) = job_state(&plane.pool, job).await?;
    ensure!(state == "queued", "{state}");
    let mut strong = plane.server.client_with(&admin_key).await?;
    for (rpc, code) in every_rpc_code!(strong, job, video) {
        // Submit finds the video's job live, retry finds it not failed: answers, not refusals.
        let allowed = [Code::Ok, Code::FailedPrecondition, Code::AlreadyExists];
        ensure!(allowed.contains(&code), "{rpc} with an admin key: {code:?}");
    }
    // A revoked key stops at once.
    let (revoked_key, revoked) = key(&[Scope::Admin]).await?;
    let mut soon_revoked = plane.server.client_with(&revoked).await?;
    ensure!(code(soon_revoked.queue_stats(QueueStatsRequest {}).await) == Code::Ok);
    auth::revoke_key(&plane.pool, revoked_key.id, None).await?;
    let after = code(soon_revoked.queue_stats(QueueStatsRequest {}).await);
    ensure!(after == Code::Unauthenticated, "{after:?}");
    plane.stop().await
}

async fn job_state(pool: &PgPool, job: Uuid) -> Result<(Uuid, String, i32)> {
    Ok(
        sqlx::query_as("select id, state, attempt from jobs where id = $1")
            .bind(job)
            .fetch_one(pool)
            .await?,
    )
}

#[tokio::test]
async fn health_and_reflection_answer() -> Result<()> {
    let plane = Plane::start().await?;
    let channel = Channel::from_shared(plane.addr.clone())?.connect().await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "vodnest.processor.v1.Processor".into(),
        })
        .await?
        .into_inner();
    ensure!(
        serving.status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let response = responses.next().await.context("a reflection answer")??;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        anyhow::bail!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    ensure!(
        names.contains(&"vodnest.processor.v1.Processor"),
        "{names:?}"
    );
    ensure!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    plane.stop().await
}
