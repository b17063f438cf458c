//! Test media made with ffmpeg at test time (nothing binary is committed), and ffprobe
//! readings of what the service produced.

use std::path::Path;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// H.264 at libx264's fastest preset, 8-bit 4:2:0: the cheapest encode a player takes.
pub const X264: [&str; 6] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
];

/// A keyframe every 2 s at the clips' 30 fps, as streaming software writes (the processor's
/// remux fast path takes such sources).
pub const GOP_2S: [&str; 2] = ["-g", "60"];

/// AAC audio.
pub const AAC: [&str; 2] = ["-c:a", "aac"];

/// AV1 at SVT-AV1's fastest preset, with AAC audio.
pub const AV1_AAC: [&str; 6] = ["-c:v", "libsvtav1", "-preset", "12", "-c:a", "aac"];

/// VP9 at libvpx's fastest realtime settings, with Opus audio (for a `.webm`).
pub const VP9_OPUS: [&str; 8] = [
    "-c:v",
    "libvpx-vp9",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-c:a",
    "libopus",
];

/// A test-pattern clip `seconds` long at `size` (e.g. `640x360`), 30 fps, with a 48 kHz tone
/// when `audio`, encoded with `encode` (codecs and their options) into `path`, whose extension
/// picks the container.
pub async fn make(
    path: &Path,
    seconds: u32,
    size: &str,
    audio: bool,
    encode: &[&str],
) -> Result<()> {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=30:duration={seconds}"));
    if audio {
        command.args(["-f", "lavfi", "-i"]).arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={seconds}"
        ));
    }
    let output = command
        .args(encode)
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .context("running ffmpeg (is it installed? ./dev installs it)")?;
    if !output.status.success() {
        bail!(
            "ffmpeg could not make {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// H.264/AAC with libx264's default keyframe spacing (over 8 s apart): a source the remux fast
/// path refuses, so that it is transcoded (and, when long enough, split into chunks).
pub async fn make_sparse_keyframes(path: &Path, seconds: u32, size: &str) -> Result<()> {
    make(path, seconds, size, true, &[&X264[..], &AAC].concat()).await
}

/// A `seconds`-long 1280x720 H.264/AAC clip. `video_bitrate` sets its size (a 20 s clip at
/// 3 Mb/s is about 7.5 MB: two 5 MiB parts).
pub async fn make_clip(path: &Path, seconds: u32, video_bitrate: &str) -> Result<()> {
    let rate = [
        "-b:v",
        video_bitrate,
        "-minrate",
        video_bitrate,
        "-maxrate",
        video_bitrate,
        "-bufsize",
        "1M",
        "-x264-params",
        "nal-hrd=cbr",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
    ];
    make(
        path,
        seconds,
        "1280x720",
        true,
        &[&X264[..], &rate].concat(),
    )
    .await
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

/// One number per line that ffprobe prints for `what` (e.g. `-show_entries format=duration`) of a
/// file, a URL or a playlist served from the media bucket.
pub async fn ffprobe_values(target: &str, what: &[&str]) -> Result<Vec<f64>> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-allowed_extensions", "ALL"])
        .args(what)
        .args(["-of", "csv=p=0", target])
        .output()
        .await
        .context("running ffprobe")?;
    if !output.status.success() {
        bail!("ffprobe {target}: {output:?}");
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect())
}
