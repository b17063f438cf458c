//! `vodnest watch DIR`: a long-running uploader for a recordings folder. Every video file (by
//! extension) that appears is followed as `upload --follow` does, from the moment it is seen,
//! several at once if several are being written. New files are seen by inotify (created in the
//! folder or moved into it), with a slow listing of the folder behind it; where inotify is not
//! available the folder is listed every second. With `--obs`, OBS's own word (see [`obs`])
//! starts a follower the moment a recording starts and tells it when OBS is done with its file.
//! A finished file is noted in the state directory (its path and video), so a restart neither
//! uploads it again nor forgets it; a file whose upload a restart interrupted is resumed by the
//! follow's own resume record (keyed by path).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::stream::{BoxStream, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use inotify::WatchMask;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use crate::CliError;
use crate::api::ApiClient;
use crate::obs::{self, Recording};
use crate::upload::closes::{self, ToldDone};
use crate::upload::{self, UploadArgs, resume};

/// How often the folder is listed for new files when inotify tells of them: a net for events
/// it dropped (a full queue).
const RESCAN_EVERY: Duration = Duration::from_secs(30);
/// How often the folder is listed when inotify is not available.
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
    /// OBS Studio's websocket server (obs-websocket 5, OBS 28+), e.g. `ws://127.0.0.1:4455`: a
    /// recording's file is followed as soon as OBS starts it, and finished as soon as OBS
    /// stops it; only files in DIR (set OBS's recording path to it).
    #[arg(long, value_name = "URL")]
    pub obs: Option<String>,
    /// The password of OBS's websocket server (better in the environment: a command line is
    /// visible to every user of the machine).
    #[arg(long, env = "VODNEST_OBS_PASSWORD", hide_env_values = true)]
    pub obs_password: Option<obs::Password>,
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
    let mut obs = match &args.obs {
        Some(url) => Some(obs::Link::start(url.clone(), args.obs_password.clone()).await?),
        None => None,
    };
    // Watch before the first listing, so that a file created right after it is not missed.
    let mut created = match closes::names_in(&dir, WatchMask::CREATE | WatchMask::MOVED_TO) {
        Ok(names) => Some(names),
        Err(err) => {
            eprintln!(
                "cannot watch {} with inotify ({err}); listing it every second",
                dir.display()
            );
            None
        }
    };
    let mut scan = listing(if created.is_some() {
        RESCAN_EVERY
    } else {
        SCAN_EVERY
    });
    let mut watcher = Watcher::new(api, &args, dir.clone(), json_out);
    // systemd stops a service with SIGTERM: it ends the watcher as Ctrl-C does.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError(format!("cannot handle SIGTERM: {e}")))?;
    eprintln!("watching {} for {}", dir.display(), args.ext.join(", "));
    loop {
        tokio::select! {
            _ = scan.tick() => {
                for file in video_files(&dir, &args.ext).await {
                    watcher.follow(file, false);
                }
            }
            name = next_name(&mut created) => match name {
                Some(name) => {
                    let file = dir.join(name);
                    if is_video(&file, &args.ext) && is_file(&file).await {
                        watcher.follow(file, false);
                    }
                }
                None => {
                    eprintln!("inotify stopped telling of new files; listing the folder every second");
                    created = None;
                    scan = listing(SCAN_EVERY);
                }
            },
            said = next_recording(&mut obs) => watcher.obs_said(said?),
            Some((file, result)) = watcher.running.next(), if !watcher.running.is_empty() => {
                watcher.ended(file, result)?;
            }
            code = stop_signal(&mut terminate) => {
                eprintln!("stopped; files being uploaded resume when the watcher starts again");
                return Ok(ExitCode::from(code));
            }
        }
    }
}

/// A listing of the folder now and then every `period`.
fn listing(period: Duration) -> Interval {
    let mut scan = tokio::time::interval(period);
    scan.set_missed_tick_behavior(MissedTickBehavior::Delay);
    scan
}

/// The next name inotify tells of (`None` once it stopped); never returns without inotify.
async fn next_name(created: &mut Option<BoxStream<'static, OsString>>) -> Option<OsString> {
    match created {
        Some(names) => names.next().await,
        None => std::future::pending().await,
    }
}

/// OBS's next word; never returns without `--obs`.
async fn next_recording(obs: &mut Option<obs::Link>) -> Result<Recording, CliError> {
    match obs {
        Some(link) => link.next().await,
        None => std::future::pending().await,
    }
}

/// The followers of one watcher.
struct Watcher<'a> {
    api: &'a ApiClient,
    args: &'a WatchArgs,
    json_out: bool,
    state_dir: PathBuf,
    finished: Finished,
    /// The files followed in this run that did not finish, each with the way to tell its
    /// follower that its writer is done. A file that failed stays here: it is not retried in a
    /// loop, and not noted either, so the next start tries it again (resuming its upload).
    following: HashMap<PathBuf, watch::Sender<bool>>,
    running: FuturesUnordered<LocalBoxFuture<'a, (PathBuf, Result<String, CliError>)>>,
    /// The file OBS records into now, as far as it said.
    recording: Option<PathBuf>,
    /// The watched folder (canonical): the only place files OBS names are taken from.
    dir: PathBuf,
}

impl<'a> Watcher<'a> {
    fn new(api: &'a ApiClient, args: &'a WatchArgs, dir: PathBuf, json_out: bool) -> Self {
        let state_dir = args.state_dir.clone().unwrap_or_else(resume::default_dir);
        Self {
            api,
            args,
            json_out,
            finished: Finished {
                dir: state_dir.join("watched"),
            },
            state_dir,
            following: HashMap::new(),
            running: FuturesUnordered::new(),
            recording: None,
            dir,
        }
    }

    /// Starts following `file` unless it is followed or finished already; `done`: its writer
    /// is known to be done.
    fn follow(&mut self, file: PathBuf, done: bool) {
        if self.following.contains_key(&file) || self.finished.contains(&file) {
            return;
        }
        let (tell, told) = ToldDone::channel();
        tell.send_replace(done);
        self.following.insert(file.clone(), tell);
        let upload = upload_args(self.args, &self.state_dir, file);
        let api = self.api;
        self.running.push(
            async move {
                let result = upload::follow_file(api, &upload, told).await;
                (upload.file, result)
            }
            .boxed_local(),
        );
    }

    /// `file`'s writer is done: its follower finishes now (one starts, told so, if the file
    /// was not followed yet).
    fn writer_done(&mut self, file: PathBuf) {
        match self.following.get(&file) {
            Some(tell) => {
                tell.send_replace(true);
            }
            None => self.follow(file, true),
        }
    }

    /// Acts on what OBS said. A file it names is followed whatever its extension (OBS says it
    /// is a recording) but only in the watched folder: the websocket server is not
    /// authenticated to the client (its challenge proves nothing), so whatever listens on
    /// OBS's port could name any file this user can read, and it would be uploaded.
    fn obs_said(&mut self, said: Recording) {
        match said {
            Recording::Started(file) => {
                self.recording = file.and_then(|f| self.in_folder(&f));
                if let Some(file) = &self.recording {
                    eprintln!("OBS started recording {}", file.display());
                    self.follow(file.clone(), false);
                }
            }
            Recording::Stopped(file) => {
                let current = self.recording.take();
                let named = match file {
                    Some(file) => self.in_folder(&file),
                    None => current,
                };
                if let Some(file) = named {
                    eprintln!("OBS stopped recording {}", file.display());
                    self.writer_done(file);
                }
            }
            Recording::Split(next) => {
                let next = self.in_folder(&next);
                if let Some(done) = std::mem::replace(&mut self.recording, next.clone()) {
                    self.writer_done(done);
                }
                if let Some(next) = next {
                    eprintln!("OBS split the recording; now {}", next.display());
                    self.follow(next, false);
                }
            }
        }
    }

    /// `file` as the folder's listing spells it, if it is in the watched folder; else `None`,
    /// said on stderr.
    fn in_folder(&self, file: &Path) -> Option<PathBuf> {
        let file = same_as_listed(file);
        if file.parent() == Some(self.dir.as_path()) {
            return Some(file);
        }
        eprintln!(
            "OBS named {}, which is not in {}: not followed (set OBS's recording path to the watched folder)",
            file.display(),
            self.dir.display()
        );
        None
    }

    /// A follower ended: a finished file is noted; either way it is reported.
    fn ended(&mut self, file: PathBuf, result: Result<String, CliError>) -> Result<(), CliError> {
        let (video_id, error) = match &result {
            Ok(id) => {
                self.finished.note(&file, id)?;
                self.following.remove(&file);
                (Some(id.as_str()), None)
            }
            Err(err) => (None, Some(err.0.as_str())),
        };
        if self.json_out {
            println!(
                "{}",
                json!({"file": file, "video_id": video_id, "error": error})
            );
        } else {
            match (video_id, error) {
                (Some(id), _) => println!("uploaded {} as video {id}", file.display()),
                (_, why) => eprintln!("{}: {}", file.display(), why.unwrap_or_default()),
            }
        }
        Ok(())
    }
}

/// `file` spelled as the folder's listing spells its files (the folder's canonical path), so
/// that a file OBS names and the listing finds are followed once.
fn same_as_listed(file: &Path) -> PathBuf {
    match (file.parent().map(Path::canonicalize), file.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => file.to_owned(),
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

/// Whether `path` has one of the extensions (case-insensitive).
fn is_video(path: &Path, extensions: &[String]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

async fn is_file(path: &Path) -> bool {
    tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file())
}

/// Waits for Ctrl-C or SIGTERM; the exit code a shell gives a process those signals end.
async fn stop_signal(terminate: &mut tokio::signal::unix::Signal) -> u8 {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => 130,
        _ = terminate.recv() => 143,
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
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        if is_video(&path, extensions) && is_file {
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

    #[test]
    fn a_path_obs_names_is_spelled_as_the_listing_spells_it() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let real = dir.path().join("recordings");
        std::fs::create_dir(&real)?;
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link)?;
        // The file need not exist yet: OBS may name it before its first write.
        let listed = real.canonicalize()?.join("a.mkv");
        assert_eq!(same_as_listed(&link.join("a.mkv")), listed);
        assert_eq!(same_as_listed(&listed), listed);
        let elsewhere = Path::new("/no/such/folder/a.mkv");
        assert_eq!(same_as_listed(elsewhere), elsewhere);
        Ok(())
    }

    /// Whether each file is followed, and whether its follower was told its writer is done.
    fn told(watcher: &Watcher<'_>, files: &[&str]) -> Vec<Option<bool>> {
        let told = |f: &&str| watcher.following.get(Path::new(f)).map(|t| *t.borrow());
        files.iter().map(told).collect()
    }

    #[test]
    fn what_obs_says_starts_and_finishes_followers() -> Result<(), Box<dyn std::error::Error>> {
        use clap::Parser;
        let state = tempfile::tempdir()?;
        let cli = crate::Cli::try_parse_from(
            ["vodnest", "watch", "/rec", "--state-dir"]
                .into_iter()
                .chain(state.path().to_str()),
        )?;
        let crate::Command::Watch(args) = cli.command else {
            return Err("not watch".into());
        };
        let api = ApiClient::new("http://127.0.0.1:9", "unused")?;
        let mut watcher = Watcher::new(&api, &args, PathBuf::from("/rec"), true);
        let files = ["/rec/a.mkv", "/rec/b.mkv", "/rec/c.mkv"];

        watcher.obs_said(Recording::Started(Some("/rec/a.mkv".into())));
        assert_eq!(told(&watcher, &files), [Some(false), None, None]);
        // A split: a is done, b is followed.
        watcher.obs_said(Recording::Split("/rec/b.mkv".into()));
        assert_eq!(told(&watcher, &files), [Some(true), Some(false), None]);
        // A stop that names no file is about the one OBS writes.
        watcher.obs_said(Recording::Stopped(None));
        assert_eq!(told(&watcher, &files), [Some(true), Some(true), None]);
        // A stop of a file not followed yet starts its follower, told already.
        watcher.obs_said(Recording::Stopped(Some("/rec/c.mkv".into())));
        assert_eq!(told(&watcher, &files), [Some(true), Some(true), Some(true)]);
        // Seen again (the folder's listing): still one follower each.
        watcher.follow("/rec/a.mkv".into(), false);
        assert_eq!(watcher.running.len(), 3);
        // A file outside the watched folder is not followed, whoever names it.
        watcher.obs_said(Recording::Started(Some("/home/me/.ssh/id_ed25519".into())));
        watcher.obs_said(Recording::Stopped(Some("/etc/passwd".into())));
        watcher.obs_said(Recording::Split("/tmp/elsewhere.mkv".into()));
        assert_eq!(watcher.running.len(), 3);
        Ok(())
    }

    #[test]
    fn extensions_are_compared_without_case() {
        let ext = ["mkv".to_owned(), "mp4".to_owned()];
        assert!(is_video(Path::new("/rec/a.MKV"), &ext));
        assert!(!is_video(Path::new("/rec/a.mkv.part"), &ext));
        assert!(!is_video(Path::new("/rec/mkv"), &ext));
    }
}
