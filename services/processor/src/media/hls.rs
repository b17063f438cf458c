//! The ffmpeg run that writes a plan (see `ladder::plan`) as HLS: video renditions in H.264
//! without sound and one shared audio rendition (AAC), each in its own directory of fMP4
//! segments of 6 s, keyframes every 2 s exactly (closed GOPs, no scene-cut keyframes), an
//! EVENT playlist per rendition that lists each segment once it is closed (the publisher
//! uploads them while ffmpeg goes on, and makes them VOD playlists at the end) and a master
//! playlist, with progress read from `-progress pipe:1`.
//!
//! The arguments come in parts that other runs reuse: [`video_output_args`] and
//! [`audio_output_args`] (the streams and their encoders) and [`muxer_args`] (the HLS
//! muxer over them); [`output_args`] puts them together for one plan (two HLS outputs of one
//! run, see there), and a plan's `video_only()` or `audio_only()` gives the run that writes
//! one side alone.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::ladder::{AudioPlan, Plan, RenditionPlan};
use super::probe::Probe;
use super::{MediaError, Source, process};

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

/// The ffmpeg arguments after `-i input` that write `plan` into `out_dir`: one HLS output
/// with its video renditions, another with its audio rendition. Two outputs, not one: ffmpeg
/// shifts an output's timestamps so that none is negative, and AAC starts one frame early
/// (its encoder delay, 21 ms at 48 kHz); in one output with the audio, the video would move by
/// that much, and would no longer line up with video written without audio (a ladder job's
/// rungs beside the copy its transcode job published, or chunks of a long video).
///
/// With a `range` (a chunk of a split encode, the input seeked to its start), the video output
/// stops at the range's end and numbers its segments from the range's first; the audio output,
/// if any, goes on to the end of the source (the first chunk writes the whole audio).
pub fn output_args(
    probe: &Probe,
    plan: &Plan,
    out_dir: &Path,
    range: Option<&Range>,
) -> Vec<String> {
    let mut args = vec![
        "-progress".to_owned(),
        "pipe:1".to_owned(),
        "-nostats".to_owned(),
    ];
    if !plan.video.is_empty() {
        args.extend(video_output_args(probe, &plan.video));
        if let Some(range) = range {
            args.extend([
                "-t".to_owned(),
                format!("{:.6}", range.end_s - range.start_s),
                "-start_number".to_owned(),
                range.first_segment.to_string(),
            ]);
        }
        args.extend(muxer_args(out_dir, &video_stream_map(&plan.video), true));
    }
    if let Some(audio) = &plan.audio {
        let input = usize::from(audio_input_of_its_own(plan, range));
        args.extend(audio_output_args(audio, input));
        let stream_map = format!("a:0,name:{}", AudioPlan::NAME);
        args.extend(muxer_args(out_dir, &stream_map, false));
    }
    args
}

/// The output's video streams, `v:i` for `video[i]`: the scaler chain, then the copy or x264
/// for each. Empty for no rendition.
pub fn video_output_args(probe: &Probe, video: &[RenditionPlan]) -> Vec<String> {
    let mut args = Args::default();
    let encoded: Vec<(usize, &RenditionPlan)> =
        video.iter().enumerate().filter(|(_, r)| !r.copy).collect();
    let copying = encoded.len() < video.len();
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
    for (i, r) in video.iter().enumerate() {
        if r.copy {
            args.push(&["-map", "0:v:0", &format!("-c:v:{i}"), "copy"]);
        } else {
            push_encoder(&mut args, video, i, &keyframes, copying);
        }
    }
    args.0
}

/// Whether a run reads the audio from a second input of the same source, opened with video
/// disabled: a chunk's video output stops at the end of its range while the audio output goes
/// on to the end of the source, and from one input ffmpeg would go on decoding the video that
/// no output takes any more (measured: a 30 s chunk of a 120 s source cost the decode of the
/// other 90 s; a 4-hour source's first chunk would decode 4 hours). An input opened with
/// `-vn` is only demuxed.
fn audio_input_of_its_own(plan: &Plan, range: Option<&Range>) -> bool {
    range.is_some() && plan.audio.is_some() && !plan.video.is_empty()
}

/// The output's one audio stream, `a:0`: the first audio stream of input `input`, copied, or
/// encoded to stereo AAC-LC at 48 kHz.
pub fn audio_output_args(audio: &AudioPlan, input: usize) -> Vec<String> {
    let mut args = Args::default();
    args.push(&["-map", &format!("{input}:a:0")]);
    if audio.copy {
        args.push(&["-c:a:0", "copy"]);
    } else {
        args.push(&["-c:a:0", "aac", "-b:a:0", &audio.bitrate.to_string()]);
        args.push(&["-ac:a:0", "2", "-ar:a:0", "48000"]);
    }
    args.0
}

/// The video output's `-var_stream_map`: each rendition (`v:i`) in a directory of its own.
pub fn video_stream_map(video: &[RenditionPlan]) -> String {
    let maps: Vec<String> = video
        .iter()
        .enumerate()
        .map(|(i, r)| format!("v:{i},name:{}", r.name))
        .collect();
    maps.join(" ")
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

/// The name of media segment `number` (what `-hls_segment_filename` below makes of it).
pub fn segment_name(number: usize) -> String {
    format!("seg_{number:05}.m4s")
}

/// An HLS output: one directory per rendition (`%v`), named by `stream_map`; with `master`,
/// ffmpeg's master playlist too (the publisher reads the video codecs from it).
pub fn muxer_args(out_dir: &Path, stream_map: &str, master: bool) -> Vec<String> {
    let mut args = Args::default();
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
    if master {
        args.push(&["-master_pl_name", "master.m3u8"]);
    }
    args.push(&["-var_stream_map", stream_map]);
    args.push(&[&out("%v/index.m3u8")]);
    args.0
}

/// A chunk of a split encode: the source from `start_s` to `end_s`, its first segment numbered
/// `first_segment`. The start is a segment boundary, a multiple of `KEYFRAME_SECONDS` for an
/// encode on the 2 s grid: the keyframe expression, which counts from the chunk's own start
/// (ffmpeg restarts timestamps at the seek point), then forces keyframes where the unsplit
/// encode does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub start_s: f64,
    pub end_s: f64,
    pub first_segment: u32,
}

/// Transcodes `input` into `out_dir`. `on_progress` gets 0..1 at most about twice a second.
pub async fn transcode(
    input: &Source,
    out_dir: &Path,
    probe: &Probe,
    plan: &Plan,
    on_progress: impl FnMut(f64) + Send,
    control: process::Control<'_>,
) -> Result<(), MediaError> {
    transcode_range(input, out_dir, probe, plan, None, on_progress, control).await
}

/// [`transcode`] of a chunk: the input read from the range's start (ffmpeg seeks by the
/// container's index, then decodes from the keyframe before and drops what precedes the
/// start), the video stopped at its end.
pub async fn transcode_range(
    input: &Source,
    out_dir: &Path,
    probe: &Probe,
    plan: &Plan,
    range: Option<&Range>,
    mut on_progress: impl FnMut(f64) + Send,
    control: process::Control<'_>,
) -> Result<(), MediaError> {
    let seek = range
        .filter(|r| r.start_s > 0.0)
        .map(|r| vec!["-ss".to_owned(), format!("{:.6}", r.start_s)])
        .unwrap_or_default();
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(input.input_args_from(&seek));
    if audio_input_of_its_own(plan, range) {
        command.args(input.input_args_from(&[
            "-vn".to_owned(),
            "-sn".to_owned(),
            "-dn".to_owned(),
        ]));
    }
    command.args(output_args(probe, plan, out_dir, range));
    let length = match range {
        Some(r) if plan.audio.is_none() => r.end_s - r.start_s,
        _ => probe.duration_s,
    };
    let duration_us = length * 1_000_000.0;
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
    Ok(())
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
    use super::super::test_support::{keyframe_times, make_clip, stream_types};
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

    /// The duration of a playlist's first `stream` (`v:0`, `a:0`), from its last packet's end.
    async fn stream_duration(playlist: &Path, stream: &str) -> f64 {
        let output = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-allowed_extensions",
                "ALL",
                "-select_streams",
                stream,
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
            assert_eq!(plans.video.len(), 3, "{plans:?}");
            assert_eq!(plans.audio.is_some(), audio);
            let mut seen = Vec::new();
            transcode(
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
            let files = files_under(&out);
            let keys: Vec<&str> = files.iter().map(String::as_str).collect();
            assert!(keys.contains(&"master.m3u8"), "{keys:?}");
            assert!(keys.contains(&"360p/index.m3u8"), "{keys:?}");
            assert_eq!(keys.contains(&"audio/index.m3u8"), audio, "{keys:?}");
            // ffmpeg numbers each variant's init segment (init_0.mp4 …) when there are several.
            assert!(
                keys.iter()
                    .any(|k| k.starts_with("360p/init") && k.ends_with(".mp4")),
                "{keys:?}"
            );
            let segments = keys.iter().filter(|k| k.ends_with(".m4s")).count();
            assert_eq!(
                segments,
                2 * plans.dirs().len(),
                "9 s in 6 s segments: {keys:?}"
            );
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
            for r in &plans.video {
                assert!(r.height <= probed.height, "no upscaling: {r:?}");
                let playlist = out.join(&r.name).join("index.m3u8");
                // Video only: the sound is in the shared audio rendition.
                assert_eq!(stream_types(&playlist).await, ["video"], "{}", r.name);
                // Aligned keyframes let players switch renditions at any segment boundary.
                assert_eq!(keyframe_times(&playlist).await, keyframes, "{}", r.name);
                let duration = stream_duration(&playlist, "v:0").await;
                assert!(
                    (duration - probed.duration_s).abs() <= 0.1,
                    "{}: {duration} s vs the source's {} s",
                    r.name,
                    probed.duration_s
                );
            }
            if audio {
                let playlist = out.join("audio/index.m3u8");
                // The clip's mono AAC-LC is copied.
                let channels = plans.audio.as_ref().map_or(0, |a| a.channels);
                assert_eq!(channels, 1, "{plans:?}");
                assert_eq!(audio_stream(&playlist).await, "aac,LC,48000,1");
                let duration = stream_duration(&playlist, "a:0").await;
                assert!(
                    (duration - probed.duration_s).abs() <= 0.1,
                    "audio: {duration} s vs the source's {} s",
                    probed.duration_s
                );
            }
        }
    }

    /// `codec,profile,sample rate,channels` of the playlist's streams, which must be one audio.
    async fn audio_stream(playlist: &Path) -> String {
        assert_eq!(stream_types(playlist).await, ["audio"]);
        let output = Command::new("ffprobe")
            .args(["-v", "error", "-allowed_extensions", "ALL"])
            .args([
                "-show_entries",
                "stream=codec_name,profile,sample_rate,channels",
            ])
            .args(["-of", "csv=p=0"])
            .arg(playlist)
            .output()
            .await
            .expect("ffprobe runs");
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn the_video_and_the_audio_can_be_written_by_separate_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.mp4");
        make_clip(&input, true).await;
        let source = Source::File(input);
        let probed = super::super::probe::probe(&source, Duration::from_secs(30))
            .await
            .expect("probe");
        let ladder: Ladder = "240:400k,144:200k".parse().expect("ladder");
        // The audio encoded this time (the clip's would be copied).
        let whole = Plan {
            audio: Some(AudioPlan::encoded()),
            ..plan(&probed, &ladder, false)
        };
        let out = dir.path().join("hls");
        for part in [whole.video_only(), whole.audio_only()] {
            tokio::fs::create_dir_all(&out).await.expect("mkdir");
            transcode(
                &source,
                &out,
                &probed,
                &part,
                |_| {},
                process::Control::new(&CancellationToken::new(), Duration::from_secs(120)),
            )
            .await
            .expect("transcode");
        }
        for rung in &whole.video {
            let playlist = out.join(&rung.name).join("index.m3u8");
            assert_eq!(stream_types(&playlist).await, ["video"], "{}", rung.name);
        }
        let audio = out.join(AudioPlan::NAME).join("index.m3u8");
        assert_eq!(audio_stream(&audio).await, "aac,LC,48000,2");
        assert_eq!(
            keyframe_times(&out.join("240p/index.m3u8")).await,
            keyframe_times(&out.join("144p/index.m3u8")).await
        );
    }

    #[test]
    fn a_chunk_reads_its_audio_from_an_input_of_its_own() {
        let probed = super::super::test_support::sample_probe(600.0, 1280, 720);
        let ladder: Ladder = "720:3000k".parse().expect("ladder");
        let whole = plan(&probed, &ladder, false);
        let range = Range {
            start_s: 0.0,
            end_s: 120.0,
            first_segment: 0,
        };
        let audio_map = |args: Vec<String>| {
            let at = args.iter().position(|a| a == "-c:a:0").expect("audio");
            args[at - 1].clone()
        };
        let out = Path::new("/out");
        assert_eq!(audio_map(output_args(&probed, &whole, out, None)), "0:a:0");
        assert_eq!(
            audio_map(output_args(&probed, &whole, out, Some(&range))),
            "1:a:0"
        );
    }

    #[test]
    fn video_and_audio_are_separate_outputs() {
        let probed = super::super::test_support::sample_probe(10.0, 1280, 720);
        let ladder: Ladder = "720:3000k,360:800k".parse().expect("ladder");
        let whole = plan(&probed, &ladder, false);
        assert_eq!(
            video_stream_map(&whole.video),
            "v:0,name:720p v:1,name:360p"
        );
        let args = output_args(&probed, &whole, Path::new("/out"), None);
        let outputs: Vec<&String> = args.iter().filter(|a| a.ends_with("index.m3u8")).collect();
        assert_eq!(outputs.len(), 2, "{args:?}");
        let video = video_output_args(&probed, &whole.video);
        assert!(!video.contains(&"0:a:0".to_owned()), "{video:?}");
        let audio = audio_output_args(whole.audio.as_ref().expect("sound"), 0);
        assert_eq!(audio[..2], ["-map", "0:a:0"]);
        // Only the video output writes ffmpeg's master playlist; the audio-only run none.
        let masters = |plan: &Plan| {
            let args = output_args(&probed, plan, Path::new("/out"), None);
            args.iter().filter(|a| *a == "-master_pl_name").count()
        };
        assert_eq!((masters(&whole), masters(&whole.audio_only())), (1, 0));
    }
}
