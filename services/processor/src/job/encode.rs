//! The work of a job: the raw file read from S3 as ffmpeg goes, probed, planned (copied or
//! encoded, see `media::fastpath`), transcoded to HLS and published while ffmpeg writes it,
//! with the extras made beside the encode.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::domain::Rendition;
use vodnest_core::queue::{ClaimedJob, JobKind};
use vodnest_core::videos::{self, MediaFacts, PublishedVersion};

use super::progress::Reporter;
use super::split::{self, SplitPlan};
use super::{Done, JobContext, JobError, extras};
use crate::media::ladder::{self, AudioPlan, Plan};
use crate::media::{self, MediaError, fastpath, hls, probe, process};
use crate::publish::{self, Master, Publisher};

/// The source URL outlives the transcode timeout by this much (probe, poster, storyboard).
const SOURCE_URL_SLACK: Duration = Duration::from_secs(3600);

/// A probed source, and what the encode and the extras share.
pub(super) struct Source<'a> {
    pub ctx: &'a JobContext,
    pub id: Uuid,
    pub input: media::Source,
    pub probed: probe::Probe,
    pub cancel: &'a CancellationToken,
    /// The version this run publishes to, `videos/{id}/{class}/{n}/`.
    pub prefix: &'a str,
}

/// What this job publishes, and what its ffmpeg run writes.
struct Work {
    /// Every rendition the master playlist lists (and the video object, once this job
    /// succeeds).
    plan: Plan,
    /// What ffmpeg writes: the plan, or (a ladder job) its video renditions alone.
    run: Plan,
    /// Renditions already in storage (a ladder job's copied top rung and audio).
    already_published: Vec<String>,
    /// A transcode job that published the copy alone leaves the ladder to this job.
    follow_up: Option<JobKind>,
}

impl Work {
    /// A transcode job: the whole ladder, or the copied top rung alone with a ladder job to
    /// follow, which makes the video watchable in about the time the copy takes.
    ///
    /// The copy joins the shared audio rendition like any rung: it is written without sound,
    /// and the source's audio goes into `audio/` in the same fast run (copied when it is
    /// AAC-LC, else encoded: seconds for a long source, against the minutes of a video rung).
    /// So the audio is published once, before the video is playable, and the ladder job that
    /// follows encodes video only. Keeping the source's audio muxed into the copy instead
    /// would leave the copy outside the group: its master would change shape when the ladder
    /// lands, and the lower rungs would need a second audio track of their own.
    fn transcode(plan: Plan) -> Self {
        let copied_first = plan.video.len() > 1 && plan.video[0].copy;
        let plan = if copied_first {
            Plan {
                video: plan.video[..1].to_vec(),
                audio: plan.audio,
            }
        } else {
            plan
        };
        Self {
            run: plan.clone(),
            plan,
            already_published: Vec::new(),
            follow_up: copied_first.then_some(JobKind::Ladder),
        }
    }

    /// A ladder job: the same plan as its transcode job's, the top rung and the audio now in
    /// storage. ffmpeg copies the top rung again (so that every rung is cut at the same
    /// instants) but leaves the audio alone.
    fn ladder(plan: Plan) -> Self {
        let top = plan.video.iter().take(1).map(|r| r.name.clone());
        let audio = plan.audio.iter().map(|_| AudioPlan::NAME.to_owned());
        Self {
            already_published: top.chain(audio).collect(),
            run: plan.video_only(),
            plan,
            follow_up: None,
        }
    }

    /// The names of the video renditions ffmpeg makes (not those it copies again).
    fn made(&self) -> impl Iterator<Item = String> {
        self.run
            .video
            .iter()
            .filter(|r| !self.already_published.contains(&r.name))
            .map(|r| r.name.clone())
    }

    /// The job that completes the ladder also makes the poster and the storyboard.
    fn completes_ladder(&self) -> bool {
        self.follow_up.is_none()
    }

    fn master(&self) -> Master {
        if self.follow_up.is_some() {
            Master::Partial
        } else if self.already_published.is_empty() {
            Master::Complete
        } else {
            Master::Extended
        }
    }
}

pub(super) async fn process(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let id = job.video_id;
    // The video is `ready` during a ladder job: its progress and stage stay as they are.
    let transcoding = job.kind == JobKind::Transcode;
    let scratch = scratch_dir(ctx.config.work_dir.as_deref())?;
    let began = Instant::now();
    let input = source_url(ctx, id).await?;
    if transcoding {
        videos::set_progress(&ctx.pool, id, "probing", 0.05).await?;
    }
    let url_s = began.elapsed().as_secs_f64();
    // A transcode asks whether the source can be copied (its keyframe spacing): that sample
    // is read beside the streams' probe (both are range reads of the source's start), which
    // takes ~0.1 s off the time to playable. A ladder job's source was judged already.
    let copy_question = async {
        if job.kind == JobKind::Ladder {
            return None;
        }
        let began = Instant::now();
        let sample = fastpath::keyframe_sample(&input, ctx.config.probe_timeout()).await;
        Some((sample, began.elapsed().as_secs_f64()))
    };
    let (probed, keyframes) = tokio::join!(
        probe::probe(&input, ctx.config.probe_timeout()),
        copy_question
    );
    let probed = probed?;
    // The steps before the first segments, apart (the stop-to-playable bench reads them).
    tracing::info!(
        url_s,
        probe_s = began.elapsed().as_secs_f64() - url_s,
        "source probed"
    );
    ctx.config.limits.check(&probed)?;
    let work = match keyframes {
        // Enqueued only by a transcode job that copied the top rung.
        None => Work::ladder(ladder::plan(&probed, &ctx.config.ladder, true)),
        Some(keyframes) => Work::transcode(plan(ctx, &probed, keyframes)),
    };
    // A long encode is split into parts for any processor; a copy is not (it runs hundreds
    // of times realtime), its ladder job may be. A copy with no rung below it (a source at or
    // under the lowest rung) has no ladder job and nothing to encode: nothing to split either
    // (splitting it read the copied rung's playlist before the copy had written it).
    let encodes = work.plan.video.iter().any(|r| !r.copy);
    if work.follow_up.is_none() && encodes && split::worth_splitting(ctx, probed.duration_s) {
        let plan = SplitPlan {
            plan: work.plan.clone(),
            already_published: work.already_published.clone(),
            probe: probed,
        };
        split::split(ctx, job, prefix, &plan, transcoding).await?;
        return Ok(Done::recorded());
    }
    let source = Source {
        ctx,
        id,
        input,
        probed,
        cancel,
        prefix,
    };
    // The poster and the seek previews are made beside the encode: they decode one frame and
    // the keyframes, and mostly wait on range reads of the source.
    let extras = async {
        if work.completes_ladder() {
            extras::make(&source, scratch.path()).await
        } else {
            Ok(extras::Extras::default())
        }
    };
    let hls_dir = scratch.path().join("hls");
    let encoding = encode(&source, job, &work, &hls_dir);
    let ((), extras) = tokio::try_join!(encoding, extras)?;
    // A transcode's version becomes current with its success; a ladder job's already is.
    let version = transcoding.then(|| PublishedVersion {
        prefix: prefix.to_owned(),
        poster: extras.poster,
        storyboard: extras.storyboard,
    });
    Ok(Done {
        facts: facts(&source.probed, work.plan.renditions(), version),
        follow_up: work.follow_up,
        recorded: false,
    })
}

/// The job's scratch directory, under `work_dir` or the system's temp dir; removed on drop.
pub(super) fn scratch_dir(work_dir: Option<&Path>) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("vodnest-job-");
    match work_dir {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
}

/// The raw file as ffprobe and ffmpeg read it: from S3 with range requests. Nothing is
/// downloaded first, so processing starts at once and the disk holds only a few segments.
pub(super) async fn source_url(ctx: &JobContext, id: Uuid) -> Result<media::Source, JobError> {
    match ctx.storage.raw_size(id).await? {
        None => return Err(JobError::RawMissing),
        Some(0) => return Err(MediaError::NotAVideo("the file is empty".into()).into()),
        Some(_) => {}
    }
    let url = ctx
        .storage
        .presign_raw_get(id, ctx.config.transcode_timeout() + SOURCE_URL_SLACK)
        .await?;
    Ok(media::Source::Url(url))
}

/// The plan for a transcode job: a source that already is what the top rendition would be is
/// copied, not encoded. `keyframes` is the keyframe sample and how long it took to read.
fn plan(
    ctx: &JobContext,
    probed: &probe::Probe,
    (keyframes, keyframes_s): (Result<fastpath::KeyframeSample, MediaError>, f64),
) -> Plan {
    let keyframe_gap = keyframes
        .map(|sample| sample.max_gap(probed.duration_s))
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot read the keyframe spacing");
            None
        });
    let not_copied = fastpath::refusal(probed, keyframe_gap);
    let plan = ladder::plan(probed, &ctx.config.ladder, not_copied.is_none());
    tracing::info!(
        duration_s = probed.duration_s,
        width = probed.width,
        height = probed.height,
        codec = %probed.video_codec,
        renditions = plan.video.len(),
        fast_path = not_copied.is_none(),
        audio_copied = plan.audio.as_ref().is_some_and(|a| a.copy),
        not_copied = not_copied.as_deref().unwrap_or(""),
        keyframes_s,
        "probed"
    );
    plan
}

/// Runs ffmpeg over the plan into `out_dir`, publishing as it goes, then the last pass.
async fn encode(
    source: &Source<'_>,
    job: &ClaimedJob,
    work: &Work,
    out_dir: &Path,
) -> Result<(), JobError> {
    let Source {
        ctx, id, probed, ..
    } = source;
    tokio::fs::create_dir_all(out_dir).await?;
    let transcoding = job.kind == JobKind::Transcode;
    let (progress_tx, progress_rx) = watch::channel(0.0f64);
    let reporter = Reporter {
        pool: ctx.pool.clone(),
        job: job.clone(),
        renditions: work.made().collect(),
        part: false,
        transcoding,
    }
    .spawn(progress_rx);
    let mut publisher = Publisher::new(
        &ctx.storage,
        source.prefix.to_owned(),
        out_dir,
        &work.plan,
        hls::output_frame_rate(probed),
    )
    .with_master(work.master())
    .already_published(work.already_published.iter().cloned());
    let (pause, paused) = watch::channel(false);
    let control =
        process::Control::new(source.cancel, ctx.config.transcode_timeout()).pausable(paused);
    let on_progress = move |fraction| {
        progress_tx.send_replace(fraction);
    };
    let transcode = async {
        hls::transcode(
            &source.input,
            out_dir,
            probed,
            &work.run,
            on_progress,
            control,
        )
        .await
        .map_err(JobError::from)
    };
    let encoded =
        publish::publish_while_encoding(&ctx.pool, *id, &mut publisher, out_dir, transcode, &pause)
            .await;
    reporter.abort();
    encoded?;
    if transcoding {
        videos::set_progress(&ctx.pool, *id, "finalizing", 0.95).await?;
    }
    publish::publish(&ctx.pool, *id, &mut publisher, true).await?;
    tracing::info!(files = publisher.files_uploaded(), "output published");
    Ok(())
}

fn facts(
    probed: &probe::Probe,
    renditions: Vec<Rendition>,
    version: Option<PublishedVersion>,
) -> MediaFacts {
    MediaFacts {
        version,
        duration_s: Some(probed.duration_s),
        width: i32::try_from(probed.width).ok(),
        height: i32::try_from(probed.height).ok(),
        renditions,
    }
}
