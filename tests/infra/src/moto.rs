use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tokio::process::{Child, Command};
use vodnest_testkit::{Look, eventually};

/// A moto server (AWS emulator) on a free port of 127.0.0.1, killed when dropped. The Python
/// that has moto is `MOTO_PYTHON` (the dev script installs it), `python3` otherwise; it runs
/// `tests/infra/moto/server.py`, moto's server with the few calls it lacks added.
pub struct Moto {
    pub endpoint: String,
    http: reqwest::Client,
    _child: Child,
}

/// An AWS service moto answers in a JSON protocol: (credential scope name, target prefix,
/// content type).
#[derive(Clone, Copy, Debug)]
pub enum JsonService {
    ApplicationAutoScaling,
    CloudWatch,
    Ecs,
    EventBridge,
    Sqs,
}

impl JsonService {
    fn protocol(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::ApplicationAutoScaling => (
                "application-autoscaling",
                "AnyScaleFrontendService",
                "application/x-amz-json-1.1",
            ),
            Self::Ecs => (
                "ecs",
                "AmazonEC2ContainerServiceV20141113",
                "application/x-amz-json-1.1",
            ),
            Self::CloudWatch => (
                "monitoring",
                "GraniteServiceVersion20100801",
                "application/x-amz-json-1.0",
            ),
            Self::EventBridge => ("events", "AWSEvents", "application/x-amz-json-1.1"),
            Self::Sqs => ("sqs", "AmazonSQS", "application/x-amz-json-1.0"),
        }
    }
}

impl Moto {
    pub async fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
        let server = vodnest_testkit::repo_root().join("tests/infra/moto/server.py");
        let mut child = Command::new(&python)
            .arg(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting moto with {python}"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // moto's Python start-up took over 10 s once on a busy 2-core machine (the other
        // Terraform tests start their own servers at the same time): a hang guard, not a target.
        eventually("moto answering", Duration::from_secs(60), async || {
            if let Some(status) = child.try_wait()? {
                bail!("moto exited at start ({status}): is moto[server] installed for {python}?");
            }
            let answer = http.get(format!("{endpoint}/moto-api/")).send().await;
            Ok(match answer {
                Ok(_) => Look::Done(()),
                Err(err) => Look::NotYet(format!("{endpoint}: {err}")),
            })
        })
        .await?;
        Ok(Self {
            endpoint,
            http,
            _child: child,
        })
    }

    /// Calls `action` of `service` with a JSON body and returns the JSON answer. moto checks no
    /// signature, only which service the credential scope names, so the request is unsigned:
    /// this spares the test crate an SDK per service.
    pub async fn call(&self, service: JsonService, action: &str, body: Value) -> Result<Value> {
        let (scope, prefix, content_type) = service.protocol();
        let answer = self
            .http
            .post(&self.endpoint)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{scope}/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .header("content-type", content_type)
            .header("x-amz-target", format!("{prefix}.{action}"))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("{scope} {action}"))?;
        let status = answer.status();
        let text = answer.text().await?;
        ensure!(status.is_success(), "{scope} {action}: {status} {text}");
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{scope} {action}: {text}"))
    }
}
