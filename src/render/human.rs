//! Terraform-style text output.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::spool::Spool;
use super::{PlanWriter, action_text, in_use_text, summary_line, tag_diff};
use crate::plan::{ActionKind, Plan, RepositoryPlan, RepositoryStatus, Warning};

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();

/// Writes the plan for a person.
pub fn human(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    HumanWriter::new(out).write_plan(plan)
}

/// The plan for a person, written a repository at a time: the changed repositories
/// and the images in use are spooled, and put after the heading (whose legend names
/// only the signs used) at the end.
pub struct HumanWriter<'a> {
    out: &'a mut dyn Write,
    changed: Spool,
    in_use: Spool,
    archive: bool,
    reactivate: bool,
}

impl<'a> HumanWriter<'a> {
    /// A writer of the plan to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self::with_spool_limit(out, super::spool::IN_MEMORY)
    }

    /// A writer whose spools move to a temporary file past `limit` bytes.
    pub fn with_spool_limit(out: &'a mut dyn Write, limit: usize) -> Self {
        Self {
            out,
            changed: Spool::with_limit(limit),
            in_use: Spool::with_limit(limit),
            archive: false,
            reactivate: false,
        }
    }
}

impl PlanWriter for HumanWriter<'_> {
    fn repository(&mut self, repo: &RepositoryPlan) -> io::Result<()> {
        if matches!(
            repo.status,
            RepositoryStatus::Changes | RepositoryStatus::Refused
        ) {
            let has = |kind: ActionKind| repo.actions.iter().any(|a| a.kind == kind);
            self.archive |= has(ActionKind::Archive);
            self.reactivate |= has(ActionKind::Reactivate);
            changed_repository(repo, &mut self.changed)?;
        }
        if !repo.in_use.is_empty() {
            let out = &mut self.in_use;
            writeln!(
                out,
                "  {BOLD}{}{BOLD:#} {DIM}({}){DIM:#}",
                repo.repository.name, repo.repository.registry
            )?;
            for image in &repo.in_use {
                writeln!(out, "    {GREEN}= {}{GREEN:#}", in_use_text(image))?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, plan: &Plan) -> io::Result<()> {
        let out = &mut *self.out;
        if let Some(line) = super::shard_line(plan) {
            writeln!(out, "{line}")?;
        }
        let changed = std::mem::take(&mut self.changed);
        if !changed.is_empty() {
            writeln!(
                out,
                "ecr-reconcile will remove the following tags and images ({}, planned at {}):",
                plan.source,
                plan.created_at.format("%Y-%m-%dT%H:%M:%SZ")
            )?;
            // The storage-class signs only when the plan has such actions (the legend
            // of a plan of deletions stays as it was).
            let archive = if self.archive {
                format!(
                    "   {YELLOW}>{YELLOW:#} archive (the image and its tags stay, not pullable)"
                )
            } else {
                String::new()
            };
            let reactivate = if self.reactivate {
                format!("   {GREEN}<{GREEN:#} reactivate (from the archive)")
            } else {
                String::new()
            };
            writeln!(
                out,
                "  {RED}-{RED:#} delete   {YELLOW}~{YELLOW:#} untag (the image stays){archive}{reactivate}"
            )?;
            changed.copy_to(out)?;
        }
        let in_use = std::mem::take(&mut self.in_use);
        if !in_use.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "{BOLD}Kept because in use{BOLD:#} (whatever the allow-lists say):"
            )?;
            in_use.copy_to(out)?;
        }
        if !plan.warnings.is_empty() {
            writeln!(out)?;
            warnings(&plan.warnings, out)?;
        }
        if let Some(f) = &plan.forecast {
            writeln!(out)?;
            super::forecast::human_forecast(plan, f, out)?;
        }
        writeln!(out)?;
        writeln!(out, "{BOLD}{}{BOLD:#}", summary_line(&plan.summary))
    }
}

/// A repository that changes (or is refused): its heading, actions and tag diff.
fn changed_repository(repo: &RepositoryPlan, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    write!(
        out,
        "{BOLD}# {}{BOLD:#} {DIM}({}, declared at {}){DIM:#}",
        repo.repository.name, repo.repository.registry, repo.declared_at
    )?;
    if repo.status == RepositoryStatus::Refused {
        write!(
            out,
            " {RED}REFUSED{RED:#}: {}",
            repo.refused_reason.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out)?;
    if let Some(text) = super::replicas_text(repo) {
        writeln!(out, "  {DIM}{text}{DIM:#}")?;
    }
    for a in &repo.actions {
        let (sign, style) = match a.kind {
            ActionKind::Delete => ('-', RED),
            ActionKind::Untag => ('~', YELLOW),
            ActionKind::Archive => ('>', YELLOW),
            ActionKind::Reactivate => ('<', GREEN),
        };
        writeln!(out, "  {style}{sign} {}{style:#}", action_text(a))?;
    }
    writeln!(out, "  {DIM}tags:{DIM:#}")?;
    for (sign, tag) in tag_diff(repo) {
        match sign {
            '-' => writeln!(out, "    {RED}- {tag}{RED:#}")?,
            '+' => writeln!(out, "    {GREEN}+ {tag}{GREEN:#}")?,
            _ => writeln!(out, "    {DIM}  {tag}{DIM:#}")?,
        }
    }
    Ok(())
}

/// Warnings as `warning[code]: message`, with where and what to do: the plan's, and
/// those of `snapshot`.
pub fn warnings(warnings: &[Warning], out: &mut dyn Write) -> io::Result<()> {
    for w in warnings {
        writeln!(
            out,
            "{YELLOW}warning[{}]{YELLOW:#}: {}",
            w.code.as_str(),
            w.message
        )?;
        if let Some(loc) = &w.location {
            writeln!(out, "  {DIM}-->{DIM:#} {loc}")?;
        }
        if let Some(help) = &w.help {
            writeln!(out, "  {DIM}help:{DIM:#} {help}")?;
        }
    }
    Ok(())
}
