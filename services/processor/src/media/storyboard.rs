//! Seek previews: a small frame every few seconds, tiled into JPEG sprite sheets, and a WebVTT
//! track that maps each time range to a tile (`storyboard/sheet_001.jpg#xywh=x,y,w,h`), as
//! players expect. ffmpeg decodes only the source's keyframes for it (`-skip_frame nokey`),
//! so the sheets cost a small fraction of the transcode. (Writing them from the transcode's
//! own decode would be cheaper still, but a second output breaks ffmpeg's `-progress` time.)

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use vodnest_core::webvtt::timestamp;

use super::probe::Probe;
use super::{MediaError, Source, process};

/// Tiles per sheet side: 100 tiles per sheet.
pub const COLUMNS: u32 = 10;
pub const ROWS: u32 = 10;
const TILE_HEIGHT: u32 = 90;
/// Seconds between tiles: at least this (short videos)…
const MIN_INTERVAL_S: f64 = 2.0;
/// …and at most this (long ones).
const MAX_INTERVAL_S: f64 = 5.0;
/// Directory under the video's prefix.
pub const DIR: &str = "storyboard";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Storyboard {
    /// Seconds between tiles: 2 s for short videos, growing with the length up to 5 s from 50
    /// minutes on, so that a preview on a long video's seek bar is never more than 5 s off (a
    /// 4-hour stream gets 2,880 tiles in 29 sheets of 1600x900, a 12-hour one 87 sheets).
    pub interval_s: f64,
    pub tile_width: u32,
    pub tile_height: u32,
}

pub fn plan(probe: &Probe) -> Storyboard {
    let interval_s =
        ((probe.duration_s / 600.0).clamp(MIN_INTERVAL_S, MAX_INTERVAL_S) * 10.0).round() / 10.0;
    let width = u64::from(probe.width) * u64::from(TILE_HEIGHT) / u64::from(probe.height.max(1));
    let tile_width = (u32::try_from(width).unwrap_or(u32::MAX).clamp(16, 320) / 2) * 2;
    Storyboard {
        interval_s,
        tile_width,
        tile_height: TILE_HEIGHT,
    }
}

impl Storyboard {
    /// The filter branch that turns a decoded stream into sheets.
    pub fn filter(&self) -> String {
        format!(
            "fps=1/{},scale={}:{},setsar=1,tile={COLUMNS}x{ROWS}",
            self.interval_s, self.tile_width, self.tile_height
        )
    }

    /// How many tiles a video of `duration_s` gets.
    pub fn tiles(&self, duration_s: f64) -> u32 {
        ((duration_s / self.interval_s).ceil() as u32).max(1)
    }

    /// The WebVTT thumbnails track; sheet URLs are relative to the track.
    pub fn vtt(&self, duration_s: f64) -> String {
        let mut out = String::from("WEBVTT\n");
        let per_sheet = COLUMNS * ROWS;
        for i in 0..self.tiles(duration_s) {
            let start = f64::from(i) * self.interval_s;
            let end = (start + self.interval_s).min(duration_s.max(start + 0.001));
            let sheet = i / per_sheet + 1;
            let x = (i % COLUMNS) * self.tile_width;
            let y = (i % per_sheet / COLUMNS) * self.tile_height;
            out.push_str(&format!(
                "\n{} --> {}\n{DIR}/sheet_{sheet:03}.jpg#xywh={x},{y},{},{}\n",
                timestamp(start),
                timestamp(end),
                self.tile_width,
                self.tile_height
            ));
        }
        out
    }
}

/// Writes `sheet_001.jpg`, `sheet_002.jpg` … into `dir`.
pub async fn write(
    input: &Source,
    dir: &Path,
    board: &Storyboard,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<(), MediaError> {
    tokio::fs::create_dir_all(dir).await?;
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-skip_frame", "nokey"])
        .args(input.input_args())
        .args(["-an", "-vf", &board.filter(), "-q:v", "5", "-f", "image2"])
        .arg(dir.join("sheet_%03d.jpg"));
    process::run(
        command,
        "ffmpeg (storyboard)",
        timeout,
        cancel,
        false,
        |_| {},
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{make_clip, sample_probe};
    use super::*;

    fn source(duration_s: f64, width: u32, height: u32) -> Probe {
        sample_probe(duration_s, width, height)
    }

    #[tokio::test]
    async fn writes_sheets_from_keyframes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.mp4");
        make_clip(&input, false).await;
        let board = plan(&source(9.0, 640, 360));
        let sheets = dir.path().join("sheets");
        write(
            &Source::File(input.clone()),
            &sheets,
            &board,
            &CancellationToken::new(),
            Duration::from_secs(60),
        )
        .await
        .expect("storyboard");
        // 9 s at a tile every 2 s: five tiles, all on the first sheet.
        assert!(sheets.join("sheet_001.jpg").exists());
        assert!(!sheets.join("sheet_002.jpg").exists());
        assert_eq!(board.tiles(9.0), 5);
    }

    #[test]
    fn long_videos_get_sparser_tiles_at_most_5_s_apart() {
        assert_eq!(plan(&source(60.0, 1280, 720)).interval_s, 2.0);
        assert_eq!(plan(&source(30.0 * 60.0, 1280, 720)).interval_s, 3.0);
        let four_hours = plan(&source(4.0 * 3600.0, 1920, 1080));
        assert_eq!(four_hours.interval_s, 5.0);
        // 2,880 tiles: 29 sheets of 10x10.
        let tiles = four_hours.tiles(4.0 * 3600.0);
        assert_eq!(tiles, 2880);
        assert_eq!(tiles.div_ceil(COLUMNS * ROWS), 29);
        assert_eq!((four_hours.tile_width, four_hours.tile_height), (160, 90));
        assert_eq!(plan(&source(60.0, 1080, 1920)).tile_width, 50);
    }

    #[test]
    fn the_track_points_into_sheets() {
        let board = plan(&source(205.0, 1280, 720));
        let vtt = board.vtt(205.0);
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(
            vtt.contains(
                "00:00:00.000 --> 00:00:02.000\nstoryboard/sheet_001.jpg#xywh=0,0,160,90\n"
            )
        );
        // Tile 11 is on the second row; tile 100 starts the second sheet.
        assert!(vtt.contains(
            "00:00:22.000 --> 00:00:24.000\nstoryboard/sheet_001.jpg#xywh=160,90,160,90\n"
        ));
        assert!(
            vtt.contains(
                "00:03:20.000 --> 00:03:22.000\nstoryboard/sheet_002.jpg#xywh=0,0,160,90\n"
            )
        );
        // The last cue ends with the video.
        assert!(
            vtt.trim_end()
                .ends_with("storyboard/sheet_002.jpg#xywh=320,0,160,90")
        );
        assert!(vtt.contains("00:03:24.000 --> 00:03:25.000"));
    }
}
