//! Inspecting and steering jobs: what the processor's gRPC control plane calls.
