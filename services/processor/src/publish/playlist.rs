//! Playlists, through `m3u8-rs`: ffmpeg's media playlists as the publisher reads them (the
//! files each lists, cut after its first segment, finalized as VOD) and the master playlist we
//! write ourselves from the plan.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use m3u8_rs::{
    AlternativeMedia, AlternativeMediaType, MasterPlaylist, MediaPlaylist, MediaPlaylistType,
    Resolution, VariantStream,
};

use super::PublishError;
use crate::media::hls;
use crate::media::ladder::{AudioPlan, Plan, RenditionPlan};

/// The `GROUP-ID` of the audio rendition every video rendition refers to.
pub const AUDIO_GROUP: &str = "audio";

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
    codecs(&tokio::fs::read(path).await.unwrap_or_default())
}

/// The CODECS a master playlist names, by rendition directory; none when it cannot be read.
pub fn codecs(text: &[u8]) -> HashMap<String, String> {
    let Ok(master) = m3u8_rs::parse_master_playlist_res(text) else {
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
/// BANDWIDTH is a guess from the first segment. With sound, one audio rendition (an
/// `EXT-X-MEDIA` group of one) is played with every video rendition, and listed last as an
/// audio-only variant for listeners whose network carries no video (the URI of Apple's own
/// examples and of ffmpeg's master: the audio playlist itself, `AUDIO` naming its group).
/// `codecs` are those ffmpeg named, by directory; only their video codec is used.
pub fn master(
    plan: &Plan,
    codecs: &HashMap<String, String>,
    frame_rate: Option<f64>,
) -> Result<String, PublishError> {
    let audio = plan.audio.as_ref();
    let mut variants: Vec<VariantStream> = plan
        .video
        .iter()
        .map(|r| variant(r, video_codec(codecs.get(&r.name)), audio, frame_rate))
        .collect();
    variants.extend(audio.map(audio_only_variant));
    let master = MasterPlaylist {
        version: Some(7),
        independent_segments: true,
        alternatives: audio.map(audio_rendition).into_iter().collect(),
        variants,
        ..MasterPlaylist::default()
    };
    text(|out| master.write_to(out))
}

/// The video codec of ffmpeg's `CODECS` (which also names the audio when it wrote both).
fn video_codec(codecs: Option<&String>) -> String {
    codecs
        .and_then(|list| {
            list.split(',')
                .map(str::trim)
                .find(|c| !c.starts_with("mp4a"))
        })
        .unwrap_or("avc1.640028")
        .to_owned()
}

fn variant(
    r: &RenditionPlan,
    video_codec: String,
    audio: Option<&AudioPlan>,
    frame_rate: Option<f64>,
) -> VariantStream {
    // The encoder may reach its VBV maxrate for a segment; BANDWIDTH is that peak. A copied
    // source was encoded under rules we do not know: allow it half as much again.
    let peak_video = if r.copy {
        r.video_bitrate * 3 / 2
    } else {
        hls::peak_video_bitrate(r.video_bitrate)
    };
    // The audio played with it counts in both bandwidths; its codec in CODECS.
    let codecs = match audio {
        Some(_) => format!("{video_codec},{}", AudioPlan::CODEC),
        None => video_codec,
    };
    VariantStream {
        uri: format!("{}/index.m3u8", r.name),
        bandwidth: peak_video + audio.map_or(0, AudioPlan::peak_bitrate),
        average_bandwidth: Some(r.video_bitrate + audio.map_or(0, |a| a.bitrate)),
        codecs: Some(codecs),
        resolution: Some(Resolution {
            width: r.width.into(),
            height: r.height.into(),
        }),
        // Three decimals, as the HLS spec's examples write it (29.97, not 29.97002997…).
        frame_rate: frame_rate.map(|rate| (rate * 1000.0).round() / 1000.0),
        audio: audio.map(|_| AUDIO_GROUP.to_owned()),
        ..VariantStream::default()
    }
}

/// The shared audio rendition: the group's only member, so the default and auto-selected one;
/// `CHANNELS` as Apple's authoring rules ask of every audio rendition. The source does not
/// say its language reliably: `und` (BCP 47's "undetermined").
fn audio_rendition(audio: &AudioPlan) -> AlternativeMedia {
    AlternativeMedia {
        media_type: AlternativeMediaType::Audio,
        uri: Some(audio_playlist()),
        group_id: AUDIO_GROUP.to_owned(),
        language: Some("und".to_owned()),
        name: "Audio".to_owned(),
        default: true,
        autoselect: true,
        channels: Some(audio.channels.to_string()),
        ..AlternativeMedia::default()
    }
}

fn audio_only_variant(audio: &AudioPlan) -> VariantStream {
    VariantStream {
        uri: audio_playlist(),
        bandwidth: audio.peak_bitrate(),
        average_bandwidth: Some(audio.bitrate),
        codecs: Some(AudioPlan::CODEC.to_owned()),
        audio: Some(AUDIO_GROUP.to_owned()),
        ..VariantStream::default()
    }
}

fn audio_playlist() -> String {
    format!("{}/index.m3u8", AudioPlan::NAME)
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

    fn two_rungs(audio: Option<AudioPlan>) -> Plan {
        let rung = |name: &str, w, h, v| RenditionPlan {
            name: name.into(),
            width: w,
            height: h,
            video_bitrate: v,
            copy: false,
        };
        Plan {
            video: vec![
                rung("720p", 1280, 720, 3_000_000),
                rung("360p", 640, 360, 800_000),
            ],
            audio,
        }
    }

    const STEREO: AudioPlan = AudioPlan {
        bitrate: 128_000,
        channels: 2,
        copy: false,
    };

    #[test]
    fn master_lists_every_rendition_with_the_shared_audio() {
        let mut codecs = HashMap::new();
        // ffmpeg names the audio in its CODECS when it wrote both in one run, not otherwise.
        codecs.insert("720p".to_owned(), "avc1.64001f,mp4a.40.2".to_owned());
        codecs.insert("360p".to_owned(), "avc1.64001e".to_owned());
        let plan = two_rungs(Some(STEREO));
        let master = master(&plan, &codecs, Some(30_000.0 / 1001.0)).expect("text");
        let lines: Vec<&str> = master.lines().collect();
        assert!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"), "{master}");
        let media: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("#EXT-X-MEDIA:"))
            .collect();
        assert_eq!(
            media,
            [
                &"#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio/index.m3u8\",GROUP-ID=\"audio\",\
               LANGUAGE=\"und\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\""
            ],
            "{master}"
        );
        // Peak video (VBV maxrate) + peak audio; average video + average audio.
        assert!(
            master.contains(
                "#EXT-X-STREAM-INF:BANDWIDTH=3350800,AVERAGE-BANDWIDTH=3128000,\
                 CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.97,\
                 AUDIO=\"audio\"\n720p/index.m3u8"
            ),
            "{master}"
        );
        assert!(
            master.contains(
                "BANDWIDTH=996800,AVERAGE-BANDWIDTH=928000,CODECS=\"avc1.64001e,mp4a.40.2\",\
                 RESOLUTION=640x360,FRAME-RATE=29.97,AUDIO=\"audio\"\n360p/index.m3u8"
            ),
            "{master}"
        );
        // The audio-only variant comes last: players start on the first.
        let last: Vec<&&str> = lines.iter().rev().take(2).collect();
        assert_eq!(
            last,
            [
                &"audio/index.m3u8",
                &"#EXT-X-STREAM-INF:BANDWIDTH=140800,AVERAGE-BANDWIDTH=128000,\
                  CODECS=\"mp4a.40.2\",AUDIO=\"audio\""
            ],
            "{master}"
        );
        assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 3, "{master}");
        // What we write, m3u8-rs reads back: one group, every variant in it.
        let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("parses");
        assert_eq!(parsed.alternatives.len(), 1);
        assert!(
            parsed
                .variants
                .iter()
                .all(|v| v.audio.as_deref() == Some("audio"))
        );
    }

    #[test]
    fn a_copied_mono_source_keeps_its_channels() {
        let mono = AudioPlan {
            bitrate: 64_000,
            channels: 1,
            copy: true,
        };
        let master = master(&two_rungs(Some(mono)), &HashMap::new(), None).expect("text");
        assert!(master.contains("CHANNELS=\"1\""), "{master}");
        // A copy's peak is allowed half as much again, as a copied video's is.
        assert!(
            master.contains("BANDWIDTH=96000,AVERAGE-BANDWIDTH=64000,CODECS=\"mp4a.40.2\""),
            "{master}"
        );
        assert!(
            master.contains("CODECS=\"avc1.640028,mp4a.40.2\""),
            "{master}"
        );
    }

    #[test]
    fn a_silent_source_has_no_audio_group() {
        let mut codecs = HashMap::new();
        codecs.insert("720p".to_owned(), "avc1.64001f".to_owned());
        let master = master(&two_rungs(None), &codecs, None).expect("text");
        assert!(!master.contains("EXT-X-MEDIA"), "{master}");
        assert!(!master.contains("AUDIO="), "{master}");
        assert!(!master.contains("mp4a"), "{master}");
        assert!(
            master.contains(
                "#EXT-X-STREAM-INF:BANDWIDTH=3210000,AVERAGE-BANDWIDTH=3000000,\
                 CODECS=\"avc1.64001f\",RESOLUTION=1280x720\n720p/index.m3u8"
            ),
            "{master}"
        );
        assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 2, "{master}");
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
