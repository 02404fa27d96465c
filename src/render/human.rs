//! Terraform-style text output.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{action_text, in_use_text, summary_line, tag_diff, with_in_use};
use crate::plan::{ActionKind, Plan, RepositoryStatus, Warning};

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().dimmed();

/// Writes the plan for a person.
pub fn human(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    let changed: Vec<_> = plan
        .repositories
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                RepositoryStatus::Changes | RepositoryStatus::Refused
            )
        })
        .collect();
    if let Some(line) = super::shard_line(plan) {
        writeln!(out, "{line}")?;
    }
    if !changed.is_empty() {
        writeln!(
            out,
            "ecr-reconcile will remove the following tags and images ({}, planned at {}):",
            plan.source,
            plan.created_at.format("%Y-%m-%dT%H:%M:%SZ")
        )?;
        // The storage-class signs only when the plan has such actions (the legend
        // of a plan of deletions stays as it was).
        let has = |kind: ActionKind| {
            changed
                .iter()
                .any(|r| r.actions.iter().any(|a| a.kind == kind))
        };
        let archive = if has(ActionKind::Archive) {
            format!("   {YELLOW}>{YELLOW:#} archive (the image and its tags stay, not pullable)")
        } else {
            String::new()
        };
        let reactivate = if has(ActionKind::Reactivate) {
            format!("   {GREEN}<{GREEN:#} reactivate (from the archive)")
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {RED}-{RED:#} delete   {YELLOW}~{YELLOW:#} untag (the image stays){archive}{reactivate}"
        )?;
    }
    for repo in changed {
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
    }
    let mut in_use = with_in_use(plan).peekable();
    if in_use.peek().is_some() {
        writeln!(out)?;
        writeln!(
            out,
            "{BOLD}Kept because in use{BOLD:#} (whatever the allow-lists say):"
        )?;
        for repo in in_use {
            writeln!(
                out,
                "  {BOLD}{}{BOLD:#} {DIM}({}){DIM:#}",
                repo.repository.name, repo.repository.registry
            )?;
            for image in &repo.in_use {
                writeln!(out, "    {GREEN}= {}{GREEN:#}", in_use_text(image))?;
            }
        }
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
