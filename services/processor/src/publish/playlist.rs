//! ffmpeg's playlists as the publisher reads them (the files each lists, cut after its first
//! segment, finalized as VOD) and the master playlist we write ourselves.

use std::collections::HashMap;
use std::path::Path;

use crate::media::hls;
use crate::media::ladder::RenditionPlan;

#[derive(Debug, PartialEq)]
pub struct Listed {
    pub name: String,
    pub is_init: bool,
}

/// The init segment and media segments a playlist lists, in order.
pub fn listed_files(playlist: &str) -> Vec<Listed> {
    let mut files = Vec::new();
    for line in playlist.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            if let Some(uri) = attribute(rest, "URI") {
                files.push(Listed {
                    name: uri.to_owned(),
                    is_init: true,
                });
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            files.push(Listed {
                name: line.to_owned(),
                is_init: false,
            });
        }
    }
    files
}

/// A quoted or bare attribute of an HLS tag's attribute list.
fn attribute<'t>(list: &'t str, name: &str) -> Option<&'t str> {
    let start = list.find(&format!("{name}="))? + name.len() + 1;
    let rest = &list[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(',').next(),
    }
}

/// The playlist cut after its first media segment.
pub fn through_first_segment(playlist: &str) -> String {
    let mut out = String::new();
    for line in playlist.lines() {
        out.push_str(line);
        out.push('\n');
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            break;
        }
    }
    out
}

/// The playlist as a finished VOD playlist.
pub fn finalize(playlist: &str) -> String {
    let mut out: String = playlist
        .lines()
        .map(|line| {
            if line.starts_with("#EXT-X-PLAYLIST-TYPE:") {
                "#EXT-X-PLAYLIST-TYPE:VOD"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !out.contains("#EXT-X-ENDLIST") {
        out.push_str("\n#EXT-X-ENDLIST");
    }
    out.push('\n');
    out
}

/// The CODECS ffmpeg wrote into its own master playlist, by rendition directory.
pub async fn read_codecs(path: &Path) -> HashMap<String, String> {
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    let mut codecs = HashMap::new();
    let mut pending = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = attribute(rest, "CODECS").map(str::to_owned);
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let (Some(found), Some((dir, _))) = (pending.take(), line.split_once('/'))
        {
            codecs.insert(dir.to_owned(), found);
        }
    }
    codecs
}

/// Our own master playlist: ffmpeg 5's lacks AVERAGE-BANDWIDTH and FRAME-RATE, and its
/// BANDWIDTH is a guess from the first segment.
pub fn master(
    renditions: &[RenditionPlan],
    codecs: &HashMap<String, String>,
    frame_rate: Option<f64>,
) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for r in renditions {
        let codec = codecs.get(&r.name).cloned().unwrap_or_else(|| {
            let audio = if r.audio_bitrate > 0 {
                ",mp4a.40.2"
            } else {
                ""
            };
            format!("avc1.640028{audio}")
        });
        let average = r.video_bitrate + r.audio_bitrate;
        // The encoder may reach its VBV maxrate for a segment; BANDWIDTH is that peak. A copied
        // source was encoded under rules we do not know: allow it half as much again.
        let peak_video = if r.copy {
            r.video_bitrate * 3 / 2
        } else {
            hls::peak_video_bitrate(r.video_bitrate)
        };
        let peak = peak_video + r.audio_bitrate;
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},RESOLUTION={}x{},CODECS=\"{codec}\"",
            r.width, r.height
        ));
        if let Some(rate) = frame_rate {
            out.push_str(&format!(",FRAME-RATE={rate:.3}"));
        }
        out.push_str(&format!("\n{}/index.m3u8\n", r.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MAP:URI=\"init_0.mp4\"\n#EXTINF:6.000000,\nseg_00000.m4s\n#EXTINF:6.000000,\nseg_00001.m4s\n";

    #[test]
    fn lists_init_and_segments() {
        let names: Vec<_> = listed_files(EVENT)
            .into_iter()
            .map(|f| (f.name, f.is_init))
            .collect();
        assert_eq!(
            names,
            [
                ("init_0.mp4".to_owned(), true),
                ("seg_00000.m4s".to_owned(), false),
                ("seg_00001.m4s".to_owned(), false)
            ]
        );
    }

    #[test]
    fn a_playlist_cut_after_its_first_segment() {
        let cut = through_first_segment(EVENT);
        assert!(cut.ends_with("#EXTINF:6.000000,\nseg_00000.m4s\n"), "{cut}");
        assert!(cut.contains("#EXT-X-MAP:URI=\"init_0.mp4\""));
        assert!(!cut.contains("seg_00001"));
    }

    #[test]
    fn finalizing_makes_a_vod_playlist() {
        let vod = finalize(EVENT);
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(!vod.contains("EVENT"));
        assert!(vod.trim_end().ends_with("#EXT-X-ENDLIST"));
        // ffmpeg may already have ended it: never twice.
        assert_eq!(finalize(&vod).matches("#EXT-X-ENDLIST").count(), 1);
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
        let master = master(&renditions, &codecs, Some(30.0));
        assert!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
        assert!(master.contains(
            "AVERAGE-BANDWIDTH=3128000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n720p/index.m3u8"
        ));
        assert!(master.contains("RESOLUTION=640x360,CODECS=\"avc1.640028,mp4a.40.2\""));
    }

    #[tokio::test]
    async fn codecs_come_from_ffmpegs_master() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.m3u8");
        tokio::fs::write(
            &path,
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=640x360,CODECS=\"avc1.42c01e,mp4a.40.2\"\n360p/index.m3u8\n",
        )
        .await
        .expect("write");
        let codecs = read_codecs(&path).await;
        assert_eq!(
            codecs.get("360p").map(String::as_str),
            Some("avc1.42c01e,mp4a.40.2")
        );
    }
}
