//! What a source file is, as ffprobe reads it. Anything without a decodable video stream
//! and a duration is refused here with a reason a person can act on.

use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::process;
use super::{MediaError, Source};

/// The facts the plan and the video object need.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Probe {
    pub duration_s: f64,
    /// Displayed size: rotation already applied.
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub pix_fmt: Option<String>,
    pub frame_rate: Option<f64>,
    /// The video stream's bitrate (or the whole file's when the stream does not say).
    pub video_bitrate: Option<u64>,
    pub has_audio: bool,
    pub audio_codec: Option<String>,
    pub audio_channels: Option<u32>,
    /// The AAC profile as ffprobe names it (`LC`, `HE-AAC`, …).
    pub audio_profile: Option<String>,
    pub audio_bitrate: Option<u64>,
    pub rotation: i32,
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Debug, Deserialize)]
struct Format {
    duration: Option<String>,
    bit_rate: Option<String>,
    format_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    pix_fmt: Option<String>,
    avg_frame_rate: Option<String>,
    duration: Option<String>,
    bit_rate: Option<String>,
    channels: Option<u32>,
    profile: Option<String>,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    disposition: Disposition,
}

#[derive(Debug, Default, Deserialize)]
struct Tags {
    rotate: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SideData {
    rotation: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

pub async fn probe(input: &Source, timeout: Duration) -> Result<Probe, MediaError> {
    if let Source::File(path) = input
        && tokio::fs::metadata(path).await?.len() == 0
    {
        return Err(MediaError::NotAVideo("the file is empty".into()));
    }
    let mut command = Command::new("ffprobe");
    command
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .args(input.input_args());
    let finished = match process::run(
        command,
        "ffprobe",
        timeout,
        &CancellationToken::new(),
        true,
        |_| {},
    )
    .await
    {
        Ok(finished) => finished,
        // ffprobe exits non-zero on data it cannot parse: that is the file's fault. Killed by
        // a signal, it said nothing about the file.
        Err(MediaError::Failed {
            status,
            stderr_tail,
            ..
        }) if status.code().is_some() => {
            return Err(MediaError::NotAVideo(readable(&stderr_tail)));
        }
        Err(other) => return Err(other),
    };
    parse(&finished.stdout)
}

/// The last ffprobe line without the file path it starts with.
fn readable(stderr: &str) -> String {
    let line = stderr
        .lines()
        .last()
        .unwrap_or("ffprobe could not read it")
        .trim();
    let line = line.rsplit_once(": ").map_or(line, |(_, msg)| msg);
    format!("ffprobe could not read it ({})", line.to_lowercase())
}

pub(crate) fn parse(json: &str) -> Result<Probe, MediaError> {
    let output: Output = serde_json::from_str(json)
        .map_err(|e| MediaError::NotAVideo(format!("ffprobe gave unreadable output ({e})")))?;
    let video = output
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .ok_or_else(|| MediaError::NotAVideo("it has no video stream".into()))?;
    let (Some(coded_w), Some(coded_h)) = (video.width, video.height) else {
        return Err(MediaError::NotAVideo("its video stream has no size".into()));
    };
    if coded_w == 0 || coded_h == 0 {
        return Err(MediaError::NotAVideo("its video stream has no size".into()));
    }
    let format = output.format.as_ref();
    if format
        .and_then(|f| f.format_name.as_deref())
        .is_some_and(|name| name.ends_with("_pipe") || name == "image2")
    {
        return Err(MediaError::NotAVideo("it is a still image".into()));
    }
    let duration_s = format
        .and_then(|f| f.duration.as_deref())
        .or(video.duration.as_deref())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| MediaError::NotAVideo("it has no duration".into()))?;
    let rotation = rotation(video);
    let (width, height) = if rotation.rem_euclid(180) == 90 {
        (coded_h, coded_w)
    } else {
        (coded_w, coded_h)
    };
    let audio = output
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    Ok(Probe {
        duration_s,
        width,
        height,
        video_codec: video.codec_name.clone().unwrap_or_else(|| "unknown".into()),
        pix_fmt: video.pix_fmt.clone(),
        frame_rate: video.avg_frame_rate.as_deref().and_then(ratio),
        video_bitrate: video
            .bit_rate
            .as_deref()
            .or(format.and_then(|f| f.bit_rate.as_deref()))
            .and_then(|b| b.parse().ok()),
        has_audio: audio.is_some(),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
        audio_channels: audio.and_then(|a| a.channels),
        audio_profile: audio.and_then(|a| a.profile.clone()),
        audio_bitrate: audio
            .and_then(|a| a.bit_rate.as_deref())
            .and_then(|b| b.parse().ok()),
        rotation,
    })
}

/// Rotation in degrees from the display matrix (ffmpeg 5) or the old `rotate` tag.
fn rotation(stream: &Stream) -> i32 {
    stream
        .side_data_list
        .iter()
        .find_map(|s| s.rotation)
        .map(|r| r.round() as i32)
        .or_else(|| stream.tags.rotate.as_deref().and_then(|r| r.parse().ok()))
        .unwrap_or(0)
}

/// `"30000/1001"` → 29.97; `"0/0"` → none.
fn ratio(text: &str) -> Option<f64> {
    let (n, d) = text.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_typical_source() {
        let json = r#"{"streams":[
            {"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"pix_fmt":"yuv420p","avg_frame_rate":"30000/1001"},
            {"codec_type":"audio","codec_name":"aac"}],
            "format":{"duration":"12.5","format_name":"mov,mp4,m4a,3gp,3g2,mj2"}}"#;
        let probe = parse(json).expect("parses");
        assert_eq!((probe.width, probe.height), (1920, 1080));
        assert!((probe.duration_s - 12.5).abs() < 1e-9);
        assert!(probe.has_audio);
        assert!((probe.frame_rate.unwrap_or(0.0) - 29.97).abs() < 0.01);
    }

    #[test]
    fn rotation_swaps_the_displayed_size() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,
            "side_data_list":[{"rotation":-90}]}],"format":{"duration":"3"}}"#;
        let probe = parse(json).expect("parses");
        assert_eq!(
            (probe.width, probe.height, probe.rotation),
            (1080, 1920, -90)
        );
    }

    #[test]
    fn refuses_what_is_not_a_video() {
        let audio_only =
            r#"{"streams":[{"codec_type":"audio","codec_name":"mp3"}],"format":{"duration":"3"}}"#;
        let image = r#"{"streams":[{"codec_type":"video","codec_name":"png","width":10,"height":10}],"format":{"format_name":"png_pipe"}}"#;
        for json in [audio_only, image, "{}", "not json"] {
            let err = parse(json).expect_err(json);
            assert!(err.is_permanent(), "{err}");
            assert!(
                err.to_string()
                    .starts_with("the uploaded file is not a video"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn random_bytes_and_empty_files_are_not_videos() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.mp4");
        tokio::fs::write(&empty, b"").await.expect("write");
        let noise = dir.path().join("noise.mp4");
        let bytes: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        tokio::fs::write(&noise, bytes).await.expect("write");
        for path in [empty, noise] {
            let err = probe(&Source::File(path.clone()), Duration::from_secs(30))
                .await
                .expect_err("not a video");
            assert!(err.is_permanent(), "{err}");
        }
    }

    /// An "upload" that is a playlist or a concat script pointing at another server is read
    /// from its URL like any source and refused, and what it points at is never fetched.
    #[tokio::test]
    async fn playlists_and_concat_scripts_fetch_nothing() {
        // The target's address is only known once the server runs: a second server.
        let target = super::super::test_support::recording_server(Vec::new()).await;
        let secret = format!("{}/secret.ts", target.base);
        let uploads = vec![
            (
                "/list.m3u8",
                format!("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\n{secret}\n#EXT-X-ENDLIST\n"),
            ),
            (
                "/list.ffconcat",
                format!("ffconcat version 1.0\nfile '{secret}'\n"),
            ),
            (
                "/master.m3u8",
                format!(
                    "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{}/list.m3u8\n",
                    target.base
                ),
            ),
        ];
        let names: Vec<_> = uploads.iter().map(|(n, _)| *n).collect();
        let upload = super::super::test_support::recording_server(uploads).await;
        for name in names {
            let source = Source::Url(format!("{}{name}", upload.base));
            let err = probe(&source, Duration::from_secs(30))
                .await
                .expect_err("refused");
            assert!(
                err.to_string()
                    .starts_with("the uploaded file is not a video"),
                "{name}: {err}"
            );
        }
        let fetched = target.asked.lock().expect("log").clone();
        assert!(fetched.is_empty(), "fetched {fetched:?}");
    }
}
