//! The ffmpeg run that writes a rendition plan (see `ladder::plan`) as HLS: H.264 + stereo AAC
//! in fMP4 segments of 6 s, keyframes every 2 s exactly (closed GOPs, no scene-cut keyframes),
//! an EVENT playlist per rendition that lists each segment once it is closed (the publisher
//! uploads them while ffmpeg goes on, and makes them VOD playlists at the end) and a master
//! playlist, with progress read from `-progress pipe:1`.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;
use vodnest_core::domain::Rendition;

use super::ladder::RenditionPlan;
use super::probe::Probe;
use super::{MediaError, Source, fastpath, process};

pub const SEGMENT_SECONDS: u32 = 6;
pub const KEYFRAME_SECONDS: u32 = 2;
const MAX_FRAME_RATE: f64 = 60.0;

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

/// ffmpeg arguments, gathered a few at a time.
#[derive(Default)]
struct Args(Vec<String>);

impl Args {
    fn push(&mut self, items: &[&str]) {
        self.0.extend(items.iter().map(|s| (*s).to_owned()));
    }
}

/// The ffmpeg arguments after `-i input`.
fn output_args(probe: &Probe, plan: &[RenditionPlan], out_dir: &Path) -> Vec<String> {
    let mut args = Args::default();
    let encoded: Vec<(usize, &RenditionPlan)> =
        plan.iter().enumerate().filter(|(_, r)| !r.copy).collect();
    let copying = encoded.len() < plan.len();
    if !encoded.is_empty() {
        args.push(&["-filter_complex", &scaler_chain(probe, &encoded, copying)]);
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
            args.push(&["-map", "0:v:0", &format!("-c:v:{i}"), "copy"]);
        } else {
            push_encoder(&mut args, plan, i, &keyframes, copying);
        }
        if probe.has_audio {
            push_audio(&mut args, probe, i, r);
            stream_map.push(format!("v:{i},a:{i},name:{}", r.name));
        } else {
            stream_map.push(format!("v:{i},name:{}", r.name));
        }
    }
    push_muxer(&mut args, out_dir, &stream_map);
    args.0
}

/// x264 for encoded rendition `i`, fed by the scaler chain's `[v{i}]`.
fn push_encoder(args: &mut Args, plan: &[RenditionPlan], i: usize, keyframes: &str, copying: bool) {
    let video_bitrate = plan[i].video_bitrate;
    let bitrate = video_bitrate.to_string();
    let maxrate = peak_video_bitrate(video_bitrate).to_string();
    let bufsize = (video_bitrate * 3 / 2).to_string();
    args.push(&["-map", &format!("[v{i}]")]);
    args.push(&[
        &format!("-c:v:{i}"),
        "libx264",
        &format!("-b:v:{i}"),
        &bitrate,
    ]);
    args.push(&[
        &format!("-maxrate:v:{i}"),
        &maxrate,
        &format!("-bufsize:v:{i}"),
        &bufsize,
    ]);
    args.push(&[&format!("-force_key_frames:v:{i}"), keyframes]);
    // Closed GOPs and no scene-cut keyframes: only the forced ones.
    args.push(&[
        &format!("-preset:v:{i}"),
        preset(plan, i),
        &format!("-profile:v:{i}"),
        "high",
    ]);
    args.push(&[
        &format!("-sc_threshold:v:{i}"),
        "0",
        &format!("-flags:v:{i}"),
        "+cgop",
    ]);
    // Beside a copy, no B-frames: their encoder delay would shift every output's timestamps,
    // and the copy published alone by the transcode job (see `job`) would no longer line up
    // with the rungs its ladder job encodes.
    if copying {
        args.push(&[&format!("-bf:v:{i}"), "0"]);
    }
}

/// Every rendition carries its own audio stream: audio stream `i` goes with video `i`.
fn push_audio(args: &mut Args, probe: &Probe, i: usize, rendition: &RenditionPlan) {
    args.push(&["-map", "0:a:0"]);
    if rendition.copy && fastpath::audio_copyable(probe) {
        args.push(&[&format!("-c:a:{i}"), "copy"]);
    } else {
        args.push(&[&format!("-c:a:{i}"), "aac"]);
        args.push(&[&format!("-b:a:{i}"), &rendition.audio_bitrate.to_string()]);
        args.push(&[&format!("-ac:a:{i}"), "2", &format!("-ar:a:{i}"), "48000"]);
    }
}

/// The HLS muxer: one directory per rendition (`%v`), named by `stream_map`.
fn push_muxer(args: &mut Args, out_dir: &Path, stream_map: &[String]) {
    let out = |name: &str| out_dir.join(name).to_string_lossy().into_owned();
    args.push(&["-f", "hls", "-hls_time", &SEGMENT_SECONDS.to_string()]);
    // EVENT playlists that list a segment only once it is closed: the publisher uploads them
    // while ffmpeg goes on, and turns them into VOD playlists at the end.
    args.push(&["-hls_playlist_type", "event", "-hls_segment_type", "fmp4"]);
    args.push(&[
        "-hls_flags",
        "independent_segments+temp_file",
        "-hls_fmp4_init_filename",
        "init.mp4",
    ]);
    args.push(&["-hls_segment_filename", &out("%v/seg_%05d.m4s")]);
    args.push(&["-master_pl_name", "master.m3u8"]);
    args.push(&["-var_stream_map", &stream_map.join(" ")]);
    args.push(&["-progress", "pipe:1", "-nostats"]);
    args.push(&[&out("%v/index.m3u8")]);
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
    use super::super::ladder::{Ladder, plan};
    use super::super::test_support::{keyframe_times, make_clip};
    use super::*;
    use tokio_util::sync::CancellationToken;

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

    #[tokio::test]
    async fn a_source_that_probes_but_does_not_decode_is_not_retried() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.mp4");
        make_clip(&input, false).await;
        // Noise over most of the frames; the container's index (at its end) is left whole.
        let mut bytes = std::fs::read(&input).expect("read");
        let len = bytes.len();
        for (i, byte) in bytes[len / 10..len * 8 / 10].iter_mut().enumerate() {
            *byte = ((i as u32).wrapping_mul(2654435761) >> 13) as u8;
        }
        std::fs::write(&input, bytes).expect("write");
        let source = Source::File(input);
        let probed = super::super::probe::probe(&source, Duration::from_secs(30))
            .await
            .expect("the container still reads");
        let ladder: Ladder = "144:200k".parse().expect("ladder");
        let out = dir.path().join("hls");
        tokio::fs::create_dir_all(&out).await.expect("mkdir");
        let err = transcode(
            &source,
            &out,
            &probed,
            &plan(&probed, &ladder, false),
            |_| {},
            process::Control::new(&CancellationToken::new(), Duration::from_secs(120)),
        )
        .await
        .expect_err("the frames do not decode");
        assert!(matches!(err, MediaError::Undecodable { .. }), "{err:?}");
        assert!(err.is_permanent(), "{err}");
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
