//! Publishing HLS output while ffmpeg is still writing it, so a long video becomes watchable
//! minutes into its transcode rather than hours.
//!
//! ffmpeg writes each rendition as an EVENT playlist and lists a segment only once it is
//! closed (`temp_file`). Every pass uploads the segments (and init segment) a playlist lists
//! that are not uploaded yet, deletes them locally at once, then uploads the playlist itself
//! with a short cache lifetime. Once every rendition has a segment in storage the master
//! playlist goes up and the video is marked `playable`. The final pass, after ffmpeg exits,
//! turns every playlist into a VOD playlist (`#EXT-X-PLAYLIST-TYPE:VOD`, `#EXT-X-ENDLIST`)
//! cached for long.
//!
//! Until the video is playable, a pass uploads only the first segment of each rendition (and a
//! playlist cut after it) before the master playlist: a fast source (a copy runs hundreds of
//! times realtime) must not make players wait for a long backlog of segments.
//!
//! A ladder job (see `job`) runs the whole ladder again, copy included, so that ffmpeg cuts
//! every rung at the same instants and names every codec; the renditions already in storage
//! are deleted locally instead of uploaded, and its master playlist, listing every rung, goes
//! up only at the end, when every playlist it lists is final.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use vodnest_core::storage::Storage;

use crate::media::hls::{self, RenditionPlan};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists change while processing: players and CDNs must look again soon.
const LIVE_PLAYLIST_CACHE: &str = "public, max-age=2";
/// Final playlists only change if the video is processed again.
const FINAL_PLAYLIST_CACHE: &str = "public, max-age=3600";

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Storage(#[from] vodnest_core::storage::StorageError),
    #[error("reading ffmpeg's output: {0}")]
    Io(#[from] std::io::Error),
}

/// When the master playlist goes up, and how long it may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Master {
    /// As soon as every rendition has a segment (the video becomes playable); final.
    Complete,
    /// Likewise, but a ladder job will add renditions to it: cached briefly.
    Partial,
    /// After the last pass only: it adds renditions to a video already being watched.
    Extended,
}

/// What one pass achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Some rendition has no segment in storage yet.
    NotYet,
    /// The master playlist is up: players can start. Returned once, by the pass that made it so.
    BecamePlayable,
    /// Playable since an earlier pass.
    Playable,
}

pub struct Publisher<'a> {
    storage: &'a Storage,
    /// `videos/{id}/`
    prefix: String,
    out_dir: PathBuf,
    renditions: Vec<RenditionPlan>,
    frame_rate: Option<f64>,
    master: Master,
    /// Renditions an earlier job put in storage: their files are deleted, not uploaded.
    already_published: HashSet<String>,
    /// Files uploaded or (for `already_published`) deleted.
    handled: HashSet<String>,
    files_uploaded: usize,
    /// The playlist text last uploaded, by rendition, so unchanged ones are not sent again.
    playlists: HashMap<String, String>,
    master_published: bool,
}

impl<'a> Publisher<'a> {
    pub fn new(
        storage: &'a Storage,
        prefix: String,
        out_dir: &Path,
        renditions: &[RenditionPlan],
        frame_rate: Option<f64>,
    ) -> Self {
        Self {
            storage,
            prefix,
            out_dir: out_dir.to_path_buf(),
            renditions: renditions.to_vec(),
            frame_rate,
            master: Master::Complete,
            already_published: HashSet::new(),
            handled: HashSet::new(),
            files_uploaded: 0,
            playlists: HashMap::new(),
            master_published: false,
        }
    }

    pub fn with_master(mut self, master: Master) -> Self {
        self.master = master;
        self
    }

    /// These renditions are in storage already (the copied top rung, for a ladder job).
    pub fn already_published(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.already_published.extend(names);
        self
    }

    /// How many files (segments, init segments) have been uploaded so far.
    pub fn files_uploaded(&self) -> usize {
        self.files_uploaded
    }

    /// Where ffmpeg writes each rendition (its `%v` directory), in the plan's order.
    pub fn rendition_dirs(&self) -> Vec<PathBuf> {
        self.renditions
            .iter()
            .map(|r| self.rendition_dir(r))
            .collect()
    }

    fn rendition_dir(&self, rendition: &RenditionPlan) -> PathBuf {
        self.out_dir.join(&rendition.name)
    }

    /// Uploads what ffmpeg has finished since the last pass. `last` after ffmpeg exited.
    pub async fn pass(&mut self, last: bool) -> Result<Published, PublishError> {
        let mut every_rendition_started = true;
        // Playable first: the first segment of each rendition, then the master.
        let first_only = !last && !self.master_published && self.master != Master::Extended;
        for rendition in self.renditions.clone() {
            let skipped = self.already_published.contains(&rendition.name);
            let dir = self.rendition_dir(&rendition);
            let text = match tokio::fs::read_to_string(dir.join("index.m3u8")).await {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && !last => {
                    every_rendition_started = false;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            let mut listed = listed_files(&text);
            let cut = first_only
                .then(|| listed.iter().position(|f| !f.is_init))
                .flatten()
                .filter(|first| first + 1 < listed.len());
            if let Some(first) = cut {
                listed.truncate(first + 1);
            }
            let segments = listed.iter().filter(|f| !f.is_init).count();
            for file in listed {
                let key = format!("{}/{}", rendition.name, file.name);
                if self.handled.contains(&key) {
                    continue;
                }
                let path = dir.join(&file.name);
                if skipped {
                    tokio::fs::remove_file(&path).await?;
                } else {
                    move_to_storage(self.storage, &self.prefix, &key, &path).await?;
                    self.files_uploaded += 1;
                }
                self.handled.insert(key);
            }
            if segments == 0 {
                every_rendition_started = false;
                continue;
            }
            if skipped {
                continue;
            }
            let (text, cache) = if last {
                (finalize(&text), FINAL_PLAYLIST_CACHE)
            } else if cut.is_some() {
                (through_first_segment(&text), LIVE_PLAYLIST_CACHE)
            } else {
                (text, LIVE_PLAYLIST_CACHE)
            };
            if self.playlists.get(&rendition.name) != Some(&text) {
                self.storage
                    .put_media_bytes(
                        &format!("{}{}/index.m3u8", self.prefix, rendition.name),
                        text.clone().into_bytes(),
                        PLAYLIST_TYPE,
                        cache,
                    )
                    .await?;
                self.playlists.insert(rendition.name.clone(), text);
            }
        }
        if self.master_published {
            return Ok(Published::Playable);
        }
        if !every_rendition_started || (self.master == Master::Extended && !last) {
            return Ok(Published::NotYet);
        }
        let cache = match self.master {
            Master::Partial => LIVE_PLAYLIST_CACHE,
            Master::Complete | Master::Extended => FINAL_PLAYLIST_CACHE,
        };
        let codecs = read_codecs(&self.out_dir.join("master.m3u8")).await;
        let master = master_playlist(&self.renditions, &codecs, self.frame_rate);
        self.storage
            .put_media_bytes(
                &format!("{}master.m3u8", self.prefix),
                master.into_bytes(),
                PLAYLIST_TYPE,
                cache,
            )
            .await?;
        self.master_published = true;
        Ok(Published::BecamePlayable)
    }
}

/// Bytes under `dir` (ffmpeg's output not uploaded yet); unreadable entries count as nothing.
pub async fn local_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&current).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            match entry.metadata().await {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Uploads a local output file to `{prefix}{key}` with the headers its name calls for, then
/// deletes it: the disk stays flat however long the video is.
pub async fn move_to_storage(
    storage: &Storage,
    prefix: &str,
    key: &str,
    path: &Path,
) -> Result<(), PublishError> {
    let (content_type, cache_control) = hls::headers(key);
    storage
        .put_media_file(&format!("{prefix}{key}"), path, content_type, cache_control)
        .await?;
    tokio::fs::remove_file(path).await?;
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Listed {
    name: String,
    is_init: bool,
}

/// The init segment and media segments a playlist lists, in order.
fn listed_files(playlist: &str) -> Vec<Listed> {
    let mut files = Vec::new();
    for line in playlist.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            if let Some(uri) = attribute(rest, "URI") {
                files.push(Listed {
                    name: uri.to_owned(),
                    is_init: true,
                });
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            files.push(Listed {
                name: line.to_owned(),
                is_init: false,
            });
        }
    }
    files
}

/// A quoted or bare attribute of an HLS tag's attribute list.
fn attribute<'t>(list: &'t str, name: &str) -> Option<&'t str> {
    let start = list.find(&format!("{name}="))? + name.len() + 1;
    let rest = &list[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(',').next(),
    }
}

/// The playlist cut after its first media segment.
fn through_first_segment(playlist: &str) -> String {
    let mut out = String::new();
    for line in playlist.lines() {
        out.push_str(line);
        out.push('\n');
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            break;
        }
    }
    out
}

/// The playlist as a finished VOD playlist.
fn finalize(playlist: &str) -> String {
    let mut out: String = playlist
        .lines()
        .map(|line| {
            if line.starts_with("#EXT-X-PLAYLIST-TYPE:") {
                "#EXT-X-PLAYLIST-TYPE:VOD"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !out.contains("#EXT-X-ENDLIST") {
        out.push_str("\n#EXT-X-ENDLIST");
    }
    out.push('\n');
    out
}

/// The CODECS ffmpeg wrote into its own master playlist, by rendition directory.
async fn read_codecs(path: &Path) -> HashMap<String, String> {
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    let mut codecs = HashMap::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = attribute(rest, "CODECS").map(str::to_owned);
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let (Some(found), Some((dir, _))) = (pending.take(), line.split_once('/'))
        {
            codecs.insert(dir.to_owned(), found);
        }
    }
    codecs
}

/// Our own master playlist: ffmpeg 5's lacks AVERAGE-BANDWIDTH and FRAME-RATE, and its
/// BANDWIDTH is a guess from the first segment.
pub fn master_playlist(
    renditions: &[RenditionPlan],
    codecs: &HashMap<String, String>,
    frame_rate: Option<f64>,
) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for r in renditions {
        let codec = codecs.get(&r.name).cloned().unwrap_or_else(|| {
            let audio = if r.audio_bitrate > 0 {
                ",mp4a.40.2"
            } else {
                ""
            };
            format!("avc1.640028{audio}")
        });
        let average = r.video_bitrate + r.audio_bitrate;
        // The encoder may reach its VBV maxrate for a segment; BANDWIDTH is that peak. A copied
        // source was encoded under rules we do not know: allow it half as much again.
        let peak_video = if r.copy {
            r.video_bitrate * 3 / 2
        } else {
            hls::peak_video_bitrate(r.video_bitrate)
        };
        let peak = peak_video + r.audio_bitrate;
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},RESOLUTION={}x{},CODECS=\"{codec}\"",
            r.width, r.height
        ));
        if let Some(rate) = frame_rate {
            out.push_str(&format!(",FRAME-RATE={rate:.3}"));
        }
        out.push_str(&format!("\n{}/index.m3u8\n", r.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MAP:URI=\"init_0.mp4\"\n#EXTINF:6.000000,\nseg_00000.m4s\n#EXTINF:6.000000,\nseg_00001.m4s\n";

    #[test]
    fn lists_init_and_segments() {
        let names: Vec<_> = listed_files(EVENT)
            .into_iter()
            .map(|f| (f.name, f.is_init))
            .collect();
        assert_eq!(
            names,
            [
                ("init_0.mp4".to_owned(), true),
                ("seg_00000.m4s".to_owned(), false),
                ("seg_00001.m4s".to_owned(), false)
            ]
        );
    }

    #[test]
    fn a_playlist_cut_after_its_first_segment() {
        let cut = through_first_segment(EVENT);
        assert!(cut.ends_with("#EXTINF:6.000000,\nseg_00000.m4s\n"), "{cut}");
        assert!(cut.contains("#EXT-X-MAP:URI=\"init_0.mp4\""));
        assert!(!cut.contains("seg_00001"));
    }

    #[test]
    fn finalizing_makes_a_vod_playlist() {
        let vod = finalize(EVENT);
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(!vod.contains("EVENT"));
        assert!(vod.trim_end().ends_with("#EXT-X-ENDLIST"));
        // ffmpeg may already have ended it: never twice.
        assert_eq!(finalize(&vod).matches("#EXT-X-ENDLIST").count(), 1);
    }

    #[test]
    fn master_lists_every_rendition_with_its_attributes() {
        let plan = |name: &str, w, h, v| RenditionPlan {
            name: name.into(),
            width: w,
            height: h,
            video_bitrate: v,
            audio_bitrate: 128_000,
            copy: false,
        };
        let renditions = [
            plan("720p", 1280, 720, 3_000_000),
            plan("360p", 640, 360, 800_000),
        ];
        let mut codecs = HashMap::new();
        codecs.insert("720p".to_owned(), "avc1.64001f,mp4a.40.2".to_owned());
        let master = master_playlist(&renditions, &codecs, Some(30.0));
        assert!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
        assert!(master.contains(
            "AVERAGE-BANDWIDTH=3128000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n720p/index.m3u8"
        ));
        assert!(master.contains("RESOLUTION=640x360,CODECS=\"avc1.640028,mp4a.40.2\""));
    }

    #[tokio::test]
    async fn codecs_come_from_ffmpegs_master() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.m3u8");
        tokio::fs::write(
            &path,
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360,CODECS=\"avc1.42c01e,mp4a.40.2\"\n360p/index.m3u8\n",
        )
        .await
        .expect("write");
        let codecs = read_codecs(&path).await;
        assert_eq!(
            codecs.get("360p").map(String::as_str),
            Some("avc1.42c01e,mp4a.40.2")
        );
    }
}
