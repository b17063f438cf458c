//! An optional bandwidth cap shared by every part in flight (`--limit-rate`).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct Pace {
    bytes_per_sec: f64,
    next_free: Mutex<Instant>,
}

impl Pace {
    pub fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `len` more bytes fit under the cap.
    pub async fn take(&self, len: usize) {
        let start = {
            let mut next = self.next_free.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + Duration::from_secs_f64(len as f64 / self.bytes_per_sec);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Parses `500K`, `4M`, `1G` or a plain number of bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let number: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a rate such as 500K, 4M or 1G"))?;
    let scale = match unit.to_ascii_uppercase().trim_end_matches("/S") {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit in {text:?}; use K, M or G")),
    };
    let rate = number * scale;
    if !(rate >= 1.0 && rate.is_finite()) {
        return Err(format!("{text:?} must be at least one byte per second"));
    }
    Ok(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(parse_rate("100"), Ok(100));
        assert_eq!(parse_rate("4M"), Ok(4 * 1024 * 1024));
        assert_eq!(parse_rate("1.5k"), Ok(1536));
        assert_eq!(parse_rate("2GiB"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("3X").is_err());
    }

    #[tokio::test]
    async fn the_cap_spaces_out_chunks() {
        let pace = Pace::new(10_000);
        let start = Instant::now();
        for _ in 0..5 {
            pace.take(500).await;
        }
        // Five chunks of 50 ms each: the fifth may not start before 200 ms.
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
