//! Pieces of WebVTT shared by the tracks vodnest writes (storyboard, chapters).

/// `HH:MM:SS.mmm`, as cue timings need it (negative counts as 0).
pub fn timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Cue text that shows as written: `&`, `<` and `>` escaped (so no tag, entity or `-->` can
/// appear), line breaks and other control characters turned into spaces (a blank line would
/// end the cue).
pub fn cue_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{cue_text, timestamp};

    #[test]
    fn timestamps_have_hours_and_milliseconds() {
        assert_eq!(timestamp(0.0), "00:00:00.000");
        assert_eq!(timestamp(3723.4567), "01:02:03.457");
        assert_eq!(timestamp(-5.0), "00:00:00.000");
        assert_eq!(timestamp(100.0 * 3600.0), "100:00:00.000");
    }

    #[test]
    fn cue_text_cannot_break_out() {
        assert_eq!(cue_text("a --> b"), "a --&gt; b");
        assert_eq!(cue_text("<b>x</b> & y"), "&lt;b&gt;x&lt;/b&gt; &amp; y");
        assert_eq!(cue_text("one\n\ntwo"), "one  two");
    }
}
