//! Queue benchmarks (not tests): the real claim loop (`worker::run`) with a runner that does
//! nothing but complete the job, against the local Postgres.
//!
//! - throughput of claim + complete with 1, 4 and 16 workers (target: >= 2,000 jobs/s), as the
//!   processor runs it (each success claims the next job in the same statement) and against a
//!   baseline of a claim and a complete per job, alternated within one run;
//! - enqueue-to-claim latency on an idle queue, p50/p99 over 1,000 jobs, with NOTIFY
//!   (target: p50 <= 10 ms, p99 <= 50 ms) and with notifications off (bounded by the poll);
//! - what metrics and traces cost: the throughput of 4 processors with the Prometheus recorder
//!   and OTLP span export on vs both off, each run a process of its own (`telemetry`),
//!   alternated, `BENCH_RUNS` (default 5) of each (target: off / on <= 1.05).
//!
//! `BENCH_ONLY=throughput` (or `latency`, `overhead`) runs one section.
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-processor --bench queue`

mod telemetry;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use vodnest_core::group_commit::GroupCommit;
use vodnest_core::queue::{self, ClaimedJob, Claimer};
use vodnest_core::videos::{self, MediaFacts};
use vodnest_processor::worker::{self, JobRunner, WorkerSettings};
use vodnest_testkit::otlp::Collector;
use vodnest_testkit::{TestDatabase, fake_video};

use telemetry::Telemetry;

const THROUGHPUT_JOBS: usize = 4000;
const RUNS: usize = 3;
const LATENCY_JOBS: usize = 1000;
const POLL_ONLY_JOBS: usize = 40;
/// Processors in the telemetry overhead runs.
const OVERHEAD_WORKERS: usize = 4;

/// How a job's success is recorded.
#[derive(Clone, Copy, PartialEq)]
enum Record {
    /// A complete per job, and a claim per job: the baseline.
    Apart,
    /// The complete claims the next job in the same statement, one statement per job.
    Chained,
    /// As the processor does it: chained, and the successes reported while a statement is in
    /// flight share the next one (`GroupCommit`, one per claim loop, as one per processor).
    Grouped,
}

/// Counts completed jobs across the claim loops of one run.
struct Tally {
    done: AtomicUsize,
    target: usize,
    finished: Notify,
    claimed: Option<mpsc::UnboundedSender<Instant>>,
}

/// Completes every job at once and counts it.
struct Complete {
    pool: PgPool,
    record: Record,
    group: GroupCommit,
    tally: Arc<Tally>,
}

impl JobRunner for Complete {
    async fn run(
        &self,
        job: ClaimedJob,
        _stopped: CancellationToken,
        _shutdown: CancellationToken,
        next: Option<Claimer>,
    ) -> Option<ClaimedJob> {
        let started = Instant::now();
        if let Some(claimed) = &self.tally.claimed {
            let _ = claimed.send(started);
        }
        let facts = MediaFacts::default();
        let next = next.filter(|_| self.record != Record::Apart);
        let done = match self.record {
            Record::Grouped => {
                self.group
                    .succeed_and_claim(&job, &facts, None, next.as_ref())
                    .await
            }
            Record::Apart | Record::Chained => {
                queue::succeed_and_claim(&self.pool, &job, &facts, None, next.as_ref()).await
            }
        };
        // What the processor records for each attempt.
        vodnest_processor::job::count_attempt(job.kind, "succeeded", started.elapsed());
        if self.tally.done.fetch_add(1, Ordering::SeqCst) + 1 >= self.tally.target {
            self.tally.finished.notify_one();
        }
        match done {
            Ok(done) => done.next,
            Err(err) => {
                eprintln!("complete failed: {err}");
                None
            }
        }
    }
}

fn settings(listen: bool, poll: Duration) -> WorkerSettings {
    WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
        poll,
        shutdown_grace: Duration::from_secs(5),
        listen,
    }
}

/// `loops` claim loops, each with its own runner (and so its own group commit).
fn start_workers(
    pool: &PgPool,
    record: Record,
    tally: &Arc<Tally>,
    loops: usize,
    s: &WorkerSettings,
) -> CancellationToken {
    let stop = CancellationToken::new();
    for i in 0..loops {
        let runner = Arc::new(Complete {
            pool: pool.clone(),
            record,
            group: GroupCommit::start(pool.clone()),
            tally: tally.clone(),
        });
        tokio::spawn(worker::run(
            pool.clone(),
            s.clone(),
            runner,
            format!("bench-{i}"),
            stop.clone(),
        ));
    }
    stop
}

async fn reset(pool: &PgPool) -> Result<()> {
    sqlx::query("truncate jobs, videos cascade")
        .execute(pool)
        .await?;
    Ok(())
}

/// `count` uploaded videos with queued jobs, inserted in bulk.
async fn fill(pool: &PgPool, count: usize) -> Result<()> {
    sqlx::query(
        "with v as ( \
             insert into videos (id, title, filename, content_type, size_bytes, part_size, \
                 part_count, upload_expires_at, status, owner_id) \
             select gen_random_uuid(), 'bench', 'b.mp4', 'video/mp4', 1, 8388608, 1, now(), \
                 'queued', $2 \
             from generate_series(1, $1) returning id) \
         insert into jobs (id, video_id) select gen_random_uuid(), id from v",
    )
    .bind(i64::try_from(count)?)
    .bind(vodnest_core::caller::BUILTIN_ADMIN)
    .execute(pool)
    .await?;
    Ok(())
}

/// How the workers are arranged: `Processes` runs N claim loops of one slot each, each with
/// its own LISTEN connection (N processors); `Slots` one claim loop with N slots (one
/// processor with PROCESSOR_CONCURRENCY = N).
#[derive(Clone, Copy)]
enum Shape {
    Processes,
    Slots,
}

async fn throughput(pool: &PgPool, workers: usize, record: Record, shape: Shape) -> Result<f64> {
    reset(pool).await?;
    fill(pool, THROUGHPUT_JOBS).await?;
    let tally = Arc::new(Tally {
        done: AtomicUsize::new(0),
        target: THROUGHPUT_JOBS,
        finished: Notify::new(),
        claimed: None,
    });
    let mut arrangement = settings(true, Duration::from_secs(1));
    let loops = match shape {
        Shape::Processes => workers,
        Shape::Slots => {
            arrangement.concurrency = workers;
            1
        }
    };
    let started = Instant::now();
    let stop = start_workers(pool, record, &tally, loops, &arrangement);
    tally.finished.notified().await;
    let elapsed = started.elapsed();
    stop.cancel();
    let (succeeded,): (i64,) =
        sqlx::query_as("select count(*) from jobs where state = 'succeeded' and attempt = 1")
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(
        succeeded as usize == THROUGHPUT_JOBS,
        "only {succeeded} completed once"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(THROUGHPUT_JOBS as f64 / elapsed.as_secs_f64())
}

/// Enqueue-to-claim latencies, in milliseconds, sorted.
async fn latencies(pool: &PgPool, jobs: usize, s: WorkerSettings) -> Result<Vec<f64>> {
    reset(pool).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tally = Arc::new(Tally {
        done: AtomicUsize::new(0),
        target: usize::MAX,
        finished: Notify::new(),
        claimed: Some(tx),
    });
    let stop = start_workers(pool, Record::Grouped, &tally, 1, &s);
    // Let the worker go idle (listening, or sleeping in its poll).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut out = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let (video, _) = fake_video(pool, false).await?;
        let enqueued = Instant::now();
        videos::mark_uploaded_and_enqueue(pool, video).await?;
        let claimed = rx
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("worker gone"))?;
        out.push(claimed.duration_since(enqueued).as_secs_f64() * 1000.0);
        // Spread enqueues over the poll cycle rather than right after a claim.
        tokio::time::sleep(Duration::from_millis(rand_ms())).await;
    }
    stop.cancel();
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn rand_ms() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_u128() as u8 % 20)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn connect(url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(40)
        .connect(url)
        .await?)
}

/// `BENCH_RUNS`, or `default`.
fn runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `BENCH_ONLY` (unset: every section) names `section`.
fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only == section)
}

/// Throughput with metrics and traces off vs on, each run in a process of its own.
async fn overhead(url: &str) -> Result<()> {
    let collector = Collector::start().await?;
    let runs = runs(5);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        off.push(telemetry::measure(Telemetry::Off, url, collector.endpoint()).await?);
        on.push(telemetry::measure(Telemetry::On, url, collector.endpoint()).await?);
    }
    println!("  off {off:.0?} jobs/s\n  on  {on:.0?} jobs/s");
    let (off, on) = (median(off), median(on));
    println!(
        "telemetry overhead, {OVERHEAD_WORKERS} processors, {THROUGHPUT_JOBS} no-op jobs, median \
         of {runs} runs each: off {off:.0} jobs/s, metrics + traces on {on:.0} jobs/s; \
         off / on x{:.3} (target <= x1.05); the collector received {} exports",
        off / on,
        collector.exports()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    if let Some(child) = telemetry::Child::from_env()? {
        let pool = connect(&child.database_url).await?;
        let figure = throughput(&pool, OVERHEAD_WORKERS, Record::Grouped, Shape::Processes).await?;
        pool.close().await;
        return child.report(figure).await;
    }
    let db = TestDatabase::create().await?;
    let pool = connect(&db.url).await?;
    vodnest_core::db::MIGRATOR.run(&pool).await?;
    if wanted("throughput") {
        throughputs(&pool).await?;
    }
    if wanted("latency") {
        latency(&pool).await?;
    }
    if wanted("overhead") {
        overhead(&db.url).await?;
    }
    pool.close().await;
    db.drop_database().await
}

async fn throughputs(pool: &PgPool) -> Result<()> {
    println!(
        "queue throughput: claim + complete of {THROUGHPUT_JOBS} no-op jobs, median of {RUNS} runs; \
         baseline = a claim and a complete per job; chained = the complete claims the next job; \
         grouped = chained, and the successes one processor reports together share a commit \
         (as the processor does); N processors = N claim loops with their own LISTEN and group \
         commit, N slots = one processor with PROCESSOR_CONCURRENCY = N; target >= 2000 jobs/s"
    );
    for workers in [1, 4, 16] {
        let mut figures: [Vec<f64>; 4] = Default::default();
        // Interleaved so that machine noise hits all alike.
        for _ in 0..RUNS {
            let runs = [
                (Record::Apart, Shape::Processes),
                (Record::Grouped, Shape::Processes),
                (Record::Chained, Shape::Slots),
                (Record::Grouped, Shape::Slots),
            ];
            for (figure, (record, shape)) in figures.iter_mut().zip(runs) {
                figure.push(throughput(pool, workers, record, shape).await?);
            }
        }
        let [baseline, processes, slots_chained, slots_grouped] = figures.map(median);
        println!(
            "  {workers:>2} processors: {processes:>6.0} jobs/s, baseline {baseline:>6.0} ({:.2}x); \
             {workers:>2} slots in one processor: grouped {slots_grouped:>6.0} jobs/s ({:.2}x), \
             chained without grouping {slots_chained:>6.0} ({:.2}x)",
            processes / baseline,
            slots_grouped / baseline,
            slots_chained / baseline,
        );
    }

    Ok(())
}

async fn latency(pool: &PgPool) -> Result<()> {
    let poll = Duration::from_secs(1);
    let notified = latencies(pool, LATENCY_JOBS, settings(true, poll)).await?;
    println!(
        "enqueue-to-claim with NOTIFY over {LATENCY_JOBS} jobs: p50 {:.2} ms, p99 {:.2} ms \
         (targets 10 / 50 ms)",
        percentile(&notified, 0.5),
        percentile(&notified, 0.99)
    );
    let poll = Duration::from_millis(250);
    let polled = latencies(pool, POLL_ONLY_JOBS, settings(false, poll)).await?;
    println!(
        "enqueue-to-claim without NOTIFY (poll {} ms) over {POLL_ONLY_JOBS} jobs: p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms (bounded by the poll)",
        poll.as_millis(),
        percentile(&polled, 0.5),
        percentile(&polled, 0.99),
        polled.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
