//! Formatting: aligned tables for people, JSON for scripts.

use prost_types::Timestamp;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vodnest_proto::pb::{Job, JobState, QueueStatsResponse};

/// `queued`, …; `unknown` for a number this CLI does not know.
pub fn state_name(state: i32) -> String {
    JobState::try_from(state).map_or_else(|_| "unknown".to_owned(), JobState::short_name)
}

pub fn percent(fraction: f64) -> String {
    format!("{:.0}%", (fraction.clamp(0.0, 1.0) * 100.0).floor())
}

pub fn timestamp(at: Option<&Timestamp>) -> String {
    at.and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "video_id": job.video_id,
        "state": state_name(job.state),
        "kind": job.kind,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "progress": job.progress,
        "stage": job.stage,
        "last_error": job.last_error,
        "worker_id": job.worker_id,
        "created_at": timestamp(job.created_at.as_ref()),
        "updated_at": timestamp(job.updated_at.as_ref()),
        "run_at": timestamp(job.run_at.as_ref()),
    })
}

pub fn stats_json(stats: &QueueStatsResponse) -> Value {
    json!({
        "queued": stats.queued,
        "running": stats.running,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "canceled": stats.canceled,
        "oldest_queued_age_s": stats.oldest_queued_age_s,
    })
}

/// Columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A JSON field as a table cell: strings as they are, `null` and missing fields empty, lists
/// joined with commas, anything else as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The rows of `items`, one cell per field in `fields`.
pub fn rows(items: &[Value], fields: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| fields.iter().map(|f| cell(&item[*f])).collect())
        .collect()
}

pub fn job_row(job: &Job) -> Vec<String> {
    vec![
        job.id.clone(),
        job.video_id.clone(),
        job.kind.clone(),
        state_name(job.state),
        format!("{}/{}", job.attempt, job.max_attempts),
        if job.stage.is_empty() {
            percent(job.progress)
        } else {
            format!("{} {}", job.stage, percent(job.progress))
        },
        timestamp(job.created_at.as_ref()),
    ]
}

pub const JOB_HEADER: [&str; 7] = [
    "JOB", "VIDEO", "KIND", "STATE", "ATTEMPT", "PROGRESS", "CREATED",
];

/// One job, one field per line.
pub fn job_details(job: &Job) -> String {
    let mut out = table(&JOB_HEADER, &[job_row(job)]);
    if !job.last_error.is_empty() {
        out.push_str(&format!("\nlast error: {}", job.last_error));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".to_owned(), "long cell".to_owned()],
            vec!["longer".to_owned(), "x".to_owned()],
        ];
        assert_eq!(
            table(&["ONE", "TWO"], &rows),
            "ONE     TWO\na       long cell\nlonger  x"
        );
    }

    #[test]
    fn json_fields_become_cells() {
        let item = json!({"a": "x", "b": null, "c": ["p", "q"], "d": 3});
        assert_eq!(
            rows(&[item], &["a", "b", "c", "d", "e"]),
            vec![vec!["x", "", "p,q", "3", ""]]
        );
    }

    #[test]
    fn percentages_and_timestamps() {
        assert_eq!(percent(0.999), "99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(-1.0), "0%");
        let at = Timestamp {
            seconds: 0,
            nanos: 0,
        };
        assert_eq!(timestamp(Some(&at)), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(None), "");
        assert_eq!(state_name(JobState::Failed as i32), "failed");
        assert_eq!(state_name(42), "unknown");
    }
}
