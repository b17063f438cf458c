//! The ABR ladder: which heights a source is encoded to and at what video bitrate. Configured
//! with `PROCESSOR_LADDER` as `HEIGHT:BITRATE` pairs, e.g. `1080:5000k,720:3000k,480:1400k,360:800k`.

use std::fmt;
use std::str::FromStr;

/// The default ladder: the usual 16:9 rungs at bitrates that look good with x264 `veryfast`.
pub const DEFAULT: &str = "1080:5000k,720:3000k,480:1400k,360:800k";

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
    use super::*;

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
