//! HLS pipeline benchmarks (not tests): real ffmpeg, real LocalStack, the processor binary.
//! Every figure is a median of `BENCH_RUNS` runs (default 3) measured in this one run; ratios
//! compare against a baseline measured here too.
//!
//! - pipeline overhead: claim → ready of a 1080p minute the fast path refuses (S3 I/O
//!   included) ÷ the same ffmpeg command on local files (target <= 1.10); and for a source the
//!   fast path takes, the time both its jobs ran ÷ the same plan as one local command;
//! - ladder cost: the full ladder ÷ the top rung alone, local, both with the shared audio
//!   rendition encoded once (target <= 1.5);
//! - remux fast path: a 60 s 720p H.264/AAC source end to end (claim → `ready`, the copied
//!   rendition published), × realtime (target >= 50); and when its ladder job is done;
//! - time to playable (claim → `playable`) for a 1-minute and a 10-minute source (target <= 5 s
//!   both, ratio <= 1.2);
//! - resources for those two: the processor's peak RSS (ffmpeg's own aside) and the high-water
//!   mark of its work directory (target RSS <= 64 MiB, the same for both; disk: a few segments).
//!
//! Run: `eval "$(./dev env)" && cargo bench -p vodnest-processor --bench pipeline`
//! (`BENCH_ONLY=overhead`, `ladder` or `lengths` runs one section; `BENCH_RUNS=5` takes more
//! runs per figure).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::PgPool;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use vodnest_core::storage::Storage;
use vodnest_processor::backlog::local_bytes;
use vodnest_processor::media::ladder::{self, Ladder};
use vodnest_processor::media::{Source, fastpath, hls, poster, probe, process, storyboard};
use vodnest_testkit::{TestDatabase, stage_upload};

mod common;
use common::{Bench, cpu_seconds, make_source, make_source_with_gop, median, median_of, wanted};

/// What one processed source cost.
#[derive(Debug, Clone, Copy)]
struct Run {
    claim_to_ready: f64,
    claim_to_playable: f64,
    /// Every job of the video, first claim to last finish (the ladder job included).
    claim_to_done: f64,
    /// The time its jobs ran, queue waits between them excluded.
    processing: f64,
    peak_rss_mib: f64,
    disk_peak_mib: f64,
    cpu: PipelineCpu,
}

/// CPU seconds spent on one processed source, by process.
#[derive(Debug, Clone, Copy, Default)]
struct PipelineCpu {
    /// Every ffmpeg and ffprobe the processor ran.
    children: f64,
    processor: f64,
    /// LocalStack serving the source and taking the output (when its pid is known).
    localstack: f64,
}

/// CPU seconds of the children this bench has waited for (the local ffmpeg runs).
fn own_children_cpu() -> f64 {
    cpu_seconds(std::process::id()).map_or(f64::NAN, |(_, children)| children)
}

/// LocalStack's CPU seconds so far, when `./dev` started it here.
fn localstack_cpu() -> Option<f64> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.dev/pids/localstack.pid");
    let pid = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    cpu_seconds(pid).map(|(own, children)| own + children)
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Stages `source`, runs a fresh processor process until the video is ready, and measures.
async fn process_once(
    db: &TestDatabase,
    pool: &PgPool,
    storage: &Storage,
    source: &Path,
) -> Result<Run> {
    let work = tempfile::tempdir()?;
    let id = stage_upload(pool, storage, source).await?;
    let localstack_before = localstack_cpu();
    let mut processor = Command::new(env!("CARGO_BIN_EXE_vodnest-processor"))
        .env("DATABASE_URL", &db.url)
        .env("GRPC_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("QUEUE_POLL_SECS", "0.2")
        .env("WORK_DIR", work.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = processor.id().context("processor pid")?;

    // The work directory's high-water mark, sampled every 50 ms.
    let disk_peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (disk_peak, sampling, dir) = (
            disk_peak.clone(),
            sampling.clone(),
            work.path().to_path_buf(),
        );
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                disk_peak.fetch_max(local_bytes(&dir).await, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let mut claim_to_playable = None;
    let mut claim_to_ready = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    let (claim_to_done, processing) = loop {
        type Row = (
            String,
            bool,
            Option<f64>,
            Option<f64>,
            i64,
            Option<f64>,
            Option<f64>,
        );
        let (status, playable, since_claim, took, live, done, processing): Row = sqlx::query_as(
            "select v.status, v.playable, \
                    extract(epoch from now() - t.started_at)::float8, \
                    extract(epoch from t.finished_at - t.started_at)::float8, \
                    (select count(*) from jobs where video_id = v.id \
                        and state in ('queued', 'running')), \
                    (select extract(epoch from max(finished_at) - min(started_at))::float8 \
                        from jobs where video_id = v.id), \
                    (select sum(extract(epoch from finished_at - started_at))::float8 \
                        from jobs where video_id = v.id) \
                 from videos v join jobs t on t.video_id = v.id and t.kind = 'transcode' \
                 where v.id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await?;
        if playable && claim_to_playable.is_none() {
            claim_to_playable = since_claim;
        }
        match status.as_str() {
            "ready" if claim_to_ready.is_none() => claim_to_ready = took,
            "failed" => bail!("the bench video failed"),
            _ => {}
        }
        if claim_to_ready.is_some() && live == 0 {
            break (
                done.context("finished jobs have their times")?,
                processing.context("finished jobs have their times")?,
            );
        }
        if Instant::now() > deadline {
            bail!("the bench video is stuck");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let claim_to_ready = claim_to_ready.context("the video became ready")?;
    let peak_rss_mib = peak_rss_mib(pid).unwrap_or(f64::NAN);
    let (processor_cpu, children_cpu) = cpu_seconds(pid).unwrap_or((f64::NAN, f64::NAN));
    let cpu = PipelineCpu {
        children: children_cpu,
        processor: processor_cpu,
        localstack: match (localstack_before, localstack_cpu()) {
            (Some(before), Some(after)) => after - before,
            _ => f64::NAN,
        },
    };
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    processor.start_kill()?;
    processor.wait().await?;
    storage.delete_media(id).await?;
    storage.delete_raw(id).await?;
    Ok(Run {
        claim_to_ready,
        claim_to_playable: claim_to_playable.unwrap_or(claim_to_ready),
        claim_to_done,
        processing,
        peak_rss_mib,
        disk_peak_mib: disk_peak.load(Ordering::Relaxed) as f64 / 1048576.0,
        cpu,
    })
}

/// Wall-clock and CPU seconds of local ffmpeg work.
#[derive(Debug, Clone, Copy)]
struct Local {
    wall: f64,
    cpu: f64,
}

/// Times `work`, which runs ffmpeg on local files, and counts the CPU its children took.
async fn local(work: impl Future<Output = Result<()>>) -> Result<Local> {
    let (cpu_before, started) = (own_children_cpu(), Instant::now());
    work.await?;
    Ok(Local {
        wall: started.elapsed().as_secs_f64(),
        cpu: own_children_cpu() - cpu_before,
    })
}

/// The processor's own ffmpeg work for `source`, on local files.
async fn local_transcode(source: &Path, plan: Option<&ladder::Plan>) -> Result<Local> {
    let input = Source::File(source.to_path_buf());
    let probed = probe::probe(&input, Duration::from_secs(60)).await?;
    let plan = match plan {
        Some(plan) => plan.clone(),
        None => processor_plan(&input, &probed).await?,
    };
    let out = tempfile::tempdir()?;
    local(async {
        hls::transcode(
            &input,
            out.path(),
            &probed,
            &plan,
            |_| {},
            process::Control::new(&CancellationToken::new(), Duration::from_secs(3600)),
        )
        .await?;
        Ok(())
    })
    .await
}

/// The poster and the storyboard the processor makes beside the encode, on local files.
async fn local_previews(source: &Path) -> Result<Local> {
    let input = Source::File(source.to_path_buf());
    let probed = probe::probe(&input, Duration::from_secs(60)).await?;
    let out = tempfile::tempdir()?;
    let (cancel, timeout) = (CancellationToken::new(), Duration::from_secs(600));
    local(async {
        poster::write(
            &input,
            &out.path().join("poster.jpg"),
            &probed,
            &cancel,
            timeout,
        )
        .await?;
        let board = storyboard::plan(&probed);
        storyboard::write(&input, &out.path().join("sheets"), &board, &cancel, timeout).await?;
        Ok(())
    })
    .await
}

/// The plan the processor makes (fast path included) with the default ladder.
async fn processor_plan(input: &Source, probed: &probe::Probe) -> Result<ladder::Plan> {
    let gap = fastpath::keyframe_gap(input, probed.duration_s, Duration::from_secs(60)).await?;
    Ok(ladder::plan(
        probed,
        &Ladder::default(),
        fastpath::refusal(probed, gap).is_none(),
    ))
}

impl Bench {
    async fn process(&self, source: &Path) -> Result<Run> {
        process_once(&self.db, &self.pool, &self.storage, source).await
    }

    /// Pipeline overhead: claim → ready of a 1080p minute transcoded whole (keyframes 20 s
    /// apart: the fast path refuses it, so one job encodes the whole ladder) ÷ the same
    /// ffmpeg command on local files, and where the CPU went.
    async fn overhead(&self) -> Result<()> {
        let source = self.sources.path().join("60s-1080p-gop20.mp4");
        make_source_with_gop(&source, 60, "1920x1080", "6M", &["-g", "600"]).await?;
        let n = self.runs;
        let (mut locals, mut piped) = (Vec::new(), Vec::new());
        for i in 0..n {
            eprintln!(
                "1080p minute, transcoded whole, through the processor, run {}/{n}…",
                i + 1
            );
            // Alternating which goes first keeps a drift in the machine's speed out of the ratio.
            if i % 2 == 0 {
                piped.push(self.process(&source).await?);
                locals.push(local_transcode(&source, None).await?);
            } else {
                locals.push(local_transcode(&source, None).await?);
                piped.push(self.process(&source).await?);
            }
        }
        let previews = local_previews(&source).await?;
        let (local, pipeline) = (
            median_of(&locals, |l| l.wall),
            median_of(&piped, |r| r.claim_to_ready),
        );
        println!(
            "pipeline overhead   1080p minute transcoded whole: claim→ready {pipeline:.2} s ÷ local ffmpeg {local:.2} s = {:.2}   (target <= 1.10)",
            pipeline / local
        );
        let piped_cpu = median_of(&piped, |r| {
            r.cpu.children + r.cpu.processor + r.cpu.localstack
        });
        let local_cpu = median_of(&locals, |l| l.cpu);
        println!(
            "  its CPU           {piped_cpu:.1} s ÷ local ffmpeg {local_cpu:.1} s = {:.2}; of it: ffmpegs {:.1} s (poster and storyboard alone, local: {:.1} s), processor {:.1} s, LocalStack {:.1} s",
            piped_cpu / local_cpu,
            median_of(&piped, |r| r.cpu.children),
            previews.cpu,
            median_of(&piped, |r| r.cpu.processor),
            median_of(&piped, |r| r.cpu.localstack),
        );
        Ok(())
    }

    /// The ladder's cost on a 1080p minute, and the fast path's two jobs against the same
    /// plan as one local command.
    async fn ladder(&self) -> Result<()> {
        let source = self.sources.path().join("60s-1080p.mp4");
        make_source(&source, 60, "1920x1080", "6M").await?;
        let n = self.runs;
        let probed = probe::probe(&Source::File(source.clone()), Duration::from_secs(60)).await?;
        // The audio encoded (as for a source whose sound cannot be copied): the dearer case.
        let full = ladder::Plan {
            audio: Some(ladder::AudioPlan::encoded()),
            ..ladder::plan(&probed, &Ladder::default(), false)
        };
        let top = ladder::Plan {
            video: full.video[..1].to_vec(),
            audio: full.audio.clone(),
        };
        let (mut local_full, mut local_top) = (Vec::new(), Vec::new());
        for i in 0..n {
            eprintln!("1080p minute, ladder and top rung, run {}/{n}…", i + 1);
            local_full.push(local_transcode(&source, Some(&full)).await?.wall);
            local_top.push(local_transcode(&source, Some(&top)).await?.wall);
        }
        let (mut local_same, mut piped) = (Vec::new(), Vec::new());
        for i in 0..n {
            eprintln!("1080p minute through the processor, run {}/{n}…", i + 1);
            piped.push(self.process(&source).await?.processing);
            local_same.push(local_transcode(&source, None).await?.wall);
        }
        let (local, pipeline) = (median(local_same), median(piped));
        println!(
            "  fast path         1080p minute copied then laddered: both jobs {pipeline:.2} s ÷ local ffmpeg {local:.2} s = {:.2}",
            pipeline / local
        );
        let (full_s, top_s) = (median(local_full), median(local_top));
        println!(
            "ladder cost         {} rungs + shared audio {full_s:.2} s ÷ top rung + audio {top_s:.2} s = {:.2}   (target <= 1.5)",
            full.video.len(),
            full_s / top_s
        );
        Ok(())
    }

    /// The fast path, time to playable and resources, on a 1-minute and a 10-minute 720p
    /// source.
    async fn lengths(&self) -> Result<()> {
        let one_min = self.sources.path().join("60s-720p.mp4");
        let ten_min = self.sources.path().join("600s-720p.mp4");
        make_source(&one_min, 60, "1280x720", "3M").await?;
        make_source(&ten_min, 600, "1280x720", "3M").await?;
        let n = self.runs;
        let (mut short, mut long) = (Vec::new(), Vec::new());
        for i in 0..n {
            eprintln!("720p minute through the processor, run {}/{n}…", i + 1);
            short.push(self.process(&one_min).await?);
        }
        for i in 0..n {
            eprintln!("720p ten minutes through the processor, run {}/{n}…", i + 1);
            long.push(self.process(&ten_min).await?);
        }
        let ready_short = median_of(&short, |r| r.claim_to_ready);
        println!(
            "remux fast path     60 s 720p claim→ready {ready_short:.2} s = {:.1}× realtime   (target >= 50×)",
            60.0 / ready_short
        );
        let done_short = median_of(&short, |r| r.claim_to_done);
        println!(
            "  and its ladder    claim→every rung {done_short:.2} s = {:.1}× realtime",
            60.0 / done_short
        );
        let (play_short, play_long) = (
            median_of(&short, |r| r.claim_to_playable),
            median_of(&long, |r| r.claim_to_playable),
        );
        println!(
            "time to playable    1 min {play_short:.2} s, 10 min {play_long:.2} s, ratio {:.2}   (target <= 5 s, ratio <= 1.2)",
            play_long / play_short
        );
        let (ready_long, done_long) = (
            median_of(&long, |r| r.claim_to_ready),
            median_of(&long, |r| r.claim_to_done),
        );
        println!(
            "10 min 720p         claim→ready {ready_long:.1} s = {:.1}× realtime, every rung {done_long:.1} s = {:.1}×",
            600.0 / ready_long,
            600.0 / done_long
        );
        println!(
            "processor peak RSS  1 min {:.1} MiB, 10 min {:.1} MiB   (target <= 64 MiB, flat)",
            median_of(&short, |r| r.peak_rss_mib),
            median_of(&long, |r| r.peak_rss_mib)
        );
        println!(
            "work dir peak       1 min {:.1} MiB, 10 min {:.1} MiB   (the raw file is streamed, not stored)",
            median_of(&short, |r| r.disk_peak_mib),
            median_of(&long, |r| r.disk_peak_mib)
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // BENCH_ONLY=overhead (or ladder, lengths) runs that section alone.
    let bench = Bench::open().await?;
    if wanted("overhead") {
        bench.overhead().await?;
    }
    if wanted("ladder") {
        bench.ladder().await?;
    }
    if wanted("lengths") {
        bench.lengths().await?;
    }
    bench.close().await
}
