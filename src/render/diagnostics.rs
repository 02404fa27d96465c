//! Diagnostics as miette reports: with file:line:col, the source line and a label.

use crate::config::ConfigErrors;

/// Renders one diagnostic, `width` columns wide.
pub fn diagnostic(d: &dyn miette::Diagnostic, color: bool, width: usize) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    // A long path is one word: it overflows the width rather than break in the middle
    // (at a `/` or a `-`), so that it can still be copied and a terminal can open it.
    let _ = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_break_words(false)
        .with_word_separator(textwrap::WordSeparator::AsciiSpace)
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
        .render_report(&mut out, d);
    out
}

/// Renders every problem of a set of desired-state files, then the count.
pub fn config_errors(errors: &ConfigErrors, color: bool) -> String {
    let mut out = String::new();
    for d in &errors.diagnostics {
        out.push_str(&diagnostic(d, color, 100));
        out.push('\n');
    }
    out.push_str(&format!("error: {errors}\n"));
    out
}
