//! Markdown for a pull-request comment: summary first, details folded per repository,
//! no ANSI codes, and bounded in size (GitHub refuses comments over 65,536 characters).

use std::io::{self, Write};

use super::spool::Spool;
use super::{PlanWriter, action_text, freed_text, in_use_text, summary_line, tag_diff};
use crate::plan::{ActionKind, Plan, RepositoryPlan, RepositoryStatus};
use crate::text::human_bytes;

/// Actions listed per repository before the rest is counted only.
const MAX_ACTIONS_SHOWN: usize = 200;

/// Writes the plan as markdown.
pub fn markdown(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    MarkdownWriter::new(out).write_plan(plan)
}

/// The plan as markdown, written a repository at a time: the summary comes first and
/// is known only at the end, so each part (the table's rows, the images in use, the
/// replicated repositories, the details) is spooled until then.
pub struct MarkdownWriter<'a> {
    out: &'a mut dyn Write,
    rows: Spool,
    in_use: Spool,
    in_use_shown: usize,
    in_use_total: usize,
    replicated: Spool,
    details: Spool,
}

impl<'a> MarkdownWriter<'a> {
    /// A writer of the plan to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self::with_spool_limit(out, super::spool::IN_MEMORY)
    }

    /// A writer whose spools move to a temporary file past `limit` bytes.
    pub fn with_spool_limit(out: &'a mut dyn Write, limit: usize) -> Self {
        Self {
            out,
            rows: Spool::with_limit(limit),
            in_use: Spool::with_limit(limit),
            in_use_shown: 0,
            in_use_total: 0,
            replicated: Spool::with_limit(limit),
            details: Spool::with_limit(limit),
        }
    }
}

impl PlanWriter for MarkdownWriter<'_> {
    fn repository(&mut self, r: &RepositoryPlan) -> io::Result<()> {
        // The images kept because in use, at most [`MAX_ACTIONS_SHOWN`] of them.
        for image in &r.in_use {
            if self.in_use_shown < MAX_ACTIONS_SHOWN {
                writeln!(
                    self.in_use,
                    "- `{}` ({}): `{}`",
                    r.repository.name,
                    r.repository.registry,
                    in_use_text(image).replace('`', "'")
                )?;
                self.in_use_shown += 1;
            }
        }
        self.in_use_total += r.in_use.len();
        if r.status == RepositoryStatus::Unchanged {
            return Ok(());
        }
        table_row(r, &mut self.rows)?;
        if let Some(text) = super::replicas_text(r) {
            writeln!(self.replicated, "- `{}`: {text}", r.repository.name)?;
        }
        if !r.actions.is_empty() {
            details(r, &mut self.details)?;
        }
        Ok(())
    }

    fn finish(&mut self, plan: &Plan) -> io::Result<()> {
        let out = &mut *self.out;
        writeln!(out, "### ecr-reconcile plan")?;
        writeln!(out)?;
        if let Some(line) = super::shard_line(plan) {
            writeln!(out, "_{line}_")?;
            writeln!(out)?;
        }
        writeln!(out, "**{}**", summary_line(&plan.summary))?;
        writeln!(out)?;
        // A plan with nothing to do says what the files remove soon: the effect of a
        // merged rule is seen before it bites.
        if let Some(f) = &plan.forecast
            && !plan.has_changes()
            && !f.repositories.is_empty()
        {
            writeln!(out, "**{}**", super::forecast_line(plan, f))?;
            writeln!(out)?;
        }
        summary_table(std::mem::take(&mut self.rows), &plan.summary, out)?;
        if self.in_use_total > 0 {
            writeln!(out, "#### Kept because in use")?;
            writeln!(out)?;
            std::mem::take(&mut self.in_use).copy_to(out)?;
            if self.in_use_total > self.in_use_shown {
                writeln!(
                    out,
                    "- … and {} more",
                    self.in_use_total - self.in_use_shown
                )?;
            }
            writeln!(out)?;
        }
        let replicated = std::mem::take(&mut self.replicated);
        if !replicated.is_empty() {
            writeln!(out, "**Replicated elsewhere**\n")?;
            replicated.copy_to(out)?;
            writeln!(out)?;
        }
        warnings(plan, out)?;
        std::mem::take(&mut self.details).copy_to(out)?;
        if let Some(f) = &plan.forecast {
            super::forecast::markdown_forecast(plan, f, out)?;
        }
        Ok(())
    }
}

/// A repository that is not unchanged, as a row of the summary table: what it
/// deletes, untags, frees and saves a month.
fn table_row(r: &RepositoryPlan, out: &mut dyn Write) -> io::Result<()> {
    let deletes = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .count();
    let untags: usize = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Untag)
        .map(|a| a.tags.len())
        .sum();
    let bytes: u64 = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .filter_map(|a| a.size_bytes)
        .sum();
    let status = match r.status {
        RepositoryStatus::Changes => "changes",
        RepositoryStatus::Refused => "**refused**",
        RepositoryStatus::Missing => "not found",
        RepositoryStatus::Unreadable => "**unreadable**",
        RepositoryStatus::Unchanged => "unchanged",
    };
    writeln!(
        out,
        "| `{}` | {} | {status} | {deletes} | {untags} | {} | {} | {} |",
        r.repository.name,
        r.repository.registry,
        human_bytes(bytes),
        freed_text(r),
        r.monthly_saving_usd,
    )
}

/// The table of the repositories that change (`rows`, one each), with a total row.
fn summary_table(rows: Spool, total: &crate::plan::Summary, out: &mut dyn Write) -> io::Result<()> {
    if !rows.is_empty() {
        writeln!(
            out,
            "| Repository | Registry | Status | Deletes | Untags | Reported size | Freed | Monthly saving |"
        )?;
        writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|")?;
        rows.copy_to(out)?;
        writeln!(
            out,
            "| **Total** | | | {} | {} | {} | {}{} | **{}** |",
            total.images_to_delete,
            total.untags,
            human_bytes(total.bytes_to_delete),
            if total.freed_bytes_exact { "" } else { "~" },
            human_bytes(total.freed_bytes),
            total.monthly_saving_usd,
        )?;
        if total.images_to_archive + total.images_to_reactivate > 0 {
            writeln!(out)?;
            writeln!(out, "{}", storage_class_line(total))?;
        }
        if !total.freed_bytes_exact {
            writeln!(out)?;
            writeln!(
                out,
                "_~: estimated; some manifests could not be read (archived images not in the manifest cache)._"
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The archives and reactivations of the plan, in one line under the table.
fn storage_class_line(total: &crate::plan::Summary) -> String {
    let mut parts = Vec::new();
    if total.images_to_archive > 0 {
        parts.push(format!(
            "**{}** archived ({} out of standard storage, saves {}/month)",
            total.images_to_archive,
            human_bytes(total.archived_bytes),
            total.archive_saving_usd
        ));
    }
    if total.images_to_reactivate > 0 {
        parts.push(format!(
            "**{}** reactivated ({} back in standard storage, {}/month more and ECR's restore fee; ready within about 20 minutes)",
            total.images_to_reactivate,
            human_bytes(total.reactivated_bytes),
            total.reactivation_cost_usd
        ));
    }
    format!("Storage class: {}.", parts.join("; "))
}

/// The plan's warnings, one item each.
fn warnings(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    if !plan.warnings.is_empty() {
        writeln!(out, "#### Warnings")?;
        writeln!(out)?;
        for w in &plan.warnings {
            let loc = w
                .location
                .as_ref()
                .map(|l| format!(" (`{l}`)"))
                .unwrap_or_default();
            write!(out, "- `{}`{loc}: {}", w.code.as_str(), escape(&w.message))?;
            if let Some(h) = &w.help {
                write!(out, " — {}", escape(h))?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// One repository's actions and tag diff, folded.
fn details(r: &RepositoryPlan, out: &mut dyn Write) -> io::Result<()> {
    let deletes = r
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .count();
    let count = |kind: ActionKind| r.actions.iter().filter(|a| a.kind == kind).count();
    let untags = count(ActionKind::Untag);
    let storage = match (count(ActionKind::Archive), count(ActionKind::Reactivate)) {
        (0, 0) => String::new(),
        (a, 0) => format!(", {a} to archive"),
        (0, b) => format!(", {b} to reactivate"),
        (a, b) => format!(", {a} to archive, {b} to reactivate"),
    };
    writeln!(
        out,
        "<details><summary><code>{}</code> ({}): {deletes} to delete, {untags} to untag{storage}{}</summary>",
        r.repository.name,
        r.repository.registry,
        if r.status == RepositoryStatus::Refused {
            " — refused"
        } else {
            ""
        }
    )?;
    writeln!(out)?;
    writeln!(out, "```diff")?;
    for a in r.actions.iter().take(MAX_ACTIONS_SHOWN) {
        let sign = match a.kind {
            ActionKind::Delete => '-',
            ActionKind::Untag => '!',
            ActionKind::Archive => '>',
            ActionKind::Reactivate => '<',
        };
        writeln!(out, "{sign} {}", action_text(a))?;
    }
    if r.actions.len() > MAX_ACTIONS_SHOWN {
        writeln!(out, "# … and {} more", r.actions.len() - MAX_ACTIONS_SHOWN)?;
    }
    writeln!(out, "```")?;
    // The diff has a `-` line for each tag removed: when those alone are too many,
    // it is not shown, and not worth computing.
    let removed: usize = r.actions.iter().map(|a| a.tags.len()).sum();
    let diff = if removed <= MAX_ACTIONS_SHOWN {
        tag_diff(r)
    } else {
        Vec::new()
    };
    if removed <= MAX_ACTIONS_SHOWN && diff.len() <= MAX_ACTIONS_SHOWN {
        writeln!(out)?;
        writeln!(out, "Tags:")?;
        writeln!(out)?;
        writeln!(out, "```diff")?;
        for (sign, tag) in diff {
            writeln!(out, "{sign} {tag}")?;
        }
        writeln!(out, "```")?;
    }
    writeln!(out)?;
    writeln!(out, "</details>")?;
    writeln!(out)?;
    Ok(())
}

/// Escapes the characters that markdown would read as markup in prose; text inside
/// backticks is code and stays as it is.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_code = false;
    for c in s.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && matches!(c, '<' | '>' | '*' | '_' | '|' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
