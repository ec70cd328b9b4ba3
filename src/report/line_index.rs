//! Byte offsets to line and column.
//!
//! Spans everywhere else in the crate are byte offsets into [`Source::text`](crate::source::Source::text);
//! this is the one place that turns them into the positions people and tools read.
//!
//! Conventions, shared by every output format:
//!
//! - lines are 1-based; `\n`, `\r\n` and a lone `\r` each end a line (a `\r\n`
//!   pair is one break, not two);
//! - columns are 1-based and count Unicode scalar values (`char`s), not bytes
//!   and not UTF-16 code units, so `é` or `→` before a span moves it by one;
//! - an end position is exclusive: for a span `start..end`, the end is the
//!   position of the byte `end`, that is the column just after the last
//!   character covered (SARIF's `endColumn` means the same).

use std::ops::Range;

/// A 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters from the start of the line.
    pub column: usize,
}

/// Where each line of one text starts, for mapping byte offsets to [`Position`]s.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first byte of each line; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            // The `\n` of a `\r\n` pair: the `\r` already ended the line.
            let second_of_pair = bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r';
            if second_of_pair {
                if let Some(last) = starts.last_mut() {
                    *last = i + 1;
                }
            } else {
                starts.push(i + 1);
            }
        }
        LineIndex { text, starts }
    }

    /// The indexed text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// How many lines the text has. A text ending in a line break has an
    /// empty last line after it; the empty text has one (empty) line.
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The position of byte `offset`. Offsets past the end are clamped to the
    /// end of the text, and an offset inside a multi-byte character counts as
    /// that character's start, so this never panics.
    pub fn position(&self, offset: usize) -> Position {
        let offset = self.floor_boundary(offset);
        // The last line whose start is at or before `offset`.
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        Position {
            line,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    /// The byte range of 1-based `line`, without its line break.
    ///
    /// # Panics
    ///
    /// If `line` is 0 or greater than [`line_count`](Self::line_count).
    pub fn line_range(&self, line: usize) -> Range<usize> {
        let start = self.starts[line - 1];
        let end = match self.starts.get(line) {
            Some(&next) => {
                let bytes = self.text.as_bytes();
                if next >= 2 && bytes[next - 2] == b'\r' && bytes[next - 1] == b'\n' {
                    next - 2
                } else {
                    next - 1
                }
            }
            None => self.text.len(),
        };
        start..end
    }

    /// The text of 1-based `line`, without its line break.
    ///
    /// # Panics
    ///
    /// If `line` is 0 or greater than [`line_count`](Self::line_count).
    pub fn line_text(&self, line: usize) -> &'a str {
        &self.text[self.line_range(line)]
    }

    fn floor_boundary(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn lf_lines() {
        let idx = LineIndex::new("ab\ncd\n");
        assert_eq!(idx.line_count(), 3);
        assert_eq!(idx.position(0), pos(1, 1));
        assert_eq!(idx.position(2), pos(1, 3)); // the `\n` itself
        assert_eq!(idx.position(3), pos(2, 1));
        assert_eq!(idx.position(4), pos(2, 2));
        assert_eq!(idx.line_text(1), "ab");
        assert_eq!(idx.line_text(2), "cd");
        assert_eq!(idx.line_text(3), "");
    }

    #[test]
    fn crlf_is_one_break() {
        let idx = LineIndex::new("ab\r\ncd\r\n\r\nef");
        assert_eq!(idx.line_count(), 4);
        assert_eq!(idx.position(4), pos(2, 1));
        assert_eq!(idx.position(8), pos(3, 1));
        assert_eq!(idx.position(10), pos(4, 1));
        assert_eq!(idx.line_text(1), "ab");
        assert_eq!(idx.line_text(2), "cd");
        assert_eq!(idx.line_text(3), "");
        assert_eq!(idx.line_text(4), "ef");
        // Between `\r` and `\n`: still on the line the pair ends.
        assert_eq!(idx.position(3), pos(1, 4));
    }

    #[test]
    fn lone_cr_is_a_break() {
        let idx = LineIndex::new("ab\rcd\r\rx");
        assert_eq!(idx.line_count(), 4);
        assert_eq!(idx.position(3), pos(2, 1));
        assert_eq!(idx.position(6), pos(3, 1));
        assert_eq!(idx.position(7), pos(4, 1));
        assert_eq!(idx.line_text(2), "cd");
        assert_eq!(idx.line_text(3), "");
        assert_eq!(idx.line_text(4), "x");
    }

    #[test]
    fn mixed_breaks() {
        let idx = LineIndex::new("a\nb\r\nc\rd");
        assert_eq!(idx.line_count(), 4);
        assert_eq!(
            (1..=4).map(|l| idx.line_text(l)).collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(idx.position(7), pos(4, 1));
    }

    #[test]
    fn last_line_without_newline() {
        let idx = LineIndex::new("SELECT 1;\nSELECT 2");
        assert_eq!(idx.line_count(), 2);
        assert_eq!(idx.line_text(2), "SELECT 2");
        assert_eq!(idx.position(17), pos(2, 8));
    }

    #[test]
    fn offset_at_and_past_end() {
        let idx = LineIndex::new("ab\ncd");
        assert_eq!(idx.position(5), pos(2, 3));
        assert_eq!(idx.position(99), pos(2, 3));
        let idx = LineIndex::new("ab\n");
        assert_eq!(idx.position(3), pos(2, 1));
        let idx = LineIndex::new("ab\r\n");
        assert_eq!(idx.position(4), pos(2, 1));
        let idx = LineIndex::new("");
        assert_eq!(idx.line_count(), 1);
        assert_eq!(idx.position(0), pos(1, 1));
        assert_eq!(idx.line_text(1), "");
    }

    #[test]
    fn columns_count_chars_not_bytes() {
        let text = "-- é→😀\nx";
        let idx = LineIndex::new(text);
        let arrow = text.find('→').unwrap();
        assert_eq!(idx.position(arrow), pos(1, 5));
        let emoji = text.find('😀').unwrap();
        assert_eq!(idx.position(emoji), pos(1, 6));
        // Inside a multi-byte char: that char's start.
        assert_eq!(idx.position(emoji + 2), pos(1, 6));
        assert_eq!(idx.position(text.find('\n').unwrap()), pos(1, 7));
        // A tab is one character.
        assert_eq!(LineIndex::new("\tx").position(1), pos(1, 2));
    }
}
