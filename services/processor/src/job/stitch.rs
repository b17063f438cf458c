//! The stitch of a split encode (see `split`), run once every part has succeeded: each made
//! rendition's VOD playlist is the chunks' playlists end to end (checked to number their
//! segments on without a gap), then the master playlist lists every rendition. Nothing is
//! encoded or copied: the parts' segments are in storage already, under their final names.

use m3u8_rs::MediaPlaylist;
use vodnest_core::chunks::{self, Stitching};
use vodnest_core::queue::ClaimedJob;
use vodnest_core::videos::{MediaFacts, PublishedVersion};

use super::split::SplitPlan;
use super::{Done, JobContext, JobError};
use crate::media::hls;
use crate::publish::{self, PublishError, playlist};

/// Where a video chunk leaves the playlist of its segments, per rendition.
pub(super) fn chunk_playlist(index: usize) -> String {
    format!("chunk_{index:05}.m3u8")
}

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
) -> Result<Done, JobError> {
    let encode = chunks::stitching(&ctx.pool, job.id)
        .await?
        .ok_or(JobError::Stopped)?;
    let plan = SplitPlan::read(&encode.plan)?;
    for rendition in plan.made_video() {
        let joined = join_chunks(ctx, prefix, &encode, &rendition.name).await?;
        publish::put_final_playlist(&ctx.storage, prefix, &rendition.name, &joined).await?;
    }
    let frame_rate = hls::output_frame_rate(&plan.probe);
    publish::put_final_master(&ctx.storage, prefix, &plan.plan, frame_rate).await?;
    tracing::info!(chunks = encode.chunks.len(), "stitched");
    let version = if encode.makes_ready {
        Some(PublishedVersion {
            prefix: prefix.to_owned(),
            poster: exists(ctx, prefix, "poster.jpg").await?,
            storyboard: exists(ctx, prefix, "storyboard.vtt").await?,
        })
    } else {
        None
    };
    Ok(Done {
        facts: MediaFacts {
            version,
            ..plan.facts()
        },
        follow_up: None,
        recorded: false,
    })
}

/// One rendition's chunk playlists end to end, as one VOD playlist.
async fn join_chunks(
    ctx: &JobContext,
    prefix: &str,
    encode: &Stitching,
    rendition: &str,
) -> Result<MediaPlaylist, JobError> {
    let mut joined: Option<MediaPlaylist> = None;
    for (index, chunk) in encode.chunks.iter().enumerate() {
        let key = format!("{prefix}{rendition}/{}", chunk_playlist(index));
        let text = ctx
            .storage
            .get_media_bytes(&key)
            .await?
            .ok_or_else(|| broken(format!("{key} is missing")))?;
        let mut part = playlist::parse(&text)?;
        let expected = usize::try_from(chunk.first_segment).unwrap_or(usize::MAX);
        let numbered_on = part
            .segments
            .iter()
            .enumerate()
            .all(|(i, s)| s.uri == hls::segment_name(expected + i));
        if part.segments.is_empty() || !numbered_on {
            return Err(broken(format!(
                "{key} does not continue at segment {expected}"
            )));
        }
        match &mut joined {
            None => joined = Some(part),
            Some(whole) => {
                // The init segment is the first chunk's: every chunk writes the same one.
                for segment in &mut part.segments {
                    segment.map = None;
                }
                whole.target_duration = whole.target_duration.max(part.target_duration);
                whole.segments.append(&mut part.segments);
            }
        }
    }
    let mut whole = joined.ok_or_else(|| broken("no chunks".into()))?;
    whole.media_sequence = 0;
    playlist::finalize(&mut whole);
    Ok(whole)
}

fn broken(what: String) -> JobError {
    JobError::Publish(PublishError::Playlist(format!("cannot stitch: {what}")))
}

async fn exists(ctx: &JobContext, prefix: &str, name: &str) -> Result<bool, JobError> {
    Ok(ctx
        .storage
        .get_media_bytes(&format!("{prefix}{name}"))
        .await?
        .is_some())
}
