//! Caps on what a source may be, so that one upload cannot occupy the fleet for days: its
//! duration, its resolution (either orientation) and its frame rate. Each is a setting; a
//! source over one fails at once with a reason that names it, and is not retried.

use std::str::FromStr;

use super::MediaError;
use super::probe::Probe;

#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct SourceLimits {
    /// The longest source accepted, in seconds (default 24 h).
    #[arg(long, env = "MAX_SOURCE_DURATION_SECS", default_value_t = 24.0 * 3600.0)]
    pub max_duration_secs: f64,
    /// The largest picture accepted, `WIDTHxHEIGHT`, in either orientation (default 8K).
    #[arg(long, env = "MAX_SOURCE_RESOLUTION", default_value = "7680x4320")]
    pub max_resolution: Resolution,
    /// The highest frame rate accepted.
    #[arg(long, env = "MAX_SOURCE_FPS", default_value_t = 120.0)]
    pub max_fps: f64,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            max_duration_secs: 24.0 * 3600.0,
            max_resolution: Resolution {
                width: 7680,
                height: 4320,
            },
            max_fps: 120.0,
        }
    }
}

/// A picture size, `WIDTHxHEIGHT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl FromStr for Resolution {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text
            .split_once('x')
            .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
        match parsed {
            Some((width, height)) if width > 0 && height > 0 => Ok(Self { width, height }),
            _ => Err(format!("{text:?} is not WIDTHxHEIGHT (e.g. 7680x4320)")),
        }
    }
}

impl SourceLimits {
    /// Refuses a source over any cap, naming the first one it crosses.
    pub fn check(&self, probed: &Probe) -> Result<(), MediaError> {
        if probed.duration_s > self.max_duration_secs {
            return Err(MediaError::OverLimit(format!(
                "it lasts {}, longer than the {} this server accepts",
                hours_minutes(probed.duration_s),
                hours_minutes(self.max_duration_secs)
            )));
        }
        let (long, short) = sides(probed.width, probed.height);
        let max = self.max_resolution;
        let (max_long, max_short) = sides(max.width, max.height);
        if long > max_long || short > max_short {
            return Err(MediaError::OverLimit(format!(
                "its picture is {}x{}, larger than the {}x{} this server accepts",
                probed.width, probed.height, max.width, max.height
            )));
        }
        if let Some(fps) = probed.frame_rate
            && fps > self.max_fps
        {
            return Err(MediaError::OverLimit(format!(
                "it runs at {fps:.0} frames per second, more than the {} this server accepts",
                self.max_fps
            )));
        }
        Ok(())
    }
}

fn sides(a: u32, b: u32) -> (u32, u32) {
    (a.max(b), a.min(b))
}

fn hours_minutes(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as u64;
    format!("{} h {:02} min", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_probe;
    use super::*;

    #[test]
    fn each_cap_names_itself() {
        let limits = SourceLimits::default();
        assert!(limits.check(&sample_probe(3600.0, 1920, 1080)).is_ok());
        // Portrait 8K is as welcome as landscape.
        assert!(limits.check(&sample_probe(60.0, 4320, 7680)).is_ok());
        let refusal = |probe: Probe| {
            let err = limits.check(&probe).expect_err("over a cap");
            assert!(err.is_permanent() && !err.is_transient(), "{err}");
            err.to_string()
        };
        let long = refusal(sample_probe(25.0 * 3600.0, 640, 360));
        assert!(
            long.contains("25 h 00 min") && long.contains("24 h 00 min"),
            "{long}"
        );
        let huge = refusal(sample_probe(60.0, 8192, 4320));
        assert!(huge.contains("8192x4320"), "{huge}");
        let mut fast = sample_probe(60.0, 640, 360);
        fast.frame_rate = Some(240.0);
        assert!(refusal(fast).contains("240 frames per second"));
    }

    #[test]
    fn resolutions_parse() {
        assert_eq!(
            "1920x1080".parse(),
            Ok(Resolution {
                width: 1920,
                height: 1080
            })
        );
        assert!("1920".parse::<Resolution>().is_err());
        assert!("0x10".parse::<Resolution>().is_err());
    }
}
