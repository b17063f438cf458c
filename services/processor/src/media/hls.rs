//! The HLS plan and the ffmpeg run that writes it: H.264 + stereo AAC in fMP4 segments of 6 s,
//! keyframes every 2 s exactly (closed GOPs, no scene-cut keyframes), a VOD playlist per
//! rendition and a master playlist, with progress read from `-progress pipe:1`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use vodnest_core::domain::Rendition;

use super::probe::Probe;
use super::{MediaError, process};

pub const SEGMENT_SECONDS: u32 = 6;
pub const KEYFRAME_SECONDS: u32 = 2;
const AUDIO_BITRATE: u64 = 128_000;
/// The ladder, top first: (name, height, video bits per second).
const LADDER: [(&str, u32, u64); 1] = [("720p", 720, 3_000_000)];

#[derive(Debug, Clone, PartialEq)]
pub struct RenditionPlan {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_bitrate: u64,
    pub audio_bitrate: u64,
}

/// A file ffmpeg wrote, with where and how it is stored.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub path: PathBuf,
    /// Key below `videos/{id}/`, e.g. `720p/seg_00001.m4s`.
    pub relative_key: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

#[derive(Debug, Clone)]
pub struct HlsOutput {
    pub files: Vec<OutputFile>,
    pub renditions: Vec<Rendition>,
}

/// The renditions for a source: never above its height (a smaller source gets one rendition
/// at its own size), aspect ratio kept, dimensions even as H.264 needs.
pub fn plan(probe: &Probe) -> Vec<RenditionPlan> {
    let mut plans: Vec<RenditionPlan> = LADDER
        .iter()
        .filter(|(_, height, _)| *height <= probe.height)
        .map(|(name, height, bitrate)| rendition(probe, name, *height, *bitrate))
        .collect();
    if plans.is_empty() {
        let (top_height, top_bitrate) = (LADDER[0].1, LADDER[0].2);
        let height = even(probe.height);
        let bitrate = top_bitrate * u64::from(height) / u64::from(top_height);
        plans.push(rendition(
            probe,
            &format!("{height}p"),
            height,
            bitrate.max(300_000),
        ));
    }
    plans
}

fn rendition(probe: &Probe, name: &str, height: u32, video_bitrate: u64) -> RenditionPlan {
    let width = u64::from(probe.width) * u64::from(height) / u64::from(probe.height.max(1));
    RenditionPlan {
        name: name.to_owned(),
        width: even(u32::try_from(width).unwrap_or(u32::MAX)),
        height: even(height),
        video_bitrate,
        audio_bitrate: if probe.has_audio { AUDIO_BITRATE } else { 0 },
    }
}

fn even(n: u32) -> u32 {
    (n & !1).max(2)
}

/// Content-Type and Cache-Control by file name.
pub fn headers(name: &str) -> (&'static str, &'static str) {
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    const PLAYLIST: &str = "public, max-age=60";
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => ("application/vnd.apple.mpegurl", PLAYLIST),
        Some("m4s") => ("video/iso.segment", IMMUTABLE),
        Some("mp4") => ("video/mp4", IMMUTABLE),
        Some("ts") => ("video/mp2t", IMMUTABLE),
        Some("jpg") => ("image/jpeg", IMMUTABLE),
        Some("vtt") => ("text/vtt", PLAYLIST),
        _ => ("application/octet-stream", IMMUTABLE),
    }
}

/// The ffmpeg arguments after `-i input`.
fn output_args(probe: &Probe, plan: &[RenditionPlan], out_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    let count = plan.len();
    // One decode, split into every rendition's scaler.
    let mut filter = format!("[0:v:0]split={count}");
    for i in 0..count {
        filter.push_str(&format!("[s{i}]"));
    }
    for (i, r) in plan.iter().enumerate() {
        filter.push_str(&format!(
            ";[s{i}]scale={}:{}:flags=bicubic,setsar=1,format=yuv420p[v{i}]",
            r.width, r.height
        ));
    }
    push(&["-filter_complex", &filter]);
    let gop_expr = format!("expr:gte(t,n_forced*{KEYFRAME_SECONDS})");
    let mut stream_map = Vec::new();
    for (i, r) in plan.iter().enumerate() {
        let bitrate = r.video_bitrate.to_string();
        let maxrate = (r.video_bitrate * 107 / 100).to_string();
        let bufsize = (r.video_bitrate * 3 / 2).to_string();
        push(&["-map", &format!("[v{i}]")]);
        push(&[
            &format!("-c:v:{i}"),
            "libx264",
            &format!("-b:v:{i}"),
            &bitrate,
        ]);
        push(&[
            &format!("-maxrate:v:{i}"),
            &maxrate,
            &format!("-bufsize:v:{i}"),
            &bufsize,
        ]);
        if probe.has_audio {
            push(&["-map", "0:a:0"]);
            stream_map.push(format!("v:{i},a:{i},name:{}", r.name));
        } else {
            stream_map.push(format!("v:{i},name:{}", r.name));
        }
    }
    push(&["-preset", "veryfast", "-profile:v", "high"]);
    push(&[
        "-force_key_frames",
        &gop_expr,
        "-sc_threshold",
        "0",
        "-flags",
        "+cgop",
    ]);
    if probe.has_audio {
        push(&[
            "-c:a",
            "aac",
            "-b:a",
            &AUDIO_BITRATE.to_string(),
            "-ac",
            "2",
            "-ar",
            "48000",
        ]);
    }
    let out = |name: &str| out_dir.join(name).to_string_lossy().into_owned();
    push(&["-f", "hls", "-hls_time", &SEGMENT_SECONDS.to_string()]);
    push(&["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4"]);
    push(&[
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        "init.mp4",
    ]);
    push(&["-hls_segment_filename", &out("%v/seg_%05d.m4s")]);
    push(&["-master_pl_name", "master.m3u8"]);
    push(&["-var_stream_map", &stream_map.join(" ")]);
    push(&["-progress", "pipe:1", "-nostats"]);
    args.push(out("%v/index.m3u8"));
    args
}

/// Transcodes `input` into `out_dir`. `on_progress` gets 0..1 at most about twice a second.
pub async fn transcode(
    input: &Path,
    out_dir: &Path,
    probe: &Probe,
    plan: &[RenditionPlan],
    mut on_progress: impl FnMut(f64) + Send,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<HlsOutput, MediaError> {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(output_args(probe, plan, out_dir));
    let duration_us = probe.duration_s * 1_000_000.0;
    let mut last_report: Option<Instant> = None;
    process::run(command, "ffmpeg", timeout, cancel, false, |line| {
        let Some(fraction) = progress_fraction(line, duration_us) else {
            return;
        };
        if last_report.is_none_or(|at| at.elapsed() >= Duration::from_millis(500))
            || fraction >= 1.0
        {
            last_report = Some(Instant::now());
            on_progress(fraction);
        }
    })
    .await?;
    on_progress(1.0);
    let files = list_output(out_dir).await?;
    let renditions = plan
        .iter()
        .map(|r| Rendition {
            name: r.name.clone(),
            width: r.width,
            height: r.height,
            bandwidth: r.video_bitrate + r.audio_bitrate,
        })
        .collect();
    Ok(HlsOutput { files, renditions })
}

/// The fraction done from one `-progress` line (`out_time_us`, or `out_time_ms` which ffmpeg
/// also prints in microseconds), or `progress=end`.
fn progress_fraction(line: &str, duration_us: f64) -> Option<f64> {
    let (key, value) = line.split_once('=')?;
    match key {
        "out_time_us" | "out_time_ms" if duration_us > 0.0 => {
            let us: f64 = value.trim().parse().ok()?;
            Some((us / duration_us).clamp(0.0, 1.0))
        }
        "progress" if value.trim() == "end" => Some(1.0),
        _ => None,
    }
}

/// Every file under `out_dir`, with its key and headers.
async fn list_output(out_dir: &Path) -> Result<Vec<OutputFile>, MediaError> {
    let mut files = Vec::new();
    let mut dirs = vec![out_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if entry.file_type().await?.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative_key = path
                .strip_prefix(out_dir)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .to_string_lossy()
                .replace('\\', "/");
            let (content_type, cache_control) = headers(&relative_key);
            files.push(OutputFile {
                path,
                relative_key,
                content_type,
                cache_control,
            });
        }
    }
    files.sort_by(|a, b| a.relative_key.cmp(&b.relative_key));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(width: u32, height: u32) -> Probe {
        Probe {
            duration_s: 10.0,
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

    #[test]
    fn never_upscales_and_keeps_even_dimensions() {
        let hd = plan(&source(1920, 1080));
        assert_eq!((hd[0].width, hd[0].height), (1280, 720));
        let small = plan(&source(641, 359));
        assert_eq!(small.len(), 1);
        assert!(small[0].height <= 359 && small[0].height.is_multiple_of(2));
        assert!(small[0].width.is_multiple_of(2));
        let portrait = plan(&source(1080, 1920));
        assert_eq!((portrait[0].width, portrait[0].height), (404, 720));
    }

    #[test]
    fn reads_progress_lines() {
        let duration = 10_000_000.0;
        assert_eq!(
            progress_fraction("out_time_us=5000000", duration),
            Some(0.5)
        );
        assert_eq!(
            progress_fraction("out_time_ms=2500000", duration),
            Some(0.25)
        );
        assert_eq!(progress_fraction("out_time_us=N/A", duration), None);
        assert_eq!(progress_fraction("progress=continue", duration), None);
        assert_eq!(progress_fraction("progress=end", duration), Some(1.0));
        assert_eq!(progress_fraction("speed=8x", duration), None);
    }

    #[test]
    fn headers_by_extension() {
        assert_eq!(headers("master.m3u8").0, "application/vnd.apple.mpegurl");
        assert_eq!(headers("720p/seg_00001.m4s").0, "video/iso.segment");
        assert_eq!(headers("720p/init.mp4").0, "video/mp4");
        assert!(headers("720p/seg_00001.m4s").1.contains("immutable"));
    }

    async fn make_clip(path: &Path, audio: bool) {
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

    async fn keyframe_times(path: &Path) -> Vec<f64> {
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

    #[tokio::test]
    async fn transcodes_to_hls_with_aligned_keyframes() {
        for audio in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let input = dir.path().join("in.mp4");
            make_clip(&input, audio).await;
            let probed = super::super::probe::probe(&input, Duration::from_secs(30))
                .await
                .expect("probe");
            assert_eq!(probed.has_audio, audio);
            let out = dir.path().join("hls");
            tokio::fs::create_dir_all(&out).await.expect("mkdir");
            let plans = plan(&probed);
            let mut seen = Vec::new();
            let output = transcode(
                &input,
                &out,
                &probed,
                &plans,
                |f| seen.push(f),
                &CancellationToken::new(),
                Duration::from_secs(120),
            )
            .await
            .expect("transcode");
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
            assert_eq!(seen.last(), Some(&1.0));
            let keys: Vec<_> = output
                .files
                .iter()
                .map(|f| f.relative_key.as_str())
                .collect();
            assert!(keys.contains(&"master.m3u8"), "{keys:?}");
            assert!(keys.contains(&"360p/index.m3u8"), "{keys:?}");
            assert!(keys.contains(&"360p/init.mp4"), "{keys:?}");
            let segments = keys.iter().filter(|k| k.ends_with(".m4s")).count();
            assert_eq!(segments, 2, "9 s in 6 s segments: {keys:?}");
            let keyframes = keyframe_times(&out.join("360p/index.m3u8")).await;
            assert!(keyframes.len() >= 4, "{keyframes:?}");
            let first = keyframes[0];
            for (i, t) in keyframes.iter().enumerate() {
                let expected = first + 2.0 * i as f64;
                assert!(
                    (t - expected).abs() < 0.05,
                    "keyframe {i} at {t}: {keyframes:?}"
                );
            }
        }
    }
}
