//! Publishing HLS output while ffmpeg is still writing it, so a long video becomes watchable
//! minutes into its transcode rather than hours.
//!
//! ffmpeg writes each rendition as an EVENT playlist and lists a segment only once it is
//! closed (`temp_file`; the playlist itself is renamed into place, never read half-written).
//! Every pass uploads the segments (and init segment) a playlist lists
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
//! - [`while_encoding`]: the passes while ffmpeg runs, and ffmpeg held back when they fall behind.
//! - [`playlist`]: reading ffmpeg's playlists and writing ours.
//! - [`upload`]: one output file to storage, with the HTTP headers its name calls for.
//!
//! The shared audio rendition (`audio/`) is one more directory, published as the video
//! renditions are: the video is playable once it has a segment too.
//!
//! A ladder job (see `job`) runs the whole video ladder again, copy included, so that ffmpeg
//! cuts every rung at the same instants and names every codec, but not the audio; the
//! renditions already in storage are deleted locally instead of uploaded (or, like the audio,
//! not written at all), and its master playlist, listing every rung, goes up only at the end,
//! when every playlist it lists is final.

pub mod playlist;
pub mod upload;
pub mod while_encoding;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use vodnest_core::storage::Storage;

use crate::media::ladder::Plan;
use upload::PLAYLIST_TYPE;
pub use upload::move_to_storage;
pub use while_encoding::{publish, publish_while_encoding};

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
    /// ffmpeg wrote a playlist `m3u8-rs` cannot read (or we wrote one that is not UTF-8).
    #[error("unreadable playlist: {0}")]
    Playlist(String),
    /// Marking the video playable.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
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
    /// The run's version, `videos/{id}/{class}/{n}/`.
    prefix: String,
    out_dir: PathBuf,
    /// What the master playlist lists; each of its directories is published.
    plan: Plan,
    frame_rate: Option<f64>,
    master: Master,
    /// Renditions an earlier job put in storage: their files, if this run writes them again,
    /// are deleted, not uploaded.
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
        plan: &Plan,
        frame_rate: Option<f64>,
    ) -> Self {
        Self {
            storage,
            prefix,
            out_dir: out_dir.to_path_buf(),
            plan: plan.clone(),
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

    /// These renditions are in storage already (the copied top rung and the audio, for a
    /// ladder job): listed in the master, never uploaded.
    pub fn already_published(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.already_published.extend(names);
        self
    }

    /// The version this publisher writes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many files (segments, init segments) have been uploaded so far.
    pub fn files_uploaded(&self) -> usize {
        self.files_uploaded
    }

    /// Where ffmpeg writes each rendition (its `%v` directory), in the plan's order.
    pub fn rendition_dirs(&self) -> Vec<PathBuf> {
        self.plan
            .dirs()
            .iter()
            .map(|name| self.out_dir.join(name))
            .collect()
    }

    /// Uploads what ffmpeg has finished since the last pass. `last` after ffmpeg exited.
    pub async fn pass(&mut self, last: bool) -> Result<Published, PublishError> {
        // Playable first: the first segment of each rendition, then the master.
        let first_only = !last && !self.master_published && self.master != Master::Extended;
        let mut every_rendition_started = true;
        for rendition in self.plan.dirs() {
            every_rendition_started &= self.pass_rendition(&rendition, first_only, last).await?;
        }
        if self.master_published {
            return Ok(Published::Playable);
        }
        if !every_rendition_started || (self.master == Master::Extended && !last) {
            return Ok(Published::NotYet);
        }
        self.put_master().await?;
        self.master_published = true;
        Ok(Published::BecamePlayable)
    }

    /// Uploads (or, already published, deletes) the files the rendition's playlist lists, then
    /// the playlist. Returns whether the rendition has a segment in storage.
    async fn pass_rendition(
        &mut self,
        rendition: &str,
        first_only: bool,
        last: bool,
    ) -> Result<bool, PublishError> {
        let dir = self.out_dir.join(rendition);
        let skipped = self.already_published.contains(rendition);
        let text = match tokio::fs::read(dir.join("index.m3u8")).await {
            Ok(text) => text,
            // Not written by this run (the audio, for a ladder job): in storage already.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && skipped => return Ok(true),
            // ffmpeg has not written it yet.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !last => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let mut playlist = playlist::parse(&text)?;
        if first_only {
            playlist::keep_first_segment(&mut playlist);
        }
        self.handle_files(rendition, &dir, playlist::files(&playlist), skipped)
            .await?;
        if playlist.segments.is_empty() {
            return Ok(false);
        }
        if !skipped {
            let cache = if last {
                playlist::finalize(&mut playlist);
                FINAL_PLAYLIST_CACHE
            } else {
                LIVE_PLAYLIST_CACHE
            };
            self.put_playlist(rendition, playlist::media_text(&playlist)?, cache)
                .await?;
        }
        Ok(true)
    }

    /// Uploads the listed files not handled yet; deletes them instead when `skipped`.
    async fn handle_files(
        &mut self,
        rendition: &str,
        dir: &Path,
        files: Vec<String>,
        skipped: bool,
    ) -> Result<(), PublishError> {
        for file in files {
            let key = format!("{rendition}/{file}");
            if self.handled.contains(&key) {
                continue;
            }
            let path = dir.join(&file);
            if skipped {
                tokio::fs::remove_file(&path).await?;
            } else {
                move_to_storage(self.storage, &self.prefix, &key, &path).await?;
                self.files_uploaded += 1;
            }
            self.handled.insert(key);
        }
        Ok(())
    }

    /// Uploads the rendition's playlist unless it is what was uploaded last.
    async fn put_playlist(
        &mut self,
        rendition: &str,
        text: String,
        cache: &str,
    ) -> Result<(), PublishError> {
        if self.playlists.get(rendition) == Some(&text) {
            return Ok(());
        }
        self.storage
            .put_media_bytes(
                &format!("{}{rendition}/index.m3u8", self.prefix),
                text.clone().into_bytes(),
                PLAYLIST_TYPE,
                cache,
            )
            .await?;
        self.playlists.insert(rendition.to_owned(), text);
        Ok(())
    }

    /// Our master playlist, with the codecs ffmpeg named in its own.
    async fn put_master(&self) -> Result<(), PublishError> {
        let cache = match self.master {
            Master::Partial => LIVE_PLAYLIST_CACHE,
            Master::Complete | Master::Extended => FINAL_PLAYLIST_CACHE,
        };
        let codecs = playlist::read_codecs(&self.out_dir.join("master.m3u8")).await;
        let master = playlist::master(&self.plan, &codecs, self.frame_rate)?;
        self.storage
            .put_media_bytes(
                &format!("{}master.m3u8", self.prefix),
                master.into_bytes(),
                PLAYLIST_TYPE,
                cache,
            )
            .await?;
        Ok(())
    }
}
