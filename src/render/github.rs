//! GitHub Actions: workflow commands that annotate the pull request's diff
//! (`::error file=…,line=…,col=…,title=…::message`), and the step summary.

use crate::config::{ConfigDiagnostic, ConfigErrors};
use crate::plan::Plan;

/// GitHub's limit for one step's summary (`GITHUB_STEP_SUMMARY`).
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// A command's message: `%`, CR and LF escaped, as the runner decodes them.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value: also `:` and `,`, which separate properties.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation: `level` is `error` or `warning`.
fn command(
    level: &str,
    file: Option<&str>,
    position: Option<(u32, u32)>,
    title: &str,
    message: &str,
) -> String {
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(f)));
        if let Some((line, col)) = position {
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
        }
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{level} {}::{}\n", props.join(","), escape_data(message))
}

fn with_help(message: &str, help: Option<&str>) -> String {
    match help {
        Some(h) => format!("{message}\nhelp: {h}"),
        None => message.to_owned(),
    }
}

fn config_diagnostic(d: &ConfigDiagnostic, path: &dyn Fn(&str) -> String, out: &mut String) {
    let file = d.file.as_deref().map(path);
    out.push_str(&command(
        "error",
        file.as_deref(),
        d.span.map(|s| (s.line, s.column)),
        d.code.as_str(),
        &with_help(&d.message, d.help.as_deref()),
    ));
}

/// An `::error` per failed case of `test`, at the case's line of its test file, with
/// the differences.
#[cfg(feature = "aws")]
pub fn test_annotations(
    outcome: &crate::ops::test::TestOutcome,
    path: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    for case in outcome.cases.iter().filter(|c| !c.passed()) {
        out.push_str(&command(
            "error",
            Some(&path(&case.file)),
            Some((
                u32::try_from(case.line).unwrap_or(u32::MAX),
                u32::try_from(case.column).unwrap_or(u32::MAX),
            )),
            "ecr-reconcile test",
            &format!("case `{}` failed\n{}", case.name, super::failure_text(case)),
        ));
    }
    out
}

/// An `::error` per problem of the desired-state files (related places are part of
/// their problem's message, not annotations of their own). `path` turns a file as
/// shown into the path GitHub knows (relative to the repository).
pub fn config_annotations(errors: &ConfigErrors, path: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    for d in &errors.diagnostics {
        config_diagnostic(d, path, &mut out);
    }
    out
}

/// A `::warning` per plan warning, at the YAML line that caused it.
pub fn plan_annotations(plan: &Plan, path: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        let file = w.location.as_ref().map(|l| path(&l.file));
        out.push_str(&command(
            "warning",
            file.as_deref(),
            w.location.as_ref().map(|l| (l.line, l.column)),
            w.code.as_str(),
            &with_help(&w.message, w.help.as_deref()),
        ));
    }
    out
}

/// `markdown` cut to fit in `room` bytes of the step summary, on a line boundary,
/// with a note saying where the whole plan is.
pub fn bounded_summary(markdown: &str, room: usize) -> String {
    if markdown.len() <= room {
        return markdown.to_owned();
    }
    const NOTE: &str = "\n\n> The plan is longer than GitHub's step-summary limit (1 MiB) and was cut here; the whole plan is in the job's log (or save it with `plan --out`).\n";
    let keep = room.saturating_sub(NOTE.len());
    let mut cut = keep.min(markdown.len());
    while !markdown.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(nl) = markdown[..cut].rfind('\n') {
        cut = nl;
    }
    format!("{}{NOTE}", &markdown[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_what_the_runner_decodes() {
        let c = command(
            "error",
            Some("a,b:c.yaml"),
            Some((3, 5)),
            "config::unknown-key",
            "100% wrong\nsecond line",
        );
        assert_eq!(
            c,
            "::error file=a%2Cb%3Ac.yaml,line=3,col=5,title=config%3A%3Aunknown-key::100%25 wrong%0Asecond line\n"
        );
        assert_eq!(
            command("warning", None, None, "t", "m"),
            "::warning title=t::m\n"
        );
    }

    #[test]
    fn the_summary_is_cut_on_a_line_within_its_room() {
        let md = "line one\nline two é\nline three\n".repeat(1000);
        assert_eq!(bounded_summary(&md, md.len()), md);
        let cut = bounded_summary(&md, 5_000);
        assert!(cut.len() <= 5_000, "{}", cut.len());
        assert!(cut.contains("step-summary limit"));
        let body = cut.split("\n\n> The plan").next().unwrap();
        assert!(md.starts_with(body), "a prefix");
        assert!(md[body.len()..].starts_with('\n'), "cut at a line's end");
    }
}
