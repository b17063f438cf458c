//! A `download` job: one rendition of a video and its audio joined into one fragmented MP4,
//! S3 to S3, without re-encoding (see `media::fmp4::join`).
//!
//! The master playlist the download was asked of names the rendition's media playlist and, in
//! its `AUDIO` group, the shared audio's (README, "How audio is delivered"; a video from before
//! the shared audio has its sound in the video rendition and no group: its one init segment
//! then holds both tracks). Every URI is resolved against the playlist that lists it and must
//! stay below `videos/` (a clip's playlists point into its parent's version).
//!
//! The file is the merged init segment, then each video segment followed by the audio
//! segments that start before it ends (decode order, so a player reading front to back never
//! waits on one track), then an `mfra` index. Segments are read from S3 a few ahead of the
//! writer and written to a multipart upload part by part: memory holds a few segments and two
//! parts, whatever the video's length, and nothing touches the disk.

use futures::{StreamExt, TryStreamExt, stream};
use m3u8_rs::{AlternativeMediaType, MediaPlaylist};
use vodnest_core::downloads::{self, Download, DownloadState};
use vodnest_core::media_refs;
use vodnest_core::queue::ClaimedJob;
use vodnest_core::storage::ObjectHeaders;
use vodnest_core::videos;

use super::{Done, JobContext, JobError};
use crate::media::fmp4::{self, FragmentCounter};
use crate::publish::multipart::{MultipartWriter, PART_BYTES};
use crate::publish::upload::headers;
use crate::publish::{PublishError, playlist};

/// Segments read ahead of the writer.
const READ_AHEAD: usize = 3;
/// A segment larger than this is not one of ours (6 s of 4K is a few tens of MB).
const MAX_SEGMENT_BYTES: usize = 256 * 1024 * 1024;
/// Playlists larger than this are not ours either (a 24-hour video's is under 1 MB).
const MAX_PLAYLIST_BYTES: usize = 8 * 1024 * 1024;

pub(super) async fn run(ctx: &JobContext, job: &ClaimedJob) -> Result<Done, JobError> {
    // Gone (its video was deleted, or a newer master replaced it) or already made.
    let Some(download) = downloads::of_job(&ctx.pool, job.id).await? else {
        return Ok(Done::nothing());
    };
    if download.state != DownloadState::Preparing {
        return Ok(Done::nothing());
    }
    let tracks = read_tracks(ctx, &download).await?;
    let title = videos::get(&ctx.pool, download.video_id)
        .await?
        .map(|v| v.title)
        .unwrap_or_default();
    let size = write(ctx, &download, &tracks, &title).await?;
    if !downloads::mark_ready(&ctx.pool, download.id, size).await? {
        tracing::info!("the download was forgotten while it was made");
    }
    tracing::info!(
        rendition = download.rendition,
        size,
        segments = tracks.iter().map(|t| t.segments.len()).sum::<usize>(),
        "download made"
    );
    Ok(Done::nothing())
}

/// One input of the joined file: an init segment and its media segments, each with the time
/// it starts at (seconds, from the playlist's durations).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Track {
    init: String,
    segments: Vec<(String, f64)>,
    duration_s: f64,
}

/// The rendition's track, then the audio's when the master gives it an audio group.
async fn read_tracks(ctx: &JobContext, download: &Download) -> Result<Vec<Track>, JobError> {
    let master_key = &download.master_key;
    let text = get_playlist(ctx, master_key).await?;
    let master = m3u8_rs::parse_master_playlist_res(&text)
        .map_err(|_| broken(format!("{master_key} is not a master playlist")))?;
    let variant = master
        .variants
        .iter()
        .find(|v| v.uri.split('/').next() == Some(download.rendition.as_str()))
        .ok_or_else(|| {
            broken(format!(
                "{master_key} has no {} rendition",
                download.rendition
            ))
        })?;
    let mut keys = vec![resolve(master_key, &variant.uri)?];
    if let Some(group) = &variant.audio {
        let audio = master
            .alternatives
            .iter()
            .filter(|a| a.media_type == AlternativeMediaType::Audio && &a.group_id == group)
            .max_by_key(|a| a.default)
            .and_then(|a| a.uri.as_deref())
            .ok_or_else(|| broken(format!("{master_key} names no playlist for {group}")))?;
        keys.push(resolve(master_key, audio)?);
    }
    let mut tracks = Vec::new();
    for key in keys {
        let media = playlist::parse(&get_playlist(ctx, &key).await?)?;
        tracks.push(track(&key, &media)?);
    }
    Ok(tracks)
}

/// A media playlist's init segment and segments as keys, with their start times. One init
/// segment for all: a playlist that changes it midway (a discontinuity) is not joined.
fn track(key: &str, media: &MediaPlaylist) -> Result<Track, JobError> {
    let init = match media.segments.first().and_then(|s| s.map.as_ref()) {
        Some(map) => resolve(key, &map.uri)?,
        None => return Err(broken(format!("{key} has no init segment"))),
    };
    if media
        .segments
        .iter()
        .skip(1)
        .any(|s| s.map.is_some() || s.discontinuity)
    {
        return Err(broken(format!("{key} changes its init segment")));
    }
    let mut segments = Vec::with_capacity(media.segments.len());
    let mut at = 0.0;
    for segment in &media.segments {
        segments.push((resolve(key, &segment.uri)?, at));
        at += f64::from(segment.duration);
    }
    Ok(Track {
        init,
        segments,
        duration_s: at,
    })
}

/// `(track, segment)` in the order they go into the file: each segment of the first track,
/// then the other tracks' segments that start before it ends, then whatever is left.
pub(super) fn interleave(tracks: &[Track]) -> Vec<(usize, usize)> {
    let mut next = vec![0usize; tracks.len()];
    let mut order = Vec::new();
    let Some(first) = tracks.first() else {
        return order;
    };
    for i in 0..first.segments.len() {
        order.push((0, i));
        let end = first
            .segments
            .get(i + 1)
            .map_or(f64::INFINITY, |&(_, next_start)| next_start);
        for (t, track) in tracks.iter().enumerate().skip(1) {
            while let Some(&(_, at)) = track.segments.get(next[t]) {
                if at >= end {
                    break;
                }
                order.push((t, next[t]));
                next[t] += 1;
            }
        }
    }
    for (t, track) in tracks.iter().enumerate().skip(1) {
        order.extend((next[t]..track.segments.len()).map(|i| (t, i)));
    }
    order
}

/// Streams the joined file into `download.object_key`; its size.
async fn write(
    ctx: &JobContext,
    download: &Download,
    tracks: &[Track],
    title: &str,
) -> Result<u64, JobError> {
    let mut inits = Vec::with_capacity(tracks.len());
    for track in tracks {
        inits.push(get_object(ctx, &track.init).await?);
    }
    let duration_s = tracks.iter().map(|t| t.duration_s).fold(0.0, f64::max);
    let init_refs: Vec<&[u8]> = inits.iter().map(Vec::as_slice).collect();
    let joined = fmp4::merge_inits(&init_refs, duration_s).map_err(segment_error)?;

    let disposition = attachment(title, &download.rendition);
    let (content_type, cache_control) = headers(&download.object_key);
    let object = ObjectHeaders {
        content_type,
        cache_control,
        content_disposition: Some(&disposition),
    };
    let mut out =
        MultipartWriter::start(&ctx.storage, &download.object_key, &object, PART_BYTES).await?;
    out.write(&joined.bytes).await?;

    let order = interleave(tracks);
    let mut segments = stream::iter(order.into_iter().map(|(t, i)| {
        let key = tracks[t].segments[i].0.clone();
        async move { get_object(ctx, &key).await.map(|bytes| (t, bytes)) }
    }))
    .buffered(READ_AHEAD);
    let mut counter = FragmentCounter::default();
    let mut fragments = Vec::new();
    let mut reported = 0;
    while let Some((input, mut segment)) = segments.try_next().await? {
        let (keep, found) = fmp4::rewrite_segment(
            &mut segment,
            input,
            &joined.tracks,
            &mut counter,
            out.written(),
        )
        .map_err(segment_error)?;
        for range in keep {
            out.write(&segment[range]).await?;
        }
        fragments.extend(found);
        if out.sent() > reported {
            reported = out.sent();
            downloads::record_progress(&ctx.pool, download.id, reported).await?;
        }
    }
    out.write(&fmp4::mfra(&joined.tracks, &fragments)).await?;
    Ok(out.finish().await?)
}

/// `attachment; filename="{title}-{rendition}.mp4"`, the title cut to plain ASCII.
fn attachment(title: &str, rendition: &str) -> String {
    let mut name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    name = name.trim().to_owned();
    if name.is_empty() {
        name = "video".into();
    }
    format!("attachment; filename=\"{name}-{rendition}.mp4\"")
}

fn resolve(playlist_key: &str, uri: &str) -> Result<String, JobError> {
    // The playlist's folder, its trailing `/` kept.
    let dir = &playlist_key[..playlist_key.rfind('/').map_or(0, |i| i + 1)];
    media_refs::resolve(dir, uri)
        .ok_or_else(|| broken(format!("{playlist_key} lists {uri:?}, which is not ours")))
}

async fn get_playlist(ctx: &JobContext, key: &str) -> Result<Vec<u8>, JobError> {
    let bytes = get_object(ctx, key).await?;
    if bytes.len() > MAX_PLAYLIST_BYTES {
        return Err(broken(format!("{key} is too large for a playlist")));
    }
    Ok(bytes)
}

async fn get_object(ctx: &JobContext, key: &str) -> Result<Vec<u8>, JobError> {
    let bytes = ctx
        .storage
        .get_media_bytes(key)
        .await?
        .ok_or_else(|| broken(format!("{key} is missing")))?;
    if bytes.len() > MAX_SEGMENT_BYTES {
        return Err(broken(format!("{key} is too large for a segment")));
    }
    Ok(bytes)
}

fn broken(what: String) -> JobError {
    JobError::Publish(PublishError::Playlist(format!(
        "cannot make the download: {what}"
    )))
}

fn segment_error(err: fmp4::Fmp4Error) -> JobError {
    JobError::Publish(PublishError::Segment(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(starts: &[f64]) -> Track {
        Track {
            init: "i".into(),
            segments: starts.iter().map(|&s| (format!("s{s}"), s)).collect(),
            duration_s: 0.0,
        }
    }

    #[test]
    fn audio_follows_the_video_segment_it_starts_in() {
        let video = track(&[0.0, 6.0, 12.0]);
        let audio = track(&[0.0, 5.9, 11.95, 17.9, 18.5]);
        assert_eq!(
            interleave(&[video.clone(), audio]),
            vec![
                (0, 0),
                (1, 0),
                (1, 1),
                (0, 1),
                (1, 2),
                (0, 2),
                (1, 3),
                (1, 4)
            ]
        );
        assert_eq!(interleave(&[video]), vec![(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn the_file_name_is_plain_ascii() {
        assert_eq!(
            attachment("Boss \"fight\" / día 2", "720p"),
            "attachment; filename=\"Boss _fight_ _ d_a 2-720p.mp4\""
        );
        assert_eq!(
            attachment("", "480p"),
            "attachment; filename=\"video-480p.mp4\""
        );
    }
}
