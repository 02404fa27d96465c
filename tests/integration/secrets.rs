//! No secret leaks: with credentials set to recognisable values, nothing the tool
//! prints (even at -vv), no plan file, journal or snapshot, and no error message
//! contains the secret access key or the session token.

use std::path::Path;

use crate::common::{binary, command};
use testkit::ClosedPort;
use testkit::moto::{Moto, text};
use testkit::proxy::{self, Faults, Proxy};

const ACCESS_KEY: &str = "AKIALEAKCHECK0000001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKCHECKSECRET";
const TOKEN: &str = "FwoGZXIvYXdzLEAKCHECKSESSIONTOKENq83hd72nd9Qz0lXy";

const CONFIG: &str =
    "version: 1\nrepositories:\n  team/app:\n    tags:\n      - v1.0.0\n    untagged: delete\n";

/// Runs the binary with the recognisable credentials; returns what it printed.
fn run(endpoint: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = command(endpoint, args, None)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!("{}\n{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn assert_clean(what: &str, content: &str) {
    for (name, secret) in [("secret access key", SECRET), ("session token", TOKEN)] {
        // Whole, or any 12-character piece of it (a truncated or wrapped log line).
        let pieces: Vec<&str> = (0..secret.len() - 12).map(|i| &secret[i..i + 12]).collect();
        assert!(
            !pieces.iter().any(|p| content.contains(p)),
            "{what} contains the {name}:\n{content}"
        );
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn no_output_log_file_or_error_contains_the_secret_key_or_session_token() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "release", &["v1.0.0", "rc-1"]);
    m.push_image("team/app", "old", &["build-1"]);
    m.push_image("team/app", "leftover", &[]);
    let p = Proxy::start(&m.url, Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let saved = dir.path().join("plan.json");
    let journal = dir.path().join("journal.jsonl");
    let mut printed = Vec::new();

    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "plan",
            vec![
                "plan",
                s(&cfg),
                "-vv",
                "--out",
                s(&saved),
                "--format",
                "json",
            ],
        ),
        ("snapshot", vec!["snapshot", s(&cfg), "-vv"]),
        (
            "apply",
            vec![
                "apply",
                s(&cfg),
                "-vv",
                "--plan",
                s(&saved),
                "--auto-approve",
                "--journal",
                s(&journal),
                "--format",
                "json",
            ],
        ),
        (
            "restore",
            vec![
                "restore",
                s(&journal),
                "-vv",
                "--auto-approve",
                "--format",
                "json",
            ],
        ),
    ];
    for (name, args) in &runs {
        let (code, out) = run(&p.url, args);
        assert_eq!(code, Some(0), "{name}: {out}");
        printed.push((name.to_string(), out));
    }
    // The SDK did sign with these credentials: the proxy saw the session token.
    assert!(
        p.calls()
            .iter()
            .all(|c| c.session_token.as_deref() == Some(TOKEN)),
        "every request carries the session token"
    );

    // Error paths: retries under throttling and server errors, then an endpoint
    // that is not there, and a registry that refuses access.
    p.set_faults(Faults {
        throttle: 0.5,
        server_error: 0.3,
        seed: 3,
        ..Faults::default()
    });
    let (_, out) = run(&p.url, &["plan", s(&cfg), "-vv", "--max-attempts", "2"]);
    printed.push(("plan under faults".into(), out));
    let closed = ClosedPort::new();
    let (code, out) = run(&closed.url, &["apply", s(&cfg), "-vv", "--auto-approve"]);
    assert_eq!(code, Some(1), "{out}");
    printed.push(("apply against a closed port".into(), out));
    p.set_faults(Faults::default());
    p.set_hook(|_, _| proxy::Verdict::Answer {
        status: 400,
        kind: "AccessDeniedException",
        message: "User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: ecr:DescribeImages",
    });
    let (code, out) = run(&p.url, &["plan", s(&cfg), "-vv"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("AccessDeniedException"), "{out}");
    printed.push(("plan refused access".into(), out));

    for (name, out) in &printed {
        assert!(out.len() > 100, "{name} printed something to check: {out}");
        assert_clean(name, out);
    }
    for file in [&saved, &journal] {
        assert_clean(
            &file.display().to_string(),
            &std::fs::read_to_string(file).unwrap(),
        );
    }
    // The SDK's debug log at -vv was really on (so the check covers it).
    assert!(
        printed.iter().any(|(_, o)| o.contains("DEBUG")),
        "-vv prints debug logs"
    );
}
