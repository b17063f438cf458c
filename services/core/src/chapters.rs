//! Chapters of a video, on its original timeline: the ones its owner sets (checked by
//! [`checked`]), or else the ones its description lists ([`from_description`], YouTube's
//! rules), and the WebVTT chapters track players read ([`vtt`]).

use serde::{Deserialize, Serialize};

use crate::webvtt;

/// Most chapters a video may have.
pub const MAX_CHAPTERS: usize = 500;
/// Longest chapter title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// A description lists chapters only with at least this many timestamp lines (YouTube's rule).
const MIN_LISTED: usize = 3;
/// …each at least this long after the one before (YouTube's rule).
const MIN_LISTED_GAP_S: f64 = 10.0;
/// Lines of a description looked at: the work stays bounded whatever the text.
const MAX_LINES: usize = 5000;
/// Digits of the first part of a timestamp (`999:59`, `999:59:59`): no overflow, no huge times.
const MAX_LEAD_DIGITS: usize = 3;

/// One chapter: where it starts, in seconds of the original timeline, and its title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Chapter {
    /// Seconds from the start of the original video (0 for the first chapter).
    #[schema(minimum = 0)]
    pub start_s: f64,
    /// 1 to 100 characters, no control characters.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
}

/// The chapters a description lists, by YouTube's rules: lines that start with a timestamp
/// (`0:00 Intro`, `1:02:03 Boss fight`, `12:30 - Title`), the first at 0:00, at least three,
/// each at least 10 s after the one before. Anything else lists none.
pub fn from_description(text: &str) -> Vec<Chapter> {
    let mut chapters: Vec<Chapter> = Vec::new();
    for line in text.lines().take(MAX_LINES) {
        let Some(chapter) = listed(line) else {
            continue;
        };
        if chapters.len() == MAX_CHAPTERS {
            return Vec::new();
        }
        if let Some(last) = chapters.last()
            && chapter.start_s < last.start_s + MIN_LISTED_GAP_S
        {
            return Vec::new();
        }
        if chapters.is_empty() && chapter.start_s != 0.0 {
            return Vec::new();
        }
        chapters.push(chapter);
    }
    if chapters.len() < MIN_LISTED {
        return Vec::new();
    }
    chapters
}

/// A chapter line: a timestamp at its start (bare or in brackets), then the title, maybe after
/// a dash, colon or bar.
fn listed(line: &str) -> Option<Chapter> {
    let line = line.trim_start();
    let (bracketed, rest) = match line.strip_prefix(['(', '[']) {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(rest.len());
    let start_s = timestamp(&rest[..end])?;
    let mut rest = &rest[end..];
    if bracketed {
        rest = rest.strip_prefix([')', ']'])?;
    }
    // The timestamp ends at a space or a separator: `1:00x` is not one.
    if !rest.starts_with(|c: char| c.is_whitespace() || "-–—:|".contains(c)) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['-', '–', '—', ':', '|']).unwrap_or(rest);
    let title = clean_title(rest);
    (!title.is_empty()).then_some(Chapter { start_s, title })
}

/// `M:SS`, `MM:SS` or `H:MM:SS` (the first part up to three digits), in whole seconds.
fn timestamp(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.split(':').collect();
    let (lead, rest) = parts.split_first()?;
    if !(1..=MAX_LEAD_DIGITS).contains(&lead.len()) || !(1..=2).contains(&rest.len()) {
        return None;
    }
    let mut total: u32 = lead.parse().ok()?;
    for part in rest {
        if part.len() != 2 {
            return None;
        }
        let n: u32 = part.parse().ok()?;
        if n >= 60 {
            return None;
        }
        total = total * 60 + n;
    }
    Some(f64::from(total))
}

/// A title from a description: control characters as spaces, trimmed, at most 100 characters.
fn clean_title(text: &str) -> String {
    let spaced: String = text
        .trim()
        .chars()
        .take(MAX_TITLE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.trim().to_owned()
}

/// The chapters an owner sends, checked: at most 500, the first at 0, each after the one
/// before and, when the duration is known, before its end; titles trimmed, 1 to 100
/// characters without control characters. The error names the first bad entry.
pub fn checked(chapters: Vec<Chapter>, duration_s: Option<f64>) -> Result<Vec<Chapter>, String> {
    if chapters.len() > MAX_CHAPTERS {
        return Err(format!(
            "at most {MAX_CHAPTERS} chapters, not {}",
            chapters.len()
        ));
    }
    let mut out: Vec<Chapter> = Vec::with_capacity(chapters.len());
    for (i, chapter) in chapters.into_iter().enumerate() {
        let at = |problem: String| format!("chapters[{i}]: {problem}");
        let start_s = chapter.start_s;
        if !start_s.is_finite() || start_s < 0.0 {
            return Err(at("start_s must be a number of seconds, 0 or more".into()));
        }
        match out.last() {
            None if start_s != 0.0 => {
                return Err(at(format!(
                    "the first chapter must start at 0, not {start_s}"
                )));
            }
            Some(before) if start_s <= before.start_s => {
                return Err(at(format!(
                    "start_s {start_s} must be after the previous chapter's {}",
                    before.start_s
                )));
            }
            _ => {}
        }
        if let Some(duration) = duration_s
            && start_s >= duration
        {
            return Err(at(format!(
                "start_s {start_s} is not inside the video ({duration} s long)"
            )));
        }
        let title = chapter.title.trim();
        if title.is_empty() {
            return Err(at("title must not be empty".into()));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(at(format!(
                "title must be at most {MAX_TITLE_CHARS} characters"
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(at("title must not contain control characters".into()));
        }
        out.push(Chapter {
            start_s,
            title: title.to_owned(),
        });
    }
    Ok(out)
}

/// The chapters a player of `[from_s, to_s)` of the original timeline shows: those that start
/// before `to_s`, the first clamped to `from_s`, times still on the original timeline.
pub fn within(chapters: &[Chapter], from_s: f64, to_s: f64) -> Vec<Chapter> {
    let mut out: Vec<Chapter> = Vec::new();
    for (i, chapter) in chapters.iter().enumerate() {
        let end = chapters.get(i + 1).map_or(f64::INFINITY, |c| c.start_s);
        if end <= from_s || chapter.start_s >= to_s {
            continue;
        }
        out.push(Chapter {
            start_s: chapter.start_s.max(from_s),
            title: chapter.title.clone(),
        });
    }
    out
}

/// The WebVTT chapters track of a player that plays `[from_s, to_s)` of the original timeline:
/// one cue per chapter, each ending where the next starts and the last at `to_s`, on the
/// player's timeline (original time − `from_s`).
pub fn vtt(chapters: &[Chapter], from_s: f64, to_s: f64) -> String {
    let shown = within(chapters, from_s, to_s);
    let mut out = String::from("WEBVTT\n");
    for (i, chapter) in shown.iter().enumerate() {
        let end = shown.get(i + 1).map_or(to_s, |c| c.start_s);
        out.push_str(&format!(
            "\n{}\n{} --> {}\n{}\n",
            i + 1,
            webvtt::timestamp(chapter.start_s - from_s),
            webvtt::timestamp(end - from_s),
            webvtt::cue_text(&chapter.title)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapter(start_s: f64, title: &str) -> Chapter {
        Chapter {
            start_s,
            title: title.to_owned(),
        }
    }

    fn starts(chapters: &[Chapter]) -> Vec<f64> {
        chapters.iter().map(|c| c.start_s).collect()
    }

    #[test]
    fn descriptions_list_chapters_like_youtube() {
        let text = "My stream!\n\n0:00 Intro\n1:02 - Warm-up\n  12:30 – Lobby\n(1:02:03) Boss fight\n\
                    thanks for watching, see 2:00 for the fail";
        let found = from_description(text);
        assert_eq!(
            found,
            vec![
                chapter(0.0, "Intro"),
                chapter(62.0, "Warm-up"),
                chapter(750.0, "Lobby"),
                chapter(3723.0, "Boss fight"),
            ]
        );
        assert_eq!(
            starts(&from_description("00:00 a\n00:10 b\n[00:20]: c")),
            [0.0, 10.0, 20.0]
        );
    }

    #[test]
    fn youtube_rules_or_no_chapters() {
        // Fewer than three.
        assert!(from_description("0:00 a\n0:30 b").is_empty());
        // The first not at 0:00.
        assert!(from_description("0:05 a\n0:30 b\n1:00 c").is_empty());
        // Less than 10 s apart, or out of order.
        assert!(from_description("0:00 a\n0:09 b\n1:00 c").is_empty());
        assert!(from_description("0:00 a\n1:00 b\n0:30 c").is_empty());
        // A timestamp without a title is not a chapter line.
        assert_eq!(
            starts(&from_description("0:00 a\n0:30\n1:00 b\n2:00 c")),
            [0.0, 60.0, 120.0]
        );
    }

    #[test]
    fn hostile_descriptions_list_nothing_or_little() {
        for text in [
            "0:00 a\n99:99 b\n200:00 c",
            "0:00 a\n99999999999999999999:00 b\n1:00 c",
            "0:00 a\n1:2:3 b\n1:00:0 c",
            "0:00a\n0:10b\n0:20c",
            "0:00 a\n::: b\n1:00 c\n",
            ":00 a\n0:10 b\n0:20 c",
            "0:00:00:00 a\n0:10 b\n0:20 c",
            "",
        ] {
            assert!(from_description(text).is_empty(), "{text:?}");
        }
        // Titles: unicode kept, cut at 100 characters, control characters as spaces.
        let long = "é".repeat(150);
        let found = from_description(&format!("0:00 🎮 Jeu\t1\n0:10 {long}\n0:20 c"));
        assert_eq!(found[0].title, "🎮 Jeu 1");
        assert_eq!(found[1].title.chars().count(), 100);
        // Thousands of lines: bounded, and too many chapters is none at all.
        let many: String = (0..20_000)
            .map(|i| format!("{}:{:02} c\n", i / 6, i % 6 * 10))
            .collect();
        assert!(from_description(&many).is_empty());
        let lines = "no time here\n".repeat(100_000);
        assert!(from_description(&lines).is_empty());
    }

    #[test]
    fn owners_chapters_are_checked() {
        let ok = checked(
            vec![chapter(0.0, " Intro "), chapter(12.5, "Boss")],
            Some(40.0),
        );
        assert_eq!(ok, Ok(vec![chapter(0.0, "Intro"), chapter(12.5, "Boss")]));
        assert_eq!(checked(Vec::new(), None), Ok(Vec::new()));
        let refused =
            |chapters: Vec<Chapter>, duration| checked(chapters, duration).expect_err("refused");
        assert!(refused(vec![chapter(1.0, "a")], None).starts_with("chapters[0]:"));
        let e = refused(
            vec![chapter(0.0, "a"), chapter(5.0, "b"), chapter(5.0, "c")],
            None,
        );
        assert!(e.starts_with("chapters[2]:") && e.contains("after"), "{e}");
        let e = refused(vec![chapter(0.0, "a"), chapter(40.0, "b")], Some(40.0));
        assert!(e.starts_with("chapters[1]:") && e.contains("inside"), "{e}");
        assert!(refused(vec![chapter(0.0, "  ")], None).contains("empty"));
        assert!(refused(vec![chapter(0.0, &"x".repeat(101))], None).contains("100"));
        assert!(refused(vec![chapter(0.0, "a\u{7}")], None).contains("control"));
        assert!(refused(vec![chapter(-0.5, "a")], None).contains("0 or more"));
        let too_many = (0..501).map(|i| chapter(f64::from(i), "c")).collect();
        assert!(refused(too_many, None).contains("at most 500"));
    }

    #[test]
    fn the_track_has_one_cue_per_chapter() {
        let chapters = [
            chapter(0.0, "Intro"),
            chapter(12.0, "A <b> & --> c"),
            chapter(25.0, "End"),
        ];
        let vtt = vtt(&chapters, 0.0, 40.0);
        assert_eq!(
            vtt,
            "WEBVTT\n\n1\n00:00:00.000 --> 00:00:12.000\nIntro\n\
             \n2\n00:00:12.000 --> 00:00:25.000\nA &lt;b&gt; &amp; --&gt; c\n\
             \n3\n00:00:25.000 --> 00:00:40.000\nEnd\n"
        );
    }

    #[test]
    fn a_window_shifts_and_cuts_the_track() {
        let chapters = [
            chapter(0.0, "a"),
            chapter(12.0, "b"),
            chapter(25.0, "c"),
            chapter(35.0, "d"),
        ];
        assert_eq!(
            within(&chapters, 15.0, 30.0),
            [chapter(15.0, "b"), chapter(25.0, "c")]
        );
        let vtt = vtt(&chapters, 15.0, 30.0);
        assert!(vtt.contains("00:00:00.000 --> 00:00:10.000\nb\n"), "{vtt}");
        assert!(vtt.contains("00:00:10.000 --> 00:00:15.000\nc\n"), "{vtt}");
        assert!(!vtt.contains("\nd\n") && !vtt.contains("\na\n"), "{vtt}");
    }
}
