//! The storage report (`plan --report`): the largest repositories, what their untagged
//! images store, and the biggest savings of the plan, as text tables or markdown (for
//! a scheduled workflow's step summary). Everything comes from the plan's figures.

use std::io::{self, Write};

use super::PlanWriter;
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

const HEADER: [&str; 8] = [
    "Repository",
    "Registry",
    "Images",
    "Stored",
    "Untagged",
    "After the plan",
    "Freed",
    "Monthly saving",
];

/// The [`REPORT_ROWS`] greatest repositories by one figure, ties by name, among
/// those offered (`seen` of them): only a few more than those are held.
#[derive(Default)]
struct Top {
    held: Vec<(u64, String, Vec<String>)>,
    seen: usize,
}

impl Top {
    fn offer(&mut self, figure: u64, r: &RepositoryPlan) {
        self.seen += 1;
        if self.held.len() >= 4 * REPORT_ROWS {
            self.cut();
        }
        self.held.push((figure, r.repository.to_string(), row(r)));
    }

    fn cut(&mut self) {
        self.held
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.held.truncate(REPORT_ROWS);
    }

    fn table(mut self, title: &str) -> Table {
        self.cut();
        Table {
            title: format!("{title} ({} of {})", self.held.len(), self.seen),
            header: HEADER.to_vec(),
            rows: self.held.into_iter().map(|(_, _, row)| row).collect(),
        }
    }
}

/// A repository's row: its figures before and after the plan.
fn row(r: &RepositoryPlan) -> Vec<String> {
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
}

/// The storage report, written a repository at a time: only the tables' leading rows
/// and the totals are held.
pub struct ReportWriter<'a> {
    format: super::Format,
    out: &'a mut dyn Write,
    largest: Top,
    savings: Top,
    repositories: usize,
    untagged: u64,
    manifests_unread: bool,
}

impl<'a> ReportWriter<'a> {
    /// A writer of the report to `out`, as markdown or (any other format) text.
    pub fn new(format: super::Format, out: &'a mut dyn Write) -> Self {
        Self {
            format,
            out,
            largest: Top::default(),
            savings: Top::default(),
            repositories: 0,
            untagged: 0,
            manifests_unread: false,
        }
    }
}

impl PlanWriter for ReportWriter<'_> {
    fn repository(&mut self, r: &RepositoryPlan) -> io::Result<()> {
        self.repositories += 1;
        self.untagged += r.untagged_bytes;
        self.manifests_unread |= r.manifests_unread > 0;
        if !matches!(
            r.status,
            RepositoryStatus::Missing | RepositoryStatus::Unreadable
        ) {
            self.largest.offer(r.stored_bytes_before, r);
            if r.freed_bytes > 0 {
                self.savings.offer(r.freed_bytes, r);
            }
        }
        Ok(())
    }

    fn finish(&mut self, plan: &Plan) -> io::Result<()> {
        let totals = totals(plan, self.repositories, self.untagged);
        let tables = vec![
            std::mem::take(&mut self.largest).table("Largest repositories"),
            std::mem::take(&mut self.savings).table("Biggest savings"),
        ];
        match self.format {
            super::Format::Markdown => {
                markdown_tables(&totals, tables, self.manifests_unread, self.out)
            }
            _ => text_tables(&totals, tables, self.out),
        }
    }
}

/// The totals line: stored now and after, untagged, freed, saved.
fn totals(plan: &Plan, repositories: usize, untagged: u64) -> String {
    let s = &plan.summary;
    format!(
        "Stored: {} in {} repositories, {} of it only in untagged images; after the plan: {} ({}, {}/month).",
        human_bytes(s.stored_bytes_before),
        repositories,
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
    ReportWriter::new(super::Format::Human, out).write_plan(plan)
}

/// Writes the storage report as markdown.
pub fn storage_report_markdown(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    ReportWriter::new(super::Format::Markdown, out).write_plan(plan)
}

fn text_tables(totals: &str, tables: Vec<Table>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{totals}")?;
    for t in tables {
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

fn markdown_tables(
    totals: &str,
    tables: Vec<Table>,
    manifests_unread: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "### ecr-reconcile storage report")?;
    writeln!(out)?;
    writeln!(out, "{totals}")?;
    for t in tables {
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
    if manifests_unread {
        writeln!(out)?;
        writeln!(
            out,
            "_~: estimated; some manifests could not be read (archived images not in the manifest cache)._"
        )?;
    }
    Ok(())
}
