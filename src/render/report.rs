//! The storage report (`plan --report`): the largest repositories, what their untagged
//! images store, and the biggest savings of the plan, as text tables or markdown (for
//! a scheduled workflow's step summary). Everything comes from the plan's figures.

use std::io::{self, Write};

use crate::plan::{Plan, RepositoryPlan, RepositoryStatus};
use crate::text::human_bytes;

/// Rows per table.
pub const REPORT_ROWS: usize = 10;

/// A cell of bytes, `~` in front when the figure is estimated.
fn bytes(n: u64, exact: bool) -> String {
    if exact {
        human_bytes(n)
    } else {
        format!("~{}", human_bytes(n))
    }
}

struct Table {
    title: String,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

fn tables(plan: &Plan) -> Vec<Table> {
    let read: Vec<&RepositoryPlan> = plan
        .repositories
        .iter()
        .filter(|r| {
            !matches!(
                r.status,
                RepositoryStatus::Missing | RepositoryStatus::Unreadable
            )
        })
        .collect();
    let mut largest = read.clone();
    largest.sort_by(|a, b| {
        b.stored_bytes_before
            .cmp(&a.stored_bytes_before)
            .then_with(|| a.repository.to_string().cmp(&b.repository.to_string()))
    });
    let row = |r: &RepositoryPlan| {
        vec![
            format!("{}", r.repository.name),
            r.repository.registry.to_string(),
            r.images_observed.to_string(),
            bytes(r.stored_bytes_before, r.manifests_unread == 0),
            bytes(r.untagged_bytes, r.manifests_unread == 0),
            bytes(r.stored_bytes_after, r.freed_bytes_exact),
            bytes(r.freed_bytes, r.freed_bytes_exact),
            r.monthly_saving_usd.to_string(),
        ]
    };
    let header = vec![
        "Repository",
        "Registry",
        "Images",
        "Stored",
        "Untagged",
        "After the plan",
        "Freed",
        "Monthly saving",
    ];
    let mut savings: Vec<&RepositoryPlan> =
        read.iter().copied().filter(|r| r.freed_bytes > 0).collect();
    savings.sort_by(|a, b| {
        b.freed_bytes
            .cmp(&a.freed_bytes)
            .then_with(|| a.repository.to_string().cmp(&b.repository.to_string()))
    });
    vec![
        Table {
            title: format!(
                "Largest repositories ({} of {})",
                largest.len().min(REPORT_ROWS),
                largest.len()
            ),
            header: header.clone(),
            rows: largest.iter().take(REPORT_ROWS).map(|r| row(r)).collect(),
        },
        Table {
            title: format!(
                "Biggest savings ({} of {})",
                savings.len().min(REPORT_ROWS),
                savings.len()
            ),
            header,
            rows: savings.iter().take(REPORT_ROWS).map(|r| row(r)).collect(),
        },
    ]
}

/// The totals line: stored now and after, untagged, freed, saved.
fn totals(plan: &Plan) -> String {
    let s = &plan.summary;
    let untagged: u64 = plan.repositories.iter().map(|r| r.untagged_bytes).sum();
    format!(
        "Stored: {} in {} repositories, {} of it only in untagged images; after the plan: {} ({}, {}/month).",
        human_bytes(s.stored_bytes_before),
        plan.repositories.len(),
        human_bytes(untagged),
        human_bytes(s.stored_bytes_after),
        if s.freed_bytes_exact {
            format!("frees {}", human_bytes(s.freed_bytes))
        } else {
            format!("frees about {}, estimated", human_bytes(s.freed_bytes))
        },
        s.monthly_saving_usd,
    )
}

/// Writes the storage report as aligned text tables.
pub fn storage_report(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", totals(plan))?;
    for t in tables(plan) {
        writeln!(out)?;
        writeln!(out, "{}:", t.title)?;
        if t.rows.is_empty() {
            writeln!(out, "  (none)")?;
            continue;
        }
        let mut widths: Vec<usize> = t.header.iter().map(|h| h.chars().count()).collect();
        for r in &t.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from(" ");
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                // Names left, figures right.
                if i < 2 {
                    s.push_str(&format!(" {c:<w$}"));
                } else {
                    s.push_str(&format!(" {c:>w$}"));
                }
            }
            s.trim_end().to_owned()
        };
        let header: Vec<String> = t.header.iter().map(|h| (*h).to_owned()).collect();
        writeln!(out, "{}", line(&header))?;
        for r in &t.rows {
            writeln!(out, "{}", line(r))?;
        }
    }
    Ok(())
}

/// Writes the storage report as markdown.
pub fn storage_report_markdown(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### ecr-reconcile storage report")?;
    writeln!(out)?;
    writeln!(out, "{}", totals(plan))?;
    for t in tables(plan) {
        writeln!(out)?;
        writeln!(out, "#### {}", t.title)?;
        writeln!(out)?;
        if t.rows.is_empty() {
            writeln!(out, "None.")?;
            continue;
        }
        writeln!(out, "| {} |", t.header.join(" | "))?;
        writeln!(out, "|---|---|{}", "---:|".repeat(t.header.len() - 2))?;
        for r in &t.rows {
            let mut cells = r.clone();
            cells[0] = format!("`{}`", cells[0]);
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    if plan.repositories.iter().any(|r| r.manifests_unread > 0) {
        writeln!(out)?;
        writeln!(
            out,
            "_~: estimated; some manifests could not be read (archived images not in the manifest cache)._"
        )?;
    }
    Ok(())
}
