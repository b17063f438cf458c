//! Split-and-stitch encoding in the queue (migrations/0018_chunked_encodes.sql).
//!
//! A processor that finds a long encode does not run it: [`split`] records its job's success
//! together with the parts that replace it, in one transaction (a crash leaves either the job
//! to redo or the whole split, never half of it):
//! - `chunk` jobs, one per time range of the video rungs ([`VideoChunk`]), and one `whole` part
//!   for what is made once per video (the shared audio, the poster, the storyboard);
//! - one `stitch` job, parked until the last part succeeds (the queue's success statement
//!   counts the parts down and makes it due), holding the video's pipeline live key. Parked
//!   means `run_at` at the sentinel `9999-01-01` (not `infinity`, which the `time` crate
//!   cannot decode: every read of the job would fail).
//!
//! Any processor claims any part; a failed part is retried alone; a part that fails for good or
//! a cancel ends every other part and the stitch (a trigger, whatever ended the job).

use sqlx::PgPool;
use uuid::Uuid;

use crate::queue::{ClaimedJob, JobKind, JobQueue, QueueError};
use crate::text_enum::text_enum;

text_enum! {
    /// `encode_chunks.part`.
    pub enum PartKind {
        /// The video rungs over one time range.
        Video = "video",
        /// What is made once for the whole video.
        Whole = "whole",
    }
}

/// One time range of the video rungs, in seconds of the source, and the number its first
/// segment takes in every rung (segments number on from the chunk before).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoChunk {
    pub start_s: f64,
    pub end_s: f64,
    pub first_segment: i32,
}

/// A job's work, split: where the parts publish, what they do, and what the processor planned
/// (opaque here: every part and the stitch read it back).
pub struct Split<'a> {
    /// The job being replaced by its parts; its success is recorded with them.
    pub parent: &'a ClaimedJob,
    /// The version the parts publish into.
    pub prefix: &'a str,
    /// The stitch makes the video `ready` (a split transcode), or adds renditions to it.
    pub makes_ready: bool,
    pub chunks: &'a [VideoChunk],
    pub plan: &'a serde_json::Value,
}

/// A part as its job sees it.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub encode_id: Uuid,
    pub prefix: String,
    pub makes_ready: bool,
    pub plan: serde_json::Value,
    pub part: PartKind,
    /// The range, for a `video` part.
    pub chunk: Option<VideoChunk>,
    /// Its place among the video parts (0 first).
    pub index: Option<i32>,
}

/// A split encode as its stitch sees it: the video chunks in time order.
#[derive(Debug, Clone)]
pub struct Stitching {
    pub encode_id: Uuid,
    pub prefix: String,
    pub makes_ready: bool,
    pub plan: serde_json::Value,
    pub chunks: Vec<VideoChunk>,
}

/// Records `split.parent`'s success and enqueues its parts and its stitch, all or nothing.
/// `Fenced` when the parent's attempt no longer holds it. Returns the split encode's id.
pub async fn split(pool: &PgPool, split: &Split<'_>) -> Result<Uuid, QueueError> {
    let parent = split.parent;
    let mut tx = pool.begin().await?;
    let finished = sqlx::query!(
        "update jobs set state = 'succeeded', lease_expires_at = null, finished_at = now()
         where id = $1 and attempt = $2 and state = 'running'
         returning priority, trace_context",
        parent.id,
        parent.attempt,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(QueueError::Fenced(parent.id))?;

    let encode_id = Uuid::now_v7();
    let chunk_ids: Vec<Uuid> = split.chunks.iter().map(|_| Uuid::now_v7()).collect();
    let whole_id = Uuid::now_v7();
    // Generated last, so that the stitch is the video's latest job (what `jobs` shows for it).
    let stitch_id = Uuid::now_v7();
    let stitch = JobKind::Stitch;
    sqlx::query!(
        "insert into jobs (id, video_id, kind, queue, priority, max_attempts, live_key,
             trace_context, run_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, '9999-01-01')",
        stitch_id,
        parent.video_id,
        stitch as JobKind,
        stitch.queue() as JobQueue,
        stitch.priority(),
        stitch.retry().max_attempts,
        stitch.live_key(Some(parent.video_id)),
        finished.trace_context,
    )
    .execute(&mut *tx)
    .await?;
    let parts = i32::try_from(split.chunks.len() + 1)
        .map_err(|_| QueueError::Invariant("too many chunks".into()))?;
    sqlx::query!(
        "insert into chunked_encodes (id, video_id, prefix, makes_ready, parts, remaining,
             stitch_job_id, plan)
         values ($1, $2, $3, $4, $5, $5, $6, $7)",
        encode_id,
        parent.video_id,
        split.prefix,
        split.makes_ready,
        parts,
        stitch_id,
        split.plan,
    )
    .execute(&mut *tx)
    .await?;
    // The parts run in the class of the job they replace: a split transcode's before ladders.
    let chunk = JobKind::Chunk;
    let mut ids = chunk_ids.clone();
    ids.push(whole_id);
    sqlx::query!(
        "insert into jobs (id, video_id, kind, queue, priority, max_attempts, trace_context)
         select id, $2, $3, $4, $5, $6, $7 from unnest($1::uuid[]) as t(id)",
        &ids,
        parent.video_id,
        chunk as JobKind,
        chunk.queue() as JobQueue,
        finished.priority,
        chunk.retry().max_attempts,
        finished.trace_context,
    )
    .execute(&mut *tx)
    .await?;
    let indexes: Vec<i32> = (0..).take(split.chunks.len()).collect();
    sqlx::query!(
        "insert into encode_chunks (job_id, encode_id, idx, part, start_s, end_s, first_segment)
         select id, $2::uuid, idx, 'video', start_s, end_s, first_segment
         from unnest($1::uuid[], $3::int[], $4::float8[], $5::float8[], $6::int[])
             as t(id, idx, start_s, end_s, first_segment)
         union all select $7::uuid, $2::uuid, null::int, 'whole', null::float8, null::float8,
             null::int",
        &chunk_ids,
        encode_id,
        &indexes,
        &split.chunks.iter().map(|c| c.start_s).collect::<Vec<_>>(),
        &split.chunks.iter().map(|c| c.end_s).collect::<Vec<_>>(),
        &split
            .chunks
            .iter()
            .map(|c| c.first_segment)
            .collect::<Vec<_>>(),
        whole_id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(encode_id)
}

/// The version a part or the stitch of a split encode publishes into.
pub async fn prefix_of(pool: &PgPool, job_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select prefix from chunked_encodes
         where stitch_job_id = $1
             or id = (select encode_id from encode_chunks where job_id = $1)",
        job_id,
    )
    .fetch_optional(pool)
    .await
}

/// Whether the split encode that `job_id` (a part or the stitch) belongs to ended without a
/// stitch and made a version of its own (a split transcode's): no one will be given that
/// version. `false` for any other job.
pub async fn abandoned_version(pool: &PgPool, job_id: Uuid) -> Result<bool, sqlx::Error> {
    let abandoned = sqlx::query_scalar!(
        r#"select ce.makes_ready and stitch.state in ('failed', 'canceled') as "abandoned!"
         from chunked_encodes ce join jobs stitch on stitch.id = ce.stitch_job_id
         where ce.stitch_job_id = $1
             or ce.id = (select encode_id from encode_chunks where job_id = $1)"#,
        job_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(abandoned.unwrap_or(false))
}

/// The part a `chunk` job runs; `None` when the job is no part (or its encode is gone).
pub async fn assignment(pool: &PgPool, job_id: Uuid) -> Result<Option<Assignment>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select ce.id, ce.prefix, ce.makes_ready, ce.plan, ec.part as "part: PartKind",
             ec.idx, ec.start_s, ec.end_s, ec.first_segment
         from encode_chunks ec join chunked_encodes ce on ce.id = ec.encode_id
         where ec.job_id = $1"#,
        job_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Assignment {
        encode_id: r.id,
        prefix: r.prefix,
        makes_ready: r.makes_ready,
        plan: r.plan,
        part: r.part,
        chunk: video_chunk(r.start_s, r.end_s, r.first_segment),
        index: r.idx,
    }))
}

fn video_chunk(start_s: Option<f64>, end_s: Option<f64>, first: Option<i32>) -> Option<VideoChunk> {
    Some(VideoChunk {
        start_s: start_s?,
        end_s: end_s?,
        first_segment: first?,
    })
}

/// The split encode a `stitch` job ends; `None` when there is none.
pub async fn stitching(
    pool: &PgPool,
    stitch_job_id: Uuid,
) -> Result<Option<Stitching>, sqlx::Error> {
    let Some(encode) = sqlx::query!(
        "select id, prefix, makes_ready, plan from chunked_encodes where stitch_job_id = $1",
        stitch_job_id,
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let chunks = sqlx::query!(
        "select start_s, end_s, first_segment from encode_chunks
         where encode_id = $1 and part = 'video' order by idx",
        encode.id,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .filter_map(|r| video_chunk(r.start_s, r.end_s, r.first_segment))
    .collect();
    Ok(Some(Stitching {
        encode_id: encode.id,
        prefix: encode.prefix,
        makes_ready: encode.makes_ready,
        plan: encode.plan,
        chunks,
    }))
}

/// Cuts `duration_s` into consecutive ranges on `boundaries` (the instants segments start at,
/// ascending, the first 0), each at least `target_s` long where the video allows (the last one
/// takes the rest). A video shorter than two targets is one range.
pub fn ranges(boundaries: &[f64], duration_s: f64, target_s: f64) -> Vec<VideoChunk> {
    let mut chunks = Vec::new();
    let mut start = (0usize, 0.0f64);
    for (index, &at) in boundaries.iter().enumerate().skip(1) {
        let long_enough = at - start.1 >= target_s;
        // The rest must make a range of its own worth having, or it joins this one.
        let rest_too = duration_s - at >= target_s / 2.0;
        if long_enough && rest_too {
            chunks.push(VideoChunk {
                start_s: start.1,
                end_s: at,
                first_segment: i32::try_from(start.0).unwrap_or(i32::MAX),
            });
            start = (index, at);
        }
    }
    chunks.push(VideoChunk {
        start_s: start.1,
        end_s: duration_s,
        first_segment: i32::try_from(start.0).unwrap_or(i32::MAX),
    });
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(step: f64, duration: f64) -> Vec<f64> {
        (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|t| *t < duration)
            .collect()
    }

    #[test]
    fn ranges_follow_segment_boundaries_and_cover_the_video() {
        let chunks = ranges(&every(6.0, 180.0), 180.0, 60.0);
        let spans: Vec<(f64, f64, i32)> = chunks
            .iter()
            .map(|c| (c.start_s, c.end_s, c.first_segment))
            .collect();
        assert_eq!(
            spans,
            [(0.0, 60.0, 0), (60.0, 120.0, 10), (120.0, 180.0, 20)]
        );
    }

    #[test]
    fn a_short_tail_joins_the_last_range() {
        // 130 s: 60 + 70 rather than 60 + 60 + 10.
        let chunks = ranges(&every(6.0, 130.0), 130.0, 60.0);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!((chunks[1].start_s, chunks[1].end_s), (60.0, 130.0));
        // Irregular boundaries (a copied top rung's own segments).
        let chunks = ranges(&[0.0, 7.5, 15.0, 22.0, 31.0, 40.0], 47.0, 14.0);
        let starts: Vec<f64> = chunks.iter().map(|c| c.start_s).collect();
        assert_eq!(starts, [0.0, 15.0, 31.0]);
        assert_eq!(chunks[2].first_segment, 4);
        assert_eq!(ranges(&[0.0], 5.0, 60.0).len(), 1);
    }
}
