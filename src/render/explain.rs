//! The output of `explain`: the image, every rule and source in order with what it
//! did, and the verdict.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use crate::model::Tag;
use crate::plan::explain::{Effect, Explanation, Outcome};

/// Writes the explanation for a person.
pub fn explanation(e: &Explanation, asked: &str, out: &mut dyn Write) -> io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let green = AnsiColor::Green.on_default();
    let red = AnsiColor::Red.on_default();
    let yellow = AnsiColor::Yellow.on_default();
    let list = |tags: &[Tag]| {
        if tags.is_empty() {
            "(untagged)".to_owned()
        } else {
            tags.iter().map(Tag::as_str).collect::<Vec<_>>().join(", ")
        }
    };
    writeln!(
        out,
        "{bold}{asked}{bold:#}  {} {dim}({}, declared at {}){dim:#}",
        e.digest.short(),
        e.repository.registry,
        e.declared_at
    )?;
    let pulled = e
        .last_recorded_pull_time
        .map(|p| format!(", last pulled {}", p.format("%Y-%m-%d %H:%M")))
        .unwrap_or_default();
    writeln!(
        out,
        "  tags: {}; pushed {}{pulled}; planned at {}",
        list(&e.tags),
        e.pushed_at.format("%Y-%m-%d %H:%M"),
        e.now.format("%Y-%m-%dT%H:%M:%SZ")
    )?;
    writeln!(out)?;
    for (n, s) in e.steps.iter().enumerate() {
        let (style, what) = match s.effect {
            Effect::Keeps if s.tags.is_empty() => (green, "keeps the image".to_owned()),
            Effect::Keeps => (green, format!("keeps {}", list(&s.tags))),
            Effect::DoesNotKeep => (red, "does not keep it".to_owned()),
            Effect::NoMatch => (dim, "no match".to_owned()),
            Effect::Note => (yellow, "note".to_owned()),
        };
        let at = s
            .location
            .as_ref()
            .map(|l| format!(" {dim}({l}){dim:#}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:>2}. {}{at}: {style}{what}{style:#}: {}",
            n + 1,
            s.source,
            s.detail
        )?;
    }
    let style = match e.verdict.outcome {
        Outcome::Kept => green,
        Outcome::Untagged | Outcome::Archived => yellow,
        Outcome::Reactivated => green,
        Outcome::Deleted => red,
    };
    writeln!(out)?;
    writeln!(
        out,
        "{bold}Verdict:{bold:#} {style}{}{style:#}",
        e.verdict.summary
    )
}
