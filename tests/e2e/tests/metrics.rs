//! Prometheus metrics: both services' `/metrics` are Prometheus text (every line a comment or a
//! well-formed sample, parsed by `prometheus-parse`), and they move when a video is uploaded and
//! processed. Other tests in this binary record into the same process-wide recorder, so only
//! increases are asserted, never exact values.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use prometheus_parse::{Scrape, Value};
use vodnest_e2e::{TestApp, clip};
use vodnest_testkit::{Look, eventually};

const PATIENCE: Duration = Duration::from_secs(120);

/// The scrape, after checking that each line is a comment or `name{labels} value`.
async fn scrape(app: &TestApp, url: &str) -> Result<Scrape> {
    let response = app.http.get(url).send().await?;
    ensure!(response.status() == 200, "GET {url}: {}", response.status());
    let content_type = vodnest_e2e::header(&response, "content-type");
    ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await?;
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').context("a sample without a value")?;
        ensure!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "not a number: {line}"
        );
        let name = series.split('{').next().unwrap_or_default();
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && name.starts_with("vodnest_"),
            "not a vodnest metric name: {line}"
        );
        ensure!(
            !series.contains('{') || series.ends_with('}'),
            "unterminated labels: {line}"
        );
    }
    Ok(Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))?)
}

/// The sum of `metric`'s samples whose labels include `labels` (a histogram: its count).
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_serve_prometheus_text_that_moves_with_an_upload() -> Result<()> {
    let app = TestApp::spawn().await?;
    let processor = app
        .processor_metrics_url
        .clone()
        .context("the test app runs a processor")?;
    let created = [
        ("route", "/api/v1/videos"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let transcoded = [("kind", "transcode"), ("outcome", "succeeded")];
    let before = scrape(&app, &app.api_metrics_url).await?;
    let requests_before = total(&before, "vodnest_http_requests_total", &created);
    let jobs_before = total(&before, "vodnest_jobs_finished_total", &transcoded);

    let dir = tempfile::tempdir()?;
    let source = dir.path().join("clip.mp4");
    let encode = [&clip::X264[..], &["-r", "15"], &clip::AAC[..]].concat();
    clip::make(&source, 4, "320x180", true, &encode).await?;
    let id = app.upload_file(&source, "metered").await?;
    eventually("ready and counted", PATIENCE, async || {
        let video = app.video(&id).await?;
        let scrape = scrape(&app, &processor).await?;
        let jobs = total(&scrape, "vodnest_jobs_finished_total", &transcoded);
        Ok(if video["status"] == "ready" && jobs > jobs_before {
            Look::Done(())
        } else {
            Look::NotYet(format!(
                "{} with {jobs} transcodes counted",
                video["status"]
            ))
        })
    })
    .await?;

    let after = scrape(&app, &app.api_metrics_url).await?;
    ensure!(total(&after, "vodnest_http_requests_total", &created) > requests_before);
    let kind = [("kind", "transcode")];
    ensure!(total(&after, "vodnest_job_duration_seconds", &kind) > 0.0);
    ensure!(total(&after, "vodnest_job_speed_ratio", &kind) > 0.0);
    let completed = [
        ("route", "/api/v1/videos/:id/upload/complete"),
        ("status", "202"),
    ];
    ensure!(total(&after, "vodnest_http_requests_total", &completed) > 0.0);
    ensure!(total(&after, "vodnest_http_request_duration_seconds", &[]) > 0.0);
    // Sampled from the database every few seconds.
    eventually("the sampled gauges", PATIENCE, async || {
        let scrape = scrape(&app, &app.api_metrics_url).await?;
        let sampled = [
            "vodnest_queue_depth",
            "vodnest_db_pool_connections",
            "vodnest_jobs",
        ]
        .iter()
        .all(|m| scrape.samples.iter().any(|s| s.metric == *m));
        Ok(if sampled {
            Look::Done(())
        } else {
            Look::NotYet("not sampled yet".into())
        })
    })
    .await?;
    app.stop().await
}
