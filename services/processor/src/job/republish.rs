//! A `republish` job: the video's visibility moved it between the public and the signed class,
//! so its current version is copied (server-side, nothing is encoded) into the new version the
//! job started in that class, and the copy becomes current when the success is recorded. The
//! version it replaces is retired: a public one that stops being public is deleted at the
//! sweeper's next pass, so its plain URLs stop working.
//!
//! A clip's playlists point into its parent's version: when its new class is public and what
//! they point at is not, the objects it plays are copied into its own version (materialized)
//! and its playlists name those; otherwise they go on pointing at the parent's.

use std::collections::BTreeSet;

use vodnest_core::media_refs;
use vodnest_core::queue::ClaimedJob;
use vodnest_core::storage::{MediaClass, StorageError, media_headers};
use vodnest_core::videos::{self, MediaFacts, PublishedVersion};

use super::{Done, JobContext, JobError};

/// Copies in flight at once.
const PARALLEL_COPIES: usize = 16;

pub(super) async fn run(
    ctx: &JobContext,
    job: &ClaimedJob,
    prefix: &str,
) -> Result<Done, JobError> {
    let video = videos::get(&ctx.pool, job.video_id)
        .await?
        .ok_or(JobError::Stopped)?;
    let mut facts = MediaFacts {
        duration_s: video.duration_s,
        width: video.width,
        height: video.height,
        renditions: video.renditions.0.clone(),
        version: None,
    };
    let current = match video.media_prefix.as_deref() {
        Some(current) if video.playable => current,
        // Nothing published: the first run will publish in the right class.
        _ => {
            return Ok(Done {
                facts,
                ..Done::nothing()
            });
        }
    };
    if MediaClass::of_prefix(current).is_some()
        && MediaClass::of_prefix(current) == MediaClass::of_prefix(prefix)
    {
        tracing::info!("already in its class");
        return Ok(Done {
            facts,
            ..Done::nothing()
        });
    }
    let keys = ctx.storage.media_keys(current).await?;
    // A clip's media playlists point into other versions: they are rewritten, not copied.
    let references = media_refs::targets_of(&ctx.pool, current).await?;
    let (playlists, keys): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|key| !references.is_empty() && is_media_playlist(current, key));
    for batch in keys.chunks(PARALLEL_COPIES) {
        let copies = batch.iter().map(|key| copy(ctx, current, prefix, key));
        futures::future::try_join_all(copies).await?;
    }
    let mut targets = BTreeSet::new();
    for key in &playlists {
        targets.extend(materialize(ctx, current, prefix, key).await?);
    }
    let targets: Vec<String> = targets.into_iter().collect();
    media_refs::add(&ctx.pool, video.id, prefix, &targets).await?;
    let copied = keys.len() + playlists.len();
    tracing::info!(objects = copied, from = current, to = prefix, "republished");
    facts.version = Some(PublishedVersion {
        prefix: prefix.to_owned(),
        poster: video.has_poster,
        storyboard: video.has_storyboard,
    });
    Ok(Done {
        facts,
        ..Done::nothing()
    })
}

/// A rendition's playlist (below a folder of the version), not the master.
fn is_media_playlist(version: &str, key: &str) -> bool {
    key.ends_with(".m3u8") && key[version.len().min(key.len())..].contains('/')
}

/// Writes a clip's media playlist `key` (below `from`) into `to`. Each object it names in
/// another version stays referenced when that version is in the class `to` is in (a public
/// clip may point at public objects; a signed one at anything, since its playlists are
/// signed); otherwise it is copied beside the playlist, so that a public clip never points at
/// objects only a signature may read. Returns the versions it still points into.
async fn materialize(
    ctx: &JobContext,
    from: &str,
    to: &str,
    key: &str,
) -> Result<BTreeSet<String>, JobError> {
    let text = ctx
        .storage
        .get_media_bytes(key)
        .await?
        .ok_or_else(|| JobError::Clip(format!("{key} vanished while it was republished")))?;
    let mut playlist = m3u8_rs::parse_media_playlist_res(&text)
        .map_err(|_| JobError::Clip(format!("{key} is not a media playlist")))?;
    let rest = &key[from.len()..];
    let (dir, _) = rest.rsplit_once('/').unwrap_or(("", rest));
    let (from_dir, to_dir) = (format!("{from}{dir}/"), format!("{to}{dir}/"));
    let class = MediaClass::of_prefix(to);
    let mut targets = BTreeSet::new();
    let mut uris: Vec<&mut String> = Vec::new();
    for segment in &mut playlist.segments {
        if let Some(map) = &mut segment.map {
            uris.push(&mut map.uri);
        }
        uris.push(&mut segment.uri);
    }
    for uri in uris {
        let target = media_refs::resolve(&from_dir, uri)
            .ok_or_else(|| JobError::Clip(format!("{key} names {uri:?}")))?;
        let version = media_refs::version_of_key(&target)
            .ok_or_else(|| JobError::Clip(format!("{key} names {uri:?}")))?;
        if version == from {
            *uri = media_refs::relative(&to_dir, &format!("{to}{}", &target[from.len()..]));
        } else if class == Some(MediaClass::Signed) || MediaClass::of_prefix(&version) == class {
            *uri = media_refs::relative(&to_dir, &target);
            targets.insert(version);
        } else {
            let name = target.rsplit_once('/').map_or(target.as_str(), |(_, n)| n);
            ctx.storage
                .copy_media(&target, &format!("{to_dir}{name}"))
                .await?;
            *uri = name.to_owned();
        }
    }
    let mut out = Vec::new();
    playlist.write_to(&mut out)?;
    let (content_type, cache) = media_headers(rest);
    ctx.storage
        .put_media_bytes(&format!("{to}{rest}"), out, content_type, cache)
        .await?;
    Ok(targets)
}

/// Copies `key`, below `from`, to the same place below `to`.
async fn copy(ctx: &JobContext, from: &str, to: &str, key: &str) -> Result<(), StorageError> {
    let rest = key.strip_prefix(from).unwrap_or(key);
    ctx.storage.copy_media(key, &format!("{to}{rest}")).await
}
