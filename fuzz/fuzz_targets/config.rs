//! Desired-state files through parsing, validation and diagnostic rendering: none of it
//! may panic or hang, whatever the bytes.
//!
//! Input layout: the first byte picks the number of files (`byte % 3 + 1`) and, with its
//! top bit, whether they all have the same shown name; the rest is split into that many
//! files at 0xFF bytes (never valid in UTF-8, so the last file may still hold some and
//! reach the invalid-UTF-8 path).

#![no_main]

use ecr_reconcile::config::{ConfigDiagnostic, ConfigErrors, load_sources};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 3] = ["desired/a.yaml", "desired/b.yaml", "team/ünïcode c.yaml"];

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(head % 3) + 1;
    let same_name = head & 0x80 != 0;
    let inputs: Vec<(String, Vec<u8>)> = rest
        .splitn(count, |&b| b == 0xFF)
        .enumerate()
        .map(|(i, bytes)| {
            let name = if same_name { NAMES[0] } else { NAMES[i] };
            (name.to_owned(), bytes.to_vec())
        })
        .collect();
    let given = inputs.clone();
    match load_sources(inputs) {
        Ok(state) => assert_eq!(state.files.len(), given.len()),
        Err(errors) => {
            assert!(
                !errors.diagnostics.is_empty(),
                "an error without diagnostics"
            );
            for d in &errors.diagnostics {
                check(d, &given);
            }
            render(&errors);
        }
    }
});

/// A diagnostic names one of the given files, and its span lies inside that file's text
/// on character boundaries (checked where the file is UTF-8 and its name is unique).
fn check(d: &ConfigDiagnostic, given: &[(String, Vec<u8>)]) {
    if let Some(file) = &d.file {
        let mut same = given.iter().filter(|(name, _)| name == file);
        let (_, bytes) = same
            .next()
            .unwrap_or_else(|| panic!("unknown file {file:?}"));
        if let (None, Some(span), Ok(text)) = (same.next(), d.span, std::str::from_utf8(bytes)) {
            let end = span.offset.checked_add(span.len).expect("span overflows");
            assert!(
                end <= text.len(),
                "span {span:?} past the end of {file:?} ({} bytes)",
                text.len()
            );
            assert!(
                text.is_char_boundary(span.offset) && text.is_char_boundary(end),
                "span {span:?} splits a character in {file:?}"
            );
        }
    }
    for r in &d.related {
        check(r, given);
    }
}

/// Renders every diagnostic as the command line does.
fn render(errors: &ConfigErrors) {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for d in &errors.diagnostics {
        let _ = handler.render_report(&mut out, d);
        out.push('\n');
    }
    out.push_str(&format!("error: {errors}\n"));
    std::hint::black_box(out);
}
