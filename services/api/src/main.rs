use clap::Parser;
use vodnest_api::{ApiConfig, Application};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vodnest_core::telemetry::init();
    let config = ApiConfig::parse();
    let app = Application::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "vodnest-api listening");
    app.run_until_stopped(vodnest_core::shutdown::signal())
        .await?;
    Ok(())
}
