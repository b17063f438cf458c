//! Cutting media playlists at segment boundaries: the window a trim request becomes on the
//! reference rendition (every segment that overlaps the request is kept, so nothing asked for is
//! hidden), and each rendition cut to that window. Video renditions are cut at the same instants
//! (ffmpeg aligns them). The audio rendition's grid may differ by a frame or two, so every
//! rendition keeps the segments that lie mostly inside the window, and its ends are checked (by
//! EXTINF sums) to be within [`ALIGNMENT_S`] of the window's.

use m3u8_rs::MediaPlaylist;
use serde::{Deserialize, Serialize};

/// A span of the original timeline, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub start_s: f64,
    pub end_s: f64,
}

/// Overlaps shorter than this are float noise, not content.
const NOISE_S: f64 = 0.001;
/// How far a cut rendition's ends may be from the window's (a video frame at 30 fps is 33 ms;
/// an AAC frame 21–23 ms).
const ALIGNMENT_S: f64 = 0.1;

/// Where each segment starts and ends on the playlist's timeline.
fn spans(playlist: &MediaPlaylist) -> Vec<Span> {
    let mut at = 0.0;
    playlist
        .segments
        .iter()
        .map(|segment| {
            let start_s = at;
            at += f64::from(segment.duration);
            Span { start_s, end_s: at }
        })
        .collect()
}

/// The total duration a playlist lists.
pub fn duration(playlist: &MediaPlaylist) -> f64 {
    spans(playlist).last().map_or(0.0, |s| s.end_s)
}

/// The segment-aligned window that covers `asked` on `reference`; `None` when no segment
/// overlaps it.
pub fn window(reference: &MediaPlaylist, asked: Span) -> Option<Span> {
    let kept: Vec<Span> = spans(reference)
        .into_iter()
        .filter(|s| overlap(s, &asked) > NOISE_S)
        .collect();
    Some(Span {
        start_s: kept.first()?.start_s,
        end_s: kept.last()?.end_s,
    })
}

fn overlap(a: &Span, b: &Span) -> f64 {
    a.end_s.min(b.end_s) - a.start_s.max(b.start_s)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CutError {
    #[error("no segment of the playlist overlaps {0:?}")]
    Empty(Span),
    #[error(
        "the playlist's segments cover {got:?}, not the window {window:?}: the renditions are not aligned"
    )]
    Misaligned { window: Span, got: Span },
}

/// `playlist` cut to the segments that lie mostly inside `window` (for a video rendition cut at
/// the reference's instants: exactly those inside it). The first kept segment carries the init
/// segment (`EXT-X-MAP`) that applied to it; the rest stays as it was (a finished VOD playlist
/// stays one).
pub fn cut(playlist: &MediaPlaylist, window: Span) -> Result<MediaPlaylist, CutError> {
    let spans = spans(playlist);
    let mut map = None;
    let mut first = None;
    let mut segments = Vec::new();
    for (i, (segment, span)) in playlist.segments.iter().zip(&spans).enumerate() {
        if segment.map.is_some() {
            map = segment.map.clone();
        }
        if overlap(span, &window) > (span.end_s - span.start_s) / 2.0 {
            let mut kept = segment.clone();
            if first.is_none() {
                first = Some(i);
                kept.map = kept.map.or_else(|| map.clone());
            }
            segments.push(kept);
        }
    }
    let first = first.ok_or(CutError::Empty(window))?;
    let got = Span {
        start_s: spans[first].start_s,
        end_s: spans[first + segments.len() - 1].end_s,
    };
    let off = |a: f64, b: f64| (a - b).abs() > ALIGNMENT_S;
    if off(got.start_s, window.start_s) || off(got.end_s, window.end_s) {
        return Err(CutError::Misaligned { window, got });
    }
    Ok(MediaPlaylist {
        media_sequence: playlist.media_sequence + first as u64,
        segments,
        ..playlist.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(durations: &[f32]) -> MediaPlaylist {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:7\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init_0.mp4\"\n",
        );
        for (i, d) in durations.iter().enumerate() {
            text.push_str(&format!("#EXTINF:{d:.6},\nseg_{i:05}.m4s\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("parses")
    }

    fn uris(p: &MediaPlaylist) -> Vec<&str> {
        p.segments.iter().map(|s| s.uri.as_str()).collect()
    }

    const VIDEO: [f32; 5] = [6.0, 6.0, 6.0, 6.0, 2.5];

    #[test]
    fn the_window_keeps_every_segment_the_request_touches() {
        let video = playlist(&VIDEO);
        let asked = Span {
            start_s: 7.0,
            end_s: 13.0,
        };
        let window = window(&video, asked).expect("overlaps");
        assert_eq!(
            window,
            Span {
                start_s: 6.0,
                end_s: 18.0
            }
        );
        // Exactly on boundaries: the neighbours are not kept.
        let exact = super::window(
            &video,
            Span {
                start_s: 6.0,
                end_s: 12.0,
            },
        )
        .expect("overlaps");
        assert_eq!(
            exact,
            Span {
                start_s: 6.0,
                end_s: 12.0
            }
        );
        let tail = super::window(
            &video,
            Span {
                start_s: 25.0,
                end_s: 26.5,
            },
        )
        .expect("overlaps");
        assert_eq!(
            tail,
            Span {
                start_s: 24.0,
                end_s: 26.5
            }
        );
        assert_eq!(
            super::window(
                &video,
                Span {
                    start_s: 30.0,
                    end_s: 31.0
                }
            ),
            None
        );
    }

    #[test]
    fn a_cut_keeps_the_init_segment_and_stays_a_vod_playlist() {
        let video = playlist(&VIDEO);
        let cut = cut(
            &video,
            Span {
                start_s: 6.0,
                end_s: 18.0,
            },
        )
        .expect("cut");
        assert_eq!(uris(&cut), ["seg_00001.m4s", "seg_00002.m4s"]);
        assert_eq!(cut.media_sequence, 1);
        assert_eq!(
            cut.segments[0].map.as_ref().map(|m| m.uri.as_str()),
            Some("init_0.mp4")
        );
        assert!(cut.segments[1].map.is_none());
        let mut text = Vec::new();
        cut.write_to(&mut text).expect("writes");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{text}");
        assert!(text.trim_end().ends_with("#EXT-X-ENDLIST"), "{text}");
        assert!((duration(&cut) - 12.0).abs() < 1e-6);
    }

    #[test]
    fn audio_on_its_own_grid_is_cut_at_the_nearest_boundaries() {
        let audio = playlist(&[6.016, 5.995, 6.016, 5.995, 2.478]);
        let window = Span {
            start_s: 6.0,
            end_s: 18.0,
        };
        let cut = cut(&audio, window).expect("cut");
        // 0–6.016 overlaps the window by 16 ms only: not kept; 12.011–18.027 is.
        assert_eq!(uris(&cut), ["seg_00001.m4s", "seg_00002.m4s"]);
    }

    #[test]
    fn a_rendition_cut_elsewhere_is_refused() {
        let other = playlist(&[4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 2.5]);
        let got = cut(
            &other,
            Span {
                start_s: 6.0,
                end_s: 18.0,
            },
        );
        assert!(matches!(got, Err(CutError::Misaligned { .. })), "{got:?}");
        let empty = cut(
            &other,
            Span {
                start_s: 40.0,
                end_s: 50.0,
            },
        );
        assert!(matches!(empty, Err(CutError::Empty(_))), "{empty:?}");
    }
}
