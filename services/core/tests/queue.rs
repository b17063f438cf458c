//! The job queue against a real Postgres (`#[sqlx::test]` gives each test a fresh database):
//! exactly-once claiming under concurrency, lease fencing, retries with backoff, permanent
//! failures, exhausted leases and release; the ladder job a copied top rung leaves behind.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use vodnest_core::caller::Role;
use vodnest_core::domain::Rendition;
use vodnest_core::domain::VideoStatus;
use vodnest_core::group_commit::GroupCommit;
use vodnest_core::job_kind::SuccessEffect;
use vodnest_core::queue::{
    self, ClaimedJob, Claimer, FailOutcome, JobKind, JobQueue, JobState, QueueError,
};
use vodnest_core::users;
use vodnest_core::videos::{self, MediaFacts};

mod common;
use common::{new_video, new_video_of};

const LEASE: Duration = Duration::from_secs(30);

/// A video whose upload is complete, with its queued job.
async fn queued_video(pool: &PgPool) -> Uuid {
    let id = new_video(pool).await;
    let row = videos::mark_uploaded_and_enqueue(pool, id)
        .await
        .expect("enqueue");
    assert!(row.is_some());
    id
}

/// A video with a queued job of `kind` (straight into the queue: whatever its status).
async fn video_with_a_job(pool: &PgPool, kind: JobKind) -> Uuid {
    let id = new_video(pool).await;
    assert!(queue::enqueue(pool, kind, id).await.expect("enqueue"));
    id
}

/// A video of `owner` whose upload is complete, with its queued job.
async fn queued_video_of(pool: &PgPool, owner: Uuid) -> Uuid {
    let id = new_video_of(pool, owner).await;
    let row = videos::mark_uploaded_and_enqueue(pool, id)
        .await
        .expect("enqueue");
    assert!(row.is_some());
    id
}

async fn creator(pool: &PgPool, name: &str) -> Uuid {
    users::create(pool, name, Role::Creator, None)
        .await
        .expect("create a user")
        .expect("a free username")
        .id
}

/// Claims a job as `worker`; there must be one.
async fn claim_one(pool: &PgPool, worker: &str) -> ClaimedJob {
    queue::claim(pool, worker, LEASE)
        .await
        .expect("claim")
        .expect("a job to claim")
}

/// Claims as `worker`; there must be nothing to claim.
async fn claim_none(pool: &PgPool, worker: &str) {
    let claimed = queue::claim(pool, worker, LEASE).await.expect("claim");
    assert!(claimed.is_none(), "nothing to claim, got {claimed:?}");
}

async fn job_state(pool: &PgPool, video_id: Uuid) -> (JobState, i32) {
    sqlx::query_as("select state, attempt from jobs where video_id = $1")
        .bind(video_id)
        .fetch_one(pool)
        .await
        .expect("job")
}

async fn expire_leases(pool: &PgPool) {
    sqlx::query(
        "update jobs set lease_expires_at = now() - interval '1 second' where state = 'running'",
    )
    .execute(pool)
    .await
    .expect("expire");
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_job_is_completed_exactly_once_by_concurrent_workers(pool: PgPool) {
    run_workers_to_the_end(pool, 200, 8, |pool, worker| async move {
        let mut done = Vec::new();
        while let Some(job) = queue::claim(&pool, &worker, LEASE).await.expect("claim") {
            queue::succeed(&pool, &job, &MediaFacts::default())
                .await
                .expect("a claimed job is ours to finish");
            done.push(job.id);
        }
        done
    })
    .await;
}

/// The processor's hot path: each success claims the next job in the same statement. Many
/// workers chaining at once must neither deadlock nor complete a job twice.
#[sqlx::test(migrations = "../../migrations")]
async fn chained_success_and_claim_completes_every_job_once(pool: PgPool) {
    run_workers_to_the_end(pool, 1000, 16, |pool, worker| {
        let claimer = Claimer {
            worker_id: worker.into(),
            lease: LEASE,
            queue: JobQueue::Processor,
        };
        chain_to_the_end(pool, claimer, None)
    })
    .await;
}

/// One processor's slots share a group commit: successes reported together are recorded by one
/// statement that also claims a job for each. Every job still completes exactly once.
#[sqlx::test(migrations = "../../migrations")]
async fn grouped_successes_complete_every_job_once(pool: PgPool) {
    let group = GroupCommit::start(pool.clone());
    let claimer = Claimer {
        worker_id: "processor".into(),
        lease: LEASE,
        queue: JobQueue::Processor,
    };
    run_workers_to_the_end(pool, 1000, 16, move |pool, _slot| {
        chain_to_the_end(pool, claimer.clone(), Some(group.clone()))
    })
    .await;
}

/// Claims a job, then completes jobs until none is left, each success claiming the next; the
/// successes go through `group` when given, as a processor's slots report them.
async fn chain_to_the_end(pool: PgPool, claimer: Claimer, group: Option<GroupCommit>) -> Vec<Uuid> {
    let mut done = Vec::new();
    let mut next = queue::claim(&pool, &claimer.worker_id, LEASE)
        .await
        .expect("claim");
    let facts = MediaFacts::default();
    while let Some(job) = next {
        let outcome = match &group {
            Some(group) => {
                group
                    .succeed_and_claim(&job, &facts, None, Some(&claimer))
                    .await
            }
            None => queue::succeed_and_claim(&pool, &job, &facts, None, Some(&claimer)).await,
        }
        .expect("no deadlock, no error");
        assert!(outcome.recorded, "a claimed job is ours to finish");
        done.push(job.id);
        next = outcome.next;
    }
    done
}

/// In one statement each success is fenced on its own, and only those that ask claim a job.
#[sqlx::test(migrations = "../../migrations")]
async fn successes_recorded_together_are_fenced_one_by_one(pool: PgPool) {
    for _ in 0..4 {
        queued_video(&pool).await;
    }
    let mut held = Vec::new();
    for worker in ["a", "b", "c"] {
        held.push(claim_one(&pool, worker).await);
    }
    let taken_over = held[0].clone();
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where id = $1")
        .bind(taken_over.id)
        .execute(&pool)
        .await
        .expect("expire one lease");
    let owner = claim_one(&pool, "owner").await;
    assert_eq!(owner.id, taken_over.id);

    let facts = MediaFacts::default();
    let success = |job, claim_next| queue::Success {
        job,
        facts: &facts,
        follow_up: None,
        claim_next,
    };
    let claimer = Claimer {
        worker_id: "b".into(),
        lease: LEASE,
        queue: JobQueue::Processor,
    };
    let outcomes = queue::succeed_all(
        &pool,
        &[
            success(&taken_over, true),
            success(&held[1], false),
            success(&held[2], true),
        ],
        Some(&claimer),
    )
    .await
    .expect("succeed");
    let recorded: Vec<bool> = outcomes.iter().map(|o| o.recorded).collect();
    assert_eq!(
        recorded,
        [false, true, true],
        "the fenced one alone is refused"
    );
    assert!(outcomes[1].next.is_none(), "no claim asked");
    // Two asked (the fenced one too: its slot is free); one job was left queued, and it goes to
    // the first that asked.
    let claimed: Vec<_> = outcomes.iter().filter_map(|o| o.next.as_ref()).collect();
    assert_eq!(claimed.len(), 1, "only one job was left to claim");
    assert!(outcomes[0].next.is_some());
    let (state, worker): (JobState, String) =
        sqlx::query_as("select state, worker_id from jobs where id = $1")
            .bind(claimed[0].id)
            .fetch_one(&pool)
            .await
            .expect("job");
    assert_eq!((state, worker.as_str()), (JobState::Running, "b"));
    assert_eq!(
        job_state(&pool, taken_over.video_id).await,
        (JobState::Running, 2)
    );
}

/// Queues `jobs` jobs, runs `workers` copies of `work` (each given the pool and a worker id,
/// each returning the ids of the jobs it completed) until the queue is empty, then checks that
/// every job was completed exactly once and that the database agrees (jobs succeeded on their
/// first attempt, videos ready).
///
/// Once per job kind: each kind's success has its own effect on the video.
async fn run_workers_to_the_end<W, F>(pool: PgPool, jobs: usize, workers: usize, work: W)
where
    W: Fn(PgPool, String) -> F,
    F: Future<Output = Vec<Uuid>> + Send + 'static,
{
    for kind in JobKind::of_queue(JobQueue::Processor) {
        run_kind_to_the_end(&pool, kind, jobs, workers, &work).await;
    }
}

async fn run_kind_to_the_end<W, F>(
    pool: &PgPool,
    kind: JobKind,
    jobs: usize,
    workers: usize,
    work: &W,
) where
    W: Fn(PgPool, String) -> F,
    F: Future<Output = Vec<Uuid>> + Send + 'static,
{
    for _ in 0..jobs {
        video_with_a_job(pool, kind).await;
    }
    let running: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(work(pool.clone(), format!("{kind}-worker-{w}"))))
        .collect();
    let mut done: HashMap<Uuid, usize> = HashMap::new();
    for worker in running {
        for id in worker.await.expect("worker") {
            *done.entry(id).or_default() += 1;
        }
    }
    assert_eq!(done.len(), jobs, "every {kind} job was completed");
    assert!(
        done.values().all(|&n| n == 1),
        "no {kind} job was completed twice"
    );
    let (succeeded, ready): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where j.state = 'succeeded' and j.attempt = 1), \
                count(*) filter (where v.status = 'ready') \
         from jobs j join videos v on v.id = j.video_id where j.kind = $1",
    )
    .bind(kind)
    .fetch_one(pool)
    .await
    .expect("count");
    let made_ready = if kind.on_success() == SuccessEffect::Ready {
        jobs
    } else {
        0
    };
    assert_eq!(
        (succeeded, ready),
        (jobs as i64, made_ready as i64),
        "{kind}"
    );
}

/// Finishing without a claimer claims nothing.
#[sqlx::test(migrations = "../../migrations")]
async fn success_without_a_claimer_claims_nothing(pool: PgPool) {
    let first = queued_video(&pool).await;
    let second = queued_video(&pool).await;
    let job = claim_one(&pool, "w").await;
    let outcome = queue::succeed_and_claim(&pool, &job, &MediaFacts::default(), None, None)
        .await
        .expect("succeed");
    assert!(outcome.recorded && outcome.next.is_none());
    let finished = if job.video_id == first { first } else { second };
    let waiting = if finished == first { second } else { first };
    assert_eq!(job_state(&pool, finished).await, (JobState::Succeeded, 1));
    assert_eq!(job_state(&pool, waiting).await, (JobState::Queued, 0));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_worker_whose_lease_was_taken_cannot_finish_or_renew(pool: PgPool) {
    let video = queued_video(&pool).await;
    let first = claim_one(&pool, "first").await;
    claim_none(&pool, "other").await;
    expire_leases(&pool).await;
    let second = claim_one(&pool, "second").await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, 2, "an expired lease counts as an attempt");

    assert!(matches!(
        queue::heartbeat(&pool, &first, LEASE).await,
        Err(QueueError::Fenced(_))
    ));
    assert!(matches!(
        queue::succeed(&pool, &first, &MediaFacts::default()).await,
        Err(QueueError::Fenced(_))
    ));
    assert!(matches!(
        queue::fail(&pool, &first, "late", false).await,
        Err(QueueError::Fenced(_))
    ));
    let video_row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_ne!(
        video_row.status,
        VideoStatus::Ready,
        "the fenced worker changed nothing"
    );

    queue::heartbeat(&pool, &second, LEASE)
        .await
        .expect("the new owner renews");
    queue::succeed(&pool, &second, &MediaFacts::default())
        .await
        .expect("and finishes");
    assert_eq!(job_state(&pool, video).await, (JobState::Succeeded, 2));
}

#[sqlx::test(migrations = "../../migrations")]
async fn transient_failures_retry_with_backoff_until_the_last_attempt(pool: PgPool) {
    let video = queued_video(&pool).await;
    for attempt in 1..=3 {
        // Make the retry due now instead of waiting for the backoff.
        sqlx::query("update jobs set run_at = now() where state = 'queued'")
            .execute(&pool)
            .await
            .expect("due");
        let job = claim_one(&pool, "w").await;
        assert_eq!(job.attempt, attempt);
        let outcome = queue::fail(&pool, &job, "S3 timed out", true)
            .await
            .expect("fail");
        if attempt < 3 {
            let FailOutcome::RetryAt(at) = outcome else {
                panic!("attempt {attempt} should be retried, got {outcome:?}");
            };
            let delay = (at - OffsetDateTime::now_utc()).as_seconds_f64();
            assert!(delay > 0.0, "retries wait");
            let (run_at_ahead,): (f64,) = sqlx::query_as(
                "select extract(epoch from run_at - now())::float8 from jobs where video_id = $1",
            )
            .bind(video)
            .fetch_one(&pool)
            .await
            .expect("run_at");
            assert!(
                run_at_ahead > 1.0,
                "the job is not due at once: {run_at_ahead}"
            );
            claim_none(&pool, "w").await;
            let row = videos::get(&pool, video)
                .await
                .expect("get")
                .expect("video");
            assert_eq!(row.status, VideoStatus::Queued);
        } else {
            assert_eq!(outcome, FailOutcome::Failed);
        }
    }
    assert_eq!(job_state(&pool, video).await, (JobState::Failed, 3));
    let row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_eq!(row.status, VideoStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("S3 timed out"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_input_fails_at_once(pool: PgPool) {
    let video = queued_video(&pool).await;
    let job = claim_one(&pool, "w").await;
    let outcome = queue::fail(&pool, &job, "the uploaded file is not a video", false)
        .await
        .expect("fail");
    assert_eq!(outcome, FailOutcome::Failed);
    assert_eq!(job_state(&pool, video).await, (JobState::Failed, 1));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_lease_lost_on_the_last_attempt_fails_the_job(pool: PgPool) {
    let video = queued_video(&pool).await;
    for _ in 0..3 {
        claim_one(&pool, "crashy").await;
        expire_leases(&pool).await;
    }
    claim_none(&pool, "w").await;
    assert_eq!(
        queue::fail_exhausted_leases(&pool).await.expect("reap"),
        vec![video]
    );
    assert_eq!(job_state(&pool, video).await, (JobState::Failed, 3));
    let row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_eq!(row.status, VideoStatus::Failed);
    assert!(row.error.is_some_and(|e| e.contains("stopped answering")));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_released_job_is_claimable_at_once_without_spending_an_attempt(pool: PgPool) {
    let video = queued_video(&pool).await;
    let job = claim_one(&pool, "leaving").await;
    queue::release(&pool, &job).await.expect("release");
    assert_eq!(job_state(&pool, video).await, (JobState::Queued, 0));
    let again = claim_one(&pool, "staying").await;
    assert_eq!(again.attempt, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn enqueueing_twice_keeps_one_live_job(pool: PgPool) {
    let video = queued_video(&pool).await;
    assert!(
        !queue::enqueue(&pool, JobKind::Transcode, video)
            .await
            .expect("enqueue")
    );
    let (count,): (i64,) = sqlx::query_as("select count(*) from jobs where video_id = $1")
        .bind(video)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

/// Work that makes a video watchable goes first: a transcode enqueued after a ladder job is
/// claimed before it.
#[sqlx::test(migrations = "../../migrations")]
async fn the_claim_takes_higher_priority_classes_first(pool: PgPool) {
    assert!(JobKind::Transcode.priority() < JobKind::Ladder.priority());
    let ladder = video_with_a_job(&pool, JobKind::Ladder).await;
    let transcode = video_with_a_job(&pool, JobKind::Transcode).await;
    let first = claim_one(&pool, "w").await;
    assert_eq!(
        (first.video_id, first.kind),
        (transcode, JobKind::Transcode)
    );
    let second = claim_one(&pool, "w").await;
    assert_eq!((second.video_id, second.kind), (ladder, JobKind::Ladder));
}

/// A transcode and its ladder share a live key: while either is live, a second pipeline job
/// for the video is not enqueued. Once it is done, one may be.
#[sqlx::test(migrations = "../../migrations")]
async fn a_video_has_one_live_pipeline_job_whatever_its_kind(pool: PgPool) {
    let video = queued_video(&pool).await;
    // Every pipeline kind (the transcode's live key); a video's chunks and downloads (no live
    // key) run side by side, and its poster job has a key of its own.
    let key = JobKind::Transcode.live_key(Some(video));
    let pipeline =
        JobKind::of_queue(JobQueue::Processor).filter(|k| k.live_key(Some(video)) == key);
    for kind in pipeline {
        assert!(!queue::enqueue(&pool, kind, video).await.expect("enqueue"));
    }
    let job = claim_one(&pool, "w").await;
    assert!(
        !queue::enqueue(&pool, JobKind::Ladder, video)
            .await
            .expect("enqueue")
    );
    queue::succeed(&pool, &job, &MediaFacts::default())
        .await
        .expect("succeed");
    assert!(
        queue::enqueue(&pool, JobKind::Ladder, video)
            .await
            .expect("enqueue")
    );
}

/// A job need not be about a video: the table takes one without (a webhook delivery, later),
/// and each kind's attempts are its own.
#[sqlx::test(migrations = "../../migrations")]
async fn jobs_take_their_attempts_from_their_kind_and_may_have_no_video(pool: PgPool) {
    for kind in JobKind::of_queue(JobQueue::Processor) {
        let video = video_with_a_job(&pool, kind).await;
        let job = claim_one(&pool, "w").await;
        assert_eq!(
            (job.video_id, job.max_attempts),
            (video, kind.retry().max_attempts)
        );
    }
    sqlx::query("insert into jobs (id, kind) values ($1, 'transcode')")
        .bind(Uuid::now_v7())
        .execute(&pool)
        .await
        .expect("a job without a video");
}

fn rendition(name: &str, height: u32) -> Rendition {
    Rendition {
        name: name.into(),
        width: height * 16 / 9,
        height,
        bandwidth: 1_000_000,
    }
}

/// A video made `ready` by a transcode job that copied its top rung, with the ladder job that
/// success enqueued, claimed.
async fn ready_video_with_a_ladder_job(pool: &PgPool) -> (Uuid, queue::ClaimedJob) {
    let video = queued_video(pool).await;
    let transcode = claim_one(pool, "w").await;
    assert_eq!(transcode.kind, JobKind::Transcode);
    let top = MediaFacts {
        renditions: vec![rendition("720p", 720)],
        ..MediaFacts::default()
    };
    let done = queue::succeed_and_claim(pool, &transcode, &top, Some(JobKind::Ladder), None)
        .await
        .expect("succeed");
    assert!(done.recorded && done.next.is_none());
    let row = videos::get(pool, video).await.expect("get").expect("video");
    assert_eq!((row.status, row.playable), (VideoStatus::Ready, true));
    let ladder = claim_one(pool, "w").await;
    assert_eq!((ladder.video_id, ladder.kind), (video, JobKind::Ladder));
    (video, ladder)
}

async fn video_status(pool: &PgPool, video: Uuid) -> (VideoStatus, Vec<String>) {
    let row = videos::get(pool, video).await.expect("get").expect("video");
    let names = row.renditions.0.iter().map(|r| r.name.clone()).collect();
    (row.status, names)
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_ladder_job_adds_renditions_to_a_ready_video(pool: PgPool) {
    let (video, ladder) = ready_video_with_a_ladder_job(&pool).await;
    let full = MediaFacts {
        renditions: vec![rendition("720p", 720), rendition("360p", 360)],
        ..MediaFacts::default()
    };
    queue::succeed(&pool, &ladder, &full)
        .await
        .expect("succeed");
    assert_eq!(
        video_status(&pool, video).await,
        (VideoStatus::Ready, vec!["720p".into(), "360p".into()])
    );
    let kinds: Vec<(JobKind, JobState)> =
        sqlx::query_as("select kind, state from jobs where video_id = $1 order by created_at")
            .bind(video)
            .fetch_all(&pool)
            .await
            .expect("jobs");
    assert_eq!(
        kinds,
        [
            (JobKind::Transcode, JobState::Succeeded),
            (JobKind::Ladder, JobState::Succeeded)
        ]
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_failed_or_canceled_ladder_job_leaves_the_video_watchable(pool: PgPool) {
    let watchable = (VideoStatus::Ready, vec!["720p".to_owned()]);
    let (video, ladder) = ready_video_with_a_ladder_job(&pool).await;
    let retry = queue::fail(&pool, &ladder, "S3 hiccup", true)
        .await
        .expect("fail");
    assert!(matches!(retry, FailOutcome::RetryAt(_)));
    assert_eq!(video_status(&pool, video).await, watchable);
    sqlx::query("update jobs set run_at = now() where video_id = $1")
        .bind(video)
        .execute(&pool)
        .await
        .expect("due now");
    let again = claim_one(&pool, "w").await;
    let failed = queue::fail(&pool, &again, "not a video", false)
        .await
        .expect("fail");
    assert_eq!(failed, FailOutcome::Failed);
    assert_eq!(video_status(&pool, video).await, watchable);

    let (video, ladder) = ready_video_with_a_ladder_job(&pool).await;
    vodnest_core::jobs::cancel(&pool, ladder.id)
        .await
        .expect("cancel");
    assert_eq!(video_status(&pool, video).await, watchable);

    let (video, _) = ready_video_with_a_ladder_job(&pool).await;
    for _ in 0..2 {
        expire_leases(&pool).await;
        claim_one(&pool, "crashy").await;
    }
    expire_leases(&pool).await;
    assert_eq!(
        queue::fail_exhausted_leases(&pool).await.expect("reap"),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        job_state_of_kind(&pool, video, JobKind::Ladder).await,
        JobState::Failed
    );
    assert_eq!(video_status(&pool, video).await, watchable);
}

async fn job_state_of_kind(pool: &PgPool, video: Uuid, kind: JobKind) -> JobState {
    let (state,): (JobState,) =
        sqlx::query_as("select state from jobs where video_id = $1 and kind = $2")
            .bind(video)
            .bind(kind)
            .fetch_one(pool)
            .await
            .expect("job");
    state
}

/// One user's backlog does not starve another's single upload: with A's five jobs queued
/// before B's one, the second claim takes B's (A already has one running), and A's backlog
/// follows.
#[sqlx::test(migrations = "../../migrations")]
async fn one_users_backlog_does_not_starve_anothers_upload(pool: PgPool) {
    let (a, b) = (creator(&pool, "alice").await, creator(&pool, "bob").await);
    let mut a_videos = Vec::new();
    for _ in 0..5 {
        a_videos.push(queued_video_of(&pool, a).await);
    }
    let b_video = queued_video_of(&pool, b).await;

    let first = claim_one(&pool, "w1").await;
    let second = claim_one(&pool, "w2").await;
    assert_eq!(first.video_id, a_videos[0], "the earliest goes first");
    assert_eq!(
        second.video_id, b_video,
        "then the owner with nothing running"
    );
    // Both have one running and only A has more: A's backlog goes on in its order.
    assert_eq!(claim_one(&pool, "w3").await.video_id, a_videos[1]);
}

/// Several claimed in one statement are shared the same way: A's first and B's first, before
/// A's second.
#[sqlx::test(migrations = "../../migrations")]
async fn a_batch_claim_shares_between_owners(pool: PgPool) {
    let (a, b, c) = (
        creator(&pool, "alice").await,
        creator(&pool, "bob").await,
        creator(&pool, "carol").await,
    );
    // Two of C's jobs, running, whose successes claim the next two.
    let c_jobs = [
        (
            queued_video_of(&pool, c).await,
            claim_one(&pool, "w1").await,
        ),
        (
            queued_video_of(&pool, c).await,
            claim_one(&pool, "w2").await,
        ),
    ];
    let a_videos = [
        queued_video_of(&pool, a).await,
        queued_video_of(&pool, a).await,
    ];
    let b_video = queued_video_of(&pool, b).await;

    let facts = MediaFacts::default();
    let successes = c_jobs.iter().map(|(_, job)| queue::Success {
        job,
        facts: &facts,
        follow_up: None,
        claim_next: true,
    });
    let claimer = Claimer {
        worker_id: "w".into(),
        lease: LEASE,
        queue: JobQueue::Processor,
    };
    let done = queue::succeed_all(&pool, &successes.collect::<Vec<_>>(), Some(&claimer))
        .await
        .expect("succeed and claim");
    let mut next: Vec<Uuid> = done
        .iter()
        .filter_map(|d| d.next.as_ref().map(|job| job.video_id))
        .collect();
    next.sort();
    let mut expected = vec![a_videos[0], b_video];
    expected.sort();
    assert_eq!(next, expected);
}

/// A video given to another user takes its queued job along: the job counts against its new
/// owner's share.
#[sqlx::test(migrations = "../../migrations")]
async fn a_transferred_video_moves_its_jobs_share(pool: PgPool) {
    let (a, b) = (creator(&pool, "alice").await, creator(&pool, "bob").await);
    let video = queued_video_of(&pool, a).await;
    users::transfer_videos(&pool, a, b).await.expect("transfer");
    let (owner_key,): (Uuid,) = sqlx::query_as("select owner_key from jobs where video_id = $1")
        .bind(video)
        .fetch_one(&pool)
        .await
        .expect("the job");
    assert_eq!(owner_key, b);
}

/// A claim whose fair pick is held by a concurrent claim takes the next free job instead of
/// coming back empty.
#[sqlx::test(migrations = "../../migrations")]
async fn a_claim_passes_over_a_fair_pick_held_elsewhere(pool: PgPool) {
    let a = creator(&pool, "alice").await;
    let held = queued_video_of(&pool, a).await;
    let free = queued_video_of(&pool, a).await;
    let mut other = pool.begin().await.expect("a transaction");
    sqlx::query("select id from jobs where video_id = $1 for update")
        .bind(held)
        .execute(&mut *other)
        .await
        .expect("lock the first job");
    assert_eq!(claim_one(&pool, "w").await.video_id, free);
    other.rollback().await.expect("rollback");
}
