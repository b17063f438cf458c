//! The two facts of a fragmented MP4 that a chunk of a split encode needs (ISO/IEC 14496-12):
//! a track's timescale (`moov/trak/mdia/mdhd` of the init segment) and each fragment's decode
//! time (`moof/traf/tfdt`), which a chunk shifts by its start.
//!
//! ffmpeg starts every output at time 0, and `-output_ts_offset` would move the start into the
//! init segment's edit list (no longer one init segment for all chunks). So a chunk encodes from
//! 0 and its segments' `tfdt` are shifted here by the chunk's start in the track's timescale:
//! the media inside a fragment is timed relative to `tfdt`, so nothing else changes.

mod join;

pub use join::{
    FragmentAt, FragmentCounter, JoinedInit, TrackMap, merge_inits, mfra, rewrite_segment,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Fmp4Error {
    #[error("box {0:?} runs past the end of the file")]
    Truncated(String),
    #[error("the init segment has no media header (mdhd)")]
    NoTimescale,
    #[error("the segment has no decode time (tfdt)")]
    NoDecodeTime,
    #[error("the decode time overflows")]
    Overflow,
    #[error("the init segments have no track")]
    NoTracks,
    #[error("no {0} box where one is required")]
    Missing(&'static str),
    #[error("a fragment of track {0}, which its init segment does not have")]
    UnknownTrack(u32),
}

/// A box: its type, where it starts, where its payload starts and where it ends.
struct BoxAt {
    kind: [u8; 4],
    start: usize,
    payload: usize,
    end: usize,
}

/// The boxes directly inside `bytes[start..end]`.
fn boxes(bytes: &[u8], start: usize, end: usize) -> Result<Vec<BoxAt>, Fmp4Error> {
    let mut found = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size = u32::from_be_bytes(word(bytes, at)) as usize;
        let kind: [u8; 4] = word(bytes, at + 4);
        let name = || String::from_utf8_lossy(&kind).into_owned();
        let (header, size) = match size {
            0 => (8, end - at),
            1 => {
                let large = bytes
                    .get(at + 8..at + 16)
                    .ok_or_else(|| Fmp4Error::Truncated(name()))?;
                let mut wide = [0u8; 8];
                wide.copy_from_slice(large);
                (
                    16,
                    usize::try_from(u64::from_be_bytes(wide)).map_err(|_| Fmp4Error::Overflow)?,
                )
            }
            n => (8, n),
        };
        let box_end = at.checked_add(size).ok_or(Fmp4Error::Overflow)?;
        if size < header || box_end > end {
            return Err(Fmp4Error::Truncated(name()));
        }
        found.push(BoxAt {
            kind,
            start: at,
            payload: at + header,
            end: box_end,
        });
        at = box_end;
    }
    Ok(found)
}

fn word(bytes: &[u8], at: usize) -> [u8; 4] {
    let mut out = [0u8; 4];
    if let Some(slice) = bytes.get(at..at + 4) {
        out.copy_from_slice(slice);
    }
    out
}

/// The payloads of the boxes at `path` (e.g. `moof`, `traf`, `tfdt`) below `bytes`.
fn find(bytes: &[u8], path: &[&[u8; 4]]) -> Result<Vec<(usize, usize)>, Fmp4Error> {
    find_in(bytes, 0, bytes.len(), path)
}

/// [`find`] below the boxes of `bytes[start..end]`.
fn find_in(
    bytes: &[u8],
    start: usize,
    end: usize,
    path: &[&[u8; 4]],
) -> Result<Vec<(usize, usize)>, Fmp4Error> {
    let mut level = vec![(start, end)];
    for kind in path {
        let mut next = Vec::new();
        for (start, end) in level {
            next.extend(
                boxes(bytes, start, end)?
                    .into_iter()
                    .filter(|b| &b.kind == *kind)
                    .map(|b| (b.payload, b.end)),
            );
        }
        level = next;
    }
    Ok(level)
}

/// The timescale (ticks per second) of the init segment's track.
pub fn timescale(init: &[u8]) -> Result<u32, Fmp4Error> {
    let (payload, end) = *find(init, &[b"moov", b"trak", b"mdia", b"mdhd"])?
        .first()
        .ok_or(Fmp4Error::NoTimescale)?;
    // Version 1: 8-byte creation and modification times; version 0: 4-byte.
    let at = match init.get(payload) {
        Some(1) => payload + 4 + 16,
        _ => payload + 4 + 8,
    };
    if at + 4 > end {
        return Err(Fmp4Error::Truncated("mdhd".into()));
    }
    Ok(u32::from_be_bytes(word(init, at)))
}

/// Adds `ticks` to the decode time of every fragment of a media segment; returns how many it
/// changed.
pub fn shift_decode_times(segment: &mut [u8], ticks: u64) -> Result<usize, Fmp4Error> {
    let found = find(segment, &[b"moof", b"traf", b"tfdt"])?;
    if found.is_empty() {
        return Err(Fmp4Error::NoDecodeTime);
    }
    for &(payload, end) in &found {
        let version = segment.get(payload).copied();
        let field = payload + 4;
        let width = if version == Some(1) { 8 } else { 4 };
        if field + width > end {
            return Err(Fmp4Error::Truncated("tfdt".into()));
        }
        let slot = &mut segment[field..field + width];
        if width == 8 {
            let mut value = [0u8; 8];
            value.copy_from_slice(slot);
            let shifted = u64::from_be_bytes(value)
                .checked_add(ticks)
                .ok_or(Fmp4Error::Overflow)?;
            slot.copy_from_slice(&shifted.to_be_bytes());
        } else {
            let mut value = [0u8; 4];
            value.copy_from_slice(slot);
            let shifted = u64::from(u32::from_be_bytes(value)) + ticks;
            let narrow = u32::try_from(shifted).map_err(|_| Fmp4Error::Overflow)?;
            slot.copy_from_slice(&narrow.to_be_bytes());
        }
    }
    Ok(found.len())
}

/// The decode time of a media segment's first fragment.
pub fn decode_time(segment: &[u8]) -> Result<u64, Fmp4Error> {
    let (payload, end) = *find(segment, &[b"moof", b"traf", b"tfdt"])?
        .first()
        .ok_or(Fmp4Error::NoDecodeTime)?;
    let field = payload + 4;
    match segment.get(payload) {
        Some(1) if field + 8 <= end => {
            let mut value = [0u8; 8];
            value.copy_from_slice(&segment[field..field + 8]);
            Ok(u64::from_be_bytes(value))
        }
        Some(_) if field + 4 <= end => Ok(u64::from(u32::from_be_bytes(word(segment, field)))),
        _ => Err(Fmp4Error::Truncated("tfdt".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(payload.len() + 8)
            .expect("small")
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn segment(tfdt_payload: &[u8]) -> Vec<u8> {
        let traf = [boxed(b"tfhd", &[0; 8]), boxed(b"tfdt", tfdt_payload)].concat();
        let moof = [boxed(b"mfhd", &[0; 8]), boxed(b"traf", &traf)].concat();
        [boxed(b"moof", &moof), boxed(b"mdat", &[1, 2, 3])].concat()
    }

    #[test]
    fn shifts_both_versions_of_tfdt() {
        let mut v1 = segment(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        assert_eq!(shift_decode_times(&mut v1, 921_600), Ok(1));
        assert_eq!(decode_time(&v1), Ok(4096 + 921_600));
        let mut v0 = segment(&[0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(shift_decode_times(&mut v0, 10), Ok(1));
        assert_eq!(decode_time(&v0), Ok(15));
        let mut full = segment(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0]);
        assert_eq!(
            shift_decode_times(&mut full, 0x100),
            Err(Fmp4Error::Overflow)
        );
    }

    #[test]
    fn refuses_what_is_not_a_segment() {
        let mut junk = b"not an mp4 at all".to_vec();
        assert!(shift_decode_times(&mut junk, 1).is_err());
        let mut cut = segment(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        cut.truncate(30);
        assert!(matches!(
            shift_decode_times(&mut cut, 1),
            Err(Fmp4Error::Truncated(_))
        ));
        assert_eq!(timescale(&segment(&[0; 8])), Err(Fmp4Error::NoTimescale));
    }

    #[test]
    fn reads_the_timescale_of_an_init_segment() {
        // mdhd version 0: flags, creation, modification, timescale, duration...
        let mdhd = [&[0u8; 12][..], &15_360u32.to_be_bytes(), &[0; 8]].concat();
        let init = boxed(
            b"moov",
            &boxed(b"trak", &boxed(b"mdia", &boxed(b"mdhd", &mdhd))),
        );
        assert_eq!(timescale(&init), Ok(15_360));
    }
}
