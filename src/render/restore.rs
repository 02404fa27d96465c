//! The restore plan and report, as text.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use crate::ops::restore::{RestorePlan, RestoreReport};

const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();

/// `tag a` or `tags a, b`.
fn tags(tags: &[crate::model::Tag]) -> String {
    let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    format!(
        "{} {}",
        if names.len() == 1 { "tag" } else { "tags" },
        names.join(", ")
    )
}

/// Writes what `restore` will put back, what is back already and what it cannot
/// restore (why, and what to do).
pub fn restore_plan(plan: &RestorePlan, journal: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "ecr-reconcile will put back the removals recorded in {journal} ({} entries):",
        plan.entries
    )?;
    writeln!(
        out,
        "  {GREEN}+{GREEN:#} put back   {DIM}={DIM:#} back already   {YELLOW}!{YELLOW:#} cannot be restored"
    )?;
    for repo in &plan.repositories {
        match &repo.tag_mutability {
            Some(m) => writeln!(
                out,
                "\n{BOLD}{}{BOLD:#} (tag mutability {}: restore never moves a tag)",
                repo.repository,
                m.describe()
            )?,
            None => writeln!(out, "\n{BOLD}{}{BOLD:#}", repo.repository)?,
        }
        for image in &repo.images {
            let d = image.digest.short();
            if image.recreate {
                let with = if image.tags.is_empty() {
                    "untagged".to_owned()
                } else {
                    tags(&image.tags)
                };
                writeln!(
                    out,
                    "  {GREEN}+{GREEN:#} image {d} ({with}): pushed again from the saved manifest"
                )?;
            } else if !image.tags.is_empty() {
                writeln!(
                    out,
                    "  {GREEN}+{GREEN:#} {} on image {d} (the image exists)",
                    tags(&image.tags)
                )?;
            }
            if image.reactivate {
                writeln!(
                    out,
                    "  {GREEN}<{GREEN:#} image {d}: reactivated from the archive (ACTIVATING: it can be pulled again within minutes, up to about 20)"
                )?;
            }
            if !image.present.is_empty() {
                writeln!(
                    out,
                    "  {DIM}= {} on image {d}: back already{DIM:#}",
                    tags(&image.present)
                )?;
            }
            for p in &image.problems {
                let what = p
                    .tag
                    .as_ref()
                    .map_or_else(|| format!("image {d}"), |t| format!("tag {t} of image {d}"));
                writeln!(out, "  {YELLOW}!{YELLOW:#} {what}: {}", p.reason)?;
                writeln!(out, "      what to do: {}", p.remedy)?;
            }
        }
    }
    let reactivations = match plan.images_to_reactivate() {
        0 => String::new(),
        n => format!(", {n} archived images to reactivate (minutes until pullable)"),
    };
    writeln!(
        out,
        "\n{BOLD}Restore:{BOLD:#} {} tags to put back, {} images to push again{reactivations}, {} back already, {} cannot be restored.",
        plan.tags_to_put(),
        plan.images_to_recreate(),
        plan.present(),
        plan.problems()
    )
}

/// Writes what a restore did.
pub fn restore_report(
    report: &RestoreReport,
    record: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "\nRestore {}: {} tags put back, {} images pushed again{}, {} already there, {} not restored{}.",
        if report.succeeded() {
            "complete"
        } else {
            "finished with problems"
        },
        report.tags_restored,
        report.images_recreated,
        match report.images_reactivated {
            0 => String::new(),
            n => format!(", {n} images reactivated (ACTIVATING: pullable within about 20 minutes)"),
        },
        report.already_present,
        report.problems.len(),
        match (report.planned_problems, report.problems.len()) {
            (0, _) => String::new(),
            (p, n) if p == n => " (listed above)".to_owned(),
            (p, _) => format!(" ({p} listed above, the others here)"),
        }
    )?;
    // The plan's problems are listed above it; only the registry's refusals are new.
    for p in &report.problems[report.planned_problems..] {
        let what = p.problem.tag.as_ref().map_or_else(
            || format!("image {}", p.digest.short()),
            |t| format!("tag {t} of image {}", p.digest.short()),
        );
        writeln!(
            out,
            "  not restored: {what} in {}: {}\n      what to do: {}",
            p.repository, p.problem.reason, p.problem.remedy
        )?;
    }
    if let Some(path) = record {
        writeln!(
            out,
            "Restore record: {} (plans rank the images pushed again by their first push when it is in .ecr-reconcile/ of their working directory: keep it there, and commit it beside the desired state when plans run elsewhere, as in CI).",
            path.display()
        )?;
    }
    Ok(())
}
