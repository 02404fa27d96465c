//! Renders a plan: for people (`human`), for programs (`json`) and for pull-request
//! comments (`markdown`). Rendering never changes the plan.

#[cfg(feature = "aws")]
mod apply;
mod diagnostics;
mod human;
mod markdown;
#[cfg(feature = "aws")]
mod restore;

use std::io::{self, Write};

#[cfg(feature = "aws")]
pub use apply::apply_report;
pub use diagnostics::{config_errors, diagnostic};
pub use human::human;
pub use markdown::markdown;
#[cfg(feature = "aws")]
pub use restore::{restore_plan, restore_report};

use crate::plan::{Action, ActionKind, Plan, RepositoryStatus, Summary};

/// The output formats.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumMessage,
)]
#[strum(serialize_all = "lowercase")]
pub enum Format {
    /// Terraform-style text, colored on a terminal.
    Human,
    /// The plan document (see `schema/plan.schema.json`).
    Json,
    /// GitHub-flavoured markdown for a pull-request comment.
    Markdown,
}

/// Formats of the apply and restore reports.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumMessage,
)]
#[strum(serialize_all = "lowercase")]
pub enum ReportFormat {
    /// Text.
    Human,
    /// JSON: the report, API calls and retries.
    Json,
}

/// Writes `plan` in `format`. Human output carries ANSI styles; the caller's stream
/// strips them when color is off.
pub fn render(plan: &Plan, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => human(plan, out),
        Format::Markdown => markdown(plan, out),
        Format::Json => json(plan, out),
    }
}

/// What `validate` says of valid files.
pub fn validated(state: &crate::config::DesiredState) -> String {
    format!(
        "{} valid: {} declaring {}.",
        if state.files.len() == 1 {
            "The file is"
        } else {
            "All files are"
        },
        plural(state.files.len(), "file", "files"),
        plural(state.repositories.len(), "repository", "repositories"),
    )
}

/// Writes `value` as pretty-printed JSON with a final newline, buffered.
pub fn json(value: &impl serde::Serialize, out: &mut dyn Write) -> io::Result<()> {
    // serde_json writes in many small pieces: buffer them here, where writing is not
    // a call through `dyn Write`.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()
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

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary line, such as
/// `Plan: 12 tags to remove: 9 images to delete (1.4 GiB), 3 untags. 4 repositories unchanged.`
pub fn summary_line(s: &Summary) -> String {
    let mut line = if s.images_to_delete == 0 && s.untags == 0 {
        "No changes.".to_owned()
    } else {
        format!(
            "Plan: {} to remove: {} to delete ({}), {}.",
            plural(s.tags_to_remove, "tag", "tags"),
            plural(s.images_to_delete, "image", "images"),
            human_bytes(s.bytes_to_delete),
            plural(s.untags, "untag", "untags"),
        )
    };
    line.push_str(&format!(
        " {} unchanged.",
        plural(s.repositories_unchanged, "repository", "repositories")
    ));
    if s.repositories_refused > 0 {
        line.push_str(&format!(
            " {} refused (would delete every image).",
            plural(s.repositories_refused, "repository", "repositories")
        ));
    }
    if s.repositories_missing > 0 {
        line.push_str(&format!(
            " {} not found.",
            plural(s.repositories_missing, "repository", "repositories")
        ));
    }
    if s.repositories_unreadable > 0 {
        line.push_str(&format!(
            " {} could not be read.",
            plural(s.repositories_unreadable, "repository", "repositories")
        ));
    }
    line
}

/// The tags of an action, comma-separated, or `(untagged)`.
fn tag_list(a: &Action) -> String {
    if a.tags.is_empty() {
        "(untagged)".to_owned()
    } else {
        a.tags
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `%Y-%m-%d %H:%M`, parsed once rather than for each of the many actions shown.
static PUSHED_FORMAT: std::sync::LazyLock<Vec<chrono::format::Item<'static>>> =
    std::sync::LazyLock::new(|| {
        chrono::format::StrftimeItems::new("%Y-%m-%d %H:%M")
            .parse_to_owned()
            .expect("a valid format")
    });

/// One action as a line of text, without the leading sign.
fn action_text(a: &Action) -> String {
    let size = a
        .size_bytes
        .map(human_bytes)
        .unwrap_or_else(|| "size unknown".into());
    let pushed = a.pushed_at.format_with_items(PUSHED_FORMAT.iter());
    match a.kind {
        ActionKind::Delete => format!(
            "delete {}  {}  (pushed {pushed}, {size}; {})",
            a.digest.short(),
            tag_list(a),
            a.reason
        ),
        ActionKind::Untag => format!(
            "untag  {}  {}  (image keeps {})",
            a.digest.short(),
            tag_list(a),
            a.kept_tags
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The tag-set diff of a repository: every tag before, `-` for those removed, with
/// unchanged runs folded to a line of context on each side and `…` wherever tags are
/// left out (between changes, and before the first and after the last).
fn tag_diff(repo: &crate::plan::RepositoryPlan) -> Vec<(char, String)> {
    let removed: Vec<&str> = repo
        .actions
        .iter()
        .flat_map(|a| a.tags.iter().map(|t| t.as_str()))
        .collect();
    let kept = repo.tags_kept.iter().map(|t| t.as_str());
    // A refused repository keeps every tag; its diff shows what the plan would do.
    let (before, after): (Vec<&str>, Vec<&str>) = if repo.status == RepositoryStatus::Refused {
        let before: Vec<&str> = kept.collect();
        let after = before
            .iter()
            .copied()
            .filter(|t| !removed.contains(t))
            .collect();
        (before, after)
    } else {
        let mut before: Vec<&str> = kept.clone().chain(removed.iter().copied()).collect();
        before.sort_unstable();
        (before, kept.collect())
    };
    let ops = similar::capture_diff_slices(similar::Algorithm::Patience, &before, &after);
    let groups = similar::group_diff_ops(ops, 1);
    let mut lines = Vec::new();
    let mut shown_to = 0;
    for group in &groups {
        let start = group.first().map_or(0, |op| op.old_range().start);
        if start > shown_to {
            lines.push((' ', "…".to_owned()));
        }
        for op in group {
            for change in op.iter_changes(&before, &after) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                lines.push((sign, change.value().to_owned()));
            }
            shown_to = op.old_range().end;
        }
    }
    if !groups.is_empty() && shown_to < before.len() {
        lines.push((' ', "…".to_owned()));
    }
    lines
}
