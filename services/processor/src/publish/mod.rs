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
//! - [`multipart`]: an object written as a stream through a multipart upload (a download).
//!
//! The shared audio rendition (`audio/`) is one more directory, published as the video
//! renditions are: the video is playable once it has a segment too.
//!
//! A ladder job (see `job`) runs the whole video ladder again, copy included, so that ffmpeg
//! cuts every rung at the same instants and names every codec, but not the audio; the
//! renditions already in storage are deleted locally instead of uploaded (or, like the audio,
//! not written at all), and its master playlist, listing every rung, goes up only at the end,
//! when every playlist it lists is final.

pub mod multipart;
pub mod playlist;
pub mod upload;
pub mod while_encoding;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use vodnest_core::storage::Storage;

use crate::media::fmp4;
use crate::media::ladder::{AudioPlan, Plan};
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
    /// A chunk's segment that cannot be placed in the video (see `media::fmp4`).
    #[error("segment: {0}")]
    Segment(String),
}

/// Puts a finished VOD playlist of `rendition` (the stitch's).
pub async fn put_final_playlist(
    storage: &Storage,
    prefix: &str,
    rendition: &str,
    media: &m3u8_rs::MediaPlaylist,
) -> Result<(), PublishError> {
    storage
        .put_media_bytes(
            &format!("{prefix}{rendition}/index.m3u8"),
            playlist::media_text(media)?.into_bytes(),
            PLAYLIST_TYPE,
            FINAL_PLAYLIST_CACHE,
        )
        .await?;
    Ok(())
}

/// Puts the final master playlist of `plan` (the stitch's), with the codecs the master
/// already in storage names (a split transcode's first chunk's, or the transcode job's before
/// a split ladder); a rendition it does not name gets the default.
pub async fn put_final_master(
    storage: &Storage,
    prefix: &str,
    plan: &Plan,
    frame_rate: Option<f64>,
) -> Result<(), PublishError> {
    let key = format!("{prefix}master.m3u8");
    let published = storage.get_media_bytes(&key).await?.unwrap_or_default();
    let master = playlist::master(plan, &playlist::codecs(&published), frame_rate)?;
    storage
        .put_media_bytes(
            &key,
            master.into_bytes(),
            PLAYLIST_TYPE,
            FINAL_PLAYLIST_CACHE,
        )
        .await?;
    Ok(())
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

/// How a chunk of a split encode publishes (see `job::chunk`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkOutput {
    /// Where the chunk starts in the video: its video segments' decode times are shifted by
    /// this much (see `media::fmp4`).
    pub shift_s: f64,
    /// The first chunk: its init segments are the ones every chunk shares; the others' are
    /// not uploaded.
    pub first: bool,
    /// It publishes playlists and the master as an unsplit encode does, so the video is
    /// playable early (the first chunk of a split transcode); its video playlists stay live
    /// for the stitch to finish. Without it, a chunk uploads segments only.
    pub preview: bool,
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
    /// Set when this run is a chunk of a split encode.
    chunk: Option<ChunkOutput>,
    /// Each video rendition's timescale, read from its init segment (for shifting).
    timescales: HashMap<String, u32>,
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
            chunk: None,
            timescales: HashMap::new(),
        }
    }

    /// This run is a chunk of a split encode.
    pub fn as_chunk(mut self, chunk: ChunkOutput) -> Self {
        self.chunk = Some(chunk);
        self
    }

    /// Whether this run writes playlists and the master (not a chunk, or the preview one).
    fn writes_playlists(&self) -> bool {
        self.chunk.is_none_or(|c| c.preview)
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
        let first_only = !last
            && !self.master_published
            && self.master != Master::Extended
            && self.writes_playlists();
        let mut every_rendition_started = true;
        for rendition in self.plan.dirs() {
            every_rendition_started &= self.pass_rendition(&rendition, first_only, last).await?;
        }
        if self.master_published {
            return Ok(Published::Playable);
        }
        let master_due = self.writes_playlists() && (self.master != Master::Extended || last);
        if !every_rendition_started || !master_due {
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
        if !skipped && self.writes_playlists() {
            // A preview chunk's video playlists stay live: the stitch writes the whole ones.
            let whole = self.chunk.is_none() || rendition == AudioPlan::NAME;
            let cache = if last && whole {
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
            if skipped || self.shared_init_of_another_chunk(rendition, &file) {
                self.note_timescale(rendition, &file, &path).await?;
                tokio::fs::remove_file(&path).await?;
            } else {
                self.note_timescale(rendition, &file, &path).await?;
                self.shift_segment(rendition, &file, &path).await?;
                move_to_storage(self.storage, &self.prefix, &key, &path).await?;
                self.files_uploaded += 1;
            }
            self.handled.insert(key);
        }
        Ok(())
    }

    /// A later chunk's init segment: the same bytes as the first chunk's, which is published.
    fn shared_init_of_another_chunk(&self, rendition: &str, file: &str) -> bool {
        self.chunk.is_some_and(|c| !c.first)
            && rendition != AudioPlan::NAME
            && file.ends_with(".mp4")
    }

    /// Remembers a chunk's video rendition's timescale from its init segment.
    async fn note_timescale(
        &mut self,
        rendition: &str,
        file: &str,
        path: &Path,
    ) -> Result<(), PublishError> {
        if self.chunk.is_none() || rendition == AudioPlan::NAME || !file.ends_with(".mp4") {
            return Ok(());
        }
        let init = tokio::fs::read(path).await?;
        let timescale = fmp4::timescale(&init).map_err(|e| PublishError::Segment(e.to_string()))?;
        self.timescales.insert(rendition.to_owned(), timescale);
        Ok(())
    }

    /// Shifts a chunk's video segment to the chunk's place in the video.
    async fn shift_segment(
        &self,
        rendition: &str,
        file: &str,
        path: &Path,
    ) -> Result<(), PublishError> {
        let Some(chunk) = self.chunk.filter(|c| c.shift_s > 0.0) else {
            return Ok(());
        };
        if rendition == AudioPlan::NAME || !file.ends_with(".m4s") {
            return Ok(());
        }
        let timescale = self.timescales.get(rendition).copied().ok_or_else(|| {
            PublishError::Segment(format!("{rendition}/{file} came before its init segment"))
        })?;
        let ticks = (chunk.shift_s * f64::from(timescale)).round() as u64;
        let mut bytes = tokio::fs::read(path).await?;
        fmp4::shift_decode_times(&mut bytes, ticks)
            .map_err(|e| PublishError::Segment(format!("{rendition}/{file}: {e}")))?;
        tokio::fs::write(path, bytes).await?;
        Ok(())
    }

    /// After the last pass of a chunk: each video rendition's playlist of this chunk's
    /// segments, as `{rendition}/{name}`, for the stitch.
    pub async fn put_chunk_playlists(&self, name: &str) -> Result<(), PublishError> {
        for rendition in &self.plan.video {
            if self.already_published.contains(&rendition.name) {
                continue;
            }
            let text =
                tokio::fs::read(self.out_dir.join(&rendition.name).join("index.m3u8")).await?;
            let mut chunk = playlist::parse(&text)?;
            playlist::finalize(&mut chunk);
            self.storage
                .put_media_bytes(
                    &format!("{}{}/{name}", self.prefix, rendition.name),
                    playlist::media_text(&chunk)?.into_bytes(),
                    PLAYLIST_TYPE,
                    FINAL_PLAYLIST_CACHE,
                )
                .await?;
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
