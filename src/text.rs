//! Text helpers shared by every layer: positions in a source text (byte offsets and
//! 1-based lines and character columns, for the diagnostics of the desired-state files
//! and of snapshots alike), and sizes and counts as people read them.

/// A serde_json message without its trailing ` at line L column C` (the position is
/// reported on its own, as file:line:col).
pub fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Converts 1-based (line, character column) positions to byte offsets, and back.
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        // A byte-order mark takes no column: the parser (like an editor) counts the
        // first line's columns from after it.
        let first = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let mut line_starts = vec![first];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    /// The indexed text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The byte offset of a 1-based line and character column, clamped to the text.
    pub fn offset(&self, line: u64, column: u64) -> usize {
        let Some(&start) = usize::try_from(line.saturating_sub(1))
            .ok()
            .and_then(|l| self.line_starts.get(l))
        else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let col = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
        start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i)
    }

    /// The 1-based line and character column of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len()).max(self.line_starts[0]);
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }
}

/// `1.4 GiB`, `48.2 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 tag`, `2 tags`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// ECR's wildcard match, for tag patterns of lifecycle rules and tag-mutability
/// exclusion filters: `*` matches any run of characters (none included), every other
/// character matches itself, over the whole tag.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole tag.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_the_whole_tag() {
        for (pattern, text, expected) in [
            ("latest", "latest", true),
            ("latest", "latest-1", false),
            ("dev-*", "dev-1", true),
            ("dev-*", "dev-", true),
            ("dev-*", "devx", false),
            ("dev-*", "xdev-1", false),
            ("*-rc", "1.0-rc", true),
            ("*-rc", "1.0-rc1", false),
            ("v*.*", "v1.2", true),
            ("v*.*", "v12", false),
            ("a*b*a", "aba", true),
            ("a*b*a", "ab", false),
            ("*", "anything", true),
        ] {
            assert_eq!(
                wildcard_match(pattern, text),
                expected,
                "{pattern} against {text}"
            );
        }
    }

    #[test]
    fn positions_round_trip() {
        let text = "a: 1\nbé: \"x\"\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.offset(2, 1), 5);
        assert_eq!(idx.offset(2, 4), 9);
        assert_eq!(idx.position(9), (2, 4));
    }

    #[test]
    fn past_the_end_and_byte_order_marks() {
        let idx = LineIndex::new("ab\ncd");
        assert_eq!(idx.offset(9, 1), 5);
        assert_eq!(idx.offset(2, 9), 5);
        assert_eq!(idx.position(99), (2, 3));
        let idx = LineIndex::new("\u{feff}ab");
        assert_eq!(idx.offset(1, 1), 3);
        assert_eq!(idx.position(0), (1, 1));
    }
}
