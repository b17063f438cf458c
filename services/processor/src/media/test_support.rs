//! Fixtures for the media unit tests: probes of made-up sources and short clips made with
//! ffmpeg at test time.

use std::path::Path;

use tokio::process::Command;

use super::probe::Probe;

/// What ffprobe would say of a typical H.264/AAC source of this size.
pub fn sample_probe(duration_s: f64, width: u32, height: u32) -> Probe {
    Probe {
        duration_s,
        width,
        height,
        video_codec: "h264".into(),
        pix_fmt: Some("yuv420p".into()),
        frame_rate: Some(30.0),
        has_audio: true,
        audio_codec: Some("aac".into()),
        rotation: 0,
    }
}

/// A 9 s 640x360 H.264 clip, with a tone if `audio`.
pub async fn make_clip(path: &Path, audio: bool) {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-y"]);
    command.args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]);
    if audio {
        command.args(["-f", "lavfi", "-i", "sine=sample_rate=44100"]);
    }
    command.args([
        "-t",
        "9",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    let status = command.arg(path).status().await.expect("ffmpeg runs");
    assert!(status.success());
}
