//! The claim loop: wait for a free slot, claim a job, run it; wake on a NOTIFY from the jobs
//! table or, should one be lost, after a short poll. On shutdown, stop claiming and give the
//! running jobs a grace period before they are released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;
use vodnest_core::events::{JOB_STOPPED_CHANNEL, JOBS_CHANNEL};
use vodnest_core::queue::{self, ClaimedJob, Claimer, JobQueue};

/// What the claim loop needs to know.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub shutdown_grace: Duration,
    /// LISTEN for new jobs; without it the loop relies on the poll alone.
    pub listen: bool,
}

/// What a claimed job does. The processor transcodes (`job::Transcode`); benchmarks use a
/// runner that does nothing, to measure the queue itself.
pub trait JobRunner: Send + Sync + 'static {
    /// Runs the job to an outcome recorded in the database. `stopped` fires when it is
    /// canceled or deleted elsewhere; `shutdown` when the processor stops waiting for it.
    /// With `next`, a runner that succeeds claims the following job in the same statement
    /// ([`queue::succeed_and_claim`]; the processor's slots share one through its
    /// `GroupCommit`) and returns it: the slot runs it at once.
    fn run(
        &self,
        job: ClaimedJob,
        stopped: CancellationToken,
        shutdown: CancellationToken,
        next: Option<Claimer>,
    ) -> impl Future<Output = Option<ClaimedJob>> + Send;
}

/// A name that tells operators which process holds a job.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "processor".to_owned());
    format!("{host}-{}-{:04x}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u16 {
    uuid::Uuid::new_v4().as_u128() as u16
}

/// The jobs running here, each with the token that stops it when the job is canceled or
/// deleted elsewhere.
#[derive(Clone, Default)]
struct Running(Arc<Mutex<HashMap<Uuid, CancellationToken>>>);

impl Running {
    fn insert(&self, id: Uuid) -> CancellationToken {
        let token = CancellationToken::new();
        self.lock().insert(id, token.clone());
        token
    }

    fn remove(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    fn stop(&self, id: Uuid) {
        if let Some(token) = self.lock().get(&id) {
            token.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CancellationToken>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs until `stop` fires, then drains: jobs get `grace` to finish, after which they are
/// released to the queue.
pub async fn run<R: JobRunner>(
    pool: PgPool,
    settings: WorkerSettings,
    runner: Arc<R>,
    worker_id: String,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let wake = Arc::new(Notify::new());
    let listener_stop = CancellationToken::new();
    let jobs_here = Running::default();
    tokio::spawn(listen_for_jobs(
        pool.clone(),
        settings.listen,
        wake.clone(),
        jobs_here.clone(),
        listener_stop.clone(),
    ));
    let release = CancellationToken::new();
    let mut running = JoinSet::new();
    let claimer = Claimer {
        worker_id: worker_id.as_str().into(),
        lease: settings.lease,
        queue: JobQueue::Processor,
    };
    tracing::info!(%worker_id, concurrency = settings.concurrency, "worker started");

    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let slot = Slot {
            pool: pool.clone(),
            claimer: claimer.clone(),
            jobs_here: jobs_here.clone(),
            stop: stop.clone(),
            release: release.clone(),
            permit,
        };
        if let Some(claimed) = claim(&pool, &claimer).await {
            running.spawn(run_slot(runner.clone(), claimed, slot));
            // Look again at once: more jobs may be due.
            continue;
        }
        drop(slot);
        // Reap finished tasks so the set does not grow.
        while running.try_join_next().is_some() {}
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(settings.poll) => {}
        }
    }

    listener_stop.cancel();
    drain(running, release, settings.shutdown_grace).await;
    tracing::info!("worker stopped");
}

/// What a slot holds while it runs jobs.
struct Slot {
    pool: PgPool,
    claimer: Claimer,
    jobs_here: Running,
    /// The worker stops claiming.
    stop: CancellationToken,
    /// The grace period is over: running jobs are released.
    release: CancellationToken,
    permit: OwnedSemaphorePermit,
}

/// Runs `claimed` in its slot; the slot keeps running jobs while each success hands it the
/// next one, and frees its permit when one does not.
async fn run_slot<R: JobRunner>(runner: Arc<R>, claimed: ClaimedJob, slot: Slot) {
    let mut job = claimed;
    loop {
        let id = job.id;
        let stopped = slot.jobs_here.insert(id);
        let next = (!slot.stop.is_cancelled()).then(|| slot.claimer.clone());
        let span = job_span(&job);
        let after = runner
            .run(job, stopped, slot.release.clone(), next)
            .instrument(span)
            .await;
        slot.jobs_here.remove(id);
        match after {
            // Claimed with the success just as the processor began to stop (a scale-in's
            // SIGTERM while the job finished): given back at once, without spending an
            // attempt, rather than started and released at the end of the grace period.
            Some(next) if slot.stop.is_cancelled() => {
                if let Err(err) = queue::release(&slot.pool, &next).await {
                    tracing::warn!(error = %err, job_id = %next.id, "cannot give back a job");
                }
                break;
            }
            Some(next) => job = next,
            None => break,
        }
    }
    drop(slot.permit);
}

/// The span a job runs in, continuing the trace of the request that enqueued it (the
/// upload's, for a ladder job too; see `vodnest_core::trace_context`).
fn job_span(job: &ClaimedJob) -> tracing::Span {
    let span = tracing::info_span!("job", otel.name = format!("job {}", job.kind), kind = %job.kind,
        job_id = %job.id, video_id = %job.video_id, attempt = job.attempt);
    vodnest_core::trace_context::continue_in(&span, job.trace_context.as_deref());
    span
}

/// The next due job, if any. With none, fails the jobs whose last attempt's lease ran out.
async fn claim(pool: &PgPool, claimer: &Claimer) -> Option<ClaimedJob> {
    match queue::claim(pool, &claimer.worker_id, claimer.lease).await {
        Ok(Some(claimed)) => return Some(claimed),
        Ok(None) => match queue::fail_exhausted_leases(pool).await {
            Ok(videos) if !videos.is_empty() => {
                tracing::warn!(?videos, "jobs failed after their last lease expired");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "cannot fail exhausted jobs"),
        },
        Err(err) => tracing::warn!(error = %err, "cannot claim a job"),
    }
    None
}

async fn drain(mut running: JoinSet<()>, release: CancellationToken, grace: Duration) {
    if running.is_empty() {
        return;
    }
    tracing::info!(
        jobs = running.len(),
        grace_s = grace.as_secs_f64(),
        "waiting for running jobs"
    );
    let finished = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::info!("grace period over; releasing running jobs");
        release.cancel();
        while running.join_next().await.is_some() {}
    }
}

/// Wakes the claim loop on every `vodnest_jobs` notification and stops a running job on its
/// `vodnest_job_stopped` one. A lost connection is reconnected; the poll and the fenced
/// heartbeat cover what is missed meanwhile.
async fn listen_for_jobs(
    pool: PgPool,
    new_jobs: bool,
    wake: Arc<Notify>,
    jobs_here: Running,
    stop: CancellationToken,
) {
    let channels: &[&str] = if new_jobs {
        &[JOBS_CHANNEL, JOB_STOPPED_CHANNEL]
    } else {
        &[JOB_STOPPED_CHANNEL]
    };
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all(channels.iter().copied()).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = stop.cancelled() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "job listener cannot connect; polling meanwhile");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            },
        };
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == JOB_STOPPED_CHANNEL => {
                    if let Ok(id) = notification.payload().parse() {
                        jobs_here.stop(id);
                    }
                }
                Ok(Some(_)) => wake.notify_one(),
                Ok(None) | Err(_) => break,
            }
        }
    }
}
