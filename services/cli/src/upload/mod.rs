//! `vodnest upload FILE`: a resumable multipart upload straight to S3 through presigned URLs.
//!
//! - [`resume`]: the small file that lets a re-run find the video it was uploading.
//! - [`parts`]: presigned URLs in batches, streaming and retrying each part.
//! - [`pace`]: the optional `--limit-rate` cap.
//! - [`follow`]: `--follow`, the upload of a file still being written, with [`closes`] telling
//!   when its writer closed it.
//!
//! A re-run on the same file asks the API which parts S3 already holds and sends only the rest.

pub mod closes;
pub mod follow;
pub mod pace;
pub mod parts;
pub mod resume;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::json;

use crate::api::{ApiClient, ApiError, Created, UploadState, Video};
use crate::{CliError, wait};
use parts::{Cut, PartSender};
use resume::ResumeBook;

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// The video file to upload.
    pub file: PathBuf,
    /// The video's title (default: the file name).
    #[arg(long)]
    pub title: Option<String>,
    /// `public`, `unlisted` or `private` (the server's default, private, when absent).
    #[arg(long, value_parser = ["public", "unlisted", "private"])]
    pub visibility: Option<String>,
    /// After the upload, follow processing until the video is ready (or failed).
    #[arg(long)]
    pub wait: bool,
    /// Parts sent at once.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Cap the upload's bandwidth, in bytes per second (`500K`, `4M`, `1G`).
    #[arg(long, value_parser = pace::parse_rate)]
    pub limit_rate: Option<u64>,
    /// Where resume records are kept.
    #[arg(long, env = "VODNEST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The file is still being written (a recording): send each part as soon as its bytes
    /// exist, and finish when the writer closes the file (or after `--quiet-period`).
    #[arg(long)]
    pub follow: bool,
    /// With `--follow`: a file that has not grown for this many seconds is taken as finished
    /// (when its writer's close cannot be seen). Long, so that a paused recording is not cut.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub quiet_period: u64,
}

/// Where an upload starts from: a new video, or one an earlier run began.
struct Start {
    video_id: String,
    cut: Cut,
    /// Parts S3 already holds with the right size, by number.
    done: BTreeMap<u32, String>,
}

pub async fn run(api: &ApiClient, json_out: bool, args: UploadArgs) -> Result<ExitCode, CliError> {
    let work = async {
        if args.follow {
            follow::upload(api, &args, json_out, closes::ToldDone::never()).await
        } else {
            upload_whole(api, &args, json_out).await
        }
    };
    let (video_id, uploaded) = tokio::select! {
        result = work => result?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; run the same command again to resume where it stopped");
            return Ok(ExitCode::from(130));
        }
    };
    report(api, json_out, &args, &video_id, uploaded).await
}

/// Follows `args.file` until its writer is done (it closed the file, `told` says so, or the
/// quiet period passed) and completes its upload, quietly (for `vodnest watch`); the video's id.
pub async fn follow_file(
    api: &ApiClient,
    args: &UploadArgs,
    told: closes::ToldDone,
) -> Result<String, CliError> {
    follow::upload(api, args, true, told)
        .await
        .map(|(id, _)| id)
}

/// The upload of a finished file: resumed if an earlier run began it.
async fn upload_whole(
    api: &ApiClient,
    args: &UploadArgs,
    json_out: bool,
) -> Result<(String, Uploaded), CliError> {
    let dir = args.state_dir.clone().unwrap_or_else(resume::default_dir);
    let book = ResumeBook::open(&dir, api.base(), &args.file)?;
    if book.size() == 0 {
        return Err(CliError(format!(
            "{} is empty; there is nothing to upload",
            args.file.display()
        )));
    }
    let start = match resumed(api, &book).await? {
        Some(start) => start,
        None => create(api, &book, args).await?,
    };
    let video_id = start.video_id.clone();
    let uploaded = send(api, args, &book, start, json_out).await?;
    Ok((video_id, uploaded))
}

/// Prints what was done (and, with `--wait`, follows processing); the exit code says whether
/// processing failed.
async fn report(
    api: &ApiClient,
    json_out: bool,
    args: &UploadArgs,
    video_id: &str,
    uploaded: Uploaded,
) -> Result<ExitCode, CliError> {
    let mut video = uploaded.video.clone();
    if args.wait {
        video = wait::until_done(api, video_id, !json_out).await?;
    }
    if json_out {
        println!(
            "{}",
            json!({
                "video_id": video_id,
                "status": video.status,
                "error": video.error,
                "parts_sent": uploaded.parts_sent,
                "parts_resumed": uploaded.parts_resumed,
                "parts_resent": uploaded.parts_resent,
                "parts_sent_while_growing": uploaded.parts_sent_while_growing,
                "bytes_sent": uploaded.bytes_sent,
                "seconds": uploaded.seconds,
                "after_stop": uploaded.after_stop,
                "watch_url": api.watch_url(video_id),
            })
        );
    } else {
        let mib = uploaded.bytes_sent as f64 / 1048576.0;
        println!(
            "uploaded {} as video {video_id}: {mib:.1} MiB in {:.1} s ({:.1} MiB/s), {} parts sent, {} already there",
            args.file.display(),
            uploaded.seconds,
            mib / uploaded.seconds.max(0.001),
            uploaded.parts_sent,
            uploaded.parts_resumed,
        );
        match video.status.as_str() {
            "failed" => println!(
                "processing failed: {}",
                video.error.as_deref().unwrap_or("no reason given")
            ),
            "ready" => println!("ready: {}", api.watch_url(video_id)),
            status => println!("{status}; watch it at {}", api.watch_url(video_id)),
        }
    }
    Ok(if video.status == "failed" {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The upload an earlier run began on this file, if it can go on.
async fn resumed(api: &ApiClient, book: &ResumeBook) -> Result<Option<Start>, CliError> {
    let Some(video_id) = book.load() else {
        return Ok(None);
    };
    let state: UploadState = match api.upload_state(&video_id).await {
        Ok(state) => state,
        Err(ApiError::Refused(r))
            if r.status == StatusCode::NOT_FOUND || r.status == StatusCode::CONFLICT =>
        {
            eprintln!(
                "the earlier upload of this file cannot go on ({}); starting a new one",
                r.message
            );
            book.forget();
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let cut = Cut::checked(state.part_size, state.part_count, book.size())?;
    let done: BTreeMap<u32, String> = state
        .parts_done
        .into_iter()
        .filter(|p| (1..=cut.part_count).contains(&p.part_number))
        // A part of the wrong size (cut short by a crash) is sent again.
        .filter(|p| p.size == cut.range(p.part_number).1)
        .map(|p| (p.part_number, p.etag))
        .collect();
    eprintln!(
        "resuming video {video_id}: {} of {} parts already uploaded",
        done.len(),
        cut.part_count
    );
    Ok(Some(Start {
        video_id,
        cut,
        done,
    }))
}

/// Creates the video of `args.file`: of `size` bytes, or a growing upload without one.
async fn create_video(
    api: &ApiClient,
    args: &UploadArgs,
    size: Option<u64>,
) -> Result<Created, CliError> {
    let filename = args
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("video")
        .to_owned();
    let title = args.title.clone().unwrap_or_else(|| filename.clone());
    let created = api
        .create_video(
            &title,
            &filename,
            size,
            content_type(&args.file),
            args.visibility.as_deref(),
        )
        .await?;
    Ok(created)
}

async fn create(api: &ApiClient, book: &ResumeBook, args: &UploadArgs) -> Result<Start, CliError> {
    let created = create_video(api, args, Some(book.size())).await?;
    // Remember the video before sending a byte, so an interrupted run can resume.
    book.save(&created.video.id)?;
    let cut = Cut::checked(
        created.upload.part_size,
        created.upload.part_count,
        book.size(),
    )?;
    Ok(Start {
        video_id: created.video.id,
        cut,
        done: BTreeMap::new(),
    })
}

struct Uploaded {
    video: Video,
    parts_sent: usize,
    parts_resumed: usize,
    /// Parts sent again because the file changed after they went (a followed file's header).
    parts_resent: usize,
    /// Parts that went up before the writer was done with a followed file.
    parts_sent_while_growing: usize,
    bytes_sent: u64,
    seconds: f64,
    /// A followed file: how long its end took once the writer was done.
    after_stop: Option<AfterStop>,
}

/// The steps of a followed upload after its writer is done, timed (the "stop to playable"
/// benchmark reads them).
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct AfterStop {
    /// Checking every part sent against the file, sending the changed ones and the tail.
    finish_seconds: f64,
    /// The API's complete (S3 joins the parts).
    complete_seconds: f64,
}

async fn send(
    api: &ApiClient,
    args: &UploadArgs,
    book: &ResumeBook,
    start: Start,
    quiet: bool,
) -> Result<Uploaded, CliError> {
    let Start {
        video_id,
        cut,
        mut done,
    } = start;
    let todo: Vec<u32> = (1..=cut.part_count)
        .filter(|n| !done.contains_key(n))
        .collect();
    let already: u64 = done.keys().map(|&n| cut.range(n).1).sum();
    let progress = progress_bar(cut.file_size, already, quiet);
    let parts_resumed = done.len();
    let parts_sent = todo.len();
    let sender = PartSender::new(
        api,
        &video_id,
        args.file.clone(),
        cut,
        todo.clone(),
        args.limit_rate.map(|rate| Arc::new(pace::Pace::new(rate))),
        progress.clone(),
    );
    let began = Instant::now();
    let mut sent = futures::stream::iter(todo)
        .map(|n| sender.send(n))
        .buffer_unordered(usize::from(args.parallel));
    while let Some(result) = sent.next().await {
        match result {
            Ok((n, etag)) => {
                done.insert(n, etag);
            }
            Err(err) => {
                progress.abandon();
                return Err(CliError(format!(
                    "{err}\nthe parts sent so far are kept; run the same command again to resume"
                )));
            }
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    progress.finish();
    let parts: Vec<(u32, String)> = done.into_iter().collect();
    let video = api.complete(&video_id, &parts).await?;
    book.forget();
    Ok(Uploaded {
        video,
        parts_sent,
        parts_resumed,
        parts_resent: 0,
        parts_sent_while_growing: 0,
        bytes_sent: cut.file_size - already,
        seconds,
        after_stop: None,
    })
}

fn progress_bar(total: u64, position: u64, hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(position);
    bar.reset_eta();
    bar
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("webm") => "video/webm",
        Some("ts") => "video/mp2t",
        Some("flv") => "video/x-flv",
        _ => "application/octet-stream",
    }
}
