//! The HLS plan and the ffmpeg run that writes it: H.264 + stereo AAC in fMP4 segments of 6 s,
//! keyframes every 2 s exactly (closed GOPs, no scene-cut keyframes), a VOD playlist per
//! rendition and a master playlist, with progress read from `-progress pipe:1`.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;
use vodnest_core::domain::Rendition;

use super::ladder::Ladder;
use super::probe::Probe;
use super::{MediaError, Source, fastpath, process};

pub const SEGMENT_SECONDS: u32 = 6;
pub const KEYFRAME_SECONDS: u32 = 2;
const AUDIO_BITRATE: u64 = 128_000;
/// No rendition gets less video bitrate than this, however small.
const MIN_VIDEO_BITRATE: u64 = 200_000;
const MAX_FRAME_RATE: f64 = 60.0;

#[derive(Debug, Clone, PartialEq)]
pub struct RenditionPlan {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_bitrate: u64,
    pub audio_bitrate: u64,
    /// The source's video is copied into this rendition, not encoded (the remux fast path).
    pub copy: bool,
}

/// The output frame rate: the source's (variable rates become constant), at most 60.
pub fn output_frame_rate(probe: &Probe) -> Option<f64> {
    probe
        .frame_rate
        .filter(|r| r.is_finite() && *r >= 1.0)
        .map(|r| r.min(MAX_FRAME_RATE))
}

/// The VBV ceiling the encoder works under, which is also a segment's peak bitrate.
pub fn peak_video_bitrate(video_bitrate: u64) -> u64 {
    video_bitrate * 107 / 100
}

/// The renditions for a source: every rung of the ladder at or below its size (never
/// upscaled; a source smaller than every rung gets one rendition at its own size, its bitrate
/// scaled down from the smallest rung), aspect ratio kept, dimensions even as H.264 needs.
/// A rung names the short side, so a portrait 1080x1920 source is "1080p" too. With
/// `copy_top` (see `fastpath`) the source itself is the top rendition and only the rungs
/// below it are encoded.
pub fn plan(probe: &Probe, ladder: &Ladder, copy_top: bool) -> Vec<RenditionPlan> {
    let short = probe.width.min(probe.height).max(1);
    let mut plans = Vec::new();
    if copy_top {
        let smallest = ladder.rungs().last().map_or(800_000, |r| r.video_bitrate);
        plans.push(RenditionPlan {
            name: format!("{}p", even(short)),
            width: probe.width,
            height: probe.height,
            video_bitrate: probe.video_bitrate.unwrap_or(smallest),
            audio_bitrate: if probe.has_audio { AUDIO_BITRATE } else { 0 },
            copy: true,
        });
    }
    plans.extend(
        ladder
            .rungs()
            .iter()
            .filter(|rung| rung.height < short || (!copy_top && rung.height == short))
            .map(|rung| rendition(probe, rung.height, rung.video_bitrate)),
    );
    if plans.is_empty()
        && let Some(smallest) = ladder.rungs().last()
    {
        let bitrate = smallest.video_bitrate * u64::from(short) / u64::from(smallest.height);
        plans.push(rendition(probe, short, bitrate.max(MIN_VIDEO_BITRATE)));
    }
    plans
}

/// The source scaled so that its short side is `short`.
fn rendition(probe: &Probe, short: u32, video_bitrate: u64) -> RenditionPlan {
    let source_short = u64::from(probe.width.min(probe.height).max(1));
    let scale = |side: u32| {
        let scaled = u64::from(side) * u64::from(short) / source_short;
        even(u32::try_from(scaled).unwrap_or(u32::MAX))
    };
    RenditionPlan {
        name: format!("{}p", even(short)),
        width: scale(probe.width),
        height: scale(probe.height),
        video_bitrate,
        audio_bitrate: if probe.has_audio { AUDIO_BITRATE } else { 0 },
        copy: false,
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

/// One decode feeding a cascade of scalers: the tallest encoded rung is scaled from the source
/// (bicubic), each smaller one from the rung above it (bilinear, on far fewer pixels). A
/// constant frame rate (variable-rate footage included) keeps keyframes on time; a copied
/// source keeps its own timing, which the encoded rungs must match.
fn scaler_chain(probe: &Probe, encoded: &[(usize, &RenditionPlan)], copying: bool) -> String {
    let fps = output_frame_rate(probe)
        .filter(|_| !copying)
        .map(|rate| format!("fps={rate:.3},"))
        .unwrap_or_default();
    let mut chain = Vec::new();
    for (k, (i, r)) in encoded.iter().enumerate() {
        let (input, flags) = if k == 0 {
            (format!("[0:v:0]{fps}"), "bicubic")
        } else {
            (format!("[c{k}]"), "bilinear")
        };
        let output = if k + 1 == encoded.len() {
            format!("[v{i}]")
        } else {
            format!(",split=2[v{i}][c{}]", k + 1)
        };
        chain.push(format!(
            "{input}scale={}:{}:flags={flags},setsar=1,format=yuv420p{output}",
            r.width, r.height
        ));
    }
    chain.join(";")
}

/// x264's preset for rendition `i`: `veryfast` for the top rung, `superfast` below it, where
/// the picture is small and the saved time large (the whole ladder costs about 1.6× the top
/// rung alone instead of 2.3×).
fn preset(plan: &[RenditionPlan], i: usize) -> &'static str {
    if i == 0 && !plan[0].copy {
        "veryfast"
    } else {
        "superfast"
    }
}

/// The ffmpeg arguments after `-i input`.
fn output_args(probe: &Probe, plan: &[RenditionPlan], out_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    let encoded: Vec<(usize, &RenditionPlan)> =
        plan.iter().enumerate().filter(|(_, r)| !r.copy).collect();
    let copying = encoded.len() < plan.len();
    if !encoded.is_empty() {
        push(&["-filter_complex", &scaler_chain(probe, &encoded, copying)]);
    }
    // Keyframes every 2 s, or where the copied source has them, so every rendition cuts its
    // segments at the same instants.
    let keyframes = if copying {
        "source".to_owned()
    } else {
        format!("expr:gte(t,n_forced*{KEYFRAME_SECONDS})")
    };
    let mut stream_map = Vec::new();
    for (i, r) in plan.iter().enumerate() {
        if r.copy {
            push(&["-map", "0:v:0", &format!("-c:v:{i}"), "copy"]);
        } else {
            let bitrate = r.video_bitrate.to_string();
            let maxrate = peak_video_bitrate(r.video_bitrate).to_string();
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
            push(&[&format!("-force_key_frames:v:{i}"), &keyframes]);
            // Closed GOPs and no scene-cut keyframes: only the forced ones.
            push(&[
                &format!("-preset:v:{i}"),
                preset(plan, i),
                &format!("-profile:v:{i}"),
                "high",
            ]);
            push(&[
                &format!("-sc_threshold:v:{i}"),
                "0",
                &format!("-flags:v:{i}"),
                "+cgop",
            ]);
            // Beside a copy, no B-frames: their encoder delay would shift every output's
            // timestamps, and the copy published alone by the transcode job (see `job`) would
            // no longer line up with the rungs its ladder job encodes.
            if copying {
                push(&[&format!("-bf:v:{i}"), "0"]);
            }
        }
        if probe.has_audio {
            // Every rendition carries its own audio stream: audio stream i goes with video i.
            push(&["-map", "0:a:0"]);
            if r.copy && fastpath::audio_copyable(probe) {
                push(&[&format!("-c:a:{i}"), "copy"]);
            } else {
                push(&[&format!("-c:a:{i}"), "aac"]);
                push(&[&format!("-b:a:{i}"), &AUDIO_BITRATE.to_string()]);
                push(&[&format!("-ac:a:{i}"), "2", &format!("-ar:a:{i}"), "48000"]);
            }
            stream_map.push(format!("v:{i},a:{i},name:{}", r.name));
        } else {
            stream_map.push(format!("v:{i},name:{}", r.name));
        }
    }

    let out = |name: &str| out_dir.join(name).to_string_lossy().into_owned();
    push(&["-f", "hls", "-hls_time", &SEGMENT_SECONDS.to_string()]);
    // EVENT playlists that list a segment only once it is closed: the publisher uploads them
    // while ffmpeg goes on, and turns them into VOD playlists at the end.
    push(&["-hls_playlist_type", "event", "-hls_segment_type", "fmp4"]);
    push(&[
        "-hls_flags",
        "independent_segments+temp_file",
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
/// Returns the renditions as the video object lists them.
pub async fn transcode(
    input: &Source,
    out_dir: &Path,
    probe: &Probe,
    plan: &[RenditionPlan],
    mut on_progress: impl FnMut(f64) + Send,
    control: process::Control<'_>,
) -> Result<Vec<Rendition>, MediaError> {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(input.input_args())
        .args(output_args(probe, plan, out_dir));
    let duration_us = probe.duration_s * 1_000_000.0;
    let mut last_report: Option<Instant> = None;
    process::run_with(command, "ffmpeg", control, false, |line| {
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
    Ok(plan
        .iter()
        .map(|r| Rendition {
            name: r.name.clone(),
            width: r.width,
            height: r.height,
            bandwidth: r.video_bitrate + r.audio_bitrate,
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{keyframe_times, make_clip, sample_probe};
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn source(width: u32, height: u32) -> Probe {
        sample_probe(10.0, width, height)
    }

    fn plan_for(probe: &Probe, ladder: &Ladder) -> Vec<RenditionPlan> {
        plan(probe, ladder, false)
    }

    fn sizes(plans: &[RenditionPlan]) -> Vec<(u32, u32)> {
        plans.iter().map(|p| (p.width, p.height)).collect()
    }

    #[test]
    fn never_upscales_and_keeps_even_dimensions() {
        let ladder = Ladder::default();
        let hd = plan_for(&source(1920, 1080), &ladder);
        assert_eq!(
            sizes(&hd),
            [(1920, 1080), (1280, 720), (852, 480), (640, 360)]
        );
        assert_eq!(hd[0].name, "1080p");
        let sd = plan_for(&source(1280, 720), &ladder);
        assert_eq!(sizes(&sd), [(1280, 720), (852, 480), (640, 360)]);
        let small = plan_for(&source(641, 359), &ladder);
        assert_eq!(small.len(), 1);
        assert!(small[0].height <= 359 && small[0].height.is_multiple_of(2));
        assert!(small[0].width.is_multiple_of(2));
        assert!(small[0].video_bitrate < 800_000);
        // Portrait keeps its orientation: rungs name the short side.
        let portrait = plan_for(&source(1080, 1920), &ladder);
        assert_eq!(sizes(&portrait)[..2], [(1080, 1920), (720, 1280)]);
        assert_eq!(portrait[0].name, "1080p");
    }

    /// Every file under `dir`, as keys relative to it, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(current) = dirs.pop() {
            for entry in std::fs::read_dir(&current).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(rel) = path.strip_prefix(dir) {
                    files.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        files.sort();
        files
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

    /// The video stream's duration through the playlist, from its last frame's end.
    async fn stream_duration(playlist: &Path) -> f64 {
        let output = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-allowed_extensions",
                "ALL",
                "-select_streams",
                "v:0",
            ])
            .args([
                "-show_entries",
                "packet=pts_time,duration_time",
                "-of",
                "csv=p=0",
            ])
            .arg(playlist)
            .output()
            .await
            .expect("ffprobe runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.trim().trim_end_matches(',').split(',');
                let pts: f64 = parts.next()?.parse().ok()?;
                let duration: f64 = parts.next()?.parse().ok()?;
                Some(pts + duration)
            })
            .fold(0.0, f64::max)
    }

    #[tokio::test]
    async fn transcodes_a_ladder_with_aligned_keyframes() {
        for audio in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let input = dir.path().join("in.mp4");
            make_clip(&input, audio).await;
            let probed =
                super::super::probe::probe(&Source::File(input.clone()), Duration::from_secs(30))
                    .await
                    .expect("probe");
            assert_eq!(probed.has_audio, audio);
            let out = dir.path().join("hls");
            tokio::fs::create_dir_all(&out).await.expect("mkdir");
            // A small ladder keeps the test quick; 480p is above the source and must be skipped.
            let ladder: Ladder = "480:1000k,360:800k,240:400k,144:200k"
                .parse()
                .expect("ladder");
            let plans = plan(&probed, &ladder, false);
            assert_eq!(plans.len(), 3, "{plans:?}");
            let mut seen = Vec::new();
            let renditions = transcode(
                &Source::File(input.clone()),
                &out,
                &probed,
                &plans,
                |f| seen.push(f),
                process::Control::new(&CancellationToken::new(), Duration::from_secs(120)),
            )
            .await
            .expect("transcode");
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
            assert_eq!(seen.last(), Some(&1.0));
            assert_eq!(renditions.len(), plans.len());
            let files = files_under(&out);
            let keys: Vec<&str> = files.iter().map(String::as_str).collect();
            assert!(keys.contains(&"master.m3u8"), "{keys:?}");
            assert!(keys.contains(&"360p/index.m3u8"), "{keys:?}");
            // ffmpeg numbers each variant's init segment (init_0.mp4 …) when there are several.
            assert!(
                keys.iter()
                    .any(|k| k.starts_with("360p/init") && k.ends_with(".mp4")),
                "{keys:?}"
            );
            let segments = keys.iter().filter(|k| k.ends_with(".m4s")).count();
            assert_eq!(segments, 2 * plans.len(), "9 s in 6 s segments: {keys:?}");
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
            for r in &plans {
                assert!(r.height <= probed.height, "no upscaling: {r:?}");
                let playlist = out.join(&r.name).join("index.m3u8");
                // Aligned keyframes let players switch renditions at any segment boundary.
                assert_eq!(keyframe_times(&playlist).await, keyframes, "{}", r.name);
                let duration = stream_duration(&playlist).await;
                assert!(
                    (duration - probed.duration_s).abs() <= 0.1,
                    "{}: {duration} s vs the source's {} s",
                    r.name,
                    probed.duration_s
                );
            }
        }
    }
}
