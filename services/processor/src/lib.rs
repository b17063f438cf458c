//! The vodnest processor: claims jobs from Postgres, turns raw uploads into HLS with
//! ffprobe/ffmpeg, writes the output to S3, and serves a gRPC control plane.
//!
//! - [`config`]: settings (environment variables and flags).
//! - [`startup`]: wires the worker and the gRPC server together and runs them.
//! - [`worker`]: the claim loop, slots and graceful shutdown.
//! - [`job`]: one job from claim to its recorded outcome, under a renewed lease: the probe,
//!   the plan and the encode (`job::encode`), the poster and storyboard (`job::extras`).
//! - [`media`]: ffprobe, the ladder and the rendition plan, the ffmpeg runs (HLS, poster,
//!   storyboard) and the child processes under them.
//! - [`publish`]: uploads HLS output while ffmpeg writes it (playlists, content types);
//!   marks the video playable.
//! - [`backlog`]: pauses ffmpeg while its output outruns the uploads.
//! - [`grpc`]: the `vodnest.processor.v1.Processor` control plane.

pub mod backlog;
pub mod config;
pub mod grpc;
pub mod job;
pub mod media;
pub mod publish;
pub mod startup;
pub mod worker;

pub use config::ProcessorConfig;
pub use startup::Processor;
