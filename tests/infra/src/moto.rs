use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};
use vodnest_testkit::{Look, eventually};

/// A moto server (AWS emulator) on a free port of 127.0.0.1, killed when dropped. The Python
/// that has moto is `MOTO_PYTHON` (the dev script installs it), `python3` otherwise.
pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

impl Moto {
    pub async fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let python = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting moto with {python}"))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually("moto answering", Duration::from_secs(10), async || {
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
            _child: child,
        })
    }
}
