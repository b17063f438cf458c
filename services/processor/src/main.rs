use clap::Parser;
use vodnest_processor::{Processor, ProcessorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vodnest_core::telemetry::init();
    let config = ProcessorConfig::parse();
    let processor = Processor::build(config).await?;
    tracing::info!(grpc_addr = %processor.grpc_addr(), "vodnest-processor started");
    processor
        .run_until_stopped(vodnest_core::shutdown::signal())
        .await?;
    Ok(())
}
