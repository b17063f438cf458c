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
        video_bitrate: Some(2_000_000),
        has_audio: true,
        audio_codec: Some("aac".into()),
        audio_channels: Some(2),
        audio_profile: Some("LC".into()),
        audio_bitrate: Some(128_000),
        rotation: 0,
    }
}

/// A 9 s 640x360 H.264 clip, with a tone if `audio`.
pub async fn make_clip(path: &Path, audio: bool) {
    vodnest_testkit::clip::make(path, 9, "640x360", audio, &vodnest_testkit::clip::X264)
        .await
        .expect("ffmpeg makes the clip");
}

/// Keyframe timestamps of a file or playlist's first video stream.
pub async fn keyframe_times(path: &Path) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
        ])
        .args([
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
            "-allowed_extensions",
            "ALL",
        ])
        .arg(path)
        .output()
        .await
        .expect("ffprobe runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// The codec types of a file or playlist's streams (`video`, `audio`), by index.
pub async fn stream_types(path: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-allowed_extensions", "ALL"])
        .args(["-show_entries", "stream=index,codec_type", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .await
        .expect("ffprobe runs");
    // An HLS input's streams are listed twice: in its program, then on their own.
    let streams: std::collections::BTreeMap<u32, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let (index, kind) = l.trim().split_once(',')?;
            Some((index.parse().ok()?, kind.trim_end_matches(',').to_owned()))
        })
        .collect();
    streams.into_values().collect()
}

/// A `seconds`-long 640x360 clip encoded with `video_args` (codec and its options), with an AAC
/// tone, into `path` (whose extension picks the container).
pub async fn make_encoded(path: &Path, seconds: u32, video_args: &[&str]) {
    vodnest_testkit::clip::make(path, seconds, "640x360", true, video_args)
        .await
        .expect("ffmpeg makes the clip");
}

/// The MD5 of a file or playlist's video bitstream, to tell a copy from a re-encode.
pub async fn video_md5(path: &Path) -> String {
    stream_md5(path, "0:v:0").await
}

/// The MD5 of a file or playlist's first audio stream.
pub async fn audio_md5(path: &Path) -> String {
    stream_md5(path, "0:a:0").await
}

async fn stream_md5(path: &Path, stream: &str) -> String {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    // An HLS playlist names fMP4 init segments the demuxer would otherwise refuse.
    if path.extension().is_some_and(|e| e == "m3u8") {
        command.args(["-allowed_extensions", "ALL"]);
    }
    let output = command
        .arg("-i")
        .arg(path)
        .args(["-map", stream, "-c", "copy", "-f", "md5", "-"])
        .output()
        .await
        .expect("ffmpeg runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A local HTTP server that answers every path with the body `files` gives it (404 for
/// others) and records each path asked for: what an uploaded playlist could make ffmpeg fetch.
pub struct Recorder {
    pub base: String,
    pub asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub async fn recording_server(files: Vec<(&'static str, String)>) -> Recorder {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = vec![0u8; 4096];
            let n = conn.read(&mut head).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&head[..n]);
            let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().expect("log").push(path.clone());
            let body = files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.clone());
            let status = if body.is_some() {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let body = body.unwrap_or_default();
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    Recorder { base, asked }
}
