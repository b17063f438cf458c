//! Clips: the playlists of an instant clip, cut from its parent's current version at segment
//! boundaries and pointing at the parent's segments (see [`crate::media_refs`]), and the
//! segments a precise clip's or a poster's frames are read from.

use std::collections::BTreeSet;

use crate::domain::VideoRow;
use crate::edits::master_key;
use crate::media_refs::{self, ClipError};
use crate::storage::{Storage, StorageError};

/// Most playlists a master may name (video renditions and the audio).
const MAX_PLAYLISTS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ClipsError {
    #[error("the video has no published version to cut from")]
    NotPublished,
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Clip(#[from] ClipError),
    #[error("{0} is not a playlist this service wrote")]
    BadPlaylist(String),
}

/// A video's playlists as players are given them: the master, and each media playlist it
/// names, in the master's order (the video renditions first, top first; then the audio).
#[derive(Debug, Clone)]
pub struct Playlists {
    /// The version the master lies in.
    pub version: String,
    pub master: Vec<u8>,
    pub media: Vec<MediaPlaylistFile>,
}

#[derive(Debug, Clone)]
pub struct MediaPlaylistFile {
    /// Its key, relative to the version (`720p/index.m3u8`).
    pub name: String,
    pub text: Vec<u8>,
    /// Whether it is the audio rendition's.
    pub audio: bool,
}

impl MediaPlaylistFile {
    /// The folder its relative URIs are resolved from.
    pub fn dir(&self, version: &str) -> String {
        let name_dir = self.name.rsplit_once('/').map_or("", |(dir, _)| dir);
        if name_dir.is_empty() {
            version.to_owned()
        } else {
            format!("{version}{name_dir}/")
        }
    }
}

/// Reads the current master of `row` and the media playlists it names.
pub async fn read_playlists(storage: &Storage, row: &VideoRow) -> Result<Playlists, ClipsError> {
    let key = master_key(row).ok_or(ClipsError::NotPublished)?;
    let version = row.media_prefix.clone().ok_or(ClipsError::NotPublished)?;
    media_refs::version_of_key(&key).ok_or(ClipsError::NotPublished)?;
    let master = storage
        .get_media_bytes(&key)
        .await?
        .ok_or_else(|| ClipsError::BadPlaylist(key.clone()))?;
    let parsed = m3u8_rs::parse_master_playlist_res(&master)
        .map_err(|_| ClipsError::BadPlaylist(key.clone()))?;
    let video = parsed.variants.iter().map(|v| (v.uri.clone(), false));
    let audio = parsed
        .alternatives
        .iter()
        .filter_map(|a| a.uri.clone().map(|uri| (uri, true)));
    let mut seen = BTreeSet::new();
    let mut media = Vec::new();
    for (uri, audio) in video.chain(audio) {
        // The audio-only variant names the audio playlist a second time.
        if !seen.insert(uri.clone()) {
            continue;
        }
        let dir = key.rsplit_once('/').map_or("", |(d, _)| d).to_owned() + "/";
        let playlist_key = media_refs::resolve(&dir, &uri)
            .filter(|k| k.starts_with(&version))
            .ok_or_else(|| ClipsError::BadPlaylist(uri.clone()))?;
        if media.len() == MAX_PLAYLISTS {
            return Err(ClipsError::BadPlaylist(key));
        }
        let text = storage
            .get_media_bytes(&playlist_key)
            .await?
            .ok_or_else(|| ClipsError::BadPlaylist(playlist_key.clone()))?;
        media.push(MediaPlaylistFile {
            name: playlist_key[version.len()..].to_owned(),
            text,
            audio,
        });
    }
    // The audio-only variant comes last in the master, the audio group's playlist itself.
    for file in &mut media {
        if parsed
            .alternatives
            .iter()
            .any(|a| a.uri.as_deref().is_some_and(|u| u.ends_with(&file.name)))
        {
            file.audio = true;
        }
    }
    if media.iter().all(|m| m.audio) {
        return Err(ClipsError::BadPlaylist(key));
    }
    Ok(Playlists {
        version,
        master,
        media,
    })
}

/// An instant clip's objects: every key (below the clip's version) with its text.
#[derive(Debug, Clone)]
pub struct InstantClip {
    pub objects: Vec<(String, Vec<u8>)>,
    /// The window of the parent's timeline the top rendition's cut covers.
    pub start_s: f64,
    pub end_s: f64,
    /// The version prefixes its playlists point into.
    pub targets: Vec<String>,
}

/// The playlists of a clip of `source` over `[start_s, end_s)`, to be written below
/// `clip_version`: the master as it is (its URIs are relative to the version, and the clip's
/// version has the same shape), each media playlist cut at the same instants.
pub fn plan_instant(
    source: &Playlists,
    clip_version: &str,
    start_s: f64,
    end_s: f64,
) -> Result<InstantClip, ClipsError> {
    let mut objects = vec![(
        format!("{clip_version}{}", crate::storage::MASTER_PLAYLIST),
        source.master.clone(),
    )];
    let mut targets = BTreeSet::new();
    let mut window = None;
    for file in &source.media {
        let from = file.dir(&source.version);
        let to = file.dir(clip_version);
        let cut = media_refs::clip_playlist(&file.text, &from, &to, start_s, end_s)?;
        if window.is_none() && !file.audio {
            window = Some((cut.start_s, cut.end_s));
        }
        targets.extend(cut.targets);
        objects.push((
            format!("{clip_version}{}", file.name),
            cut.text.into_bytes(),
        ));
    }
    let (start, end) = window.ok_or_else(|| ClipsError::BadPlaylist(source.version.clone()))?;
    Ok(InstantClip {
        objects,
        start_s: start,
        end_s: end,
        targets: targets.into_iter().collect(),
    })
}

/// The objects an mp4 stream of one rendition over a range is made of: its init segment then
/// its media segments, as keys, and the window they cover on the video's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRun {
    pub keys: Vec<String>,
    pub start_s: f64,
    pub end_s: f64,
}

/// The init and media segments of `file` (a playlist of `version`) that cover
/// `[start_s, end_s)`, resolved to keys (a clip's point into its parent's version).
pub fn segments_covering(
    file: &MediaPlaylistFile,
    version: &str,
    start_s: f64,
    end_s: f64,
) -> Result<SegmentRun, ClipsError> {
    let dir = file.dir(version);
    let cut = media_refs::clip_playlist(&file.text, &dir, &dir, start_s, end_s)?;
    let playlist = m3u8_rs::parse_media_playlist_res(cut.text.as_bytes())
        .map_err(|_| ClipsError::BadPlaylist(file.name.clone()))?;
    let mut keys = Vec::new();
    for segment in &playlist.segments {
        if let Some(map) = &segment.map
            && keys.is_empty()
        {
            keys.push(resolve(&dir, &map.uri)?);
        }
        keys.push(resolve(&dir, &segment.uri)?);
    }
    Ok(SegmentRun {
        keys,
        start_s: cut.start_s,
        end_s: cut.end_s,
    })
}

fn resolve(dir: &str, uri: &str) -> Result<String, ClipsError> {
    media_refs::resolve(dir, uri).ok_or_else(|| ClipsError::BadPlaylist(uri.to_owned()))
}
