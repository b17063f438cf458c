//! Renditions being made for a video beside those it plays: `videos.encoding`
//! (migrations/0017_encoding_progress.sql). The processor writes it while it encodes (about once
//! a second at most: each write NOTIFYs the video's websockets) and clears it when done; the
//! video object shows it and websockets get it as `encoding` frames.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The renditions being made now, how far along that work is and how long it may still take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Encoding {
    /// Names as in the video's `renditions[].name` once they exist, e.g. `["480p", "360p"]`.
    pub renditions: Vec<String>,
    /// The fraction of that work done, 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub progress: f64,
    /// Estimated seconds left; `null` while unknown.
    pub eta_s: Option<u32>,
}

/// Below this fraction done an estimate is mostly noise: [`eta`] gives none.
const ETA_FROM_PROGRESS: f64 = 0.01;
/// The longest estimate given (a week); anything longer is a guess from too little progress.
const ETA_CAP_S: u32 = 7 * 24 * 3600;

/// Seconds left if the rest goes as fast as what `elapsed` did: `elapsed × (1 − p) / p`,
/// rounded up. `None` below 1 % done (or for a fraction that is not a number); at most a week.
pub fn eta(progress: f64, elapsed: Duration) -> Option<u32> {
    if progress.is_nan() || progress < ETA_FROM_PROGRESS {
        return None;
    }
    let progress = progress.min(1.0);
    let left = elapsed.as_secs_f64() * (1.0 - progress) / progress;
    // `as` saturates; the cap applies first anyway.
    Some((left.ceil().min(f64::from(ETA_CAP_S))) as u32)
}

/// Writes the video's encoding (`None` clears it), the progress clamped to 0..1 (a fraction
/// that is not a number counts as 0). Writing what is there already changes nothing and
/// notifies no one. A missing video is not an error.
pub async fn set_encoding(
    db: impl PgExecutor<'_>,
    id: Uuid,
    encoding: Option<&Encoding>,
) -> Result<(), sqlx::Error> {
    let value = encoding.map(|encoding| {
        sqlx::types::Json(Encoding {
            progress: clamped(encoding.progress),
            ..encoding.clone()
        })
    });
    sqlx::query!(
        "update videos set encoding = $2 where id = $1 and encoding is distinct from $2",
        id,
        value as Option<sqlx::types::Json<Encoding>>,
    )
    .execute(db)
    .await?;
    Ok(())
}

fn clamped(progress: f64) -> f64 {
    if progress.is_nan() {
        0.0
    } else {
        progress.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn eta_is_linear_in_what_is_left() {
        // A quarter done in a minute: three more minutes.
        assert_eq!(eta(0.25, MINUTE), Some(180));
        assert_eq!(eta(0.5, MINUTE), Some(60));
        assert_eq!(eta(0.75, Duration::from_secs(1)), Some(1), "rounded up");
        assert_eq!(eta(1.0, MINUTE), Some(0));
        assert_eq!(eta(1.5, MINUTE), Some(0), "past done is done");
    }

    #[test]
    fn no_eta_from_too_little_progress_and_never_a_huge_one() {
        assert_eq!(eta(0.0, MINUTE), None);
        assert_eq!(eta(0.009, MINUTE), None);
        assert_eq!(eta(-0.5, MINUTE), None);
        assert_eq!(eta(f64::NAN, MINUTE), None);
        assert_eq!(eta(0.01, MINUTE), Some(5940));
        assert_eq!(eta(0.01, Duration::from_secs(86_400)), Some(ETA_CAP_S));
        assert_eq!(eta(0.5, Duration::ZERO), Some(0));
    }

    #[test]
    fn progress_is_clamped() {
        assert_eq!(clamped(-0.1), 0.0);
        assert_eq!(clamped(0.42), 0.42);
        assert_eq!(clamped(1.2), 1.0);
        assert_eq!(clamped(f64::NAN), 0.0);
    }

    #[test]
    fn json_shape() {
        let encoding = Encoding {
            renditions: vec!["480p".into(), "360p".into()],
            progress: 0.42,
            eta_s: None,
        };
        assert_eq!(
            serde_json::to_value(&encoding).expect("json"),
            serde_json::json!({"renditions": ["480p", "360p"], "progress": 0.42, "eta_s": null})
        );
    }
}
