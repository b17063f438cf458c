//! Cutting a VOD media playlist to a time range at segment boundaries, without touching a
//! segment: the playlist of an instant clip (and of a trim). Pure functions on playlist text.

use m3u8_rs::{MediaPlaylist, MediaPlaylistType};

use crate::edits::{self, Span};

/// A cut playlist and the part of the original timeline it really covers: from the start of
/// the first segment that overlaps the asked range to the end of the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub playlist: String,
    pub start_s: f64,
    pub end_s: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CutError {
    #[error("not a media playlist")]
    NotAPlaylist,
    #[error("the range {0}..{1} is empty or not finite")]
    BadRange(f64, f64),
    #[error("no segment of the playlist overlaps the range")]
    NothingInRange,
}

/// Keeps the segments of `text` that overlap `[start_s, end_s)` (times on the playlist's own
/// timeline, which starts at 0 with its first segment). The init segment (`EXT-X-MAP`) in force
/// at the first kept segment is repeated on it; the result is a finished VOD playlist.
pub fn cut(text: &[u8], start_s: f64, end_s: f64) -> Result<Cut, CutError> {
    let playlist = parse(text)?;
    let (cut, start, end) = cut_playlist(playlist, start_s, end_s)?;
    Ok(Cut {
        playlist: write(&cut),
        start_s: start,
        end_s: end,
    })
}

pub(crate) fn parse(text: &[u8]) -> Result<MediaPlaylist, CutError> {
    m3u8_rs::parse_media_playlist_res(text).map_err(|_| CutError::NotAPlaylist)
}

pub(crate) fn write(playlist: &MediaPlaylist) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`cut`] on a parsed playlist: the kept playlist and its window. The cutting itself is the
/// trim's ([`crate::edits::cut`]): the window is this playlist's own segments that overlap the
/// range, so every segment that overlaps it is kept.
pub(crate) fn cut_playlist(
    playlist: MediaPlaylist,
    start_s: f64,
    end_s: f64,
) -> Result<(MediaPlaylist, f64, f64), CutError> {
    if !(start_s.is_finite() && end_s.is_finite() && start_s < end_s) {
        return Err(CutError::BadRange(start_s, end_s));
    }
    let asked = Span { start_s, end_s };
    let window = edits::cut::window(&playlist, asked).ok_or(CutError::NothingInRange)?;
    let mut kept = edits::cut::cut(&playlist, window).map_err(|_| CutError::NothingInRange)?;
    kept.playlist_type = Some(MediaPlaylistType::Vod);
    kept.end_list = true;
    Ok((kept, window.start_s, window.end_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playlist(lengths: &[f32]) -> String {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-MAP:URI=\"init_0.mp4\"\n",
        );
        for (i, l) in lengths.iter().enumerate() {
            text.push_str(&format!("#EXTINF:{l:.6},\nseg_{i:05}.m4s\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        text
    }

    fn uris(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    }

    #[test]
    fn keeps_the_segments_that_overlap_the_range() {
        let text = playlist(&[6.0; 30]);
        let cut = cut(text.as_bytes(), 30.0, 90.0).expect("cut");
        assert_eq!((cut.start_s, cut.end_s), (30.0, 90.0));
        let kept = uris(&cut.playlist);
        assert_eq!(kept.first(), Some(&"seg_00005.m4s"));
        assert_eq!(kept.last(), Some(&"seg_00014.m4s"));
        assert_eq!(kept.len(), 10);
        // The init segment comes along, the playlist is a finished VOD one.
        assert!(
            cut.playlist.contains("#EXT-X-MAP:URI=\"init_0.mp4\""),
            "{}",
            cut.playlist
        );
        assert!(cut.playlist.contains("#EXT-X-ENDLIST"));
        assert!(cut.playlist.contains("#EXT-X-MEDIA-SEQUENCE:5"));
    }

    #[test]
    fn a_range_inside_segments_widens_to_their_boundaries() {
        let text = playlist(&[6.0, 6.0, 6.0, 6.0, 2.5]);
        let cut = cut(text.as_bytes(), 7.0, 13.0).expect("cut");
        assert_eq!((cut.start_s, cut.end_s), (6.0, 18.0));
        assert_eq!(uris(&cut.playlist), ["seg_00001.m4s", "seg_00002.m4s"]);
        let tail = super::cut(text.as_bytes(), 23.0, 26.5).expect("tail");
        assert_eq!((tail.start_s, tail.end_s), (18.0, 26.5));
        assert_eq!(uris(&tail.playlist), ["seg_00003.m4s", "seg_00004.m4s"]);
    }

    #[test]
    fn empty_or_outside_ranges_are_errors() {
        let text = playlist(&[6.0; 3]);
        assert_eq!(
            cut(text.as_bytes(), 5.0, 5.0),
            Err(CutError::BadRange(5.0, 5.0))
        );
        assert!(matches!(
            cut(text.as_bytes(), f64::NAN, 5.0),
            Err(CutError::BadRange(..))
        ));
        assert_eq!(
            cut(text.as_bytes(), 18.0, 30.0),
            Err(CutError::NothingInRange)
        );
        assert_eq!(
            cut(b"not a playlist", 0.0, 1.0),
            Err(CutError::NotAPlaylist)
        );
    }
}
