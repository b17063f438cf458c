//! One fragmented MP4 joined from HLS renditions (the MP4 download): the tracks of several
//! init segments merged into one `ftyp` + `moov`, then their media fragments rewritten so that
//! they belong to it, then a `mfra` index for players that seek with it.
//!
//! Nothing is re-encoded and no box changes size: a fragment's `trun` data offsets count from
//! its `moof` (ffmpeg writes `default-base-is-moof`), so keeping each `moof` whole keeps them
//! right. A `tfhd` that carries an absolute `base_data_offset` is moved to where the fragment
//! lands in the output. The `styp` and `sidx` boxes of HLS segments describe the segment file
//! alone and are left out.

use std::ops::Range;

use super::{Fmp4Error, boxes, find, find_in, word};

/// Where the file's tracks come from: for each input init segment, its tracks' ids and the
/// ids they have in the joined file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackMap {
    /// `(input, old track_ID, new track_ID)`.
    tracks: Vec<(usize, u32, u32)>,
}

impl TrackMap {
    fn new_id(&self, input: usize, old: u32) -> Option<u32> {
        self.tracks
            .iter()
            .find(|(i, o, _)| *i == input && *o == old)
            .map(|(.., new)| *new)
    }

    /// The joined file's track ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.tracks.iter().map(|(.., new)| *new)
    }
}

/// The joined file's `ftyp` and `moov`, and how the inputs' tracks were numbered in it.
#[derive(Debug)]
pub struct JoinedInit {
    pub bytes: Vec<u8>,
    pub tracks: TrackMap,
}

/// Merges the tracks of `inits` (each an fMP4 init segment: `ftyp` + `moov`) into one init
/// segment: the first input's `ftyp` and `mvhd` (its `next_track_ID` past the last track),
/// every input's `trak` in order with track ids renumbered from 1, and an `mvex` with every
/// track's `trex` and a `mehd` of `duration_s`, so that players know the length before they
/// read the fragments.
pub fn merge_inits(inits: &[&[u8]], duration_s: f64) -> Result<JoinedInit, Fmp4Error> {
    let first = inits.first().ok_or(Fmp4Error::NoTracks)?;
    let ftyp = top_box(first, b"ftyp")?;
    let (mvhd_at, mvhd_end) = *find(first, &[b"moov", b"mvhd"])?
        .first()
        .ok_or(Fmp4Error::Missing("mvhd"))?;
    let mut mvhd = first[mvhd_at..mvhd_end].to_vec();
    let movie_timescale = mvhd_timescale(&mvhd)?;

    let mut traks = Vec::new();
    let mut trexes = Vec::new();
    let mut tracks = Vec::new();
    for (input, init) in inits.iter().enumerate() {
        let trex_boxes = find(init, &[b"moov", b"mvex", b"trex"])?;
        for (payload, end) in find(init, &[b"moov", b"trak"])? {
            let new_id = u32::try_from(tracks.len() + 1).map_err(|_| Fmp4Error::Overflow)?;
            let mut trak = init[payload..end].to_vec();
            drop_leading_empty_edits(&mut trak)?;
            let (tkhd, tkhd_end) = *find(&trak, &[b"tkhd"])?
                .first()
                .ok_or(Fmp4Error::Missing("tkhd"))?;
            let id_at = tkhd + if trak.get(tkhd) == Some(&1) { 20 } else { 12 };
            let old_id = read_u32(&trak, id_at, tkhd_end, "tkhd")?;
            put_u32(&mut trak, id_at, new_id);
            let &(trex, trex_end) = trex_boxes
                .iter()
                .find(|(at, end)| read_u32(init, at + 4, *end, "trex").ok() == Some(old_id))
                .ok_or(Fmp4Error::Missing("trex"))?;
            let mut trex = init[trex..trex_end].to_vec();
            put_u32(&mut trex, 4, new_id);
            traks.push(boxed(b"trak", &trak));
            trexes.push(boxed(b"trex", &trex));
            tracks.push((input, old_id, new_id));
        }
    }
    if tracks.is_empty() {
        return Err(Fmp4Error::NoTracks);
    }
    let next_id = u32::try_from(tracks.len() + 1).map_err(|_| Fmp4Error::Overflow)?;
    let last = mvhd
        .len()
        .checked_sub(4)
        .ok_or(Fmp4Error::Missing("mvhd"))?;
    put_u32(&mut mvhd, last, next_id);

    // mehd version 1: the whole duration in the movie's timescale, 64 bits.
    let ticks = (duration_s.max(0.0) * f64::from(movie_timescale)).round() as u64;
    let mehd = boxed(b"mehd", &[&[1, 0, 0, 0][..], &ticks.to_be_bytes()].concat());
    let mvex = boxed(b"mvex", &[mehd, trexes.concat()].concat());
    let moov = boxed(
        b"moov",
        &[boxed(b"mvhd", &mvhd), traks.concat(), mvex].concat(),
    );
    Ok(JoinedInit {
        bytes: [ftyp.to_vec(), moov].concat(),
        tracks: TrackMap { tracks },
    })
}

/// Makes the empty edits (`media_time` -1) that start a track's edit list last no time.
///
/// The video and the audio renditions are separate ffmpeg outputs: each is shifted on its own
/// so that its decode times start at 0, and the video's encoder delay (B-frames) becomes an
/// empty edit that starts its pictures late. In the source both streams start together; in
/// one file they must again, or the pictures would lag the sound by the delay (and the file
/// would look that much longer than the video).
fn drop_leading_empty_edits(trak: &mut [u8]) -> Result<(), Fmp4Error> {
    let Some(&(elst, end)) = find(trak, &[b"edts", b"elst"])?.first() else {
        return Ok(());
    };
    let wide = trak.get(elst) == Some(&1);
    let (duration_len, entry_len) = if wide { (8, 20) } else { (4, 12) };
    let count = read_u32(trak, elst + 4, end, "elst")? as usize;
    for i in 0..count {
        let at = elst + 8 + i * entry_len;
        if at + entry_len > end {
            return Err(Fmp4Error::Truncated("elst".into()));
        }
        let media_time = &trak[at + duration_len..at + 2 * duration_len];
        if media_time.iter().any(|&b| b != 0xff) {
            break;
        }
        trak[at..at + duration_len].fill(0);
    }
    Ok(())
}

/// A fragment as it lands in the joined file: its track, its decode time and where its `moof`
/// starts (for the `mfra`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentAt {
    pub track_id: u32,
    pub decode_time: u64,
    pub moof_offset: u64,
}

/// The numbering that runs through the joined file's fragments.
#[derive(Debug, Default)]
pub struct FragmentCounter {
    /// The last `mfhd` sequence number given.
    sequence: u32,
}

/// Rewrites the fragments of one media segment of input `input` for the joined file, in place:
/// each `moof` gets the next sequence number, its `traf`s their track's new id (and an
/// absolute base offset, if one is set, the place it lands at). `at` is where the segment's
/// first kept byte lands in the output. Returns the byte ranges to write, in order (the `moof`
/// and `mdat` boxes), and the fragments found.
pub fn rewrite_segment(
    segment: &mut [u8],
    input: usize,
    tracks: &TrackMap,
    counter: &mut FragmentCounter,
    at: u64,
) -> Result<(Vec<Range<usize>>, Vec<FragmentAt>), Fmp4Error> {
    let mut keep = Vec::new();
    let mut fragments = Vec::new();
    let mut written = 0u64;
    for found in boxes(segment, 0, segment.len())? {
        let start = found.start;
        let out_start = at + written;
        match &found.kind {
            b"moof" => {
                counter.sequence = counter.sequence.checked_add(1).ok_or(Fmp4Error::Overflow)?;
                let moof = &mut segment[start..found.end];
                let inner = found.payload - start;
                let moved = out_start as i128 - start as i128;
                let place = Place {
                    input,
                    moof_offset: out_start,
                    moved,
                };
                fragments.extend(rewrite_moof(moof, inner, tracks, counter, &place)?);
            }
            b"mdat" => {}
            // styp, sidx (about the segment file alone), free, prft...
            _ => continue,
        }
        keep.push(start..found.end);
        written += (found.end - start) as u64;
    }
    if fragments.is_empty() {
        return Err(Fmp4Error::NoDecodeTime);
    }
    Ok((keep, fragments))
}

/// Where a `moof` comes from and where it lands.
struct Place {
    input: usize,
    /// Its offset in the joined file.
    moof_offset: u64,
    /// Output offset minus input offset.
    moved: i128,
}

/// One `moof` (`moof[payload..]` its children): sequence number, track ids, absolute base
/// offsets moved with it.
fn rewrite_moof(
    moof: &mut [u8],
    payload: usize,
    tracks: &TrackMap,
    counter: &FragmentCounter,
    place: &Place,
) -> Result<Vec<FragmentAt>, Fmp4Error> {
    let end = moof.len();
    let (mfhd, mfhd_end) = *find_in(moof, payload, end, &[b"mfhd"])?
        .first()
        .ok_or(Fmp4Error::Missing("mfhd"))?;
    read_u32(moof, mfhd + 4, mfhd_end, "mfhd")?;
    put_u32(moof, mfhd + 4, counter.sequence);
    let mut fragments = Vec::new();
    for (traf, traf_end) in find_in(moof, payload, end, &[b"traf"])? {
        let (tfhd, tfhd_end) = *find_in(moof, traf, traf_end, &[b"tfhd"])?
            .first()
            .ok_or(Fmp4Error::Missing("tfhd"))?;
        let flags = read_u32(moof, tfhd, tfhd_end, "tfhd")? & 0x00ff_ffff;
        let old_id = read_u32(moof, tfhd + 4, tfhd_end, "tfhd")?;
        let track_id = tracks
            .new_id(place.input, old_id)
            .ok_or(Fmp4Error::UnknownTrack(old_id))?;
        put_u32(moof, tfhd + 4, track_id);
        if flags & 0x1 != 0 {
            // base-data-offset-present: an absolute position in the file.
            let base = read_u64(moof, tfhd + 8, tfhd_end, "tfhd")?;
            let moved =
                u64::try_from(i128::from(base) + place.moved).map_err(|_| Fmp4Error::Overflow)?;
            moof[tfhd + 8..tfhd + 16].copy_from_slice(&moved.to_be_bytes());
        }
        let (tfdt, tfdt_end) = *find_in(moof, traf, traf_end, &[b"tfdt"])?
            .first()
            .ok_or(Fmp4Error::NoDecodeTime)?;
        let decode_time = match moof.get(tfdt) {
            Some(1) => read_u64(moof, tfdt + 4, tfdt_end, "tfdt")?,
            _ => u64::from(read_u32(moof, tfdt + 4, tfdt_end, "tfdt")?),
        };
        fragments.push(FragmentAt {
            track_id,
            decode_time,
            moof_offset: place.moof_offset,
        });
    }
    Ok(fragments)
}

/// The `mfra` box that ends the joined file: per track a `tfra` (version 1) listing each
/// fragment's decode time and `moof` offset (every fragment starts with a sync sample: HLS
/// segments start on a keyframe), then the `mfro` that tells its size.
pub fn mfra(tracks: &TrackMap, fragments: &[FragmentAt]) -> Vec<u8> {
    let mut tfras = Vec::new();
    for id in tracks.ids() {
        let mine: Vec<&FragmentAt> = fragments.iter().filter(|f| f.track_id == id).collect();
        let mut payload = vec![1, 0, 0, 0];
        payload.extend_from_slice(&id.to_be_bytes());
        // One byte each for traf, trun and sample numbers.
        payload.extend_from_slice(&0u32.to_be_bytes());
        payload.extend_from_slice(&(mine.len() as u32).to_be_bytes());
        for fragment in mine {
            payload.extend_from_slice(&fragment.decode_time.to_be_bytes());
            payload.extend_from_slice(&fragment.moof_offset.to_be_bytes());
            payload.extend_from_slice(&[1, 1, 1]);
        }
        tfras.push(boxed(b"tfra", &payload));
    }
    let tfras = tfras.concat();
    let mfra_size = (8 + tfras.len() + 16) as u32;
    let mfro = boxed(b"mfro", &[&[0u8; 4][..], &mfra_size.to_be_bytes()].concat());
    boxed(b"mfra", &[tfras, mfro].concat())
}

/// A box of `kind` around `payload`.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// A whole top-level box of `kind`, header included.
fn top_box<'a>(bytes: &'a [u8], kind: &'static [u8; 4]) -> Result<&'a [u8], Fmp4Error> {
    let found = boxes(bytes, 0, bytes.len())?
        .into_iter()
        .find(|b| &b.kind == kind)
        .ok_or(Fmp4Error::Missing(
            std::str::from_utf8(kind).unwrap_or("box"),
        ))?;
    Ok(&bytes[found.start..found.end])
}

fn mvhd_timescale(mvhd: &[u8]) -> Result<u32, Fmp4Error> {
    let at = if mvhd.first() == Some(&1) { 20 } else { 12 };
    read_u32(mvhd, at, mvhd.len(), "mvhd")
}

fn read_u32(bytes: &[u8], at: usize, end: usize, name: &str) -> Result<u32, Fmp4Error> {
    if at + 4 > end || end > bytes.len() {
        return Err(Fmp4Error::Truncated(name.into()));
    }
    Ok(u32::from_be_bytes(word(bytes, at)))
}

fn read_u64(bytes: &[u8], at: usize, end: usize, name: &str) -> Result<u64, Fmp4Error> {
    let high = read_u32(bytes, at, end, name)?;
    let low = read_u32(bytes, at + 4, end, name)?;
    Ok((u64::from(high) << 32) | u64::from(low))
}

/// Writes a 32-bit field that [`read_u32`] has checked is there.
fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = bytes.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio::process::Command;

    use super::*;

    /// ffmpeg's HLS of 20 s, video alone (320x180, 15 fps) or audio alone, as the
    /// processor writes renditions: the init segment and the media segments, in order.
    async fn rendition(dir: &Path, audio: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
        let name = if audio { "a" } else { "v" };
        let source: &[&str] = if audio {
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-c:a",
                "aac",
            ]
        } else {
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=320x180:r=15",
                "-c:v",
                "libx264",
                // B-frames: ffmpeg's HLS writes the encoder delay as an empty edit.
                "-bf",
                "2",
            ]
        };
        let status = Command::new("ffmpeg")
            .current_dir(dir)
            .args(["-v", "error", "-y"])
            .args(source)
            .args(["-t", "20", "-preset", "ultrafast", "-g", "30", "-f", "hls"])
            .args(["-hls_time", "6", "-hls_segment_type", "fmp4"])
            .args(["-hls_playlist_type", "vod", "-hls_fmp4_init_filename"])
            .arg(format!("{name}_init.mp4"))
            .arg("-hls_segment_filename")
            .arg(format!("{name}_%03d.m4s"))
            .arg(format!("{name}.m3u8"))
            .status()
            .await
            .expect("ffmpeg runs");
        assert!(status.success());
        let init = std::fs::read(dir.join(format!("{name}_init.mp4"))).expect("init");
        let segments = (0..)
            .map(|i| dir.join(format!("{name}_{i:03}.m4s")))
            .take_while(|p| p.exists())
            .map(|p| std::fs::read(p).expect("segment"))
            .collect();
        (init, segments)
    }

    async fn ffprobe(path: &Path, options: &[&str], entries: &str) -> String {
        let out = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(options)
            .args(["-show_entries", entries, "-of", "csv=p=0"])
            .arg(path)
            .output()
            .await
            .expect("ffprobe runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[tokio::test]
    async fn joins_a_video_and_an_audio_rendition_into_one_playable_mp4() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (video_init, video) = rendition(dir.path(), false).await;
        let (audio_init, audio) = rendition(dir.path(), true).await;
        assert_eq!(video.len(), 4);

        let init = merge_inits(&[&video_init, &audio_init], 20.0).expect("merged init");
        assert_eq!(init.tracks.ids().collect::<Vec<_>>(), vec![1, 2]);
        let mut out = init.bytes.clone();
        let mut counter = FragmentCounter::default();
        let mut fragments = Vec::new();
        // Video segment i, then audio segment i: both are 6 s.
        for (i, segment) in video
            .into_iter()
            .zip(audio)
            .flat_map(|(v, a)| [v, a])
            .enumerate()
        {
            let mut segment = segment;
            let input = i % 2;
            let (keep, found) = rewrite_segment(
                &mut segment,
                input,
                &init.tracks,
                &mut counter,
                out.len() as u64,
            )
            .expect("rewritten");
            for range in keep {
                out.extend_from_slice(&segment[range]);
            }
            fragments.extend(found);
        }
        out.extend(mfra(&init.tracks, &fragments));
        let file = dir.path().join("joined.mp4");
        std::fs::write(&file, &out).expect("written");

        // Sequence numbers run on; each fragment's moof is where the index says.
        assert_eq!(counter.sequence, 8);
        for fragment in &fragments {
            let at = fragment.moof_offset as usize;
            assert_eq!(&out[at + 4..at + 8], b"moof");
        }
        assert_eq!(fragments.iter().filter(|f| f.track_id == 2).count(), 4);

        let streams = ffprobe(&file, &[], "stream=codec_type").await;
        assert_eq!(streams.lines().collect::<Vec<_>>(), vec!["video", "audio"]);
        let duration: f64 = ffprobe(&file, &[], "format=duration")
            .await
            .trim()
            .parse()
            .expect("a duration");
        assert!((duration - 20.0).abs() < 0.1, "{duration}");
        // Pictures and sound start together, as in the source (no empty edit left).
        let starts = ffprobe(&file, &[], "stream=start_time").await;
        for start in starts.lines() {
            let start: f64 = start.parse().expect("a start time");
            assert!(start.abs() < 0.01, "{starts}");
        }
        // Every frame decodes, from start to end.
        let frames = ffprobe(
            &file,
            &["-count_frames", "-select_streams", "v"],
            "stream=nb_read_frames",
        )
        .await;
        assert_eq!(frames.trim(), "300");
    }

    #[test]
    fn refuses_fragments_of_tracks_it_does_not_know() {
        let trak = |id: u32| {
            let tkhd = [&[0u8; 12][..], &id.to_be_bytes(), &[0; 64]].concat();
            boxed(b"trak", &boxed(b"tkhd", &tkhd))
        };
        let trex = |id: u32| {
            boxed(
                b"trex",
                &[&[0u8; 4][..], &id.to_be_bytes(), &[0; 12]].concat(),
            )
        };
        let mvhd = [&[0u8; 12][..], &1000u32.to_be_bytes(), &[0; 80]].concat();
        let init = [
            boxed(b"ftyp", b"iso5"),
            boxed(
                b"moov",
                &[boxed(b"mvhd", &mvhd), trak(7), boxed(b"mvex", &trex(7))].concat(),
            ),
        ]
        .concat();
        let joined = merge_inits(&[&init], 2.5).expect("merged");
        assert_eq!(joined.tracks.ids().collect::<Vec<_>>(), vec![1]);
        let mehd = find(&joined.bytes, &[b"moov", b"mvex", b"mehd"]).expect("boxes");
        let (at, _) = mehd[0];
        assert_eq!(read_u64(&joined.bytes, at + 4, at + 12, "mehd"), Ok(2500));

        let traf = [
            boxed(b"tfhd", &[&[0u8; 4][..], &9u32.to_be_bytes()].concat()),
            boxed(b"tfdt", &[0u8; 8]),
        ]
        .concat();
        let moof = boxed(
            b"moof",
            &[boxed(b"mfhd", &[0; 8]), boxed(b"traf", &traf)].concat(),
        );
        let mut segment = [moof, boxed(b"mdat", &[1, 2])].concat();
        let mut counter = FragmentCounter::default();
        assert_eq!(
            rewrite_segment(&mut segment, 0, &joined.tracks, &mut counter, 0),
            Err(Fmp4Error::UnknownTrack(9))
        );
        assert_eq!(merge_inits(&[], 1.0).err(), Some(Fmp4Error::NoTracks));
    }
}
