//! Test media made with ffmpeg at test time (nothing binary is committed), and ffprobe
//! readings of what the service produced.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// A `seconds`-long 1280x720 H.264/AAC clip. `video_bitrate` sets its size (a 20 s clip at
/// 3 Mb/s is about 7.5 MB: two 5 MiB parts).
pub async fn make_clip(path: &Path, seconds: u32, video_bitrate: &str) -> Result<()> {
    let seconds = seconds.to_string();
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-b:v",
            video_bitrate,
            "-minrate",
            video_bitrate,
            "-maxrate",
            video_bitrate,
        ])
        .args(["-bufsize", "1M", "-x264-params", "nal-hrd=cbr"])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .context("running ffmpeg (is it installed? ./dev installs it)")?;
    if !output.status.success() {
        bail!(
            "ffmpeg could not make the test clip: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The container duration in seconds as ffprobe reads it.
pub async fn duration(path: &Path) -> Result<f64> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await?;
    if !output.status.success() {
        bail!(
            "ffprobe {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().parse().with_context(|| {
        format!(
            "ffprobe printed no duration for {}: {text:?}",
            path.display()
        )
    })
}
