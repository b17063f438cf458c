//! The `vodnest` command line.
//!
//! - [`jobs`]: `vodnest jobs list|get|watch|cancel|retry|submit|stats` over the processor's
//!   gRPC control plane.
//! - [`output`]: tables for people, JSON for scripts.

pub mod jobs;
pub mod output;

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
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Inspect and steer processing jobs.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
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
    match cli.command {
        Command::Jobs(command) => jobs::run(&cli.grpc, cli.json, command).await,
    }
}
