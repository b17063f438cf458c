//! The playlists a revision adds beside the processor's: its master (the processor's master
//! with cut rendition playlists and subtitle renditions) and one subtitle playlist per caption.

use m3u8_rs::{AlternativeMedia, AlternativeMediaType, MasterPlaylist};

/// The `GROUP-ID` of the subtitle renditions.
pub const SUBTITLES_GROUP: &str = "subs";

/// The name of revision `k`'s master in a version.
pub fn master_name(k: i32) -> String {
    format!("master-{k}.m3u8")
}

/// `{rendition}/index.m3u8` as revision `k` names its cut copy: `{rendition}/index-{k}.m3u8`.
/// Any other URI stays as it is.
pub fn cut_playlist_name(uri: &str, k: i32) -> String {
    match uri.strip_suffix("/index.m3u8") {
        Some(dir) if !dir.is_empty() && !dir.contains('/') => format!("{dir}/index-{k}.m3u8"),
        _ => uri.to_owned(),
    }
}

/// Whether `file` is `{stem}.m3u8` or a revision's `{stem}-{k}.m3u8` (k a positive number
/// without leading zeros, at most 9 digits): the playlist names signed playback paths serve.
pub fn is_playlist_name(file: &str, stem: &str) -> bool {
    let Some(name) = file.strip_suffix(".m3u8") else {
        return false;
    };
    name == stem
        || name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(is_revision_number)
}

/// Whether `file` is a caption playlist's name, `{lang}-{k}.m3u8`.
pub fn is_caption_playlist_name(file: &str) -> bool {
    file.strip_suffix(".m3u8")
        .and_then(|name| name.rsplit_once('-'))
        .is_some_and(|(lang, k)| crate::captions::valid_lang(lang) && is_revision_number(k))
}

fn is_revision_number(k: &str) -> bool {
    (1..=9).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_digit()) && !k.starts_with('0')
}

/// A subtitle rendition of a revision's master.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleTrack {
    pub lang: String,
    pub label: String,
    /// Its playlist, relative to the master (`captions/en-4.m3u8`).
    pub uri: String,
}

/// Revision `k`'s master: `base` (the processor's) with each rendition playlist replaced by its
/// cut copy when `cut` is true, and the subtitle renditions listed (`SUBTITLES` on every
/// variant). No subtitle is `DEFAULT`: players show them when asked (`AUTOSELECT` lets a
/// player pick the viewer's language).
pub fn revised(
    base: &MasterPlaylist,
    k: i32,
    cut: bool,
    subtitles: &[SubtitleTrack],
) -> MasterPlaylist {
    let mut master = base.clone();
    let rename = |uri: &str| {
        if cut {
            cut_playlist_name(uri, k)
        } else {
            uri.to_owned()
        }
    };
    master
        .alternatives
        .retain(|a| a.media_type != AlternativeMediaType::Subtitles);
    for alternative in &mut master.alternatives {
        alternative.uri = alternative.uri.as_deref().map(rename);
    }
    master
        .alternatives
        .extend(
            unique_names(subtitles)
                .into_iter()
                .map(|(track, name)| AlternativeMedia {
                    media_type: AlternativeMediaType::Subtitles,
                    uri: Some(track.uri.clone()),
                    group_id: SUBTITLES_GROUP.to_owned(),
                    language: Some(track.lang.clone()),
                    name,
                    default: false,
                    autoselect: true,
                    ..AlternativeMedia::default()
                }),
        );
    let group = (!subtitles.is_empty()).then(|| SUBTITLES_GROUP.to_owned());
    for variant in &mut master.variants {
        variant.uri = rename(&variant.uri);
        variant.subtitles = group.clone();
    }
    master
}

/// NAME must differ within a group: a label two captions share gets its language added.
fn unique_names(tracks: &[SubtitleTrack]) -> Vec<(&SubtitleTrack, String)> {
    tracks
        .iter()
        .map(|t| {
            let shared = tracks.iter().filter(|o| o.label == t.label).count() > 1;
            let name = if shared {
                format!("{} ({})", t.label, t.lang)
            } else {
                t.label.clone()
            };
            (t, name)
        })
        .collect()
}

/// A subtitle playlist of one WebVTT file spanning `duration_s` (the media playlists' length).
/// The cues keep the original timeline, as the media's timestamps do (a cut playlist starts at a
/// segment whose timestamps are not 0): players map WebVTT times without `X-TIMESTAMP-MAP` to
/// the media's timestamps, so the cues need no shift.
pub fn subtitle_playlist(vtt_name: &str, duration_s: f64) -> String {
    let target = duration_s.ceil().max(1.0) as u64;
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{duration_s:.3},\n{vtt_name}\n#EXT-X-ENDLIST\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
        #EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio/index.m3u8\",GROUP-ID=\"audio\",LANGUAGE=\"und\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=3350800,AVERAGE-BANDWIDTH=3128000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,AUDIO=\"audio\"\n720p/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=140800,AVERAGE-BANDWIDTH=128000,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\naudio/index.m3u8\n";

    fn text(master: &MasterPlaylist) -> String {
        let mut out = Vec::new();
        master.write_to(&mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_trimmed_revision_with_captions() {
        let base = m3u8_rs::parse_master_playlist_res(BASE.as_bytes()).expect("parses");
        let tracks = [
            SubtitleTrack {
                lang: "en".into(),
                label: "English".into(),
                uri: "captions/en-3.m3u8".into(),
            },
            SubtitleTrack {
                lang: "en-GB".into(),
                label: "English".into(),
                uri: "captions/en-GB-3.m3u8".into(),
            },
        ];
        let master = text(&revised(&base, 3, true, &tracks));
        assert!(
            master.contains("URI=\"audio/index-3.m3u8\",GROUP-ID=\"audio\""),
            "{master}"
        );
        assert!(master.contains("\n720p/index-3.m3u8\n"), "{master}");
        assert!(master.contains("\naudio/index-3.m3u8\n"), "{master}");
        assert!(!master.contains("index.m3u8"), "{master}");
        assert!(
            master.contains(
                "#EXT-X-MEDIA:TYPE=SUBTITLES,URI=\"captions/en-3.m3u8\",GROUP-ID=\"subs\",LANGUAGE=\"en\",NAME=\"English (en)\",AUTOSELECT=YES"
            ),
            "{master}"
        );
        assert!(master.contains("NAME=\"English (en-GB)\""), "{master}");
        assert_eq!(master.matches("SUBTITLES=\"subs\"").count(), 2, "{master}");
        let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("reads back");
        assert_eq!(parsed.alternatives.len(), 3);
    }

    #[test]
    fn an_untrimmed_revision_without_captions_is_the_base() {
        let base = m3u8_rs::parse_master_playlist_res(BASE.as_bytes()).expect("parses");
        let with = revised(
            &base,
            2,
            false,
            &[SubtitleTrack {
                lang: "fr".into(),
                label: "Français".into(),
                uri: "captions/fr-2.m3u8".into(),
            }],
        );
        // Removing the captions again gives the base back.
        assert_eq!(text(&revised(&with, 3, false, &[])), text(&base));
    }

    #[test]
    fn served_names_follow_a_strict_pattern() {
        for ok in ["master.m3u8", "master-1.m3u8", "master-123456789.m3u8"] {
            assert!(is_playlist_name(ok, "master"), "{ok}");
        }
        for bad in [
            "master-0.m3u8",
            "master-01.m3u8",
            "master-.m3u8",
            "master-1234567890.m3u8",
            "master-1a.m3u8",
            "master-1.m3u8x",
            "masterx.m3u8",
            "index-1.m3u8",
            "../master.m3u8",
        ] {
            assert!(!is_playlist_name(bad, "master"), "{bad}");
        }
        assert!(is_playlist_name("index-3.m3u8", "index"));
        assert!(is_caption_playlist_name("en-3.m3u8"));
        assert!(is_caption_playlist_name("pt-BR-12.m3u8"));
        for bad in [
            "en.m3u8",
            "en-0.m3u8",
            "EN-1.m3u8",
            "en-1.vtt",
            "-1.m3u8",
            "../en-1.m3u8",
        ] {
            assert!(!is_caption_playlist_name(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(master_name(12), "master-12.m3u8");
        assert_eq!(cut_playlist_name("480p/index.m3u8", 4), "480p/index-4.m3u8");
        assert_eq!(cut_playlist_name("index.m3u8", 4), "index.m3u8");
        let playlist = subtitle_playlist("en-abc.vtt", 61.5);
        assert!(
            playlist.contains("#EXT-X-TARGETDURATION:62\n"),
            "{playlist}"
        );
        assert!(
            playlist.contains("#EXTINF:61.500,\nen-abc.vtt\n#EXT-X-ENDLIST"),
            "{playlist}"
        );
        assert!(m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).is_ok());
    }
}
