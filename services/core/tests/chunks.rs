//! Split-and-stitch encoding in the queue against a real Postgres: a split replaces its job
//! with parts and a parked stitch in one transaction; the stitch comes due exactly once, after
//! the last part, however the parts' successes are grouped and raced; a part that fails for
//! good or a cancel ends the whole encode.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;
use vodnest_core::caller::Role;
use vodnest_core::chunks::{self, PartKind, Split, VideoChunk};
use vodnest_core::domain::{Rendition, VideoStatus};
use vodnest_core::encoding_progress::{self, Encoding, PartsDone};
use vodnest_core::group_commit::GroupCommit;
use vodnest_core::jobs;
use vodnest_core::queue::{self, ClaimedJob, Claimer, JobKind, JobQueue, JobState};
use vodnest_core::users;
use vodnest_core::videos::{self, MediaFacts};

mod common;
use common::new_video;

const LEASE: Duration = Duration::from_secs(30);

async fn claim(pool: &PgPool, worker: &str) -> Option<ClaimedJob> {
    queue::claim(pool, worker, LEASE).await.expect("claim")
}

fn chunks_of(count: usize) -> Vec<VideoChunk> {
    (0..count)
        .map(|i| VideoChunk {
            start_s: 60.0 * i as f64,
            end_s: 60.0 * (i + 1) as f64,
            first_segment: 10 * i32::try_from(i).expect("small"),
        })
        .collect()
}

/// A video whose transcode job was claimed and split into `count` video chunks (and the
/// whole part); returns the video.
async fn split_transcode(pool: &PgPool, count: usize) -> Uuid {
    let video = new_video(pool).await;
    videos::mark_uploaded_and_enqueue(pool, video)
        .await
        .expect("enqueue")
        .expect("uploaded");
    split_next(pool, video, JobKind::Transcode, count).await;
    video
}

/// A video of `owner` with a ladder job, claimed and split into `count` video chunks.
async fn split_ladder(pool: &PgPool, owner: Option<Uuid>, count: usize) -> Uuid {
    let video = match owner {
        Some(owner) => common::new_video_of(pool, owner).await,
        None => new_video(pool).await,
    };
    assert!(
        queue::enqueue(pool, JobKind::Ladder, video)
            .await
            .expect("enqueue")
    );
    split_next(pool, video, JobKind::Ladder, count).await;
    video
}

/// Claims the next job, which must be `video`'s of `kind`, and splits it.
async fn split_next(pool: &PgPool, video: Uuid, kind: JobKind, count: usize) {
    let job = claim(pool, "splitter").await.expect("a job");
    assert_eq!((job.video_id, job.kind), (video, kind));
    split_claimed(pool, &job, count).await;
}

/// Splits a claimed transcode or ladder job into `count` video chunks and the whole part.
async fn split_claimed(pool: &PgPool, job: &ClaimedJob, count: usize) {
    let (video, kind) = (job.video_id, job.kind);
    let plan = serde_json::json!({"renditions": ["360p", "180p"]});
    chunks::split(
        pool,
        &Split {
            parent: job,
            prefix: &format!("videos/{video}/public/1/"),
            makes_ready: kind == JobKind::Transcode,
            chunks: &chunks_of(count),
            plan: &plan,
        },
    )
    .await
    .expect("split");
}

async fn states(pool: &PgPool, video: Uuid) -> Vec<(JobKind, JobState)> {
    sqlx::query_as("select kind, state from jobs where video_id = $1 order by id")
        .bind(video)
        .fetch_all(pool)
        .await
        .expect("jobs")
}

async fn stitch_is_due(pool: &PgPool, video: Uuid) -> bool {
    sqlx::query_scalar(
        "select run_at < '9999-01-01' from jobs where video_id = $1 and kind = 'stitch'",
    )
    .bind(video)
    .fetch_one(pool)
    .await
    .expect("the stitch")
}

fn facts() -> MediaFacts {
    MediaFacts {
        duration_s: Some(180.0),
        renditions: vec![Rendition {
            name: "360p".into(),
            width: 640,
            height: 360,
            bandwidth: 900_000,
        }],
        ..MediaFacts::default()
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_split_replaces_its_job_with_parts_and_a_parked_stitch(pool: PgPool) {
    let video = split_transcode(&pool, 3).await;
    let kinds = states(&pool, video).await;
    assert_eq!(kinds[0], (JobKind::Transcode, JobState::Succeeded));
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == (JobKind::Chunk, JobState::Queued))
            .count(),
        4,
        "three video chunks and the whole part: {kinds:?}"
    );
    // The stitch is the video's latest job, and holds its pipeline: a second submit is a no-op.
    assert_eq!(kinds.last(), Some(&(JobKind::Stitch, JobState::Queued)));
    assert!(
        !queue::enqueue(&pool, JobKind::Transcode, video)
            .await
            .expect("enqueue")
    );
    assert!(!stitch_is_due(&pool, video).await);
    let mut parts = Vec::new();
    while let Some(job) = claim(&pool, "w").await {
        assert_eq!(
            job.kind,
            JobKind::Chunk,
            "the parked stitch is never claimed"
        );
        parts.push(job);
    }
    assert_eq!(parts.len(), 4);
    // Nothing due: the processor's idle wait must not be told "in 8000 years".
    assert_eq!(
        queue::next_due(&pool, JobQueue::Processor)
            .await
            .expect("due"),
        None
    );
    let mut seen = Vec::new();
    for part in &parts {
        let assignment = chunks::assignment(&pool, part.id)
            .await
            .expect("read")
            .expect("a part");
        assert!(assignment.makes_ready);
        seen.push((assignment.part, assignment.index, assignment.chunk));
    }
    seen.sort_by_key(|(_, index, _)| index.unwrap_or(i32::MAX));
    assert_eq!(seen[1], (PartKind::Video, Some(1), Some(chunks_of(3)[1])));
    assert_eq!(seen[3], (PartKind::Whole, None, None));
}

/// Every part succeeds once, through several processors' group commits racing each other, in
/// batches that mix parts of several videos: each video's stitch comes due exactly once, after
/// its last part, and no earlier.
#[sqlx::test(migrations = "../../migrations")]
async fn the_stitch_comes_due_once_after_the_last_part(pool: PgPool) {
    // Three transcodes claimed before any is split (a split transcode's chunks are claimed
    // in the transcode's class, before later uploads' transcodes of the same owner).
    let mut videos_split = Vec::new();
    for _ in 0..3 {
        let video = new_video(&pool).await;
        videos::mark_uploaded_and_enqueue(&pool, video)
            .await
            .expect("enqueue")
            .expect("uploaded");
        videos_split.push(video);
    }
    let mut transcodes = Vec::new();
    for _ in 0..3 {
        transcodes.push(claim(&pool, "splitter").await.expect("a transcode"));
    }
    for (job, count) in transcodes.iter().zip([5, 7, 3]) {
        split_claimed(&pool, job, count).await;
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let pool = pool.clone();
        workers.push(tokio::spawn(async move {
            let group = GroupCommit::start(pool.clone());
            let claimer = Claimer {
                worker_id: format!("w{w}").into(),
                lease: LEASE,
                queue: JobQueue::Processor,
            };
            let mut done = Vec::new();
            // Two slots per worker, so that successes share statements.
            let mut slots: Vec<ClaimedJob> = queue::claim_tasks(&pool, &claimer, 2)
                .await
                .expect("claim")
                .into_iter()
                .map(|task| ClaimedJob::try_from(task).expect("a video job"))
                .collect();
            while !slots.is_empty() {
                let mut pending = Vec::new();
                for job in slots {
                    let (group, claimer) = (group.clone(), claimer.clone());
                    pending.push(tokio::spawn(async move {
                        let outcome = group
                            .succeed_and_claim(&job, &MediaFacts::default(), None, Some(&claimer))
                            .await
                            .expect("recorded");
                        (job, outcome)
                    }));
                }
                slots = Vec::new();
                for outcome in pending {
                    let (job, outcome) = outcome.await.expect("slot");
                    assert!(outcome.recorded);
                    done.push(job);
                    slots.extend(outcome.next);
                }
            }
            done
        }));
    }
    let mut done = Vec::new();
    for worker in workers {
        done.extend(worker.await.expect("worker"));
    }
    // A statement never claims the stitch it makes due (one snapshot): the notification that
    // wakes idle processors brings it; here, one more claim.
    while let Some(job) = claim(&pool, "late").await {
        queue::succeed(&pool, &job, &MediaFacts::default())
            .await
            .expect("recorded");
        done.push(job);
    }
    let ids: HashSet<Uuid> = done.iter().map(|j| j.id).collect();
    assert_eq!(ids.len(), done.len(), "no job ran twice");
    let stitches: Vec<&ClaimedJob> = done.iter().filter(|j| j.kind == JobKind::Stitch).collect();
    assert_eq!(stitches.len(), 3, "one stitch per video, each run once");
    for video in videos_split {
        let kinds = states(&pool, video).await;
        assert!(
            kinds.iter().all(|(_, state)| *state == JobState::Succeeded),
            "{kinds:?}"
        );
        // The stitch was claimed after every part of its video had succeeded.
        let (stitch_started, last_part_done): (time::OffsetDateTime, time::OffsetDateTime) =
            sqlx::query_as(
                "select (select started_at from jobs where video_id = $1 and kind = 'stitch'),
                     (select max(finished_at) from jobs where video_id = $1 and kind = 'chunk')",
            )
            .bind(video)
            .fetch_one(&pool)
            .await
            .expect("times");
        assert!(stitch_started >= last_part_done);
        let remaining: i32 =
            sqlx::query_scalar("select remaining from chunked_encodes where video_id = $1")
                .bind(video)
                .fetch_one(&pool)
                .await
                .expect("encode");
        assert_eq!(remaining, 0);
    }
}

async fn run_parts_then_stitch(pool: &PgPool, video: Uuid) -> ClaimedJob {
    while let Some(job) = claim(pool, "w").await {
        if job.kind == JobKind::Stitch {
            return job;
        }
        queue::succeed(pool, &job, &MediaFacts::default())
            .await
            .expect("part");
        let row = videos::get(pool, video).await.expect("get").expect("video");
        assert_ne!(row.status, VideoStatus::Ready, "a part makes nothing ready");
    }
    panic!("the stitch never came due");
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_stitch_of_a_split_transcode_makes_the_video_ready(pool: PgPool) {
    let video = split_transcode(&pool, 2).await;
    let stitch = run_parts_then_stitch(&pool, video).await;
    let stitching = chunks::stitching(&pool, stitch.id)
        .await
        .expect("read")
        .expect("its encode");
    assert_eq!(stitching.chunks, chunks_of(2));
    queue::succeed(&pool, &stitch, &facts())
        .await
        .expect("stitch");
    let row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_eq!((row.status, row.playable), (VideoStatus::Ready, true));
    assert_eq!(row.renditions.0, facts().renditions);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_part_that_fails_for_good_ends_the_encode(pool: PgPool) {
    let video = split_transcode(&pool, 3).await;
    let first = claim(&pool, "w").await.expect("a part");
    let second = claim(&pool, "w").await.expect("another part");
    // A transient failure retries the part alone.
    queue::fail(&pool, &first, "storage hiccup", true)
        .await
        .expect("fail");
    let kinds = states(&pool, video).await;
    assert!(
        kinds.iter().all(|(_, s)| *s != JobState::Canceled),
        "{kinds:?}"
    );
    // A permanent one ends every other part and the stitch, and fails the video.
    queue::fail(&pool, &second, "the frames do not decode", false)
        .await
        .expect("fail");
    let kinds = states(&pool, video).await;
    let live = kinds
        .iter()
        .filter(|(_, s)| matches!(s, JobState::Queued | JobState::Running))
        .count();
    assert_eq!(live, 0, "{kinds:?}");
    let row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_eq!(row.status, VideoStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("the frames do not decode"));
    // The pipeline is free again: the video can be submitted anew.
    assert!(
        queue::enqueue(&pool, JobKind::Transcode, video)
            .await
            .expect("enqueue")
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn canceling_any_part_cancels_them_all(pool: PgPool) {
    let video = split_transcode(&pool, 3).await;
    let running = claim(&pool, "w").await.expect("a part");
    let stitch: Uuid =
        sqlx::query_scalar("select id from jobs where video_id = $1 and kind = 'stitch'")
            .bind(video)
            .fetch_one(&pool)
            .await
            .expect("stitch");
    // What "cancel the video's processing" cancels: its latest job, the stitch.
    jobs::cancel(&pool, stitch).await.expect("cancel");
    let kinds = states(&pool, video).await;
    assert!(
        kinds[1..].iter().all(|(_, s)| *s == JobState::Canceled),
        "{kinds:?}"
    );
    // The running part's worker cannot record anything more.
    assert!(
        queue::succeed(&pool, &running, &MediaFacts::default())
            .await
            .is_err()
    );
    let row = videos::get(&pool, video)
        .await
        .expect("get")
        .expect("video");
    assert_eq!(row.status, VideoStatus::Failed);
}

/// A new upload waits for at most the chunk that is running: its transcode goes before the
/// split ladder's remaining chunks. And two videos' chunks alternate (fair between owners).
#[sqlx::test(migrations = "../../migrations")]
async fn new_uploads_and_other_videos_do_not_wait_behind_a_long_ladder(pool: PgPool) {
    let first_owner = users::create(&pool, "first", Role::Creator, None)
        .await
        .expect("user")
        .expect("free name")
        .id;
    let second_owner = users::create(&pool, "second", Role::Creator, None)
        .await
        .expect("user")
        .expect("free name")
        .id;
    let long = split_ladder(&pool, Some(first_owner), 20).await;
    let running = claim(&pool, "w").await.expect("a chunk");
    assert_eq!((running.video_id, running.kind), (long, JobKind::Chunk));
    // A short upload arrives while the chunk runs: it is claimed next.
    let short = new_video(&pool).await;
    videos::mark_uploaded_and_enqueue(&pool, short)
        .await
        .expect("enqueue")
        .expect("uploaded");
    let next = claim(&pool, "w").await.expect("a job");
    assert_eq!((next.video_id, next.kind), (short, JobKind::Transcode));
    // Another creator's ladder, split later, shares the slots with the long one.
    let other = split_ladder(&pool, Some(second_owner), 3).await;
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(claim(&pool, "w").await.expect("a chunk").video_id);
    }
    assert_eq!(
        order.iter().filter(|v| **v == other).count(),
        2,
        "the second video's chunks are not left until the first's 20 are done: {order:?}"
    );
}

async fn encoding_of(pool: &PgPool, video: Uuid) -> Option<Encoding> {
    videos::get(pool, video)
        .await
        .expect("get")
        .expect("video")
        .encoding
        .map(|e| e.0)
}

fn making(progress: f64) -> Encoding {
    Encoding {
        renditions: vec!["360p".into(), "180p".into()],
        progress,
        eta_s: None,
    }
}

/// Every chunk reports the whole encode: the chunks' lengths weighted by what each has done,
/// finished ones whole. Writes are fenced on the attempt, and the encode's end clears it.
#[sqlx::test(migrations = "../../migrations")]
async fn the_parts_report_the_whole_encode_until_it_ends(pool: PgPool) {
    let video = split_transcode(&pool, 3).await;
    let first = claim(&pool, "w").await.expect("a part");
    let second = claim(&pool, "w").await.expect("another part");
    for job in [&first, &second] {
        let part = chunks::assignment(&pool, job.id).await.expect("read");
        assert_eq!(part.expect("a part").part, PartKind::Video);
    }
    let whole = |done: Option<PartsDone>| done.expect("the part runs").progress;
    let done = encoding_progress::record_part(&pool, &first, 0.5).await;
    assert!((whole(done.expect("write")) - 30.0 / 180.0).abs() < 1e-9);
    let done = encoding_progress::record_part(&pool, &second, 1.0).await;
    assert!((whole(done.expect("write")) - 90.0 / 180.0).abs() < 1e-9);
    queue::succeed(&pool, &second, &MediaFacts::default())
        .await
        .expect("part");
    let done = encoding_progress::record_part(&pool, &first, 0.75)
        .await
        .expect("write");
    assert!(
        (whole(done) - 105.0 / 180.0).abs() < 1e-9,
        "a finished part counts whole"
    );
    encoding_progress::record(&pool, &first, &making(0.6))
        .await
        .expect("write");
    assert_eq!(encoding_of(&pool, video).await, Some(making(0.6)));

    // An attempt that no longer holds the job writes nothing.
    let stale = ClaimedJob {
        attempt: first.attempt + 1,
        ..first.clone()
    };
    let done = encoding_progress::record_part(&pool, &stale, 0.9).await;
    assert_eq!(done.expect("read"), None);
    encoding_progress::record(&pool, &stale, &making(0.9))
        .await
        .expect("write");
    assert_eq!(encoding_of(&pool, video).await, Some(making(0.6)));

    // A part that fails for good ends the encode, and what it showed with it.
    queue::fail(&pool, &first, "the frames do not decode", false)
        .await
        .expect("fail");
    assert_eq!(encoding_of(&pool, video).await, None);
    encoding_progress::record(&pool, &first, &making(0.7))
        .await
        .expect("write");
    assert_eq!(encoding_of(&pool, video).await, None, "fenced");
}

/// An unsplit ladder's encoding goes with its success; a chunk's success leaves it.
#[sqlx::test(migrations = "../../migrations")]
async fn the_end_of_the_work_clears_the_encoding(pool: PgPool) {
    let video = new_video(&pool).await;
    assert!(
        queue::enqueue(&pool, JobKind::Ladder, video)
            .await
            .expect("enqueue")
    );
    let ladder = claim(&pool, "w").await.expect("the ladder");
    encoding_progress::record(&pool, &ladder, &making(0.5))
        .await
        .expect("write");
    assert_eq!(encoding_of(&pool, video).await, Some(making(0.5)));
    queue::succeed(&pool, &ladder, &MediaFacts::default())
        .await
        .expect("ladder");
    assert_eq!(encoding_of(&pool, video).await, None);

    let video = split_ladder(&pool, None, 2).await;
    let part = claim(&pool, "w").await.expect("a part");
    encoding_progress::record(&pool, &part, &making(0.3))
        .await
        .expect("write");
    queue::succeed(&pool, &part, &MediaFacts::default())
        .await
        .expect("part");
    assert_eq!(encoding_of(&pool, video).await, Some(making(0.3)));
    let stitch = run_parts_then_stitch(&pool, video).await;
    queue::succeed(&pool, &stitch, &facts())
        .await
        .expect("stitch");
    assert_eq!(encoding_of(&pool, video).await, None);
}
