//! Hostile input never deletes anything: malformed desired-state files, malformed or
//! truncated snapshots, and saved plans that were edited, made for another account or
//! region, or made by an incompatible version. Each gives a clear diagnostic and exit
//! code 1, and the proxy's call log shows that no delete request (for files: no
//! request at all) reached the registry.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{binary, command};
use testkit::moto::{Moto, text};
use testkit::proxy::{Faults, Proxy};

const CONFIG: &str =
    "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n    untagged: delete\n";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// moto with a repository where an apply would remove something, behind a proxy.
fn registry() -> (Moto, Proxy) {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "release", &["v1.0.0", "rc-1"]);
    m.push_image("team/app", "old", &["build-1"]);
    m.push_image("team/app", "leftover", &[]);
    let p = Proxy::start(&m.url, Faults::default());
    (m, p)
}

fn apply(p: &Proxy, args: &[&str]) -> Output {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    all.push("--auto-approve");
    command(&p.url, &all, None).output().unwrap()
}

/// A seeded generator of garbage bytes.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Hostile desired-state files made at run time (too large to commit, or binary).
fn generated(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let head = "version: 1\nrepositories:\n  team/app:\n    tags:\n";
    // A 10 MB string, and a 3 MB one under the size limit (a tag too long).
    cases.push((
        "ten-megabyte-string.yaml",
        format!("{head}      - \"{}\"\n", "x".repeat(10_000_000)).into_bytes(),
    ));
    cases.push((
        "three-megabyte-tag.yaml",
        format!("{head}      - \"{}\"\n", "x".repeat(3_000_000)).into_bytes(),
    ));
    // A huge document: 200,000 repositories.
    let mut huge = String::from("version: 1\nrepositories:\n");
    for i in 0..200_000 {
        huge.push_str(&format!("  team/app-{i}:\n    tags: [v1]\n"));
    }
    cases.push(("huge-document.yaml", huge.into_bytes()));
    // Deep nesting: flow sequences, block mappings and block sequences.
    cases.push((
        "deep-flow-nesting.yaml",
        format!("version: 1\nrepositories: {}", "[".repeat(200_000)).into_bytes(),
    ));
    let mut deep = String::from("version: 1\nrepositories:\n");
    for i in 0..5_000 {
        deep.push_str(&" ".repeat(2 + i));
        deep.push_str(&format!("k{i}:\n"));
    }
    cases.push(("deep-block-nesting.yaml", deep.into_bytes()));
    let mut seqs = String::from("version: 1\nrepositories:\n  team/app:\n    tags:\n");
    for i in 0..5_000 {
        seqs.push_str(&" ".repeat(6 + 2 * i));
        seqs.push_str("-\n");
    }
    cases.push(("deep-sequence-nesting.yaml", seqs.into_bytes()));
    // Billion laughs, ten levels of ten.
    let mut laughs = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    laughs.push_str("version: 1\nrepositories:\n  team/app:\n    tags: *a9\n");
    cases.push(("billion-laughs.yaml", laughs.into_bytes()));
    // 100,000 aliases of one anchor.
    let mut aliases = String::from("version: 1\nx: &t v1\nrepositories:\n  team/app:\n    tags:\n");
    for _ in 0..100_000 {
        aliases.push_str("      - *t\n");
    }
    cases.push(("many-aliases.yaml", aliases.into_bytes()));
    // Binary garbage, NULs, UTF-16, invalid UTF-8 in a key.
    cases.push(("binary-garbage.yaml", garbage(0x5eed, 65_536)));
    let mut nul = CONFIG.as_bytes().to_vec();
    nul.splice(20..20, [0u8, 0, 0]);
    cases.push(("nul-bytes.yaml", nul));
    let mut utf16 = vec![0xFF, 0xFE];
    for c in CONFIG.encode_utf16() {
        utf16.extend_from_slice(&c.to_le_bytes());
    }
    cases.push(("utf16.yaml", utf16));
    let mut bad_key = b"version: 1\nrepositories:\n  team/\xff\xfeapp:\n    tags: [v1]\n".to_vec();
    bad_key.push(b'\n');
    cases.push(("invalid-utf8-key.yaml", bad_key));
    // Valid YAML, wrong shapes.
    cases.push(("only-a-number.yaml", b"42\n".to_vec()));
    cases.push((
        "tags-a-mapping.yaml",
        format!("{head}      a: b\n").into_bytes(),
    ));
    cases.push((
        "rule-keep-latest-huge.yaml",
        format!("{head}      - pattern: \"pr-*\"\n        keep_latest: 99999999999999999999999\n")
            .into_bytes(),
    ));
    cases.push((
        "max-age-negative.yaml",
        format!("{head}      - pattern: \"pr-*\"\n        max_age: -3d\n").into_bytes(),
    ));
    cases.push((
        "unknown-key-deep.yaml",
        format!("{head}      - v1\n    untagged: delete\n    untaged: keep\n").into_bytes(),
    ));
    cases
        .into_iter()
        .map(|(name, bytes)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            (name.to_owned(), p)
        })
        .collect()
}

#[test]
fn malformed_desired_state_files_stop_before_any_request() {
    let (m, p) = registry();
    let before = m.images("team/app");
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.path())
        })
        .collect();
    cases.sort();
    cases.extend(generated(dir.path()));
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for (name, path) in &cases {
        p.clear();
        let out = apply(&p, &[s(path)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: exit 1\n{err}");
        assert!(
            p.calls().is_empty(),
            "{name}: no request reaches the registry: {:?}",
            p.calls()
        );
        // A clear diagnostic: it names the file, and the failure count.
        assert!(err.contains("error"), "{name}: {err}");
        let shown = if path.is_dir() {
            path.display().to_string()
        } else {
            path.file_name().unwrap().to_string_lossy().into_owned()
        };
        assert!(
            err.contains(&shown) || err.contains(name.as_str()),
            "{name}: the diagnostic names the file\n{err}"
        );
        assert!(err.len() < 64 * 1024, "{name}: a bounded report");
        for code in err
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == '(' || c == ')')
            .filter(|w| w.starts_with("config::"))
        {
            *codes.entry(code.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(m.images("team/app"), before, "the registry is untouched");
    eprintln!(
        "{} hostile files refused; diagnostic codes: {codes:?}",
        cases.len()
    );
}

#[test]
fn malformed_and_truncated_snapshots_are_refused_and_left_as_they_are() {
    // An endpoint is given too: a snapshot run must not call it.
    let (_m, p) = registry();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(
        &cfg,
        "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  payments/api:\n    tags: [latest]\n    untagged: delete\n",
    )
    .unwrap();
    let example =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshot.json"))
            .unwrap();
    let text_example = String::from_utf8(example.clone()).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [1, 10, 50, 90, 99] {
        cases.push((
            format!("truncated-at-{cut}-percent"),
            example[..example.len() * cut / 100].to_vec(),
        ));
    }
    cases.push(("empty".into(), Vec::new()));
    cases.push(("null".into(), b"null".to_vec()));
    cases.push(("garbage".into(), garbage(9, 4096)));
    cases.push((
        "version-2".into(),
        text_example
            .replacen("\"version\": 1", "\"version\": 2", 1)
            .into_bytes(),
    ));
    cases.push((
        "bad-digest".into(),
        text_example
            .replacen("\"digest\": \"sha256:", "\"digest\": \"sha256:zz", 1)
            .into_bytes(),
    ));
    cases.push((
        "unknown-field".into(),
        text_example
            .replacen("\"version\": 1", "\"version\": 1, \"extra\": true", 1)
            .into_bytes(),
    ));
    cases.push((
        "tags-not-a-list".into(),
        text_example
            .replacen("\"tags\": []", "\"tags\": \"latest\"", 1)
            .into_bytes(),
    ));
    cases.push((
        "duplicate-repository".into(),
        text_example
            .replacen(
                "\"name\": \"payments/worker\"",
                "\"name\": \"payments/api\"",
                1,
            )
            .into_bytes(),
    ));
    for (name, bytes) in &cases {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, bytes).unwrap();
        for verb in ["plan", "apply"] {
            let mut args = vec![verb, s(&cfg), "--snapshot", s(&path)];
            if verb == "apply" {
                args.push("--auto-approve");
            }
            p.clear();
            let out = command(&p.url, &args, None).output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{verb} {name}\n{err}");
            assert!(p.calls().is_empty(), "{verb} {name}: {:?}", p.calls());
            assert!(
                err.contains(&format!("{name}.json")),
                "{verb} {name}: the diagnostic names the file\n{err}"
            );
            assert_eq!(
                &std::fs::read(&path).unwrap(),
                bytes,
                "{verb} {name}: the snapshot is left as it was"
            );
        }
    }
    // A syntax error points at line and column.
    let out = crate::common::hermetic()
        .args(["plan", s(&cfg), "--snapshot"])
        .arg(dir.path().join("truncated-at-50-percent.json"))
        .args(["--color", "never"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(
        err.contains("truncated-at-50-percent.json:"),
        "file:line:col\n{err}"
    );
}

#[test]
fn edited_foreign_and_incompatible_saved_plans_are_refused_before_any_delete() {
    let (m, p) = registry();
    let before = m.images("team/app");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let saved = dir.path().join("plan.json");
    let out = command(
        &p.url,
        &["plan", s(&cfg), "--out", s(&saved), "--detailed-exitcode"],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let original = std::fs::read_to_string(&saved).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&original).unwrap();
    assert!(
        doc["checksum"].as_str().unwrap().starts_with("sha256:"),
        "a saved plan carries its checksum"
    );

    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut d = doc.clone();
        f(&mut d);
        serde_json::to_string_pretty(&d).unwrap()
    };
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "a digest changed",
            edit(&|d| {
                d["repositories"][0]["actions"][0]["digest"] =
                    serde_json::json!(format!("sha256:{}", "0".repeat(64)))
            }),
            "checksum does not match",
        ),
        (
            "an action removed",
            edit(&|d| {
                d["repositories"][0]["actions"]
                    .as_array_mut()
                    .unwrap()
                    .remove(0);
            }),
            "checksum does not match",
        ),
        (
            "a kept tag turned into a removal",
            edit(&|d| {
                let a = &mut d["repositories"][0]["actions"][0];
                a["kind"] = serde_json::json!("delete");
            }),
            "checksum does not match",
        ),
        (
            "the tool version changed",
            edit(&|d| d["tool_version"] = serde_json::json!("0.0.1")),
            "checksum does not match",
        ),
        (
            "the checksum removed",
            edit(&|d| {
                d.as_object_mut().unwrap().remove("checksum");
            }),
            "carries no checksum",
        ),
        (
            "the checksum forged",
            edit(&|d| d["checksum"] = serde_json::json!(format!("sha256:{}", "a".repeat(64)))),
            "checksum does not match",
        ),
        (
            "an incompatible version",
            edit(&|d| d["format_version"] = serde_json::json!(3)),
            "incompatible version",
        ),
        (
            "truncated",
            original[..original.len() / 2].to_owned(),
            "is not JSON (EOF while parsing",
        ),
        ("empty", String::new(), "is not JSON (EOF while parsing"),
        ("not a plan", "[1, 2, 3]".into(), "incompatible version"),
    ];
    // White space is not an edit.
    let reformatted = serde_json::to_string(&doc).unwrap();

    // A plan made for another region: the files name none, --region decides.
    let other_region = dir.path().join("other-region.json");
    let out = command(
        &p.url,
        &[
            "plan",
            s(&cfg),
            "--out",
            s(&other_region),
            "--region",
            "us-east-1",
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    cases.push((
        "made for another region",
        std::fs::read_to_string(&other_region).unwrap(),
        "another account, region",
    ));
    // A plan made for another account: from a snapshot of account 210987654321.
    let snap = dir.path().join("other-account.snapshot.json");
    std::fs::write(
        &snap,
        r#"{"version": 1, "registries": [{"account": "210987654321", "region": "eu-west-1", "repositories": [{"name": "team/app", "images": []}]}]}"#,
    )
    .unwrap();
    let other_account = dir.path().join("other-account.json");
    let out = crate::common::hermetic()
        .args([
            "plan",
            s(&cfg),
            "--snapshot",
            s(&snap),
            "--out",
            s(&other_account),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    cases.push((
        "made for another account",
        std::fs::read_to_string(&other_account).unwrap(),
        "another account, region",
    ));

    for (name, content, says) in &cases {
        let path = dir.path().join("edited.json");
        std::fs::write(&path, content).unwrap();
        p.clear();
        let out = apply(&p, &[s(&cfg), "--plan", s(&path)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}\n{err}");
        assert!(err.contains(says), "{name}: says {says:?}\n{err}");
        assert_eq!(
            p.count("BatchDeleteImage"),
            0,
            "{name}: no delete request: {:?}",
            p.calls()
        );
        assert_eq!(m.images("team/app"), before, "{name}: registry untouched");
    }

    // The untouched plan, reformatted, still applies.
    std::fs::write(&saved, reformatted).unwrap();
    p.clear();
    let journal = dir.path().join("journal.jsonl");
    let out = apply(
        &p,
        &[s(&cfg), "--plan", s(&saved), "--journal", s(&journal)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(p.count("BatchDeleteImage") > 0);
}
