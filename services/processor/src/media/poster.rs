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
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-ss", &format!("{:.3}", offset(probe))])
        .args(input.input_args())
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
