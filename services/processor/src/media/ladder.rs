//! The ABR ladder: which heights a source is encoded to and at what video bitrate. Configured
//! with `PROCESSOR_LADDER` as `HEIGHT:BITRATE` pairs, e.g. `1080:5000k,720:3000k,480:1400k,360:800k`.
//! [`plan`] fits it to a source: a [`Plan`] of video renditions without sound and, when the
//! source has audio, the one audio rendition they all share.

use std::fmt;
use std::str::FromStr;

use vodnest_core::domain::Rendition;

use super::fastpath;
use super::probe::Probe;

/// The default ladder: the usual 16:9 rungs at bitrates that look good with x264 `veryfast`.
pub const DEFAULT: &str = "1080:5000k,720:3000k,480:1400k,360:800k";
/// The shared audio rendition when it is encoded: stereo AAC-LC at 48 kHz.
pub const AUDIO_BITRATE: u64 = 128_000;
/// No rendition gets less video bitrate than this, however small.
const MIN_VIDEO_BITRATE: u64 = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    pub height: u32,
    pub video_bitrate: u64,
}

/// Rungs from the tallest down, heights distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder(Vec<Rung>);

impl Ladder {
    pub fn rungs(&self) -> &[Rung] {
        &self.0
    }
}

impl Default for Ladder {
    fn default() -> Self {
        DEFAULT.parse().unwrap_or_else(|_| {
            Self(vec![Rung {
                height: 720,
                video_bitrate: 3_000_000,
            }])
        })
    }
}

impl FromStr for Ladder {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rungs = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (height, bitrate) = item
                .split_once(':')
                .ok_or_else(|| format!("{item:?} is not HEIGHT:BITRATE (e.g. 720:3000k)"))?;
            let height: u32 = height
                .trim()
                .trim_end_matches('p')
                .parse()
                .map_err(|_| format!("{item:?}: the height is not a number"))?;
            if !(16..=4320).contains(&height) {
                return Err(format!("{item:?}: heights run from 16 to 4320"));
            }
            let video_bitrate = bitrate_bps(bitrate.trim())
                .ok_or_else(|| format!("{item:?}: the bitrate is not like 800k or 5M"))?;
            rungs.push(Rung {
                height,
                video_bitrate,
            });
        }
        if rungs.is_empty() {
            return Err("the ladder needs at least one HEIGHT:BITRATE rung".into());
        }
        rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
        if rungs.windows(2).any(|w| w[0].height == w[1].height) {
            return Err("each height may appear once in the ladder".into());
        }
        Ok(Self(rungs))
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|r| format!("{}:{}k", r.height, r.video_bitrate / 1000))
            .collect();
        f.write_str(&items.join(","))
    }
}

/// What one source becomes: video renditions (no sound in them) and the audio rendition every
/// one of them refers to, written once (an `EXT-X-MEDIA` group in the master playlist).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// From the tallest down; a copied source first.
    pub video: Vec<RenditionPlan>,
    /// `None` for a source without sound.
    pub audio: Option<AudioPlan>,
}

/// A video rendition: its own directory of segments, video only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenditionPlan {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_bitrate: u64,
    /// The source's video is copied into this rendition, not encoded (the remux fast path).
    pub copy: bool,
}

/// The shared audio rendition, in the directory [`AudioPlan::NAME`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioPlan {
    /// Its average bitrate: what it adds to each video rendition's bandwidth.
    pub bitrate: u64,
    pub channels: u32,
    /// The source's AAC is copied, not encoded (see `fastpath::audio_copyable`).
    pub copy: bool,
}

impl AudioPlan {
    /// Its directory, and its name in the master playlist.
    pub const NAME: &'static str = "audio";
    /// AAC-LC, encoded or copied (only LC is copied).
    pub const CODEC: &'static str = "mp4a.40.2";

    /// The source's audio, copied when it can be, else encoded to stereo AAC at 128 kb/s.
    pub fn for_source(probe: &Probe) -> Option<Self> {
        if !probe.has_audio {
            return None;
        }
        if !fastpath::audio_copyable(probe) {
            return Some(Self::encoded());
        }
        Some(Self {
            bitrate: probe.audio_bitrate.unwrap_or(AUDIO_BITRATE),
            channels: probe.audio_channels.unwrap_or(2),
            copy: true,
        })
    }

    /// Stereo AAC-LC at 48 kHz and [`AUDIO_BITRATE`].
    pub fn encoded() -> Self {
        Self {
            bitrate: AUDIO_BITRATE,
            channels: 2,
            copy: false,
        }
    }

    /// A segment's peak bitrate: AAC's rate control stays within a few percent of its target;
    /// a copied source's encoder is unknown, so it is allowed half as much again.
    pub fn peak_bitrate(&self) -> u64 {
        if self.copy {
            self.bitrate * 3 / 2
        } else {
            self.bitrate * 11 / 10
        }
    }
}

impl Plan {
    /// Every directory the plan writes: the video renditions', then the audio's.
    pub fn dirs(&self) -> Vec<String> {
        let audio = self.audio.iter().map(|_| AudioPlan::NAME.to_owned());
        self.video
            .iter()
            .map(|r| r.name.clone())
            .chain(audio)
            .collect()
    }

    /// The video renditions without the audio (what chunks of a long video encode).
    pub fn video_only(&self) -> Self {
        Self {
            video: self.video.clone(),
            audio: None,
        }
    }

    /// The audio rendition alone (encoded once for the whole video).
    pub fn audio_only(&self) -> Self {
        Self {
            video: Vec::new(),
            audio: self.audio.clone(),
        }
    }

    /// The renditions as the video object lists them: video ones, each with the audio's
    /// bitrate in its bandwidth (what a player downloads to play it).
    pub fn renditions(&self) -> Vec<Rendition> {
        let audio = self.audio.as_ref().map_or(0, |a| a.bitrate);
        self.video
            .iter()
            .map(|r| Rendition {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                bandwidth: r.video_bitrate + audio,
            })
            .collect()
    }
}

/// The renditions for a source: every rung of the ladder at or below its size (never
/// upscaled; a source smaller than every rung gets one rendition at its own size, its bitrate
/// scaled down from the smallest rung), aspect ratio kept, dimensions even as H.264 needs.
/// A rung names the short side, so a portrait 1080x1920 source is "1080p" too. With
/// `copy_top` (see `fastpath`) the source itself is the top rendition and only the rungs
/// below it are encoded. The audio is the source's, once for all (see [`AudioPlan`]).
pub fn plan(probe: &Probe, ladder: &Ladder, copy_top: bool) -> Plan {
    Plan {
        video: video_plan(probe, ladder, copy_top),
        audio: AudioPlan::for_source(probe),
    }
}

fn video_plan(probe: &Probe, ladder: &Ladder, copy_top: bool) -> Vec<RenditionPlan> {
    let short = probe.width.min(probe.height).max(1);
    let mut plans = Vec::new();
    if copy_top {
        let smallest = ladder.rungs().last().map_or(800_000, |r| r.video_bitrate);
        plans.push(RenditionPlan {
            name: format!("{}p", even(short)),
            width: probe.width,
            height: probe.height,
            video_bitrate: probe.video_bitrate.unwrap_or(smallest),
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
        copy: false,
    }
}

fn even(n: u32) -> u32 {
    (n & !1).max(2)
}

/// `800k`, `5M` or plain bits per second; at least 50 kb/s.
fn bitrate_bps(text: &str) -> Option<u64> {
    let (number, scale) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1_000.0),
        (i, 'm' | 'M') => (&text[..i], 1_000_000.0),
        _ => (text, 1.0),
    };
    let bps = number.parse::<f64>().ok()? * scale;
    (bps.is_finite() && bps >= 50_000.0).then_some(bps as u64)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_probe;
    use super::*;

    fn sizes(plans: &[RenditionPlan]) -> Vec<(u32, u32)> {
        plans.iter().map(|p| (p.width, p.height)).collect()
    }

    #[test]
    fn never_upscales_and_keeps_even_dimensions() {
        let ladder = Ladder::default();
        let plan_for =
            |width, height| plan(&sample_probe(10.0, width, height), &ladder, false).video;
        let hd = plan_for(1920, 1080);
        assert_eq!(
            sizes(&hd),
            [(1920, 1080), (1280, 720), (852, 480), (640, 360)]
        );
        assert_eq!(hd[0].name, "1080p");
        let sd = plan_for(1280, 720);
        assert_eq!(sizes(&sd), [(1280, 720), (852, 480), (640, 360)]);
        let small = plan_for(641, 359);
        assert_eq!(small.len(), 1);
        assert!(small[0].height <= 359 && small[0].height.is_multiple_of(2));
        assert!(small[0].width.is_multiple_of(2));
        assert!(small[0].video_bitrate < 800_000);
        // Portrait keeps its orientation: rungs name the short side.
        let portrait = plan_for(1080, 1920);
        assert_eq!(sizes(&portrait)[..2], [(1080, 1920), (720, 1280)]);
        assert_eq!(portrait[0].name, "1080p");
    }

    #[test]
    fn one_audio_rendition_for_every_rung() {
        let ladder: Ladder = "720:3000k,360:800k".parse().expect("ladder");
        let source = Probe {
            audio_bitrate: Some(96_000),
            audio_channels: Some(1),
            ..sample_probe(10.0, 1280, 720)
        };
        let copied = plan(&source, &ladder, true);
        let audio = copied.audio.clone().expect("the source has sound");
        assert!(
            audio.copy && audio.bitrate == 96_000 && audio.channels == 1,
            "{audio:?}"
        );
        assert_eq!(copied.dirs(), ["720p", "360p", "audio"]);
        // The video object lists video renditions only, each with the audio in its bandwidth.
        let bandwidths: Vec<u64> = copied.renditions().iter().map(|r| r.bandwidth).collect();
        assert_eq!(bandwidths, [2_096_000, 896_000]);
        assert_eq!(copied.video_only().dirs(), ["720p", "360p"]);
        assert_eq!(copied.audio_only().dirs(), ["audio"]);

        let opus = Probe {
            audio_codec: Some("opus".into()),
            audio_channels: Some(6),
            ..source.clone()
        };
        let encoded = plan(&opus, &ladder, false).audio.expect("sound");
        assert!(!encoded.copy && encoded.bitrate == AUDIO_BITRATE && encoded.channels == 2);

        let silent = Probe {
            has_audio: false,
            ..source
        };
        let silent = plan(&silent, &ladder, false);
        assert_eq!(silent.audio, None);
        assert_eq!(silent.dirs(), ["720p", "360p"]);
        assert_eq!(silent.renditions()[1].bandwidth, 800_000);
    }

    #[test]
    fn parses_and_sorts_rungs() {
        let ladder: Ladder = "360:800k, 1080p:5M ,720:3000000".parse().expect("valid");
        let heights: Vec<u32> = ladder.rungs().iter().map(|r| r.height).collect();
        assert_eq!(heights, [1080, 720, 360]);
        assert_eq!(ladder.rungs()[0].video_bitrate, 5_000_000);
        assert_eq!(ladder.to_string(), "1080:5000k,720:3000k,360:800k");
        assert_eq!(Ladder::default().rungs().len(), 4);
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "720",
            "720:fast",
            "abc:800k",
            "720:10",
            "720:1M,720:2M",
            "9000:5M",
        ] {
            assert!(bad.parse::<Ladder>().is_err(), "{bad:?} should be refused");
        }
    }
}
