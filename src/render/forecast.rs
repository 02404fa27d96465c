//! The forecast of `plan --forecast`: what expires after the plan's instant, day by
//! day, for people (human) and for the pull-request comment (a folded section).

use std::io::{self, Write};

use super::action_text;
use crate::plan::forecast::Forecast;
use crate::plan::{ActionKind, Plan};
use crate::text::plural;

/// Removals listed in the comment before the rest is counted only.
const MAX_SHOWN: usize = 200;

/// The horizon in words: `7 days`, `1 day`, or as written (`36h`).
pub fn horizon_words(plan: &Plan, f: &Forecast) -> String {
    let seconds = (f.until - plan.created_at).num_seconds();
    if seconds > 0 && seconds % 86_400 == 0 {
        plural(
            usize::try_from(seconds / 86_400).unwrap_or(0),
            "day",
            "days",
        )
    } else {
        f.horizon.clone()
    }
}

/// `3 tags and 2 images expire within 7 days`, or that nothing does.
pub fn forecast_line(plan: &Plan, f: &Forecast) -> String {
    let within = horizon_words(plan, f);
    let (tags, images) = (f.tags_removed(), f.images_deleted());
    if tags == 0 && images == 0 {
        return format!("Nothing more expires within {within}.");
    }
    let what = match (tags, images) {
        (t, 0) => plural(t, "tag", "tags"),
        (0, i) => plural(i, "image", "images"),
        (t, i) => format!(
            "{} ({} deleted)",
            plural(t, "tag", "tags"),
            plural(i, "image", "images")
        ),
    };
    let counted = if tags > 0 { tags } else { images };
    let verb = if counted == 1 { "expires" } else { "expire" };
    format!("{what} {verb} within {within}.")
}

const ASSUMPTION: &str = "no pushes are simulated: keep_latest counts the images there now, so only max_age and pulled_within expire";

/// The forecast for a person: per repository, per day, the removals that are new.
pub fn human_forecast(plan: &Plan, f: &Forecast, out: &mut dyn Write) -> io::Result<()> {
    use anstyle::{AnsiColor, Style};
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let red = AnsiColor::Red.on_default();
    let yellow = AnsiColor::Yellow.on_default();
    writeln!(
        out,
        "{bold}Forecast{bold:#} to {} ({}; {ASSUMPTION}):",
        f.until.format("%Y-%m-%d %H:%M UTC"),
        horizon_words(plan, f)
    )?;
    for r in &f.repositories {
        writeln!(
            out,
            "{bold}# {}{bold:#} {dim}({}){dim:#}",
            r.repository.name, r.repository.registry
        )?;
        for step in &r.steps {
            writeln!(
                out,
                "  {dim}in {} ({}){dim:#}{}",
                plural(step.day as usize, "day", "days"),
                step.at.format("%Y-%m-%d %H:%M"),
                if step.refused {
                    " REFUSED then: the plan would delete every image"
                } else {
                    ""
                }
            )?;
            for a in &step.actions {
                let (sign, style) = match a.kind {
                    ActionKind::Delete => ('-', red),
                    ActionKind::Untag => ('~', yellow),
                    ActionKind::Archive => ('>', yellow),
                    ActionKind::Reactivate => ('<', yellow),
                };
                writeln!(out, "    {style}{sign} {}{style:#}", action_text(a))?;
            }
        }
    }
    writeln!(out, "{bold}{}{bold:#}", forecast_line(plan, f))
}

/// The forecast as a folded section of the pull-request comment.
pub fn markdown_forecast(plan: &Plan, f: &Forecast, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<details><summary>Forecast: {}</summary>",
        forecast_line(plan, f).trim_end_matches('.')
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "To {} ({ASSUMPTION}).",
        f.until.format("%Y-%m-%d %H:%M UTC")
    )?;
    writeln!(out)?;
    let mut shown = 0;
    let total: usize = f
        .repositories
        .iter()
        .flat_map(|r| &r.steps)
        .map(|s| s.actions.len())
        .sum();
    for r in &f.repositories {
        writeln!(out, "`{}` ({}):", r.repository.name, r.repository.registry)?;
        writeln!(out)?;
        writeln!(out, "```diff")?;
        for step in &r.steps {
            writeln!(
                out,
                "# in {} ({}){}",
                plural(step.day as usize, "day", "days"),
                step.at.format("%Y-%m-%d %H:%M"),
                if step.refused { ": refused then" } else { "" }
            )?;
            for a in &step.actions {
                if shown == MAX_SHOWN {
                    break;
                }
                let sign = if a.kind == ActionKind::Delete {
                    '-'
                } else {
                    '!'
                };
                writeln!(out, "{sign} {}", action_text(a))?;
                shown += 1;
            }
        }
        writeln!(out, "```")?;
        writeln!(out)?;
    }
    if total > shown {
        writeln!(out, "… and {} more.", total - shown)?;
        writeln!(out)?;
    }
    writeln!(out, "</details>")?;
    writeln!(out)
}
