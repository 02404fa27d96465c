//! Renders a plan: for people (`human`), for programs (`json`) and for pull-request
//! comments (`markdown`). Rendering never changes the plan.

#[cfg(feature = "aws")]
mod apply;
mod diagnostics;
mod explain;
mod forecast;
pub mod github;
mod human;
mod markdown;
mod report;
#[cfg(feature = "aws")]
mod restore;
pub mod spool;
#[cfg(feature = "aws")]
mod test;

use std::borrow::Borrow;
use std::io::{self, Write};

#[cfg(feature = "aws")]
pub use apply::apply_report;
pub use diagnostics::{config_errors, diagnostic};
pub use explain::explanation;
pub use forecast::forecast_line;
pub use human::{HumanWriter, human, warnings};
pub use markdown::{MarkdownWriter, markdown};
pub use report::{ReportWriter, storage_report, storage_report_markdown};
#[cfg(feature = "aws")]
pub use restore::{restore_plan, restore_report};
#[cfg(feature = "aws")]
pub use test::{failure_text, junit, test_report};

use crate::plan::{Action, ActionKind, Plan, RepositoryPlan, RepositoryStatus, Summary};
use crate::registry::ImageStatus;
use crate::text::{human_bytes, plural};

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

/// Formats of `validate`.
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
pub enum ValidateFormat {
    /// Text and diagnostics with the lines they point at.
    Human,
    /// Every problem as data (see `schema/validation.schema.json`).
    Json,
}

/// Writes a plan document in `format`: the plan for people (human, markdown), the
/// whole document for programs (JSON: a plan, or a plan with what its run adds, such as
/// the operation's outcome with its calls). Human output carries ANSI styles; the
/// caller's stream strips them when color is off.
pub fn render<D>(document: &D, format: Format, out: &mut dyn Write) -> io::Result<()>
where
    D: serde::Serialize + Borrow<Plan>,
{
    match format {
        Format::Human => human(document.borrow(), out),
        Format::Markdown => markdown(document.borrow(), out),
        Format::Json => json(document, out),
    }
}

/// A renderer of a plan fed as a plan made a repository at a time is: each
/// repository's plan in declaration order, then the rest of the plan (summary,
/// warnings, forecast...). It holds what it needs of each repository until the end in
/// [`spool::Spool`]s, so its memory does not grow with the plan.
pub trait PlanWriter {
    /// Takes the next repository's plan.
    fn repository(&mut self, repo: &RepositoryPlan) -> io::Result<()>;
    /// Writes the output, given the plan's other fields (its `repositories` are not
    /// read: they were given one by one).
    fn finish(&mut self, plan: &Plan) -> io::Result<()>;

    /// Writes a whole plan: each of its repositories, then the end.
    fn write_plan(&mut self, plan: &Plan) -> io::Result<()> {
        for r in &plan.repositories {
            self.repository(r)?;
        }
        self.finish(plan)
    }
}

/// The writer of a plan in `format` to `out`, for a plan made (or read) a repository
/// at a time; `None` for JSON, whose document is written as it goes by the plan
/// itself ([`crate::ops::streamed`]).
pub fn plan_writer<'a>(
    format: Format,
    report: bool,
    out: &'a mut dyn Write,
) -> Option<Box<dyn PlanWriter + 'a>> {
    match (format, report) {
        (Format::Json, _) => None,
        (_, true) => Some(Box::new(ReportWriter::new(format, out))),
        (Format::Human, false) => Some(Box::new(HumanWriter::new(out))),
        (Format::Markdown, false) => Some(Box::new(MarkdownWriter::new(out))),
    }
}

/// What `validate` says of valid files.
pub fn validated(state: &crate::config::DesiredState) -> String {
    let mut out = format!(
        "{} valid: {} declaring {}.",
        if state.files.len() == 1 {
            "The file is"
        } else {
            "All files are"
        },
        plural(state.files.len(), "file", "files"),
        plural(state.repositories.len(), "repository", "repositories"),
    );
    if !state.excluded.is_empty() {
        out.push_str(&format!(
            "\nSkipped on purpose ({}):",
            plural(state.excluded.len(), "path", "paths")
        ));
        for x in &state.excluded {
            out.push_str(&format!("\n  {}: excluded by {}", x.path, x.by));
        }
    }
    out
}

/// The note on YAML files that directory search skipped as not desired state (for
/// stderr): one sentence and what to do, or nothing when there are none.
pub fn not_desired(skipped: &crate::config::NotDesired) -> Option<String> {
    if skipped.files.is_empty() {
        return None;
    }
    Some(format!(
        "note: {}.\n  help: {}",
        skipped.summary(),
        crate::config::NotDesired::HELP
    ))
}

/// What `import` made of each repository, one line each (for stderr).
pub fn imported(outcome: &crate::ops::import::ImportOutcome) -> String {
    use crate::plan::RepositoryStatus;
    let mut out = String::new();
    for r in &outcome.repositories {
        let s = &r.summary;
        let verdict = match r.status {
            RepositoryStatus::Refused => "refused: the plan would delete every image".to_owned(),
            _ if s.tags_to_remove == 0 && s.images_to_delete == 0 => "nothing to remove".to_owned(),
            _ => format!(
                "the plan removes {}: {} to delete ({}), {}",
                plural(s.tags_to_remove, "tag", "tags"),
                plural(s.images_to_delete, "image", "images"),
                human_bytes(s.bytes_to_delete),
                plural(s.untags, "untag", "untags"),
            ),
        };
        out.push_str(&format!(
            "{}: {}, {}; {verdict}\n",
            r.repository,
            plural(r.images, "image", "images"),
            plural(r.tags, "tag", "tags"),
        ));
    }
    out.push_str(&format!(
        "Imported {}.\n",
        plural(outcome.repositories.len(), "repository", "repositories")
    ));
    out
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

/// The plan document as JSON, written a repository at a time, for a document whose
/// other fields are known before its repositories (`show` of saved plans): the same
/// bytes as [`json`] of the whole document.
pub struct JsonWriter<'a> {
    out: &'a mut dyn Write,
    tail: String,
    written: usize,
}

impl<'a> JsonWriter<'a> {
    /// Writes the start of the document `outcome` (whose repositories are empty: they
    /// are given one by one) to `out`.
    pub fn new(
        outcome: &crate::ops::plan::PlanOutcome,
        out: &'a mut dyn Write,
    ) -> io::Result<Self> {
        let (head, tail) = crate::ops::streamed::pretty_around(outcome);
        out.write_all(head.as_bytes())?;
        Ok(Self {
            out,
            tail,
            written: 0,
        })
    }
}

impl PlanWriter for JsonWriter<'_> {
    fn repository(&mut self, repo: &RepositoryPlan) -> io::Result<()> {
        let item = crate::ops::streamed::pretty_repository(repo, self.written == 0);
        self.written += 1;
        self.out.write_all(item.as_bytes())
    }

    fn finish(&mut self, _: &Plan) -> io::Result<()> {
        let end = crate::ops::streamed::pretty_end(self.written);
        writeln!(self.out, "{end}{}", self.tail)?;
        self.out.flush()
    }
}

/// For a shard's plan, the line that says so: `Shard 2/4 (by account): 12 of 40
/// declared repositories; the other shards' plans have the rest.`
pub fn shard_line(plan: &crate::plan::Plan) -> Option<String> {
    let s = plan.shard.as_ref()?;
    Some(format!(
        "Shard {}/{} (by {}): {} of {} declared repositories; the other shards' plans have the rest.",
        s.index,
        s.count,
        s.by,
        s.positions.len(),
        s.repositories_total
    ))
}

/// The summary line, such as
/// `Plan: 12 tags to remove: 9 images to delete (1.4 GiB), 3 untags. 4 repositories unchanged.`
pub fn summary_line(s: &Summary) -> String {
    // What is left undone, as clauses: "1 repository refused (...)", "1 not found".
    let mut attention: Vec<String> = Vec::new();
    let mut noun_said = false;
    let mut clause = |n: usize, what: &str| {
        if n > 0 {
            let noun = if noun_said {
                n.to_string()
            } else {
                noun_said = true;
                plural(n, "repository", "repositories")
            };
            attention.push(format!("{noun} {what}"));
        }
    };
    clause(s.repositories_refused, "refused (would delete every image)");
    clause(s.repositories_missing, "not found");
    clause(s.repositories_unreadable, "could not be read");
    let mut line = if s.images_to_delete > 0
        || s.untags > 0
        || s.images_to_archive > 0
        || s.images_to_reactivate > 0
    {
        let mut parts = Vec::new();
        if s.images_to_delete > 0 {
            parts.push(format!(
                "delete {} ({})",
                plural(s.images_to_delete, "image", "images"),
                storage_clause(s)
            ));
        }
        if s.images_to_archive > 0 {
            parts.push(format!(
                "archive {} ({} out of standard storage, saves {}/month)",
                plural(s.images_to_archive, "image", "images"),
                human_bytes(s.archived_bytes),
                s.archive_saving_usd
            ));
        }
        if s.images_to_reactivate > 0 {
            parts.push(format!(
                "reactivate {} ({} back in standard storage, {}/month more and ECR's restore fee; ready within about 20 minutes)",
                plural(s.images_to_reactivate, "image", "images"),
                human_bytes(s.reactivated_bytes),
                s.reactivation_cost_usd
            ));
        }
        if s.untags > 0 {
            parts.push(format!(
                "remove {} from images that stay",
                plural(s.untags, "tag", "tags")
            ));
        }
        let mut line = format!("Plan: {}", parts.join(" and "));
        if s.tags_to_remove > s.untags {
            line.push_str(&format!(
                ": {} removed in all",
                plural(s.tags_to_remove, "tag", "tags")
            ));
        }
        line.push('.');
        if !attention.is_empty() {
            line.push_str(&format!(" Not applied: {}.", attention.join(", ")));
        }
        line
    } else if attention.is_empty() {
        "No changes.".to_owned()
    } else {
        format!("Nothing to apply: {}.", attention.join(", "))
    };
    if s.repositories_unchanged > 0 {
        line.push_str(&format!(
            " {} unchanged.",
            plural(s.repositories_unchanged, "repository", "repositories")
        ));
    }
    line
}

/// What the deletions free and save: `frees 1.2 GiB, saves $0.12/month`, with
/// `about` and `(estimated)` when a manifest could not be read, and the archive's
/// one-off minimum charge when there is one.
pub fn storage_clause(s: &Summary) -> String {
    let mut out = if s.freed_bytes_exact {
        format!(
            "frees {}, saves {}/month",
            human_bytes(s.freed_bytes),
            s.monthly_saving_usd
        )
    } else {
        format!(
            "frees about {}, saves about {}/month, estimated",
            human_bytes(s.freed_bytes),
            s.monthly_saving_usd
        )
    };
    if !s.archive_minimum_charge_usd.is_zero() {
        out.push_str(&format!(
            "; {} once for the archive's 90-day minimum",
            s.archive_minimum_charge_usd
        ));
    }
    out
}

/// A repository's bytes freed: `1.2 GiB`, or `~1.2 GiB` when estimated.
pub fn freed_text(r: &crate::plan::RepositoryPlan) -> String {
    if r.freed_bytes_exact {
        human_bytes(r.freed_bytes)
    } else {
        format!("~{}", human_bytes(r.freed_bytes))
    }
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

/// The tags an archived or reactivated image keeps, or `(untagged)`.
fn kept_list(a: &Action) -> String {
    if a.kept_tags.is_empty() {
        "(untagged)".to_owned()
    } else {
        a.kept_tags
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

/// What an action's image is besides active, and its last recorded pull, as
/// `, archived 2026-09-01, last pulled 2026-08-30 10:12` (empty when none is known).
fn storage_text(a: &Action) -> String {
    let mut out = String::new();
    match a.status {
        None | Some(ImageStatus::Active) => {}
        Some(ImageStatus::Archived) => {
            out.push_str(", archived");
            if let Some(at) = a.last_archived_at {
                out.push_str(&format!(" {}", at.format("%Y-%m-%d")));
            }
        }
        Some(ImageStatus::Activating) => out.push_str(", being restored from the archive"),
        Some(ImageStatus::Unknown) => out.push_str(", status unknown"),
    }
    if let Some(pulled) = a.last_recorded_pull_time {
        out.push_str(&format!(
            ", last pulled {}",
            pulled.format_with_items(PUSHED_FORMAT.iter())
        ));
    }
    out
}

/// One action as a line of text, without the leading sign.
fn action_text(a: &Action) -> String {
    let size = a
        .size_bytes
        .map(human_bytes)
        .unwrap_or_else(|| "size unknown".into());
    let pushed = a.pushed_at.format_with_items(PUSHED_FORMAT.iter());
    let storage = storage_text(a);
    match a.kind {
        ActionKind::Delete => format!(
            "delete {}  {}  (pushed {pushed}, {size}{storage}; {})",
            a.digest.short(),
            tag_list(a),
            a.reason
        ),
        ActionKind::Untag => format!(
            "untag  {}  {}  (image keeps {}{storage})",
            a.digest.short(),
            tag_list(a),
            a.kept_tags
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ActionKind::Archive | ActionKind::Reactivate => format!(
            "{} {}  {}  (pushed {pushed}, {size}{storage}; {})",
            if a.kind == ActionKind::Archive {
                "archive"
            } else {
                "reactivate"
            },
            a.digest.short(),
            kept_list(a),
            a.reason
        ),
    }
}

/// Places shown per image in use before the rest is counted.
const MAX_USES_SHOWN: usize = 3;

/// Where a repository's pushes are replicated, and what that means for its removals;
/// `None` when it is not replicated.
fn replicas_text(repo: &crate::plan::RepositoryPlan) -> Option<String> {
    if repo.replicas.is_empty() {
        return None;
    }
    let places: Vec<String> = repo
        .replicas
        .iter()
        .map(|r| format!("{} ({})", r.region, r.account))
        .collect();
    Some(format!(
        "replicated to {}: these removals do not reach the replicas (declare the replica repositories to clean them)",
        places.join(", ")
    ))
}

/// An image kept because it is in use, as text without a leading sign:
/// `sha256:5afa8395355e  hotfix  (in use: deploy/app.yaml:12; pod shop/web-1 container app (pods.json))`.
fn in_use_text(image: &crate::plan::InUseImage) -> String {
    let tags = if image.tags.is_empty() {
        "(by digest)".to_owned()
    } else {
        image
            .tags
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A pod's spec and status name its image twice, at the same place.
    let mut places: Vec<String> = Vec::new();
    for u in &image.uses {
        let place = u.to_string();
        if !places.contains(&place) {
            places.push(place);
        }
    }
    let total = places.len();
    places.truncate(MAX_USES_SHOWN);
    if total > MAX_USES_SHOWN {
        places.push(format!("and {} more", total - MAX_USES_SHOWN));
    }
    format!(
        "{}  {tags}  (in use: {})",
        image.digest.short(),
        places.join("; ")
    )
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
