//! Traces: one upload is one trace across the API and the processor, exported over OTLP/HTTP to
//! a collector stand-in on 127.0.0.1.
//!
//! Both services run in this test process, whose one global subscriber belongs to whichever
//! test started first, and a single subscriber could not tell the two services' spans apart
//! anyway. So each service gets the subscriber it would install as a process of its own, with
//! its own exporter (`service.name` `vodnest-api` or `vodnest-processor`), as the default of the
//! threads it runs on: the API on this test's current-thread runtime (every task it spawns runs
//! on this thread), the processor on a thread and runtime of its own. Like two processes, they
//! share nothing but Postgres and the collector, so the processor's spans can only join the
//! upload's trace through the job row. The services' code does not know it runs in a test.

use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vodnest_core::telemetry;
use vodnest_core::traces::Traces;
use vodnest_e2e::{TestApp, TestDatabase, TestSettings, clip, expect_status};
use vodnest_processor::{Processor, ProcessorConfig};
use vodnest_testkit::otlp::{Collector, ReceivedSpan};
use vodnest_testkit::{Look, eventually};

const PATIENCE: Duration = Duration::from_secs(120);
/// The trace the test's own client started: the completing request continues it.
const TRACE_ID: &str = "7a3c9e0f5b2d4c6e8f1a2b3c4d5e6f70";
const CLIENT_SPAN_ID: &str = "1f2e3d4c5b6a7988";

/// The processor on a thread of its own, under `dispatch`, until [`Self::stop`].
struct ProcessorThread {
    stop: tokio_util::sync::CancellationToken,
    thread: JoinHandle<Result<()>>,
}

impl ProcessorThread {
    fn start(config: ProcessorConfig, dispatch: tracing::Dispatch) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let _default = tracing::dispatcher::set_default(&dispatch);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let processor = Processor::build(config).await?;
                processor.run_until_stopped(stopped.cancelled_owned()).await
            })
        });
        Self { stop, thread }
    }

    async fn stop(self) -> Result<()> {
        self.stop.cancel();
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the processor thread panicked"))?
    }
}

/// Sends what `traces` holds to the collector (the exporter blocks while it sends).
async fn flush(traces: &Traces) -> Result<()> {
    let traces = traces.clone();
    Ok(tokio::task::spawn_blocking(move || traces.flush()).await?)
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .map(|s| format!("{} {:?} {}/{}", s.service, s.name, s.trace_id, s.span_id))
        .collect::<Vec<_>>()
        .join("; ")
}

// Current-thread: the API's tasks run on this thread, under its subscriber (see the top).
#[tokio::test]
async fn one_upload_is_one_trace_across_both_services() -> Result<()> {
    let collector = Collector::start().await?;
    let api_traces = Traces::to_collector(collector.endpoint(), "vodnest-api".into())?;
    let processor_traces = Traces::to_collector(collector.endpoint(), "vodnest-processor".into())?;
    let _api_subscriber =
        tracing::dispatcher::set_default(&telemetry::dispatch_for_tests(&api_traces));

    let db = TestDatabase::create().await?;
    let mut settings = TestSettings::new(&db)?;
    settings.with_processor = false;
    // A rung below the 180p clip: the fast path copies the source and leaves this rung to a
    // ladder job, the follow-up whose trace context the success must carry.
    settings.processor.ladder = "144:200k".parse().map_err(anyhow::Error::msg)?;
    let processor_config = settings.processor.clone();
    let app = TestApp::spawn_with(db, settings).await?;
    let processor = ProcessorThread::start(
        processor_config,
        telemetry::dispatch_for_tests(&processor_traces),
    );

    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    // 15 fps with a keyframe every 2 s: the remux fast path.
    let encode = [&clip::X264[..], &["-r", "15", "-g", "30"], &clip::AAC[..]].concat();
    clip::make(&source, 4, "320x180", true, &encode).await?;
    let (id, parts) = app.upload_parts(&source, "traced").await?;
    let response = app
        .complete_request(&id, &parts)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .send()
        .await?;
    expect_status(response, 202).await?;

    // Ready, and every job of the video (the transcode and the ladder it enqueues) finished.
    let video: uuid::Uuid = id.parse()?;
    let jobs = eventually("every job of the video done", PATIENCE, async || {
        let jobs: Vec<(uuid::Uuid, String, String, Option<String>)> = sqlx::query_as(
            "select id, kind::text, state::text, trace_context from jobs where video_id = $1",
        )
        .bind(video)
        .fetch_all(&app.pool)
        .await?;
        let done = !jobs.is_empty() && jobs.iter().all(|(_, _, state, _)| state == "succeeded");
        Ok(if done {
            Look::Done(jobs)
        } else {
            Look::NotYet(format!("{jobs:?}"))
        })
    })
    .await?;
    ensure!(app.video(&id).await?["status"] == "ready");
    processor.stop().await?;
    flush(&api_traces).await?;
    flush(&processor_traces).await?;
    let spans = collector.spans()?;
    ensure!(collector.exports() > 0, "nothing was exported");

    // The API continued the client's trace in the request that completed the upload.
    let route = "POST /api/v1/videos/{id}/upload/complete";
    let complete = spans
        .iter()
        .find(|s| s.service == "vodnest-api" && s.name == route)
        .with_context(|| format!("no API span {route:?} in {}", describe(&spans)))?;
    ensure!(complete.trace_id == TRACE_ID, "{complete:?}");
    ensure!(complete.parent_span_id == CLIENT_SPAN_ID, "{complete:?}");
    ensure!(
        complete.attributes.get("http.response.status_code") == Some(&"202".to_owned()),
        "{complete:?}"
    );

    // Each job row carries that request's context, and each job's span is its child.
    let stored = format!("00-{TRACE_ID}-{}-01", complete.span_id);
    ensure!(
        jobs.iter().any(|(_, kind, _, _)| kind == "ladder"),
        "the clip takes the fast path, whose success enqueues a ladder job: {jobs:?}"
    );
    for (job_id, kind, _, trace_context) in &jobs {
        ensure!(
            trace_context.as_deref() == Some(stored.as_str()),
            "{kind} job row: {trace_context:?}, expected {stored}"
        );
        let span = spans
            .iter()
            .find(|s| {
                s.service == "vodnest-processor"
                    && s.attributes.get("job_id") == Some(&job_id.to_string())
            })
            .with_context(|| format!("no span of {kind} job {job_id} in {}", describe(&spans)))?;
        ensure!(span.name == format!("job {kind}"), "{span:?}");
        ensure!(span.trace_id == TRACE_ID, "{span:?}");
        ensure!(span.parent_span_id == complete.span_id, "{span:?}");
    }
    // Nothing the processor did for this video fell out of the trace.
    let video_spans = spans
        .iter()
        .filter(|s| s.attributes.get("video_id") == Some(&id));
    for span in video_spans {
        ensure!(span.trace_id == TRACE_ID, "{span:?}");
    }
    app.stop().await
}
