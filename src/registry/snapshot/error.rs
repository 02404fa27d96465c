//! Why a snapshot cannot be used, and where in the file.

use miette::{Diagnostic, NamedSource, SourceSpan};

use super::SNAPSHOT_VERSION;
use crate::text::LineIndex;

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot {path}: {message}")]
    #[diagnostic(code(snapshot::io))]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The JSON does not parse or does not fit the format.
    #[error("{path}:{line}:{column}: invalid snapshot: {message}")]
    #[diagnostic(
        code(snapshot::syntax),
        help("see schema/snapshot.schema.json for the format")
    )]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
        /// The file's text (left out when the line is too long to show).
        #[source_code]
        src: Option<NamedSource<String>>,
        /// The place.
        #[label("here")]
        span: Option<SourceSpan>,
    },
    /// A version this program does not read.
    #[error(
        "{path}: snapshot format version {version} is not supported (this version reads {SNAPSHOT_VERSION})"
    )]
    #[diagnostic(code(snapshot::version))]
    Version {
        /// The file.
        path: String,
        /// The version found.
        version: u64,
    },
    /// The JSON is well-formed but describes something ECR cannot hold.
    #[error("{path}: invalid snapshot at {at}: {message}")]
    #[diagnostic(code(snapshot::invalid))]
    Invalid {
        /// The file.
        path: String,
        /// Where, as a JSON path.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// A syntax error at the right place of the whole file, also when it was found while
/// parsing `part`, a slice of it.
pub(super) fn syntax_error(
    path: &str,
    bytes: &[u8],
    e: &serde_json::Error,
    part: Option<&str>,
) -> SnapshotError {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let index = LineIndex::new(&text);
    let offset = match part {
        None => index.offset(e.line() as u64, e.column().max(1) as u64),
        Some(part) => {
            let base = (part.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
            base + LineIndex::new(part).offset(e.line() as u64, e.column().max(1) as u64)
        }
    };
    let (line, column) = index.position(offset);
    // A snapshot written compactly is one enormous line: showing it helps nobody (and
    // the report renderer cannot lay it out), so the position alone is given then.
    let line_len = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(offset, |start| offset - start)
        + text[offset.min(text.len())..]
            .find('\n')
            .unwrap_or(text.len() - offset.min(text.len()));
    let (src, span) = if line_len <= MAX_SHOWN_LINE {
        (Some(NamedSource::new(path, text)), Some((offset, 0).into()))
    } else {
        (None, None)
    };
    SnapshotError::Syntax {
        path: path.to_owned(),
        line: line as usize,
        column: column as usize,
        message: crate::text::without_position(&e.to_string()),
        src,
        span,
    }
}

/// The longest line of a snapshot shown with a syntax error.
const MAX_SHOWN_LINE: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::super::fixtures::digest;
    use super::super::parse;
    use super::*;

    #[test]
    fn errors_of_checked_strings_are_placed_as_for_a_string() {
        // serde_json places an error raised after a value is read where parsing stopped:
        // past the closing `]` or `}` when the value ends an array or object.
        let top = r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":["#;
        let cases = [
            (
                format!(
                    r#"{{"name":"a/one","images":[{{"tags":["ok","a\u0007"
  ],"pushed_at":"2026-01-01T00:00:00Z","digest":"{}"}}]}}"#,
                    digest(1)
                ),
                "a tag may not contain the control character '\\u{7}'",
            ),
            (
                r#"{"name":"a/one","images":[{"tags":[],"pushed_at":"2026-01-01T00:00:00Z","digest":"sha256:00"
  }]}"#
                    .to_owned(),
                "a sha256 digest has exactly 64 lowercase hex digits",
            ),
            (
                r#"{"images":[],"name":"A"
  }"#
                .to_owned(),
                "a repository name must be 2 to 256 characters long, not 1",
            ),
        ];
        for (repo, want) in cases {
            let text = format!("{top}{repo}]}}]}}");
            match parse("s.json", text.as_bytes()) {
                Err(SnapshotError::Syntax {
                    line,
                    column,
                    message,
                    ..
                }) => assert_eq!((line, column, message.as_str()), (2, 3, want), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
