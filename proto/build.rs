//! Compiles `vodnest/processor/v1/processor.proto` with protox (pure Rust, no protoc needed)
//! and generates the tonic client and server from the descriptor set.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "vodnest/processor/v1/processor.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for gRPC server reflection.
    std::fs::write(
        out_dir.join("processor_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
