//! The chunked reader reads what the whole-file parser reads, whatever the chunks,
//! and gives up on anything else.

use super::super::fixtures::{image, images, index, snapshot};
use super::super::parse;
use super::*;

/// The outcome of a read, comparable: the snapshot as JSON, or the error.
fn outcome(r: Result<Snapshot, SnapshotError>) -> String {
    match r {
        Ok(s) => serde_json::to_string(&s).unwrap(),
        Err(e) => format!("{e:?}"),
    }
}

/// The chunked read of `text`, `chunk` bytes at a time.
/// Checks too that the ranges found give each repository's own text, whichever the
/// chunk size, and that the read without images has the same repositories.
fn chunked(text: &str, chunk: usize) -> Option<String> {
    let read = read_in("s.json", text.as_bytes(), chunk, true).unwrap();
    if let Some(Ok((snapshot, ranges))) = &read {
        let repositories: Vec<_> = snapshot
            .registries
            .iter()
            .flat_map(|r| &r.repositories)
            .collect();
        assert_eq!(repositories.len(), ranges.len());
        for (repo, (start, len)) in repositories.iter().zip(ranges) {
            let bytes = &text.as_bytes()[*start as usize..(start + len) as usize];
            let again = super::parse_repository(bytes).unwrap_or_else(|| {
                panic!(
                    "chunk {chunk} at {start}+{len}: {}",
                    String::from_utf8_lossy(bytes)
                )
            });
            assert_eq!(
                serde_json::to_string(&again).unwrap(),
                serde_json::to_string(repo).unwrap()
            );
        }
        let (bare, bare_ranges) = read_in("s.json", text.as_bytes(), chunk, false)
            .unwrap()
            .expect("the same form")
            .expect("the same outcome");
        assert_eq!(&bare_ranges, ranges);
        for (b, r) in bare.registries.iter().zip(&snapshot.registries) {
            let names = |r: &super::super::SnapshotRegistry| {
                r.repositories
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(b), names(r));
            assert!(b.repositories.iter().all(|x| x.images.is_empty()));
        }
    }
    read.map(|r| r.map(|(s, _)| s)).map(outcome)
}

/// A manifest whose text has escapes and braces, as a snapshot holds it (a JSON
/// string), with the image that carries it.
fn image_with_manifest(n: u32) -> String {
    let manifest = format!(
        r#"{{"config":{{"digest":"sha256:{n:064x}","size":7}},"layers":[{{"digest":"sha256:{:064x}","size":9,"annotations":{{"a\"}}{{":"\\"}}}}]}}"#,
        n + 1
    );
    format!(
        r#"{{"digest":"{}","tags":["v{n}"],"pushed_at":"2026-01-01T00:00:00Z","manifest":{}}}"#,
        crate::hash::sha256(manifest.as_bytes()),
        serde_json::to_string(&manifest).unwrap()
    )
}

#[test]
fn the_common_form_reads_as_the_whole_file_parser_reads_it_in_chunks_of_any_size() {
    let many: Vec<(String, String)> = (0..30)
        .map(|i| {
            (
                format!("a/r{i}"),
                images(&[image_with_manifest(i * 10), image(i * 10 + 5, r#""x""#)]),
            )
        })
        .collect();
    let many: Vec<(&str, String)> = many.iter().map(|(n, i)| (n.as_str(), i.clone())).collect();
    let texts = [
        snapshot(&many),
        snapshot(&[
            (
                "a/one",
                images(&[
                    image(1, r#""v1""#),
                    image(2, ""),
                    index(3, &[1, 2], Some(&[1, 2])),
                ]),
            ),
            ("a/two", image(2, "")),
        ]),
        // Pretty, keys in any order, two registries and their settings.
        serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&snapshot(&[(
                "a/one",
                image(1, r#""v1""#),
            )]))
            .unwrap(),
        )
        .unwrap(),
        format!(
            r#"{{"registries":[{{"repositories":[{{"images":[{}],"name":"a/x"}}],"replication":[{{"destinations":[{{"region":"us-east-1","account":"123456789012"}}]}}],"region":"eu-west-1","account":"123456789012"}},{{"account":"123456789012","region":"us-east-1","repositories":[]}}],"generated_at":"2026-01-01T00:00:00Z","version":1}}"#,
            image_with_manifest(1)
        ),
        r#"{"version":1,"generated_at":null,"registries":[]}"#.to_owned(),
        // Problems the checks find (not syntax): reported as the whole-file parser does.
        snapshot(&[("a/one", images(&[image(1, ""), image(1, "")]))]),
        snapshot(&[("a/one", image(1, "")), ("a/one", image(1, ""))]),
    ];
    for text in &texts {
        let whole = outcome(parse("s.json", text.as_bytes()));
        for chunk in [1, 2, 3, 7, 64, 1000, 1 << 20] {
            assert_eq!(
                chunked(text, chunk).as_deref(),
                Some(whole.as_str()),
                "{chunk}: {text}"
            );
        }
    }
}

#[test]
fn anything_else_is_left_to_the_whole_file_parser() {
    let good = snapshot(&[("a/one", image_with_manifest(1))]);
    let unusual = [
        // Syntax errors, in a repository and around them.
        snapshot(&[("a/one", r#"{"digest":"sha256:00"}"#.to_owned())]),
        good.replace(r#""name":"a/one""#, r#""name":"a/one",,"#),
        good[..good.len() - 3].to_owned(),
        format!("{good} x"),
        format!("{good}{{}}"),
        good.replacen('{', "[", 1),
        // Not the common form.
        good.replace(r#""version":1"#, r#""vers\u0069on":1"#),
        good.replace(r#""repositories":["#, r#""repositories":[1,"#),
        good.replace(r#""repositories":["#, r#""repositories":["x","#),
        good.replace(r#""repositories":["#, r#""repositories":[[],"#),
        good.replace(r#""version":1"#, r#""version":2"#),
        good.replace(r#""region":"eu-west-1""#, r#""region":"eu-west-1","x":[{"repositories":[{}]}]"#),
        r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":[],"repositories":[]}]}"#.to_owned(),
        String::new(),
        "\u{feff}{}".to_owned(),
    ];
    for text in &unusual {
        for chunk in [1, 5, 1 << 20] {
            assert_eq!(chunked(text, chunk), None, "{chunk}: {text}");
        }
    }
    // And `read` then says what the whole-file parser says.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    for text in &unusual {
        std::fs::write(&file, text).unwrap();
        let shown = file.display().to_string();
        assert_eq!(
            outcome(super::super::read(&file)),
            outcome(parse(&shown, text.as_bytes())),
            "{text}"
        );
    }
}
