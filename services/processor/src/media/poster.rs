//! The poster: one representative frame as a JPEG, taken a tenth of the way in (past intros
//! and black openings, capped at a minute for long streams), at most 720 pixels tall.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::probe::Probe;
use super::{MediaError, Source, process};

const MAX_OFFSET_S: f64 = 60.0;

pub fn offset(probe: &Probe) -> f64 {
    (probe.duration_s * 0.1).clamp(0.0, MAX_OFFSET_S)
}

pub async fn write(
    input: &Source,
    out: &Path,
    probe: &Probe,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<(), MediaError> {
    grab(input, offset(probe), true, out, cancel, timeout).await
}

/// One frame of `input` at `at` seconds (seeking before the input when `fast_seek`, to the
/// keyframe before; after it otherwise, decoding up to the instant) as a JPEG at most 720
/// pixels tall.
pub async fn grab(
    input: &Source,
    at: f64,
    fast_seek: bool,
    out: &Path,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<(), MediaError> {
    let seek = ["-ss".to_owned(), format!("{at:.3}")];
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    if fast_seek {
        command.args(&seek).args(input.input_args());
    } else {
        command.args(input.input_args()).args(&seek);
    }
    command
        .args([
            "-frames:v",
            "1",
            "-vf",
            "scale=-2:'min(720,ih)'",
            "-q:v",
            "3",
        ])
        .arg(out);
    process::run(command, "ffmpeg (poster)", timeout, cancel, false, |_| {}).await?;
    Ok(())
}
