//! The ABR ladder: which heights a source is encoded to and at what video bitrate. Configured
//! with `PROCESSOR_LADDER` as `HEIGHT:BITRATE` pairs, e.g. `1080:5000k,720:3000k,480:1400k,360:800k`.
//! [`plan`] fits it to a source: the renditions one ffmpeg run writes.

use std::fmt;
use std::str::FromStr;

use super::probe::Probe;

/// The default ladder: the usual 16:9 rungs at bitrates that look good with x264 `veryfast`.
pub const DEFAULT: &str = "1080:5000k,720:3000k,480:1400k,360:800k";
/// Every rendition's stereo AAC.
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

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenditionPlan {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub video_bitrate: u64,
    pub audio_bitrate: u64,
    /// The source's video is copied into this rendition, not encoded (the remux fast path).
    pub copy: bool,
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
        let plan_for = |width, height| plan(&sample_probe(10.0, width, height), &ladder, false);
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
