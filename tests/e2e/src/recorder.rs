//! A recorder stand-in for the tests of uploads while recording: ffmpeg copies a pre-made clip
//! into a Matroska file at 4× real time (`-readrate`), writing it as OBS or ffmpeg would while
//! a stream runs, and rewriting its header when it stops.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::process::{Child, Command};

use crate::clip;

/// A `seconds`-long 320x180 clip at 15 fps, H.264 with keyframes every 2 s (the remux fast
/// path takes it) and AAC, at a constant 2 Mb/s: about 250 KB a second, so that a short
/// recording spans several 5 MiB parts.
pub async fn make_source(path: &Path, seconds: u32) -> Result<()> {
    let encode = [
        &clip::X264[..],
        &[
            "-r", "15", "-g", "30", "-b:v", "2M", "-minrate", "2M", "-maxrate", "2M",
        ],
        &["-bufsize", "1M", "-x264-params", "nal-hrd=cbr"],
        &clip::AAC[..],
    ]
    .concat();
    clip::make(path, seconds, "320x180", true, &encode).await
}

/// Starts recording `source` into `out` (Matroska) at 4× real time; wait on the child for the
/// end of the recording.
pub fn record(source: &Path, out: &Path) -> Result<Child> {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-readrate", "4", "-i"])
        .arg(source)
        .args(["-c", "copy", "-f", "matroska"])
        .arg(out)
        .kill_on_drop(true)
        .spawn()
        .context("running ffmpeg")
}
