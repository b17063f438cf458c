//! Media references: an instant clip's playlists name segments of other videos' versions (its
//! parent's) by relative URIs such as `../../../../{parent}/public/3/720p/seg_00042.m4s`
//! instead of holding segments of its own. This module resolves and writes such URIs, and
//! keeps the table (`media_references`, migrations/0025_clips.sql) that says which version
//! prefixes a video's version points into, so that none of them is deleted while it does.

use std::collections::BTreeSet;

use m3u8_rs::MediaPlaylist;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::playlist_cut::{self, CutError};
use crate::storage::media_prefix;

/// Every media object lives below this.
const ROOT: &str = "videos/";

/// The key `uri` names when it is read from a playlist whose key lives in `dir` (a key prefix
/// ending in `/`): `..` and `.` resolved, `None` for anything that is not a plain relative path
/// or that leaves `videos/`.
pub fn resolve(dir: &str, uri: &str) -> Option<String> {
    if uri.is_empty()
        || uri.starts_with('/')
        || uri.contains("://")
        || uri.contains(['?', '#', '\\'])
        || !dir.starts_with(ROOT)
        || !dir.ends_with('/')
    {
        return None;
    }
    let mut parts: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    for part in uri.split('/') {
        match part {
            "" => return None,
            "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    let key = parts.join("/");
    // At least `videos/{something}`: nothing outside the videos' prefixes.
    (key.starts_with(ROOT) && key.len() > ROOT.len()).then_some(key)
}

/// The relative URI by which a playlist in `dir` names `key` (both below `videos/`).
pub fn relative(dir: &str, key: &str) -> String {
    let from: Vec<&str> = dir.trim_end_matches('/').split('/').collect();
    let to: Vec<&str> = key.split('/').collect();
    let common = from
        .iter()
        .zip(&to[..to.len().saturating_sub(1)])
        .take_while(|(a, b)| a == b)
        .count();
    let mut out: Vec<&str> = vec![".."; from.len() - common];
    out.extend(&to[common..]);
    out.join("/")
}

/// The version prefix (`videos/{id}/{class}/{n}/`) a key lies in, if it lies in one.
pub fn version_of_key(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    let (root, id, class, n) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    let ok = root == "videos"
        && id.parse::<Uuid>().is_ok()
        && matches!(class, "public" | "signed")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| format!("videos/{id}/{class}/{n}/"))
}

/// A media playlist of a clip: cut from a parent's playlist, its URIs pointing at the parent's
/// objects from the clip's place.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlaylist {
    pub text: String,
    /// The window of the parent's timeline it covers.
    pub start_s: f64,
    pub end_s: f64,
    /// The version prefixes its URIs point into.
    pub targets: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("{0}")]
    Cut(#[from] CutError),
    #[error("the playlist names {0:?}, which is not an object of a version")]
    Foreign(String),
}

/// Cuts the playlist `text`, read from `from_dir`, to `[start_s, end_s)` and rewrites its
/// segment and init URIs so that, read from `to_dir`, they name the same objects.
pub fn clip_playlist(
    text: &[u8],
    from_dir: &str,
    to_dir: &str,
    start_s: f64,
    end_s: f64,
) -> Result<ClipPlaylist, ClipError> {
    let playlist = playlist_cut::parse(text)?;
    let (mut playlist, start, end) = playlist_cut::cut_playlist(playlist, start_s, end_s)?;
    let targets = rebase(&mut playlist, from_dir, to_dir)?;
    Ok(ClipPlaylist {
        text: playlist_cut::write(&playlist),
        start_s: start,
        end_s: end,
        targets,
    })
}

/// Rewrites every URI of `playlist` (read from `from_dir`) to name the same object from
/// `to_dir`; returns the version prefixes they point into.
pub fn rebase(
    playlist: &mut MediaPlaylist,
    from_dir: &str,
    to_dir: &str,
) -> Result<BTreeSet<String>, ClipError> {
    let mut targets = BTreeSet::new();
    let mut move_uri = |uri: &mut String| -> Result<(), ClipError> {
        let key = resolve(from_dir, uri).ok_or_else(|| ClipError::Foreign(uri.clone()))?;
        let version = version_of_key(&key).ok_or_else(|| ClipError::Foreign(uri.clone()))?;
        targets.insert(version);
        *uri = relative(to_dir, &key);
        Ok(())
    };
    for segment in &mut playlist.segments {
        move_uri(&mut segment.uri)?;
        if let Some(map) = &mut segment.map {
            move_uri(&mut map.uri)?;
        }
    }
    Ok(targets)
}

/// Records that `version` of `video_id` points into each of `targets` (its own version aside).
pub async fn add(
    db: impl PgExecutor<'_>,
    video_id: Uuid,
    version: &str,
    targets: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into media_references (video_id, version, target)
         select $1, $2, t from unnest($3::text[]) t where t <> $2
         on conflict do nothing",
        video_id,
        version,
        targets,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The version prefixes `version` points into: the only objects outside it that a signed
/// playlist of it may sign.
pub async fn targets_of(
    db: impl PgExecutor<'_>,
    version: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select target from media_references where version = $1 order by target",
        version
    )
    .fetch_all(db)
    .await
}

/// The version's references go with it (deleted, or a failed run's).
pub async fn forget_version(db: impl PgExecutor<'_>, version: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from media_references where version = $1", version)
        .execute(db)
        .await?;
    Ok(())
}

/// Versions of `id` that other videos point into.
pub async fn referenced_versions_of(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select distinct target as "target!" from media_references
         where starts_with(target, $1) and video_id <> $2"#,
        media_prefix(id),
        id,
    )
    .fetch_all(db)
    .await
}

/// Before a video's row is deleted (same transaction): the versions of it that clips still
/// reference are kept, recorded in `retired_media` as due at once, so the sweeper deletes each
/// when its last reference goes. Returns them: the caller deletes every other object.
pub async fn keep_for_deletion(
    db: &mut sqlx::PgConnection,
    id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    let kept = referenced_versions_of(&mut *db, id).await?;
    sqlx::query!(
        "insert into retired_media (prefix, video_id, retired_at)
         select p, $2, '-infinity' from unnest($1::text[]) p
         on conflict (prefix) do update set retired_at = '-infinity'",
        &kept,
        id,
    )
    .execute(&mut *db)
    .await?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "0192f0c4-7d1e-7a4e-9c1a-5f2d3e4b5a6c";
    const C: &str = "0192f0c4-7d1e-7a4e-9c1a-000000000001";

    #[test]
    fn relative_uris_resolve_inside_videos_only() {
        let dir = format!("videos/{C}/signed/1/720p/");
        let uri = format!("../../../../{P}/public/3/720p/seg_00042.m4s");
        assert_eq!(
            resolve(&dir, &uri),
            Some(format!("videos/{P}/public/3/720p/seg_00042.m4s"))
        );
        assert_eq!(
            resolve(&dir, "seg_00001.m4s"),
            Some(format!("videos/{C}/signed/1/720p/seg_00001.m4s"))
        );
        for bad in [
            "../../../../../etc/passwd",
            "../../../../../raw/x",
            "/videos/x",
            "https://evil/x",
            "a//b",
            "seg.m4s?x=1",
            "../../../../",
        ] {
            assert_eq!(resolve(&dir, bad), None, "{bad}");
        }
    }

    #[test]
    fn relative_is_the_inverse_of_resolve() {
        let dir = format!("videos/{C}/public/1/720p/");
        let key = format!("videos/{P}/signed/3/720p/seg_00042.m4s");
        let uri = relative(&dir, &key);
        assert_eq!(uri, format!("../../../../{P}/signed/3/720p/seg_00042.m4s"));
        assert_eq!(resolve(&dir, &uri), Some(key));
        let own = format!("videos/{C}/public/1/720p/seg_00001.m4s");
        assert_eq!(relative(&dir, &own), "seg_00001.m4s");
    }

    #[test]
    fn versions_of_keys() {
        assert_eq!(
            version_of_key(&format!("videos/{P}/public/3/720p/seg_00042.m4s")),
            Some(format!("videos/{P}/public/3/"))
        );
        assert_eq!(version_of_key(&format!("videos/{P}/poster.jpg")), None);
        assert_eq!(version_of_key(&format!("videos/{P}/other/3/x")), None);
        assert_eq!(version_of_key("videos/nope/public/3/x"), None);
    }

    #[test]
    fn a_clip_playlist_points_at_the_parent_s_segments() {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI=\"init_0.mp4\"\n",
        );
        for i in 0..30 {
            text.push_str(&format!("#EXTINF:6.000000,\nseg_{i:05}.m4s\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        let from = format!("videos/{P}/public/3/720p/");
        let to = format!("videos/{C}/signed/1/720p/");
        let clip = clip_playlist(text.as_bytes(), &from, &to, 30.0, 90.0).expect("clip");
        assert_eq!((clip.start_s, clip.end_s), (30.0, 90.0));
        assert_eq!(
            clip.targets.into_iter().collect::<Vec<_>>(),
            [format!("videos/{P}/public/3/")]
        );
        assert!(
            clip.text
                .contains(&format!("URI=\"../../../../{P}/public/3/720p/init_0.mp4\"")),
            "{}",
            clip.text
        );
        assert!(
            clip.text
                .contains(&format!("\n../../../../{P}/public/3/720p/seg_00005.m4s\n"))
        );
        // A clip of that clip points at the same objects.
        let again = clip_playlist(
            clip.text.as_bytes(),
            &to,
            &format!("videos/{P}/public/9/720p/"),
            0.0,
            6.0,
        )
        .expect("clip of a clip");
        assert!(
            again.text.contains("\n../../3/720p/seg_00005.m4s\n"),
            "{}",
            again.text
        );
    }
}
