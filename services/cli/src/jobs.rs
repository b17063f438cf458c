//! `vodnest jobs ...`: the processor's control plane from a terminal.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use futures::StreamExt;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vodnest_proto::bearer::Bearer;
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
        #[arg(long)]
        state: Option<StateArg>,
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

/// A job state as `--state` takes it (`failed`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateArg {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl From<StateArg> for JobState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Queued => Self::Queued,
            StateArg::Running => Self::Running,
            StateArg::Succeeded => Self::Succeeded,
            StateArg::Failed => Self::Failed,
            StateArg::Canceled => Self::Canceled,
        }
    }
}

fn print_job(job: &Job, json: bool) {
    if json {
        println!("{}", output::job_json(job));
    } else {
        println!("{}", output::job_details(job));
    }
}

type Client = ProcessorClient<InterceptedService<Channel, Bearer>>;

/// Connects to the control plane; every call carries `token`.
async fn connect(grpc: &str, token: Option<&str>) -> Result<Client, CliError> {
    let token = token.ok_or_else(|| {
        CliError(
            "the jobs commands need a key with the admin scope (or ADMIN_TOKEN): pass --token \
             or set VODNEST_TOKEN"
                .into(),
        )
    })?;
    let bearer = Bearer::new(token)
        .ok_or_else(|| CliError("the token contains characters a header cannot carry".into()))?;
    let endpoint = Channel::from_shared(grpc.to_owned()).map_err(|_| {
        CliError(format!(
            "{grpc:?} is not a gRPC URL (e.g. http://127.0.0.1:50051)"
        ))
    })?;
    Ok(ProcessorClient::with_interceptor(
        endpoint.connect().await?,
        bearer,
    ))
}

pub async fn run(
    grpc: &str,
    token: Option<&str>,
    json: bool,
    command: JobsCommand,
) -> Result<ExitCode, CliError> {
    let mut client = connect(grpc, token).await?;
    let job = match command {
        JobsCommand::List {
            state,
            limit,
            page_token,
        } => {
            let request = ListJobsRequest {
                state: state.map_or(JobState::Unspecified, JobState::from).into(),
                page_size: limit,
                page_token: page_token.unwrap_or_default(),
            };
            return list(&mut client, json, request).await;
        }
        JobsCommand::Stats => return stats(&mut client, json).await,
        JobsCommand::Watch { job_id } => return watch(&mut client, json, job_id).await,
        JobsCommand::Get { job_id } => client.get_job(GetJobRequest { job_id }).await?,
        JobsCommand::Cancel { job_id } => client.cancel_job(CancelJobRequest { job_id }).await?,
        JobsCommand::Retry { job_id } => client.retry_job(RetryJobRequest { job_id }).await?,
        JobsCommand::Submit { video_id } => {
            client.submit_job(SubmitJobRequest { video_id }).await?
        }
    };
    // Get, cancel, retry and submit answer with the job.
    print_job(&job.into_inner(), json);
    Ok(ExitCode::SUCCESS)
}

/// One page of jobs, as a table (with the next page's token) or as JSON.
async fn list(
    client: &mut Client,
    json: bool,
    request: ListJobsRequest,
) -> Result<ExitCode, CliError> {
    let page = client.list_jobs(request).await?.into_inner();
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
    Ok(ExitCode::SUCCESS)
}

async fn stats(client: &mut Client, json: bool) -> Result<ExitCode, CliError> {
    let stats = client.queue_stats(QueueStatsRequest {}).await?.into_inner();
    if json {
        println!("{}", output::stats_json(&stats));
        return Ok(ExitCode::SUCCESS);
    }
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
    Ok(ExitCode::SUCCESS)
}

/// Prints every change of the job until it ends; success only if it succeeded.
async fn watch(client: &mut Client, json: bool, job_id: String) -> Result<ExitCode, CliError> {
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
    Ok(if last_state == JobState::Succeeded as i32 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
