//! Generated types for the `vodnest.processor.v1` gRPC service, [`job_state`]: the job
//! state's names and conversions at this boundary, and [`bearer`]: the token every call carries.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod pb {
    tonic::include_proto!("vodnest.processor.v1");

    /// The encoded file descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/processor_descriptor.bin"));
}

pub mod bearer;
pub mod job_state;
