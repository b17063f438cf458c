//! Renditions being made for a video beside those it plays: `videos.encoding`
//! (migrations/0017_encoding_progress.sql). The processor writes it while it encodes (about once
//! a second at most: each write NOTIFYs the video's websockets); the job's end clears it
//! (migrations/0019_encoding_of_parts.sql). The video object shows it and websockets get it
//! as `encoding` frames. A split encode's chunks report the whole encode's progress
//! ([`record_part`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::queue::ClaimedJob;

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
    write(db, id, encoding, None).await
}

/// [`set_encoding`] by the job doing the work, written only while that attempt of the job
/// still runs: the job's end clears the encoding (migrations/0019_encoding_of_parts.sql), and
/// a write that arrives after it must not bring it back.
pub async fn record(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    encoding: &Encoding,
) -> Result<(), sqlx::Error> {
    write(db, job.video_id, Some(encoding), Some(job)).await
}

async fn write(
    db: impl PgExecutor<'_>,
    id: Uuid,
    encoding: Option<&Encoding>,
    by: Option<&ClaimedJob>,
) -> Result<(), sqlx::Error> {
    let value = encoding.map(|encoding| {
        sqlx::types::Json(Encoding {
            progress: clamped(encoding.progress),
            ..encoding.clone()
        })
    });
    sqlx::query!(
        "update videos set encoding = $2 where id = $1 and encoding is distinct from $2
             and ($3::uuid is null
                  or exists (select 1 from jobs where id = $3 and attempt = $4
                             and state = 'running'))",
        id,
        value as Option<sqlx::types::Json<Encoding>>,
        by.map(|job| job.id),
        by.map(|job| job.attempt),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// How far a split encode is, as one of its running chunks sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartsDone {
    /// The chunks' lengths weighted by what each has done: finished ones count whole.
    pub progress: f64,
    /// Since the encode was split (the parts' time in the queue included: that is the pace
    /// the fleet keeps).
    pub elapsed: Duration,
}

/// Records that the running chunk `job` has done `done` (0..1) of its range, and returns how
/// far its whole encode is. `None` when the job no longer runs at that attempt (or is no video
/// chunk): nothing is written then.
pub async fn record_part(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    done: f64,
) -> Result<Option<PartsDone>, sqlx::Error> {
    // The update's own row is read as it was before it (one snapshot): `$3` stands in for it.
    let row = sqlx::query!(
        r#"with mine as (
             update encode_chunks ec set done = $3
             from jobs j
             where ec.job_id = $1 and ec.part = 'video'
                 and j.id = $1 and j.attempt = $2 and j.state = 'running'
             returning ec.encode_id)
         select sum((c.end_s - c.start_s) * case when c.job_id = $1 then $3
                     when j.state = 'succeeded' then 1 else c.done end)
                    / nullif(sum(c.end_s - c.start_s), 0) as "progress!",
                extract(epoch from now() - ce.created_at)::float8 as "elapsed_s!"
         from mine
         join chunked_encodes ce on ce.id = mine.encode_id
         join encode_chunks c on c.encode_id = ce.id and c.part = 'video'
         join jobs j on j.id = c.job_id
         group by ce.id"#,
        job.id,
        job.attempt,
        clamped(done),
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| PartsDone {
        progress: clamped(r.progress),
        elapsed: Duration::from_secs_f64(r.elapsed_s.max(0.0)),
    }))
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
