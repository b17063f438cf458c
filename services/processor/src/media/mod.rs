//! ffprobe and ffmpeg: what a source file is, and how it becomes an HLS directory.
//!
//! - [`process`]: runs a child with a timeout, cancellation and the tail of its stderr.
//! - [`probe`]: reads a source with ffprobe and refuses what is not a video.
//! - [`ladder`]: the configurable ABR ladder (heights and bitrates) and the renditions it gives
//!   a source.
//! - [`limits`]: the caps on a source's duration, resolution and frame rate.
//! - [`fastpath`]: when the source's video can be copied into the top rendition.
//! - [`hls`]: the one ffmpeg run that writes those renditions as HLS.
//! - [`fmp4`]: the timescale and decode times of fMP4 segments (a chunk shifts its own).
//! - [`poster`]: the poster frame.
//! - [`storyboard`]: seek-preview sprite sheets and their WebVTT track.

pub mod fastpath;
pub mod fmp4;
pub mod hls;
pub mod ladder;
pub mod limits;
pub mod poster;
pub mod probe;
pub mod process;
pub mod storyboard;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Where ffprobe and ffmpeg read the source: a local file, or a presigned S3 URL read with
/// HTTP range requests, so that a raw file of tens of gigabytes never lands on the
/// processor's disk.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

/// The demuxers a source may be read with: containers of audio and video. Playlists and
/// reference formats (hls, dash, concat, image sequences, anything that opens other URLs) are
/// not among them, so an upload cannot make ffmpeg fetch what it points at: ffprobe then
/// refuses the file as "not a video".
pub const ALLOWED_DEMUXERS: &str = "mov,matroska,webm,mpegts,flv,avi,asf,mpeg,mxf,ogg,dv";

impl Source {
    /// The input arguments: the sandbox (the demuxer allow-list, and only the protocols this
    /// source needs), then `-i` and the source, with reconnects for HTTP (a transfer that
    /// breaks mid-way resumes at the byte where it stopped).
    pub fn input_args(&self) -> Vec<OsString> {
        self.input_args_from(&[])
    }

    /// [`Self::input_args`] with input options before `-i` (e.g. `-ss` to read from a time).
    pub fn input_args_from(&self, options: &[String]) -> Vec<OsString> {
        let (protocols, reconnect, input): (_, &[&str], OsString) = match self {
            Self::File(path) => ("file", &[], path.into()),
            Self::Url(url) => (
                "http,https,tcp,tls",
                &[
                    "-reconnect",
                    "1",
                    "-reconnect_on_network_error",
                    "1",
                    "-reconnect_delay_max",
                    "30",
                ],
                url.into(),
            ),
        };
        let sandbox = [
            "-format_whitelist",
            ALLOWED_DEMUXERS,
            "-protocol_whitelist",
            protocols,
        ];
        sandbox
            .iter()
            .chain(reconnect)
            .map(OsString::from)
            .chain(options.iter().map(OsString::from))
            .chain([OsString::from("-i"), input])
            .collect()
    }
}

/// Why a probe or an ffmpeg run did not give its result. Each says whether another attempt
/// may succeed ([`MediaError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The input is not something we can play: not retried.
    #[error("the uploaded file is not a video: {0}")]
    NotAVideo(String),
    /// The input is a video beyond one of this server's limits (see [`limits`]): not retried.
    #[error("the uploaded video is over this server's limits: {0}")]
    OverLimit(String),
    /// ffmpeg gave up decoding a source that ffprobe read (see
    /// [`process::DECODE_ERRORS_EXIT`]): the file is damaged, and would be on every attempt.
    #[error("the uploaded file is damaged: {what} could not decode most of it: {stderr_tail}")]
    Undecodable {
        what: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    /// The child exited with an error, or a signal killed it.
    #[error("{what} ({status}) failed: {stderr_tail}")]
    Failed {
        what: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    #[error("{what} took longer than {}s and was stopped", after.as_secs())]
    Timeout { what: String, after: Duration },
    #[error("processing was canceled")]
    Canceled,
    /// The program is not installed: the processor checks for it at start-up.
    #[error("cannot find {program} on PATH")]
    Missing { program: String },
    #[error("cannot run {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("scratch files: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// A short name of what went wrong, for metrics (`vodnest_ffmpeg_failures_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAVideo(_) => "not_a_video",
            Self::OverLimit(_) => "over_limit",
            Self::Undecodable { .. } => "undecodable",
            Self::Failed { .. } => "failed",
            Self::Timeout { .. } => "timeout",
            Self::Canceled => "canceled",
            Self::Missing { .. } => "missing",
            Self::Spawn { .. } => "spawn",
            Self::Io(_) => "io",
        }
    }

    /// Bad input: another attempt would fail the same way.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::NotAVideo(_) | Self::OverLimit(_) | Self::Undecodable { .. }
        )
    }

    /// Worth another attempt: a child that exited with an error (the source's network reads
    /// failing, say) or that a signal killed (the OOM killer, an operator), a timeout, trouble
    /// on this machine. Neither bad input nor a cancel.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NotAVideo(_) | Self::OverLimit(_) | Self::Undecodable { .. } | Self::Canceled => {
                false
            }
            Self::Failed { .. }
            | Self::Timeout { .. }
            | Self::Missing { .. }
            | Self::Spawn { .. }
            | Self::Io(_) => true,
        }
    }
}
