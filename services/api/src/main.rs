use clap::Parser;
use vodnest_api::{ApiConfig, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    let telemetry = vodnest_core::telemetry::init("vodnest-api", &config.traces)?;
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "vodnest-api listening");
    let outcome = app
        .run_until_stopped(vodnest_core::shutdown::signal())
        .await;
    telemetry.shutdown().await;
    outcome
}
