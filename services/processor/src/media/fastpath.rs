//! The remux fast path: a source that is already what the top rendition would be (H.264 8-bit
//! 4:2:0, AAC or no audio, keyframes at most 3 s apart, upright, at most 60 fps) has its video
//! copied into the top rendition instead of re-encoded; only the lower rungs are encoded, with
//! keyframes forced where the source has them so every rendition cuts at the same instants.

use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::probe::Probe;
use super::{MediaError, Source, hls, process};

/// Keyframes further apart than this would make segments much longer than 6 s.
pub const MAX_KEYFRAME_GAP_S: f64 = hls::SEGMENT_SECONDS as f64 / 2.0;
/// How much of the source is read to judge its keyframe spacing.
const SAMPLE_S: u32 = 60;

/// The shared audio rendition (see `ladder::AudioPlan`) copies the source's audio when it is
/// AAC-LC in stereo or mono: encoding a long source's audio would cost more than copying its
/// video (60 s of audio takes ~1.5 s to encode here, the copy ~0.2 s for both streams). Only
/// LC: the master playlist names it `mp4a.40.2`, which HE-AAC is not.
pub fn audio_copyable(probe: &Probe) -> bool {
    probe.audio_codec.as_deref() == Some("aac")
        && probe.audio_channels.is_some_and(|c| c <= 2)
        && probe.audio_profile.as_deref().is_none_or(|p| p == "LC")
}

/// Why the source cannot be copied, or `None` when it can.
pub fn refusal(probe: &Probe, keyframe_gap_s: Option<f64>) -> Option<String> {
    let pix_fmt = probe.pix_fmt.as_deref().unwrap_or("unknown");
    if probe.video_codec != "h264" {
        return Some(format!("the video is {}, not H.264", probe.video_codec));
    }
    if !matches!(pix_fmt, "yuv420p" | "yuvj420p") {
        return Some(format!("the pixels are {pix_fmt}, not 8-bit 4:2:0"));
    }
    if probe.has_audio && probe.audio_codec.as_deref() != Some("aac") {
        return Some("the audio is not AAC".into());
    }
    if probe.rotation != 0 {
        return Some("the video is rotated".into());
    }
    if probe.frame_rate.is_none_or(|r| !(1.0..=60.0).contains(&r)) {
        return Some("the frame rate is unknown or above 60".into());
    }
    match keyframe_gap_s {
        Some(gap) if gap <= MAX_KEYFRAME_GAP_S => None,
        Some(gap) => Some(format!("keyframes are up to {gap:.1} s apart")),
        None => Some("the keyframe spacing is unknown".into()),
    }
}

/// The longest gap between keyframes in the first minute (and from the last one to the end of
/// that window, so a source with a single keyframe is not mistaken for a good one).
pub async fn keyframe_gap(
    input: &Source,
    duration_s: f64,
    timeout: Duration,
) -> Result<Option<f64>, MediaError> {
    Ok(keyframe_sample(input, timeout).await?.max_gap(duration_s))
}

/// The times of the keyframes in the source's first minute, sorted.
pub struct KeyframeSample(Vec<f64>);

impl KeyframeSample {
    /// See [`keyframe_gap`]; `duration_s` is the source's (a source shorter than the window
    /// ends it).
    pub fn max_gap(&self, duration_s: f64) -> Option<f64> {
        max_gap(&self.0, duration_s.min(f64::from(SAMPLE_S)))
    }
}

/// Reads the keyframes of the source's first minute. The container's keyframe flags are what
/// the HLS muxer cuts at; reading them decodes nothing. The window is as long for a 4-hour
/// source as for a 1-minute one, so the time to playable does not grow with the duration;
/// nor does it need the streams' probe, so a job reads it beside that one.
pub async fn keyframe_sample(
    input: &Source,
    timeout: Duration,
) -> Result<KeyframeSample, MediaError> {
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-read_intervals", &format!("%+{SAMPLE_S}")])
        .args(["-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"])
        .args(input.input_args());
    let finished = process::run(
        command,
        "ffprobe (keyframes)",
        timeout,
        &CancellationToken::new(),
        true,
        |_| {},
    )
    .await?;
    let mut times: Vec<f64> = finished
        .stdout
        .lines()
        .filter_map(|line| {
            let (pts, flags) = line.trim().split_once(',')?;
            flags.starts_with('K').then(|| pts.parse().ok()).flatten()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(KeyframeSample(times))
}

fn max_gap(times: &[f64], window_end: f64) -> Option<f64> {
    let first = *times.first()?;
    let last = *times.last()?;
    let inner = times.windows(2).map(|w| w[1] - w[0]).fold(first, f64::max);
    Some(inner.max(window_end - last))
}

#[cfg(test)]
mod tests {
    use super::super::hls::transcode;
    use super::super::ladder::{Ladder, plan};
    use super::super::probe::probe;
    use super::super::test_support::{
        audio_md5, keyframe_times, make_encoded, sample_probe, stream_types, video_md5,
    };
    use super::*;
    use vodnest_testkit::clip::{AAC, AV1_AAC, GOP_2S, VP9_OPUS, X264};

    async fn probe_and_gap(path: &std::path::Path) -> (Probe, Option<f64>) {
        let path = &Source::File(path.to_path_buf());
        let probed = probe(path, Duration::from_secs(30)).await.expect("probe");
        let gap = keyframe_gap(path, probed.duration_s, Duration::from_secs(30))
            .await
            .expect("keyframes");
        (probed, gap)
    }

    #[tokio::test]
    async fn an_h264_aac_source_is_copied_into_the_top_rendition() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.mp4");
        make_encoded(&input, 9, &[&X264[..], &GOP_2S, &AAC].concat()).await;
        let (probed, gap) = probe_and_gap(&input).await;
        assert_eq!(refusal(&probed, gap), None, "gap {gap:?}");
        let ladder: Ladder = "360:800k,240:400k".parse().expect("ladder");
        let plans = plan(&probed, &ladder, true);
        assert_eq!(
            plans
                .video
                .iter()
                .map(|p| (p.name.as_str(), p.copy))
                .collect::<Vec<_>>(),
            [("360p", true), ("240p", false)]
        );
        assert!(plans.audio.as_ref().is_some_and(|a| a.copy), "{plans:?}");
        let out = dir.path().join("hls");
        tokio::fs::create_dir_all(&out).await.expect("mkdir");
        transcode(
            &Source::File(input.clone()),
            &out,
            &probed,
            &plans,
            |_| {},
            process::Control::new(&CancellationToken::new(), Duration::from_secs(120)),
        )
        .await
        .expect("transcode");
        // Copied: the very same H.264 and AAC bitstreams, the AAC in the shared audio
        // rendition, the video renditions without sound.
        let source = video_md5(&input).await;
        assert!(source.starts_with("MD5="), "{source:?}");
        assert_eq!(video_md5(&out.join("360p/index.m3u8")).await, source);
        let sound = audio_md5(&input).await;
        assert!(sound.starts_with("MD5="), "{sound:?}");
        assert_eq!(audio_md5(&out.join("audio/index.m3u8")).await, sound);
        for rung in ["360p", "240p"] {
            let playlist = out.join(rung).join("index.m3u8");
            assert_eq!(stream_types(&playlist).await, ["video"], "{rung}");
        }
        // The encoded rung has its keyframes where the source has them.
        let top = keyframe_times(&out.join("360p/index.m3u8")).await;
        assert!(top.len() >= 4, "{top:?}");
        assert_eq!(keyframe_times(&out.join("240p/index.m3u8")).await, top);
    }

    #[tokio::test]
    async fn hevc_vp9_av1_and_sparse_keyframes_are_transcoded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases: [(&str, &[&str], &str); 4] = [
            (
                "hevc.mp4",
                &[
                    "-c:v",
                    "libx265",
                    "-preset",
                    "ultrafast",
                    "-x265-params",
                    "log-level=error",
                    "-c:a",
                    "aac",
                ],
                "hevc",
            ),
            ("vp9.webm", &VP9_OPUS, "vp9"),
            ("av1.mp4", &AV1_AAC, "av1"),
            (
                "sparse.mp4",
                &[
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-g",
                    "300",
                    "-c:a",
                    "aac",
                ],
                "keyframes",
            ),
        ];
        for (name, args, why) in cases {
            let input = dir.path().join(name);
            make_encoded(&input, 4, args).await;
            let (probed, gap) = probe_and_gap(&input).await;
            let refused = refusal(&probed, gap);
            assert!(
                refused.as_deref().is_some_and(|r| r.contains(why)),
                "{name}: {refused:?}"
            );
        }
    }

    #[test]
    fn judges_keyframe_spacing() {
        assert_eq!(max_gap(&[0.0, 2.0, 4.0, 6.0], 7.0), Some(2.0));
        assert_eq!(max_gap(&[0.0, 2.0, 9.0], 10.0), Some(7.0));
        // One keyframe at the start of a long sample: the gap runs to the window's end.
        assert_eq!(max_gap(&[0.0], 120.0), Some(120.0));
        assert_eq!(max_gap(&[], 120.0), None);
    }

    #[test]
    fn only_h264_aac_with_close_keyframes_is_copied() {
        let good = sample_probe(60.0, 1280, 720);
        assert_eq!(refusal(&good, Some(2.0)), None);
        assert!(refusal(&good, Some(5.0)).is_some_and(|r| r.contains("keyframes")));
        let hevc = Probe {
            video_codec: "hevc".into(),
            ..good.clone()
        };
        assert!(refusal(&hevc, Some(2.0)).is_some_and(|r| r.contains("hevc")));
        let ten_bit = Probe {
            pix_fmt: Some("yuv420p10le".into()),
            ..good.clone()
        };
        assert!(refusal(&ten_bit, Some(2.0)).is_some());
        let opus = Probe {
            audio_codec: Some("opus".into()),
            ..good.clone()
        };
        assert!(refusal(&opus, Some(2.0)).is_some());
        assert!(audio_copyable(&good));
        let surround = Probe {
            audio_channels: Some(6),
            ..good.clone()
        };
        assert!(refusal(&surround, Some(2.0)).is_none() && !audio_copyable(&surround));
        let he_aac = Probe {
            audio_profile: Some("HE-AAC".into()),
            ..good.clone()
        };
        assert!(refusal(&he_aac, Some(2.0)).is_none() && !audio_copyable(&he_aac));
        let silent = Probe {
            has_audio: false,
            audio_codec: None,
            ..good
        };
        assert_eq!(refusal(&silent, Some(2.0)), None);
    }
}
