//! `--wait`: follows a video's processing through the API until it is ready or failed.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::CliError;
use crate::api::{ApiClient, Video};

const POLL: Duration = Duration::from_secs(1);

/// Polls the video (a status change a second is plenty for a terminal) until it ends.
pub async fn until_done(api: &ApiClient, id: &str, show: bool) -> Result<Video, CliError> {
    let bar = if show {
        ProgressBar::new(1000)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40.green/blue} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let video = api.video(id).await?;
        bar.set_position((video.progress.clamp(0.0, 1.0) * 1000.0) as u64);
        let playable = if video.playable { ", playable" } else { "" };
        bar.set_message(format!("{}{playable}", video.status));
        if video.status == "ready" || video.status == "failed" {
            bar.finish_and_clear();
            return Ok(video);
        }
        tokio::time::sleep(POLL).await;
    }
}
