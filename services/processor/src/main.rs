use clap::Parser;
use vodnest_processor::{Processor, ProcessorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ProcessorConfig::parse();
    let telemetry = vodnest_core::telemetry::init("vodnest-processor", &config.traces)?;
    let processor = Processor::build(config).await?;
    tracing::info!(grpc_addr = %processor.grpc_addr(), "vodnest-processor started");
    let outcome = processor
        .run_until_stopped(vodnest_core::shutdown::signal())
        .await;
    telemetry.shutdown().await;
    outcome
}
