//! Playlists, through `m3u8-rs`: ffmpeg's media playlists as the publisher reads them (the
//! files each lists, cut after its first segment, finalized as VOD) and the master playlist we
//! write ourselves from the plan.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use m3u8_rs::{MasterPlaylist, MediaPlaylist, MediaPlaylistType, Resolution, VariantStream};

use super::PublishError;
use crate::media::hls;
use crate::media::ladder::RenditionPlan;

/// ffmpeg's playlist for one rendition.
pub fn parse(text: &[u8]) -> Result<MediaPlaylist, PublishError> {
    m3u8_rs::parse_media_playlist_res(text)
        .map_err(|err| PublishError::Playlist(format!("{:?}", err.map(|e| e.code))))
}

/// The files a playlist lists, in order: each init segment (`EXT-X-MAP`) before the media
/// segments it initializes.
pub fn files(playlist: &MediaPlaylist) -> Vec<String> {
    let mut files = Vec::new();
    for segment in &playlist.segments {
        if let Some(map) = &segment.map {
            files.push(map.uri.clone());
        }
        files.push(segment.uri.clone());
    }
    files
}

/// Keeps the first media segment alone (and its init segment).
pub fn keep_first_segment(playlist: &mut MediaPlaylist) {
    playlist.segments.truncate(1);
}

/// Makes the playlist a finished VOD playlist.
pub fn finalize(playlist: &mut MediaPlaylist) {
    playlist.playlist_type = Some(MediaPlaylistType::Vod);
    playlist.end_list = true;
}

pub fn media_text(playlist: &MediaPlaylist) -> Result<String, PublishError> {
    text(|out| playlist.write_to(out))
}

/// The CODECS ffmpeg wrote into its own master playlist, by rendition directory; none when
/// it cannot be read.
pub async fn read_codecs(path: &Path) -> HashMap<String, String> {
    let text = tokio::fs::read(path).await.unwrap_or_default();
    let Ok(master) = m3u8_rs::parse_master_playlist_res(&text) else {
        return HashMap::new();
    };
    master
        .variants
        .into_iter()
        .filter_map(|variant| {
            let (dir, _) = variant.uri.split_once('/')?;
            Some((dir.to_owned(), variant.codecs?))
        })
        .collect()
}

/// Our own master playlist: ffmpeg 5's lacks AVERAGE-BANDWIDTH and FRAME-RATE, and its
/// BANDWIDTH is a guess from the first segment.
pub fn master(
    renditions: &[RenditionPlan],
    codecs: &HashMap<String, String>,
    frame_rate: Option<f64>,
) -> Result<String, PublishError> {
    let variants = renditions
        .iter()
        .map(|r| variant(r, codecs.get(&r.name).cloned(), frame_rate))
        .collect();
    let master = MasterPlaylist {
        version: Some(7),
        independent_segments: true,
        variants,
        ..MasterPlaylist::default()
    };
    text(|out| master.write_to(out))
}

fn variant(r: &RenditionPlan, codecs: Option<String>, frame_rate: Option<f64>) -> VariantStream {
    let codecs = codecs.unwrap_or_else(|| {
        let audio = if r.audio_bitrate > 0 {
            ",mp4a.40.2"
        } else {
            ""
        };
        format!("avc1.640028{audio}")
    });
    // The encoder may reach its VBV maxrate for a segment; BANDWIDTH is that peak. A copied
    // source was encoded under rules we do not know: allow it half as much again.
    let peak_video = if r.copy {
        r.video_bitrate * 3 / 2
    } else {
        hls::peak_video_bitrate(r.video_bitrate)
    };
    VariantStream {
        uri: format!("{}/index.m3u8", r.name),
        bandwidth: peak_video + r.audio_bitrate,
        average_bandwidth: Some(r.video_bitrate + r.audio_bitrate),
        codecs: Some(codecs),
        resolution: Some(Resolution {
            width: r.width.into(),
            height: r.height.into(),
        }),
        // Three decimals, as the HLS spec's examples write it (29.97, not 29.97002997…).
        frame_rate: frame_rate.map(|rate| (rate * 1000.0).round() / 1000.0),
        ..VariantStream::default()
    }
}

/// A playlist's text as `write` makes it.
fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Result<String, PublishError> {
    let mut out = Vec::new();
    write(&mut out)?;
    String::from_utf8(out).map_err(|err| PublishError::Playlist(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As ffmpeg 5 writes it while it encodes.
    const EVENT: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MAP:URI=\"init_0.mp4\"\n#EXTINF:6.000000,\nseg_00000.m4s\n#EXTINF:6.000000,\nseg_00001.m4s\n";

    fn event() -> MediaPlaylist {
        parse(EVENT.as_bytes()).expect("ffmpeg's playlist parses")
    }

    #[test]
    fn lists_init_and_segments() {
        assert_eq!(
            files(&event()),
            ["init_0.mp4", "seg_00000.m4s", "seg_00001.m4s"]
        );
    }

    #[test]
    fn a_playlist_cut_after_its_first_segment() {
        let mut playlist = event();
        keep_first_segment(&mut playlist);
        assert_eq!(files(&playlist), ["init_0.mp4", "seg_00000.m4s"]);
        let cut = media_text(&playlist).expect("text");
        assert!(cut.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{cut}");
        assert!(cut.contains("#EXT-X-MAP:URI=\"init_0.mp4\""), "{cut}");
        assert!(cut.trim_end().ends_with("seg_00000.m4s"), "{cut}");
        assert!(!cut.contains("ENDLIST"), "{cut}");
    }

    #[test]
    fn finalizing_makes_a_vod_playlist() {
        let mut playlist = event();
        finalize(&mut playlist);
        let vod = media_text(&playlist).expect("text");
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{vod}");
        assert!(!vod.contains("EVENT"), "{vod}");
        assert!(vod.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{vod}");
        assert!(vod.trim_end().ends_with("#EXT-X-ENDLIST"), "{vod}");
        // ffmpeg may already have ended it: never twice.
        let mut again = parse(vod.as_bytes()).expect("ours parses");
        finalize(&mut again);
        let again = media_text(&again).expect("text");
        assert_eq!(again.matches("#EXT-X-ENDLIST").count(), 1, "{again}");
        assert_eq!(
            files(&parse(again.as_bytes()).expect("parses")),
            files(&event())
        );
    }

    #[test]
    fn what_is_not_a_playlist_is_an_error() {
        assert!(matches!(
            parse(b"seg_00000.m4s\n"),
            Err(PublishError::Playlist(_))
        ));
    }

    #[test]
    fn master_lists_every_rendition_with_its_attributes() {
        let plan = |name: &str, w, h, v| RenditionPlan {
            name: name.into(),
            width: w,
            height: h,
            video_bitrate: v,
            audio_bitrate: 128_000,
            copy: false,
        };
        let renditions = [
            plan("720p", 1280, 720, 3_000_000),
            plan("360p", 640, 360, 800_000),
        ];
        let mut codecs = HashMap::new();
        codecs.insert("720p".to_owned(), "avc1.64001f,mp4a.40.2".to_owned());
        let master = master(&renditions, &codecs, Some(30_000.0 / 1001.0)).expect("text");
        assert!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{master}");
        assert!(
            master.contains(
                "#EXT-X-STREAM-INF:BANDWIDTH=3338000,AVERAGE-BANDWIDTH=3128000,\
                 CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.97\n720p/index.m3u8"
            ),
            "{master}"
        );
        assert!(
            master.contains("CODECS=\"avc1.640028,mp4a.40.2\",RESOLUTION=640x360"),
            "{master}"
        );
    }

    #[tokio::test]
    async fn codecs_come_from_ffmpegs_master() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.m3u8");
        tokio::fs::write(
            &path,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360,CODECS=\"avc1.42c01e,mp4a.40.2\"\n360p/index.m3u8\n\n",
        )
        .await
        .expect("write");
        let codecs = read_codecs(&path).await;
        assert_eq!(
            codecs.get("360p").map(String::as_str),
            Some("avc1.42c01e,mp4a.40.2")
        );
        assert!(
            read_codecs(&dir.path().join("missing.m3u8"))
                .await
                .is_empty()
        );
    }
}
