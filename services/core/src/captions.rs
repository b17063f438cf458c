//! Caption files: WebVTT and SRT read strictly (a malformed file is refused with the line that
//! is wrong), checked against the video's duration, and written back as one clean WebVTT file.
//!
//! What is kept: cue identifiers, timings, WebVTT cue settings (`align:start`, ...) and the
//! WebVTT cue text tags (`<b>`, `<i>`, `<u>`, `<c.class>`, `<v Name>`, `<lang xx>`, `<ruby>`,
//! `<rt>`, `<00:01.000>`). Anything else that looks like markup (HTML, SRT's `<font>`) is
//! escaped (`&lt;script&gt;` shows as text; `<font>` tags are dropped), so that a page that
//! puts cue text into HTML cannot be made to run anything. Header blocks, `NOTE`, `STYLE` and
//! `REGION` blocks are dropped. Overlapping cues are allowed (WebVTT allows them); a cue must
//! end after it starts; the number of cues is bounded by the size of the body the API accepts.

use std::fmt::Write as _;

/// The formats a caption file may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    WebVtt,
    Srt,
}

impl Format {
    /// From a `Content-Type` (its parameters aside).
    pub fn of_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim();
        if essence.eq_ignore_ascii_case("text/vtt") {
            Some(Self::WebVtt)
        } else if essence.eq_ignore_ascii_case("application/x-subrip") {
            Some(Self::Srt)
        } else {
            None
        }
    }
}

/// One cue, times in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub id: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// WebVTT cue settings, as given (checked to be plain tokens).
    pub settings: String,
    /// Lines of cue text, sanitized.
    pub text: Vec<String>,
    /// Where the cue's timing line is in the file (1-based).
    pub line: usize,
}

/// What is wrong with a caption file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn error<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// Reads a caption file of `format`. At least one cue is required.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Cue>, ParseError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let line = 1 + bytes[..err.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            return error(line, "the file is not UTF-8 text");
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        let line = 1 + text[..text.find('\0').unwrap_or(0)].matches('\n').count();
        return error(line, "the file contains a NUL character");
    }
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let cues = match format {
        Format::WebVtt => parse_webvtt(&lines)?,
        Format::Srt => parse_srt(&lines)?,
    };
    if cues.is_empty() {
        let last = lines
            .iter()
            .rposition(|l| !l.trim().is_empty())
            .unwrap_or(0);
        return error(last + 1, "the file has no cues");
    }
    Ok(cues)
}

/// The blocks of a file: runs of non-blank lines, each with the 1-based number of its first.
fn blocks<'a>(lines: &[&'a str], from: usize) -> Vec<(usize, Vec<&'a str>)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (i, line) in lines.iter().enumerate().skip(from) {
        if line.trim().is_empty() {
            out.extend(current.take());
        } else {
            current
                .get_or_insert_with(|| (i + 1, Vec::new()))
                .1
                .push(line);
        }
    }
    out.extend(current);
    out
}

fn parse_webvtt(lines: &[&str]) -> Result<Vec<Cue>, ParseError> {
    let first = lines.first().copied().unwrap_or_default();
    let signature_ok = first
        .strip_prefix("WEBVTT")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
    if !signature_ok {
        return error(1, "a WebVTT file starts with the line WEBVTT");
    }
    // The header runs to the first blank line.
    let header_end = lines
        .iter()
        .position(|l| l.trim().is_empty())
        .unwrap_or(lines.len());
    let mut cues = Vec::new();
    for (at, block) in blocks(lines, header_end) {
        let head = block[0];
        if ["NOTE", "STYLE", "REGION"].iter().any(|k| {
            head == *k || head.starts_with(&format!("{k} ")) || head.starts_with(&format!("{k}\t"))
        }) {
            continue;
        }
        let (id, timing_at) = if head.contains("-->") {
            (None, 0)
        } else {
            (Some(head), 1)
        };
        let timing = block.get(timing_at).filter(|t| t.contains("-->"));
        let Some(timing) = timing else {
            // An identifier that looks like a time is a timing line gone wrong.
            let line = if head.starts_with(|c: char| c.is_ascii_digit()) && head.contains(':') {
                at
            } else {
                at + timing_at
            };
            return error(
                line,
                "expected a timing line like 00:00:01.000 --> 00:00:02.000",
            );
        };
        let line = at + timing_at;
        let (start_ms, end_ms, settings) = timing_line(timing, line, '.')?;
        let text = cue_text(&block[timing_at + 1..], line + 1)?;
        cues.push(Cue {
            id: id.map(str::to_owned),
            start_ms,
            end_ms,
            settings,
            text,
            line,
        });
    }
    Ok(cues)
}

fn parse_srt(lines: &[&str]) -> Result<Vec<Cue>, ParseError> {
    let mut cues = Vec::new();
    for (at, block) in blocks(lines, 0) {
        let head = block[0].trim();
        let (id, timing_at) = if head.contains("-->") {
            (None, 0)
        } else if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
            (Some(head), 1)
        } else {
            return error(
                at,
                "expected a cue number, or a timing line like 00:00:01,000 --> 00:00:02,000",
            );
        };
        let Some(timing) = block.get(timing_at) else {
            return error(
                at + timing_at,
                "expected a timing line like 00:00:01,000 --> 00:00:02,000",
            );
        };
        let line = at + timing_at;
        // SRT's optional display rectangle (`X1:… X2:…`) has no WebVTT counterpart: dropped.
        let (start_ms, end_ms, _) = timing_line(timing, line, ',')?;
        let text = cue_text(&block[timing_at + 1..], line + 1)?;
        cues.push(Cue {
            id: id.map(str::to_owned),
            start_ms,
            end_ms,
            settings: String::new(),
            text,
            line,
        });
    }
    Ok(cues)
}

/// `start --> end [settings]`. `separator` is the format's decimal mark (`.` WebVTT, `,`
/// SRT); the other is accepted too, as players do.
fn timing_line(text: &str, line: usize, separator: char) -> Result<(u64, u64, String), ParseError> {
    let example = if separator == ',' {
        "00:00:01,000 --> 00:00:02,000"
    } else {
        "00:00:01.000 --> 00:00:02.000"
    };
    let bad = || ParseError {
        line,
        message: format!("expected a timing line like {example}"),
    };
    let (start, rest) = text.split_once("-->").ok_or_else(bad)?;
    let rest = rest.trim_start();
    let (end, settings) = match rest.find([' ', '\t']) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let start_ms = timestamp(start.trim()).ok_or_else(bad)?;
    let end_ms = timestamp(end.trim()).ok_or_else(bad)?;
    if end_ms <= start_ms {
        return error(line, "the cue must end after it starts");
    }
    let settings_ok = settings.len() <= 200
        && settings
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" \t:%.,-_".contains(&b));
    if !settings_ok {
        return error(line, "the cue settings are not valid");
    }
    let settings = if separator == '.' {
        settings.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        String::new()
    };
    Ok((start_ms, end_ms, settings))
}

/// `[hh:]mm:ss.ttt` (or `,ttt`) in milliseconds; hours may have more than two digits.
fn timestamp(text: &str) -> Option<u64> {
    let (clock, millis) = text.split_once(['.', ','])?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let (hours, minutes, seconds) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return None,
    };
    let number = |t: &str, max_len: usize| {
        (!t.is_empty() && t.len() <= max_len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    if minutes.len() != 2 || seconds.len() != 2 {
        return None;
    }
    let hours = number(hours, 6)?;
    let (minutes, seconds) = (number(minutes, 2)?, number(seconds, 2)?);
    if minutes > 59 || seconds > 59 {
        return None;
    }
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis.parse::<u64>().ok()?)
}

/// The text lines of a cue, sanitized. A timing arrow in cue text would end the cue early.
fn cue_text(lines: &[&str], first_line: usize) -> Result<Vec<String>, ParseError> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            if line.contains("-->") {
                return error(
                    first_line + i,
                    "cue text must not contain \"-->\" (is a blank line missing before this timing line?)",
                );
            }
            Ok(sanitize(line))
        })
        .collect()
}

/// The WebVTT tags kept in cue text (an annotation or classes may follow the name).
const KEPT_TAGS: [&str; 8] = ["b", "i", "u", "c", "v", "lang", "ruby", "rt"];
/// Tags dropped silently (SRT writes colours this way; WebVTT has no such tag).
const DROPPED_TAGS: [&str; 1] = ["font"];

/// Keeps WebVTT's own tags, drops `<font>`, escapes every other `<`, `>` and stray `&`.
fn sanitize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let tag = rest.find('>').map(|end| &rest[..=end]);
                match tag.map(|t| (t, tag_kind(&t[1..t.len() - 1]))) {
                    Some((t, TagKind::Kept)) => {
                        out.push_str(t);
                        rest = &rest[t.len()..];
                    }
                    Some((t, TagKind::Dropped)) => rest = &rest[t.len()..],
                    _ => {
                        out.push_str("&lt;");
                        rest = &rest[1..];
                    }
                }
            }
            '>' => {
                out.push_str("&gt;");
                rest = &rest[1..];
            }
            '&' => {
                let entity = rest
                    .find(';')
                    .map(|end| &rest[..=end])
                    .filter(|e| is_entity(e));
                match entity {
                    Some(e) => {
                        out.push_str(e);
                        rest = &rest[e.len()..];
                    }
                    None => {
                        out.push_str("&amp;");
                        rest = &rest[1..];
                    }
                }
            }
            c if c.is_control() && c != '\t' => rest = &rest[c.len_utf8()..],
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

enum TagKind {
    Kept,
    Dropped,
    Other,
}

fn tag_kind(inner: &str) -> TagKind {
    if inner.contains('<') {
        return TagKind::Other;
    }
    if timestamp(inner).is_some() {
        return TagKind::Kept;
    }
    let name_part = inner.strip_prefix('/').unwrap_or(inner);
    let name_end = name_part.find(['.', ' ', '\t']).unwrap_or(name_part.len());
    let name = &name_part[..name_end];
    let closing = inner.starts_with('/');
    // Classes are plain tokens; an annotation (`<v Name>`) is text, escaped as such.
    let rest = &name_part[name_end..];
    let rest_ok = !closing || rest.is_empty();
    let rest_ok =
        rest_ok && !rest.contains(['"', '\'', '&', '=']) && rest.chars().all(|c| !c.is_control());
    if KEPT_TAGS.contains(&name) && rest_ok {
        TagKind::Kept
    } else if DROPPED_TAGS.iter().any(|d| name.eq_ignore_ascii_case(d)) {
        TagKind::Dropped
    } else {
        TagKind::Other
    }
}

/// The character references WebVTT defines, and numeric ones.
fn is_entity(text: &str) -> bool {
    let inner = &text[1..text.len() - 1];
    matches!(inner, "amp" | "lt" | "gt" | "lrm" | "rlm" | "nbsp")
        || inner
            .strip_prefix('#')
            .is_some_and(|n| !n.is_empty() && n.len() <= 7 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Refuses a cue that starts at or after the end of the video (it would never show). A cue may
/// end after the video does.
pub fn check_duration(cues: &[Cue], duration_s: f64) -> Result<(), ParseError> {
    let end_ms = (duration_s.max(0.0) * 1000.0).floor() as u64;
    match cues.iter().find(|c| c.start_ms >= end_ms) {
        Some(cue) => error(
            cue.line,
            format!(
                "the cue starts at {}, after the video ends ({})",
                clock(cue.start_ms),
                clock(end_ms)
            ),
        ),
        None => Ok(()),
    }
}

/// `hh:mm:ss.ttt`.
fn clock(ms: u64) -> String {
    crate::webvtt::timestamp(ms as f64 / 1000.0)
}

/// The cues as a WebVTT file. Times stay as given: on the original timeline of the video,
/// which is also the timeline of its media (a trimmed playlist keeps the original timestamps).
pub fn to_webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n");
    for cue in cues {
        out.push('\n');
        if let Some(id) = &cue.id {
            out.push_str(id);
            out.push('\n');
        }
        let _ = write!(out, "{} --> {}", clock(cue.start_ms), clock(cue.end_ms));
        if !cue.settings.is_empty() {
            out.push(' ');
            out.push_str(&cue.settings);
        }
        out.push('\n');
        for line in &cue.text {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Checks a caption file against the video and converts it: the WebVTT to store.
pub fn convert(format: Format, bytes: &[u8], duration_s: f64) -> Result<String, ParseError> {
    let cues = parse(format, bytes)?;
    check_duration(&cues, duration_s)?;
    Ok(to_webvtt(&cues))
}

/// A BCP 47 language tag as captions accept it: a 2–3 letter primary language, then subtags of
/// 2–8 letters or digits, at most 35 characters (`en`, `pt-BR`, `zh-Hant-TW`).
pub fn valid_lang(lang: &str) -> bool {
    let mut parts = lang.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    lang.len() <= 35
        && primary_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRT: &str = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello <i>there</i>\r\n\r\n\
        2\r\n00:00:03,000 --> 00:00:04,000 X1:10 X2:20 Y1:1 Y2:2\r\n<font color=\"red\">Red</font> & <b>bold</b>\r\nsecond line\r\n";

    #[test]
    fn srt_becomes_webvtt() {
        let vtt = convert(Format::Srt, SRT.as_bytes(), 10.0).expect("valid");
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500\nHello <i>there</i>\n\n\
             2\n00:00:03.000 --> 00:00:04.000\nRed &amp; <b>bold</b>\nsecond line\n"
        );
        // What we write reads back the same.
        let again = parse(Format::WebVtt, vtt.as_bytes()).expect("ours parses");
        assert_eq!(to_webvtt(&again), vtt);
    }

    #[test]
    fn webvtt_keeps_ids_settings_and_tags_and_drops_notes() {
        let vtt = "\u{feff}WEBVTT - a title\nKind: captions\n\nNOTE written by hand\nstill the note\n\n\
            intro\n01:02.000 --> 01:03.250 align:start  position:10%\n<v Roger>Hi</v> <c.loud>there</c>\n\n\
            STYLE\n::cue { color: red }\n\n\
            1:00:00.000 --> 1:00:01.000\n<00:00:00.500>karaoke &amp; &nbsp;\n";
        let cues = parse(Format::WebVtt, vtt.as_bytes()).expect("valid");
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].id.as_deref(), Some("intro"));
        assert_eq!((cues[0].start_ms, cues[0].end_ms), (62_000, 63_250));
        assert_eq!(cues[0].settings, "align:start position:10%");
        assert_eq!(cues[0].text, ["<v Roger>Hi</v> <c.loud>there</c>"]);
        assert_eq!(cues[0].line, 8);
        assert_eq!(cues[1].start_ms, 3_600_000);
        assert_eq!(cues[1].text, ["<00:00:00.500>karaoke &amp; &nbsp;"]);
    }

    #[test]
    fn html_is_escaped_not_kept() {
        assert_eq!(
            sanitize("<script>alert(1)</script> <img src=x onerror=y> a<b"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=y&gt; a&lt;b"
        );
        assert_eq!(sanitize("<v a\"b>x</v>"), "&lt;v a\"b&gt;x</v>");
        assert_eq!(sanitize("</b class>"), "&lt;/b class&gt;");
        assert_eq!(
            sanitize("Tom &amp Jerry &#169;"),
            "Tom &amp;amp Jerry &#169;"
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases: [(Format, &str, usize, &str); 9] = [
            (Format::WebVtt, "WEBVTX\n", 1, "starts with the line WEBVTT"),
            (
                Format::WebVtt,
                "WEBVTT\n\n00:01.000 -> 00:02.000\nx\n",
                3,
                "expected a timing line",
            ),
            (
                Format::WebVtt,
                "WEBVTT\n\nid only\n",
                4,
                "expected a timing line",
            ),
            (
                Format::WebVtt,
                "WEBVTT\n\n00:01.000 --> 00:00.500\nx\n",
                3,
                "end after it starts",
            ),
            (
                Format::WebVtt,
                "WEBVTT\n\n00:61.000 --> 01:02.000\nx\n",
                3,
                "expected a timing line",
            ),
            (
                Format::WebVtt,
                "WEBVTT\n\n00:01.000 --> 00:02.000\nx\n00:03.000 --> 00:04.000\n",
                5,
                "-->",
            ),
            (Format::WebVtt, "WEBVTT\n", 1, "no cues"),
            (
                Format::Srt,
                "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a time\nx\n\n3\n00:00:05,000 --> 00:00:06,000\nz\n",
                6,
                "expected a timing line like 00:00:01,000",
            ),
            (Format::Srt, "hello\n", 1, "expected a cue number"),
        ];
        for (format, text, line, wanted) in cases {
            let err = parse(format, text.as_bytes()).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.to_string().contains(wanted), "{text:?}: {err}");
            assert!(
                err.to_string().starts_with(&format!("line {line}: ")),
                "{err}"
            );
        }
        let err =
            parse(Format::Srt, b"1\n00:00:01,000 --> 00:00:02,000\n\xff\n").expect_err("bytes");
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn a_cue_after_the_end_is_refused() {
        let text =
            "1\n00:00:01,000 --> 00:00:02,000\nin\n\n2\n00:00:09,000 --> 00:00:12,000\nlate\n";
        let cues = parse(Format::Srt, text.as_bytes()).expect("valid");
        assert!(
            check_duration(&cues, 9.5).is_ok(),
            "ending after the end is fine"
        );
        let err = check_duration(&cues, 8.0).expect_err("starts after the end");
        assert_eq!(err.line, 6);
        assert!(err.message.contains("00:00:09.000"), "{err}");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("00:00:01.000"), Some(1000));
        assert_eq!(timestamp("01:02.345"), Some(62_345));
        assert_eq!(timestamp("100:00:00,001"), Some(360_000_001));
        for bad in [
            "1:2.000",
            "00:00:01.00",
            "00:60:00.000",
            "aa:00.000",
            "00:00:01",
            "-1:00.000",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn languages() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "fil", "en-001"] {
            assert!(valid_lang(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "EN",
            "english",
            "en_US",
            "en-",
            "en-x",
            "../en",
            "en-toolongtag",
            &"en-ab".repeat(8),
        ] {
            assert!(!valid_lang(bad), "{bad}");
        }
        assert_eq!(
            Format::of_content_type("text/vtt; charset=utf-8"),
            Some(Format::WebVtt)
        );
        assert_eq!(
            Format::of_content_type("application/x-subrip"),
            Some(Format::Srt)
        );
        assert_eq!(Format::of_content_type("text/html"), None);
    }
}
