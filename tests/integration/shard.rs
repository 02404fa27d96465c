//! `plan --shard K/N` through the binary, on a generated snapshot of five accounts:
//! the N shards' saved plans, put back together by `show`, are the plan of the
//! whole, in every format; `show` refuses an incomplete set; `apply` refuses a saved
//! plan of another shard before removing anything.

use std::path::Path;
use std::process::Output;

use ecr_reconcile::model::AccountId;
use testkit::generator;

fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(dir).args(args);
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A snapshot of 30 repositories over five accounts of uneven size (12, 8, 5, 3, 2),
/// one desired-state file per account.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut snap, _) = generator::scale_snapshot(30, 12);
    let template = snap.registries.pop().unwrap();
    let mut repositories = template.repositories.clone().into_iter();
    std::fs::create_dir(dir.path().join("desired")).unwrap();
    for (a, size) in [12, 8, 5, 3, 2].into_iter().enumerate() {
        let account = format!("{}", 111_111_111_111u64 * (a as u64 + 1));
        let mut registry = template.clone();
        registry.account = AccountId::parse(&account).unwrap();
        registry.repositories = repositories.by_ref().take(size).collect();
        let mut yaml = format!(
            "version: 1\nregistry:\n  account: \"{account}\"\n  region: eu-west-1\nrepositories:\n"
        );
        for r in &registry.repositories {
            yaml.push_str(&format!(
                "  {}:\n    tags:\n      - \"v1.*\"\n      - pattern: \"pr-*\"\n        keep_latest: 2\n    untagged: delete\n",
                r.name
            ));
        }
        std::fs::write(dir.path().join(format!("desired/account-{a}.yaml")), yaml).unwrap();
        snap.registries.push(registry);
    }
    std::fs::write(
        dir.path().join("snapshot.json"),
        serde_json::to_vec(&snap).unwrap(),
    )
    .unwrap();
    dir
}

const NOW: &str = "2026-05-01T00:00:00Z";

fn plan(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--snapshot",
        "snapshot.json",
        "desired",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

/// A plan document without its calls (each shard's run makes its own) and its
/// checksum; the warnings stay in their order.
fn comparable(json: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("api_calls");
    o.remove("in_use_calls");
    o.remove("checksum");
    v
}

fn shard_files(dir: &Path, count: u32, by: &str) -> Vec<String> {
    (1..=count)
        .map(|k| {
            let file = format!("plan-{by}-{k}-of-{count}.json");
            let shard = format!("{k}/{count}");
            let out = plan(dir, &["--shard", &shard, "--shard-by", by, "--out", &file]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert!(
                text(&out.stdout).starts_with(&format!("Shard {k}/{count} (by {by}): ")),
                "{}",
                text(&out.stdout)
            );
            file
        })
        .collect()
}

#[test]
fn the_shards_plans_shown_together_are_the_plan_of_the_whole() {
    let fixture = fixture();
    let dir = fixture.path();
    let whole = plan(dir, &["--format", "json"]);
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole.stderr));
    let whole_md = plan(dir, &["--format", "markdown"]);
    let whole_human = plan(dir, &[]);
    let expected = comparable(&whole.stdout);
    assert_eq!(expected["repositories"].as_array().unwrap().len(), 30);
    assert!(expected["summary"]["images_to_delete"].as_u64().unwrap() > 0);
    for by in ["account", "repository"] {
        for count in [2, 3, 4, 7] {
            let files = shard_files(dir, count, by);
            let mut args = vec!["show", "--format", "json"];
            args.extend(files.iter().rev().map(String::as_str));
            let merged = run(dir, &args);
            assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
            assert_eq!(comparable(&merged.stdout), expected, "{by} {count}");
            args[2] = "markdown";
            let md = run(dir, &args);
            assert_eq!(text(&md.stdout), text(&whole_md.stdout), "{by} {count}");
            args.drain(1..3);
            let human = run(dir, &args);
            assert_eq!(
                text(&human.stdout),
                text(&whole_human.stdout),
                "{by} {count}"
            );
        }
    }
}

#[test]
fn by_account_keeps_each_account_in_one_shard() {
    let fixture = fixture();
    let dir = fixture.path();
    for file in shard_files(dir, 3, "account") {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(&file)).unwrap()).unwrap();
        let mut accounts: Vec<&str> = v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["repository"]["account"].as_str().unwrap())
            .collect();
        accounts.dedup();
        let mut unique = accounts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            accounts.len(),
            unique.len(),
            "{file}: an account split: {accounts:?}"
        );
    }
}

#[test]
fn show_refuses_an_incomplete_set_of_shards() {
    let fixture = fixture();
    let dir = fixture.path();
    let files = shard_files(dir, 3, "repository");
    let out = run(dir, &["show", &files[0], &files[2]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the plans of shard 2 of 3 are missing"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "no partial plan is shown");
}

#[test]
fn apply_refuses_a_saved_plan_of_another_shard_before_removing_anything() {
    let fixture = fixture();
    let dir = fixture.path();
    let files = shard_files(dir, 3, "repository");
    let before = std::fs::read(dir.join("snapshot.json")).unwrap();
    for (shard, expected) in [
        (
            vec!["--shard", "2/3", "--shard-by", "repository"],
            "shard 2/3 by repository",
        ),
        (vec!["--shard", "1/3"], "shard 1/3 by account"),
        (vec![], "every repository"),
    ] {
        let mut args = vec![
            "apply",
            "--snapshot",
            "snapshot.json",
            "desired",
            "--now",
            NOW,
            "--auto-approve",
            "--plan",
            &files[0],
        ];
        args.extend(shard.iter().copied());
        let out = run(dir, &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "the saved plan covers shard 1/3 by repository, but this apply was asked for {expected}; nothing was applied"
            )),
            "{stderr}"
        );
        assert_eq!(std::fs::read(dir.join("snapshot.json")).unwrap(), before);
    }
    // The plan's own shard applies.
    let out = run(
        dir,
        &[
            "apply",
            "--snapshot",
            "snapshot.json",
            "desired",
            "--now",
            NOW,
            "--auto-approve",
            "--plan",
            &files[0],
            "--shard",
            "1/3",
            "--shard-by",
            "repository",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(std::fs::read(dir.join("snapshot.json")).unwrap(), before);
}
