//! The output of `test`: a line per case, a diff of expected and planned under each
//! failed one, a closing count; JUnit XML for CI.

use std::io::{self, Write};

use crate::ops::test::{CaseOutcome, Mismatch, TestOutcome};

/// The test-runner output: `ok` or `FAIL`, the case's place and name; under a failed
/// case, per repository and aspect, `-` what was expected and is not planned, `+`
/// what is planned and was not expected; then `N passed, N failed`.
pub fn test_report(outcome: &TestOutcome, out: &mut dyn Write) -> io::Result<()> {
    let green = anstyle::AnsiColor::Green.on_default().bold();
    let red = anstyle::AnsiColor::Red.on_default().bold();
    for case in &outcome.cases {
        if case.passed() {
            writeln!(out, "{green}ok{green:#}   {}  {}", place(case), case.name)?;
        } else {
            writeln!(out, "{red}FAIL{red:#} {}  {}", place(case), case.name)?;
            writeln!(out, "     ({LEGEND})")?;
            for m in &case.mismatches {
                mismatch(m, true, out)?;
            }
        }
    }
    let failed = outcome.failed();
    let style = if failed == 0 { green } else { red };
    writeln!(
        out,
        "\n{style}{} passed, {failed} failed{style:#}",
        outcome.passed()
    )
}

/// How the lines of a diff read.
const LEGEND: &str = "- expected, not planned; + planned, not expected";

fn place(case: &CaseOutcome) -> String {
    format!("{}:{}", case.file, case.line)
}

fn mismatch(m: &Mismatch, styled: bool, out: &mut dyn Write) -> io::Result<()> {
    let (minus, plus) = if styled {
        (
            anstyle::AnsiColor::Red.on_default(),
            anstyle::AnsiColor::Green.on_default(),
        )
    } else {
        (anstyle::Style::new(), anstyle::Style::new())
    };
    writeln!(out, "     {}, {}:", m.repository, m.aspect.label())?;
    for v in &m.missing {
        writeln!(out, "       {minus}- {v}{minus:#}")?;
    }
    for v in &m.unexpected {
        writeln!(out, "       {plus}+ {v}{plus:#}")?;
    }
    Ok(())
}

/// A failed case's differences as plain text (JUnit and GitHub annotations).
pub fn failure_text(case: &CaseOutcome) -> String {
    let mut text = format!("({LEGEND})\n").into_bytes();
    for m in &case.mismatches {
        // Infallible: writing to a Vec.
        let _ = mismatch(m, false, &mut text);
    }
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The outcome as JUnit XML: a test suite per test file, a test case per case (its
/// `file` and `line` attributes point at it), a `failure` with the differences.
pub fn junit(outcome: &TestOutcome) -> String {
    let mut files: Vec<&str> = Vec::new();
    for c in &outcome.cases {
        if !files.contains(&c.file.as_str()) {
            files.push(&c.file);
        }
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"ecr-reconcile test\" tests=\"{}\" failures=\"{}\">\n",
        outcome.cases.len(),
        outcome.failed()
    ));
    for file in files {
        let cases: Vec<&CaseOutcome> = outcome.cases.iter().filter(|c| c.file == file).collect();
        let failures = cases.iter().filter(|c| !c.passed()).count();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
            escape(file),
            cases.len()
        ));
        for c in cases {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                escape(&c.name),
                escape(file),
                escape(file),
                c.line
            );
            if c.passed() {
                xml.push_str(&format!("{open}/>\n"));
            } else {
                let summary = c
                    .mismatches
                    .iter()
                    .map(|m| format!("{}: {}", m.repository, m.aspect.label()))
                    .collect::<Vec<_>>()
                    .join("; ");
                xml.push_str(&format!(
                    "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&format!("differs from the plan: {summary}")),
                    escape(&failure_text(c))
                ));
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// XML's five special characters, escaped (attributes and text alike).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test::Aspect;

    fn outcome() -> TestOutcome {
        TestOutcome {
            cases: vec![
                CaseOutcome {
                    file: "d/a.test.yaml".into(),
                    line: 3,
                    column: 5,
                    name: "keeps <five>".into(),
                    mismatches: vec![],
                },
                CaseOutcome {
                    file: "d/a.test.yaml".into(),
                    line: 9,
                    column: 5,
                    name: "removes & deletes".into(),
                    mismatches: vec![Mismatch {
                        repository: "team/app".into(),
                        aspect: Aspect::Removed,
                        missing: vec!["pr-1".into()],
                        unexpected: vec!["pr-9".into()],
                    }],
                },
            ],
        }
    }

    #[test]
    fn junit_names_each_case_at_its_line_and_escapes() {
        let xml = junit(&outcome());
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("<testcase name=\"keeps &lt;five&gt;\" classname=\"d/a.test.yaml\" file=\"d/a.test.yaml\" line=\"3\"/>"),
            "{xml}"
        );
        assert!(xml.contains("removes &amp; deletes"), "{xml}");
        assert!(xml.contains("- pr-1\n+ pr-9</failure>"), "{xml}");
        assert!(!xml.contains('\u{1b}'), "no color in XML: {xml}");
    }

    #[test]
    fn the_report_ends_with_the_counts() {
        let mut out = Vec::new();
        test_report(&outcome(), &mut anstream::StripStream::new(&mut out)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\n1 passed, 1 failed\n"), "{text}");
        assert!(
            text.contains("FAIL d/a.test.yaml:9  removes & deletes\n"),
            "{text}"
        );
    }
}
