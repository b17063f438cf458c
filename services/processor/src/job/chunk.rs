//! One part of a split encode (see `split`), run by whichever processor claimed it.
//!
//! A video chunk encodes every rendition it owns over its range of the source (read from S3
//! from the range's start), numbering its segments on from the chunk before and shifting
//! their decode times by its start, so that its segments are exactly the ones the whole
//! encode would have written there. It uploads them as ffmpeg closes them, then a playlist of
//! its own segments per rendition (`chunk_NNNNN.m3u8`) for the stitch. The init segments are
//! the first chunk's: every chunk writes the same bytes (same encoder settings, no edit list).
//!
//! The first chunk of a split transcode also encodes the shared audio of the whole video (read
//! from an input of its own: `hls::transcode_range`) and publishes as an unsplit transcode does: the video is playable once its first segments are
//! up, minutes before the stitch. The `whole` part makes the poster and the storyboard.

use tokio::sync::watch;
use vodnest_core::chunks::{self, PartKind, VideoChunk};
use vodnest_core::queue::ClaimedJob;

use super::encode::{self, Source};
use super::progress::Reporter;
use super::split::SplitPlan;
use super::stitch::chunk_playlist;
use super::{Done, JobContext, JobError, extras};
use crate::media::{hls, process};
use crate::publish::{self, ChunkOutput, Master, Publisher};

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Done, JobError> {
    let part = chunks::assignment(&ctx.pool, job.id)
        .await?
        .ok_or(JobError::Stopped)?;
    let plan = SplitPlan::read(&part.plan)?;
    let scratch = encode::scratch_dir(ctx.config.work_dir.as_deref())?;
    let source = Source {
        ctx,
        id: job.video_id,
        input: encode::source_url(ctx, job.video_id).await?,
        probed: plan.probe.clone(),
        cancel,
        prefix,
    };
    match (part.part, part.chunk, part.index) {
        (PartKind::Whole, ..) => {
            extras::make(&source, scratch.path()).await?;
        }
        (PartKind::Video, Some(range), Some(index)) => {
            let index = usize::try_from(index).unwrap_or(usize::MAX);
            let chunk = Chunk {
                job,
                range,
                index,
                makes_ready: part.makes_ready,
            };
            video(&source, &plan, &chunk, scratch.path()).await?;
        }
        (PartKind::Video, ..) => {
            return Err(JobError::BadPlan("a video chunk without a range".into()));
        }
    }
    Ok(Done::nothing())
}

/// One video chunk as its job runs it.
struct Chunk<'a> {
    job: &'a ClaimedJob,
    range: VideoChunk,
    /// Its place among the video chunks (0 first).
    index: usize,
    /// Its encode is a split transcode: the video is not ready yet.
    makes_ready: bool,
}

impl Chunk<'_> {
    /// It also encodes the shared audio and publishes the playlists and the master that make
    /// the video playable (the first chunk of a split transcode).
    fn preview(&self) -> bool {
        self.index == 0 && self.makes_ready
    }
}

/// Encodes and publishes one video chunk.
async fn video(
    source: &Source<'_>,
    plan: &SplitPlan,
    chunk: &Chunk<'_>,
    scratch: &std::path::Path,
) -> Result<(), JobError> {
    let Source { ctx, id, .. } = *source;
    let Chunk {
        job, range, index, ..
    } = *chunk;
    let preview = chunk.preview();
    let out_dir = scratch.join("hls");
    tokio::fs::create_dir_all(&out_dir).await?;
    // One ffmpeg run: the video output stops at the range's end, the audio output (the
    // preview chunk's) goes on to the end of the source.
    let written = if preview {
        plan.plan.clone()
    } else {
        plan.plan.video_only()
    };
    let frame_rate = hls::output_frame_rate(&plan.probe);
    let mut publisher = Publisher::new(
        &ctx.storage,
        source.prefix.to_owned(),
        &out_dir,
        &written,
        frame_rate,
    )
    .with_master(Master::Partial)
    .already_published(plan.already_published.iter().cloned())
    .as_chunk(ChunkOutput {
        shift_s: range.start_s,
        first: index == 0,
        preview,
    });
    let (pause, paused) = watch::channel(false);
    let control =
        process::Control::new(source.cancel, ctx.config.transcode_timeout()).pausable(paused);
    let range = hls::Range {
        start_s: range.start_s,
        end_s: range.end_s,
        first_segment: u32::try_from(range.first_segment).unwrap_or(0),
    };
    let (progress_tx, progress_rx) = watch::channel(0.0f64);
    let reporter = Reporter {
        pool: ctx.pool.clone(),
        job: job.clone(),
        renditions: plan.made_video().map(|r| r.name.clone()).collect(),
        part: true,
        transcoding: chunk.makes_ready,
    }
    .spawn(progress_rx);
    let encoding = async {
        hls::transcode_range(
            &source.input,
            &out_dir,
            &plan.probe,
            &written,
            Some(&range),
            move |fraction| {
                progress_tx.send_replace(fraction);
            },
            control,
        )
        .await
        .map_err(JobError::from)
    };
    let encoded =
        publish::publish_while_encoding(&ctx.pool, id, &mut publisher, &out_dir, encoding, &pause)
            .await;
    reporter.abort();
    encoded?;
    publish::publish(&ctx.pool, id, &mut publisher, true).await?;
    publisher
        .put_chunk_playlists(&chunk_playlist(index))
        .await?;
    tracing::info!(
        chunk = index,
        start_s = range.start_s,
        end_s = range.end_s,
        files = publisher.files_uploaded(),
        "chunk published"
    );
    Ok(())
}
