//! The `vodnest` command line.
//!
//! - [`upload`]: `vodnest upload FILE`, resumable multipart uploads through the HTTP API
//!   (`--follow`: of a file still being written); [`watch`]: `vodnest watch DIR`, every
//!   recording that appears in a folder; [`obs`]: what OBS Studio's websocket says about its
//!   recordings (`watch --obs`).
//! - [`api`]: the HTTP API client; [`wait`]: following processing until it ends.
//! - [`jobs`]: `vodnest jobs list|get|watch|cancel|retry|submit|stats` over the processor's
//!   gRPC control plane.
//! - [`accounts`]: `vodnest users add|list|remove` and `vodnest keys create|list|revoke`;
//!   [`videos`]: `vodnest videos list|get|edit|delete`, over the HTTP API.
//! - [`output`]: tables for people, JSON for scripts.

pub mod accounts;
pub mod api;
pub mod jobs;
pub mod obs;
pub mod output;
pub mod upload;
pub mod videos;
pub mod wait;
pub mod watch;
pub mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "vodnest",
    version,
    about = "vodnest: upload videos and steer their processing"
)]
pub struct Cli {
    /// The processor's gRPC control plane.
    #[arg(
        long,
        global = true,
        env = "VODNEST_GRPC",
        default_value = "http://127.0.0.1:50051"
    )]
    pub grpc: String,
    /// The HTTP API, for uploads.
    #[arg(
        long,
        global = true,
        env = "VODNEST_API",
        default_value = "http://127.0.0.1:3000"
    )]
    pub api: String,
    /// An API token (`ADMIN_TOKEN` or one created for you).
    #[arg(long, global = true, env = "VODNEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Upload a video file (resumable: run it again after an interruption).
    Upload(upload::UploadArgs),
    /// Upload every recording that appears in a folder while it is written (long-running).
    Watch(watch::WatchArgs),
    /// Inspect and steer processing jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// List, read, edit and delete videos.
    #[command(subcommand)]
    Videos(videos::VideosCommand),
    /// Add, list and remove users (admin).
    #[command(subcommand)]
    Users(accounts::UsersCommand),
    /// Make, list and revoke API keys.
    #[command(subcommand)]
    Keys(accounts::KeysCommand),
    /// Add, list and remove webhook endpoints; read and redeliver their deliveries.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
}

/// An error for the person at the terminal: one sentence, no debug dump.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        Self(status.message().to_owned())
    }
}

impl From<tonic::transport::Error> for CliError {
    fn from(err: tonic::transport::Error) -> Self {
        Self(format!("cannot reach the processor: {err}"))
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let api = || {
        let token = cli.token.as_deref().ok_or_else(|| {
            CliError("this needs an API token: pass --token or set VODNEST_TOKEN".into())
        })?;
        api::ApiClient::new(&cli.api, token)
    };
    match cli.command {
        Command::Upload(args) => upload::run(&api()?, cli.json, args).await,
        Command::Watch(args) => watch::run(&api()?, cli.json, args).await,
        Command::Jobs(command) => {
            jobs::run(&cli.grpc, cli.token.as_deref(), cli.json, command).await
        }
        Command::Videos(command) => videos::run(&api()?, cli.json, command).await,
        Command::Users(command) => accounts::users(&api()?, cli.json, command).await,
        Command::Keys(command) => accounts::keys(&api()?, cli.json, command).await,
        Command::Webhooks(command) => webhooks::run(&api()?, cli.json, command).await,
    }
}
