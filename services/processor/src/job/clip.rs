//! A `clip` job: a precise clip's source. The parent's top rendition and its audio are read
//! from their own init and media segments over the range (a segment's worth more at each
//! end), cut at the exact instants (`trim`/`atrim`, so the cut is sample- and frame-exact)
//! and encoded once into an H.264/AAC mp4 with keyframes every 2 s, written to `raw/{clip}`.
//! Its success enqueues the clip's `transcode`, which takes the remux fast path on that file:
//! the clip is then processed like any upload. Every frame of the range is encoded again,
//! not only the edge segments (see the README, "Clips and posters").

use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use vodnest_core::queue::{ClaimedJob, JobKind};
use vodnest_core::videos;

use super::segments::Renditions;
use super::{Done, JobContext, JobError, encode};
use crate::media::process;

/// The cut's quality: visually lossless for what the ladder then makes of it.
const CRF: &str = "18";

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    cancel: &CancellationToken,
) -> Result<Done, JobError> {
    let clip = videos::get(&ctx.pool, job.video_id)
        .await?
        .ok_or(JobError::Stopped)?;
    let (Some(parent_id), Some(start), Some(end)) =
        (clip.source_video_id, clip.source_start_s, clip.source_end_s)
    else {
        return Err(JobError::Clip("the video is not a clip".into()));
    };
    let parent = videos::get(&ctx.pool, parent_id)
        .await?
        .ok_or_else(|| JobError::Clip("the video it was cut from was deleted".into()))?;
    videos::set_progress(&ctx.pool, clip.id, "cutting", 0.0).await?;
    let renditions = Renditions::read(ctx, &parent).await?;
    let scratch = encode::scratch_dir(ctx.config.work_dir.as_deref())?;
    let video_file = scratch.path().join("video.mp4");
    let video = renditions
        .fetch(ctx, renditions.top(), start, end, &video_file)
        .await?;
    let audio_file = scratch.path().join("audio.mp4");
    let audio = match renditions.audio() {
        Some(file) => Some(renditions.fetch(ctx, file, start, end, &audio_file).await?),
        None => None,
    };
    let out = scratch.path().join("clip.mp4");
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(input(&video_file));
    // Each input's timestamps start at 0 with its first segment, which starts at the run's
    // window: the cut is the asked range shifted by that.
    let mut filter = format!(
        "[0:v:0]trim=start={:.6}:end={:.6},setpts=PTS-STARTPTS[v]",
        start - video.start_s,
        end - video.start_s
    );
    if let Some(audio) = &audio {
        command.args(input(&audio_file));
        filter.push_str(&format!(
            ";[1:a:0]atrim=start={:.6}:end={:.6},asetpts=PTS-STARTPTS[a]",
            start - audio.start_s,
            end - audio.start_s
        ));
    }
    command.args(["-filter_complex", &filter, "-map", "[v]"]);
    if audio.is_some() {
        command.args(["-map", "[a]", "-c:a", "aac", "-b:a", "192k"]);
    }
    command
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", CRF])
        .args([
            "-pix_fmt",
            "yuv420p",
            "-force_key_frames",
            "expr:gte(t,n_forced*2)",
        ])
        .args(["-movflags", "+faststart"])
        .arg(&out);
    let timeout = Duration::from_secs_f64(ctx.config.transcode_timeout_secs);
    process::run(command, "ffmpeg (clip)", timeout, cancel, false, |_| {}).await?;
    let size = tokio::fs::metadata(&out).await?.len();
    ctx.storage.put_raw_file(clip.id, &out).await?;
    videos::record_clip_source(&ctx.pool, clip.id, i64::try_from(size).unwrap_or(i64::MAX)).await?;
    tracing::info!(bytes = size, start, end, "precise clip cut");
    Ok(Done {
        follow_up: Some(JobKind::Transcode),
        ..Done::nothing()
    })
}

/// A local fMP4 file as ffmpeg's input: the mp4 demuxer and the file protocol only.
fn input(path: &std::path::Path) -> Vec<std::ffi::OsString> {
    crate::media::Source::File(path.to_owned())
        .input_args()
        .into_iter()
        .collect()
}
