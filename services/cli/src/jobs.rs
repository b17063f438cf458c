//! `vodnest jobs ...`: the processor's control plane from a terminal.

use std::process::ExitCode;

use clap::Subcommand;
use futures::StreamExt;
use tonic::transport::Channel;
use vodnest_proto::pb::processor_client::ProcessorClient;
use vodnest_proto::pb::{
    CancelJobRequest, GetJobRequest, Job, JobState, ListJobsRequest, QueueStatsRequest,
    RetryJobRequest, SubmitJobRequest, WatchJobRequest,
};

use crate::CliError;
use crate::output::{self, JOB_HEADER};

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["queued", "running", "succeeded", "failed", "canceled"])]
        state: Option<String>,
        /// Jobs per page (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: i32,
        /// The page after this token (printed at the end of the previous page).
        #[arg(long)]
        page_token: Option<String>,
    },
    /// One job.
    Get { job_id: String },
    /// Follow a job until it ends; exits 0 if it succeeded.
    Watch { job_id: String },
    /// Stop a queued or running job.
    Cancel { job_id: String },
    /// Run a failed or canceled job's video again.
    Retry { job_id: String },
    /// Process an uploaded video again.
    Submit { video_id: String },
    /// Jobs per state and the age of the oldest queued one.
    Stats,
}

fn state_filter(name: Option<&str>) -> i32 {
    let state = match name {
        Some("queued") => JobState::Queued,
        Some("running") => JobState::Running,
        Some("succeeded") => JobState::Succeeded,
        Some("failed") => JobState::Failed,
        Some("canceled") => JobState::Canceled,
        _ => JobState::Unspecified,
    };
    state as i32
}

fn print_job(job: &Job, json: bool) {
    if json {
        println!("{}", output::job_json(job));
    } else {
        println!("{}", output::job_details(job));
    }
}

pub async fn run(grpc: &str, json: bool, command: JobsCommand) -> Result<ExitCode, CliError> {
    let endpoint = Channel::from_shared(grpc.to_owned()).map_err(|_| {
        CliError(format!(
            "{grpc:?} is not a gRPC URL (e.g. http://127.0.0.1:50051)"
        ))
    })?;
    let mut client = ProcessorClient::new(endpoint.connect().await?);
    match command {
        JobsCommand::List {
            state,
            limit,
            page_token,
        } => {
            let page = client
                .list_jobs(ListJobsRequest {
                    state: state_filter(state.as_deref()),
                    page_size: limit,
                    page_token: page_token.unwrap_or_default(),
                })
                .await?
                .into_inner();
            if json {
                let jobs: Vec<_> = page.jobs.iter().map(output::job_json).collect();
                println!(
                    "{}",
                    serde_json::json!({"jobs": jobs, "next_page_token": page.next_page_token})
                );
            } else {
                let rows: Vec<_> = page.jobs.iter().map(output::job_row).collect();
                println!("{}", output::table(&JOB_HEADER, &rows));
                if !page.next_page_token.is_empty() {
                    println!("more: --page-token {}", page.next_page_token);
                }
            }
        }
        JobsCommand::Get { job_id } => {
            print_job(
                &client.get_job(GetJobRequest { job_id }).await?.into_inner(),
                json,
            );
        }
        JobsCommand::Cancel { job_id } => {
            print_job(
                &client
                    .cancel_job(CancelJobRequest { job_id })
                    .await?
                    .into_inner(),
                json,
            );
        }
        JobsCommand::Retry { job_id } => {
            print_job(
                &client
                    .retry_job(RetryJobRequest { job_id })
                    .await?
                    .into_inner(),
                json,
            );
        }
        JobsCommand::Submit { video_id } => {
            print_job(
                &client
                    .submit_job(SubmitJobRequest { video_id })
                    .await?
                    .into_inner(),
                json,
            );
        }
        JobsCommand::Stats => {
            let stats = client.queue_stats(QueueStatsRequest {}).await?.into_inner();
            if json {
                println!("{}", output::stats_json(&stats));
            } else {
                let row = vec![
                    stats.queued.to_string(),
                    stats.running.to_string(),
                    stats.succeeded.to_string(),
                    stats.failed.to_string(),
                    stats.canceled.to_string(),
                    format!("{:.1}s", stats.oldest_queued_age_s),
                ];
                let header = [
                    "QUEUED",
                    "RUNNING",
                    "SUCCEEDED",
                    "FAILED",
                    "CANCELED",
                    "OLDEST QUEUED",
                ];
                println!("{}", output::table(&header, &[row]));
            }
        }
        JobsCommand::Watch { job_id } => {
            let mut events = client
                .watch_job(WatchJobRequest { job_id })
                .await?
                .into_inner();
            let mut last_state = JobState::Unspecified as i32;
            while let Some(event) = events.next().await {
                let event = event?;
                let Some(job) = event.job else { continue };
                last_state = job.state;
                if json {
                    println!("{}", output::job_json(&job));
                } else {
                    println!(
                        "{:<10} {:<12} {:>4}  video {}",
                        output::state_name(job.state),
                        job.stage,
                        output::percent(job.progress),
                        event.video_status
                    );
                }
            }
            if last_state != JobState::Succeeded as i32 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
