//! `vodnest watch DIR`: a long-running uploader for a recordings folder. Every video file (by
//! extension) that appears is followed as `upload --follow` does, from the moment it is seen,
//! several at once if several are being written. A finished file is noted in the state
//! directory (its path and video), so a restart neither uploads it again nor forgets it; a file
//! whose upload a restart interrupted is resumed by the follow's own resume record (keyed by
//! path).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::CliError;
use crate::api::ApiClient;
use crate::upload::{self, UploadArgs, resume};

/// How often the folder is listed for new files.
const SCAN_EVERY: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The folder the recorder writes into.
    pub dir: PathBuf,
    /// Extensions of the files to upload, comma-separated, without dots.
    #[arg(long, default_value = "mkv,mp4,mov,flv,ts,webm", value_delimiter = ',')]
    pub ext: Vec<String>,
    /// The title of each video: `{stem}` is the file name without its extension, `{name}` the
    /// whole file name.
    #[arg(long, default_value = "{stem}")]
    pub title: String,
    /// `public`, `unlisted` or `private` (the server's default, private, when absent).
    #[arg(long, value_parser = ["public", "unlisted", "private"])]
    pub visibility: Option<String>,
    /// A file that has not grown for this many seconds is taken as finished (when its writer's
    /// close cannot be seen, as after a restart of this watcher).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub quiet_period: u64,
    /// Parts of one file sent at once.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Cap each file's upload bandwidth, in bytes per second (`500K`, `4M`).
    #[arg(long, value_parser = upload::pace::parse_rate)]
    pub limit_rate: Option<u64>,
    /// Where resume records and the list of finished files are kept.
    #[arg(long, env = "VODNEST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `{stem}` and `{name}` of `file` put into `template`.
fn title(template: &str, file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let stem = file
        .file_stem()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    template.replace("{stem}", &stem).replace("{name}", &name)
}

/// The files of the folder that finished: one small record per file, named after its path.
struct Finished {
    dir: PathBuf,
}

impl Finished {
    fn record(&self, file: &Path) -> PathBuf {
        let digest = Sha256::digest(file.as_os_str().as_encoded_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    fn contains(&self, file: &Path) -> bool {
        self.record(file).exists()
    }

    /// Notes that `file` was uploaded to `video_id`.
    fn note(&self, file: &Path, video_id: &str) -> Result<(), CliError> {
        let body = json!({"path": file, "video_id": video_id});
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let record = self.record(file);
            let tmp = record.with_extension("tmp");
            std::fs::write(&tmp, body.to_string())?;
            std::fs::rename(&tmp, &record)
        };
        write().map_err(|e| CliError(format!("cannot note {} as finished: {e}", file.display())))
    }
}

pub async fn run(api: &ApiClient, json_out: bool, args: WatchArgs) -> Result<ExitCode, CliError> {
    let dir = args
        .dir
        .canonicalize()
        .map_err(|e| CliError(format!("cannot watch {}: {e}", args.dir.display())))?;
    let state_dir = args.state_dir.clone().unwrap_or_else(resume::default_dir);
    let finished = Finished {
        dir: state_dir.join("watched"),
    };
    let mut following: HashSet<PathBuf> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut scan = tokio::time::interval(SCAN_EVERY);
    eprintln!("watching {} for {}", dir.display(), args.ext.join(", "));
    loop {
        tokio::select! {
            _ = scan.tick() => {
                for file in video_files(&dir, &args.ext).await {
                    if following.contains(&file) || finished.contains(&file) {
                        continue;
                    }
                    following.insert(file.clone());
                    let upload = upload_args(&args, &state_dir, file);
                    running.push(async move {
                        let result = upload::follow_file(api, &upload).await;
                        (upload.file, result)
                    });
                }
            }
            Some((file, result)) = running.next(), if !running.is_empty() => {
                // A file that failed stays out of this run (it is not retried in a loop); it is
                // not noted either, so the next start tries it again (resuming its upload).
                let (video_id, error) = match &result {
                    Ok(id) => {
                        finished.note(&file, id)?;
                        following.remove(&file);
                        (Some(id.as_str()), None)
                    }
                    Err(err) => (None, Some(err.0.as_str())),
                };
                if json_out {
                    println!("{}", json!({"file": file, "video_id": video_id, "error": error}));
                } else {
                    match (video_id, error) {
                        (Some(id), _) => println!("uploaded {} as video {id}", file.display()),
                        (_, why) => eprintln!("{}: {}", file.display(), why.unwrap_or_default()),
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped; files being uploaded resume when the watcher starts again");
                return Ok(ExitCode::from(130));
            }
        }
    }
}

fn upload_args(args: &WatchArgs, state_dir: &Path, file: PathBuf) -> UploadArgs {
    UploadArgs {
        title: Some(title(&args.title, &file)),
        file,
        visibility: args.visibility.clone(),
        wait: false,
        parallel: args.parallel,
        limit_rate: args.limit_rate,
        state_dir: Some(state_dir.to_owned()),
        follow: true,
        quiet_period: args.quiet_period,
    }
}

/// The regular files of `dir` with one of the extensions (case-insensitive), sorted.
async fn video_files(dir: &Path, extensions: &[String]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return files;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)));
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        if wanted && is_file {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_made_from_the_file_name() {
        let file = Path::new("/rec/2026-11-30 Friday.mkv");
        assert_eq!(title("{stem}", file), "2026-11-30 Friday");
        assert_eq!(
            title("Stream: {name}", file),
            "Stream: 2026-11-30 Friday.mkv"
        );
    }
}
