//! What lets a re-run resume an upload: a small file per (API, local file) that names the video
//! the file is going to. It is written before the first byte is sent and removed once the upload
//! is complete. The file is identified by its path, size and modification time, so an edited
//! file starts a new upload instead of mixing old and new parts; a file followed while it is
//! written (`--follow`) grows and changes by design, so it is identified by its path alone, and
//! a log beside the record keeps what was sent of each part (its ETag and an XXH3-128
//! fingerprint), so a resumed run knows which parts S3 holds are still the file's bytes.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::CliError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resumable {
    pub video_id: String,
    pub api: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
}

/// Where resume files live: `$VODNEST_STATE_DIR`, else `$XDG_STATE_HOME/vodnest/uploads`,
/// else `~/.local/state/vodnest/uploads`.
pub fn default_dir() -> PathBuf {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state_home.join("vodnest/uploads")
}

pub struct ResumeBook {
    file: PathBuf,
    key: Resumable,
}

impl ResumeBook {
    /// The resume file of a file followed while it is written: keyed by its path alone.
    pub fn open_growing(dir: &Path, api: &str, path: &Path) -> Result<Self, CliError> {
        let mut book = Self::open(dir, api, path)?;
        book.key.size = 0;
        book.key.modified_ns = 0;
        let name = book
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        book.file = dir.join(format!("{}.growing.json", name.unwrap_or_default()));
        Ok(book)
    }

    /// The resume file for `path` uploaded to `api`.
    pub fn open(dir: &Path, api: &str, path: &Path) -> Result<Self, CliError> {
        let path = path
            .canonicalize()
            .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
        let meta = std::fs::metadata(&path)
            .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = Resumable {
            video_id: String::new(),
            api: api.to_owned(),
            path,
            size: meta.len(),
            modified_ns,
        };
        let mut hash = Sha256::new();
        hash.update(key.api.as_bytes());
        hash.update([0]);
        hash.update(key.path.as_os_str().as_encoded_bytes());
        let name: String = hash.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            file: dir.join(format!("{name}.json")),
            key,
        })
    }

    pub fn size(&self) -> u64 {
        self.key.size
    }

    /// The video an earlier run was uploading this very file to, if any.
    pub fn load(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        let saved: Resumable = serde_json::from_str(&text).ok()?;
        let same_file = Resumable {
            video_id: saved.video_id.clone(),
            ..self.key.clone()
        };
        (saved == same_file).then_some(saved.video_id)
    }

    pub fn save(&self, video_id: &str) -> Result<(), CliError> {
        let record = Resumable {
            video_id: video_id.to_owned(),
            ..self.key.clone()
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Write then rename, so a crash never leaves half a file.
            let tmp = self.file.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&record)?)?;
            std::fs::rename(&tmp, &self.file)
        };
        write().map_err(|e| {
            CliError(format!(
                "cannot save resume state in {}: {e}",
                self.file.display()
            ))
        })
    }

    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(self.part_log());
    }

    fn part_log(&self) -> PathBuf {
        self.file.with_extension("parts")
    }

    /// Notes that part `n` went up with `etag` and these contents (one line appended: a crash
    /// loses at most the line being written, and that part is sent again).
    pub fn record_part(&self, n: u32, etag: &str, fingerprint: &str) -> Result<(), CliError> {
        use std::io::Write;
        let line = format!("{n} {fingerprint} {etag}\n");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.part_log())
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| CliError(format!("cannot note part {n} in the resume log: {e}")))
    }

    /// What was sent of each part (the last line per part wins): its fingerprint and ETag.
    pub fn recorded_parts(&self) -> std::collections::BTreeMap<u32, (String, String)> {
        let text = std::fs::read_to_string(self.part_log()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ' ');
                let n = fields.next()?.parse().ok()?;
                let fingerprint = fields.next()?.to_owned();
                let etag = fields.next()?.to_owned();
                Some((n, (fingerprint, etag)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_not_resumed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let video = dir.path().join("a.mp4");
        std::fs::write(&video, b"first")?;
        let book = ResumeBook::open(dir.path(), "http://api", &video)?;
        assert_eq!(book.load(), None);
        book.save("v1")?;
        assert_eq!(book.load().as_deref(), Some("v1"));
        // Another API does not share the record.
        let other = ResumeBook::open(dir.path(), "http://other", &video)?;
        assert_eq!(other.load(), None);
        // Same path, new content and size: a new upload.
        std::fs::write(&video, b"second version")?;
        let book = ResumeBook::open(dir.path(), "http://api", &video)?;
        assert_eq!(book.load(), None);
        book.forget();
        Ok(())
    }

    #[test]
    fn a_growing_file_is_resumed_by_path_with_its_part_log()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let video = dir.path().join("live.mkv");
        std::fs::write(&video, b"start")?;
        let book = ResumeBook::open_growing(dir.path(), "http://api", &video)?;
        book.save("v1")?;
        book.record_part(1, "\"abc\"", "00ff")?;
        book.record_part(1, "\"def\"", "11ee")?;
        // The recording grew: still the same upload, and the later note of a part wins.
        std::fs::write(&video, b"start and more")?;
        let book = ResumeBook::open_growing(dir.path(), "http://api", &video)?;
        assert_eq!(book.load().as_deref(), Some("v1"));
        let parts = book.recorded_parts();
        assert_eq!(
            parts.get(&1),
            Some(&("11ee".to_owned(), "\"def\"".to_owned()))
        );
        // The fixed-size record of the same path is another one.
        assert_eq!(
            ResumeBook::open(dir.path(), "http://api", &video)?.load(),
            None
        );
        book.forget();
        assert!(book.recorded_parts().is_empty());
        Ok(())
    }
}
