//! `vodnest videos ...`: the caller's videos (everyone's for an admin) over the HTTP API.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::CliError;
use crate::accounts::done;
use crate::api::ApiClient;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum VideosCommand {
    /// Videos, newest first.
    List {
        /// Videos per page (at most 100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The page after this cursor (printed at the end of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One video.
    Get { video_id: String },
    /// Change a video's title, description or visibility.
    Edit {
        video_id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_enum)]
        visibility: Option<VisibilityArg>,
    },
    /// Delete a video and its files.
    Delete { video_id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum VisibilityArg {
    Public,
    Unlisted,
    Private,
}

impl VisibilityArg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Unlisted => "unlisted",
            Self::Private => "private",
        }
    }
}

const HEADER: [&str; 7] = [
    "ID",
    "TITLE",
    "STATUS",
    "VISIBILITY",
    "OWNER",
    "SIZE",
    "CREATED",
];

fn row(video: &Value) -> Vec<String> {
    let mut cells = output::rows(
        std::slice::from_ref(video),
        &["id", "title", "status", "visibility"],
    )
    .concat();
    cells.push(output::cell(&video["owner"]["username"]));
    cells.push(output::cell(&video["size_bytes"]));
    cells.push(output::cell(&video["created_at"]));
    cells
}

pub async fn run(
    api: &ApiClient,
    json: bool,
    command: VideosCommand,
) -> Result<ExitCode, CliError> {
    match command {
        VideosCommand::List { limit, cursor } => {
            let mut path = format!("/videos?limit={limit}");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = api.call(Method::GET, &path, None).await?;
            if json {
                println!("{page}");
                return Ok(ExitCode::SUCCESS);
            }
            let videos = page["videos"].as_array().map_or(&[][..], Vec::as_slice);
            let rows: Vec<_> = videos.iter().map(row).collect();
            println!("{}", output::table(&HEADER, &rows));
            if let Some(next) = page["next_cursor"].as_str() {
                println!("more: --cursor {next}");
            }
        }
        VideosCommand::Get { video_id } => {
            let one = api
                .call(Method::GET, &format!("/videos/{video_id}"), None)
                .await?;
            print_video(json, &one);
        }
        VideosCommand::Edit {
            video_id,
            title,
            description,
            visibility,
        } => {
            let mut body = Map::new();
            if let Some(title) = title {
                body.insert("title".into(), title.into());
            }
            if let Some(description) = description {
                body.insert("description".into(), description.into());
            }
            if let Some(visibility) = visibility {
                body.insert("visibility".into(), visibility.as_str().into());
            }
            if body.is_empty() {
                return Err(CliError(
                    "nothing to change: give --title, --description or --visibility".into(),
                ));
            }
            let path = format!("/videos/{video_id}");
            let one = api
                .call(Method::PATCH, &path, Some(&Value::Object(body)))
                .await?;
            print_video(json, &one);
        }
        VideosCommand::Delete { video_id } => {
            api.call(Method::DELETE, &format!("/videos/{video_id}"), None)
                .await?;
            done(json, &format!("deleted {video_id}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_video(json: bool, one: &Value) {
    if json {
        println!("{one}");
    } else {
        let video = &one["video"];
        println!("{}", output::table(&HEADER, &[row(video)]));
        if let Some(description) = video["description"].as_str().filter(|d| !d.is_empty()) {
            println!("\n{description}");
        }
    }
}
