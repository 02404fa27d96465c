//! The binary, end to end, offline: `validate`, `plan`, `show`, `schema`, their
//! output streams and exit codes. Simple cases are trycmd files in `tests/cmd/`.

use std::path::{Path, PathBuf};
use std::process::Output;

const EXAMPLES: &str = "examples/desired";
const SNAPSHOT: &str = "examples/snapshot.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = crate::common::hermetic();
    cmd.current_dir(root()).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn trycmd_cases() {
    trycmd::TestCases::new().case(root().join("tests/cmd/*.toml"));
}

#[test]
fn help_and_version_exit_0_with_output() {
    // Usage errors exit 1, never 2 (the changes code of --detailed-exitcode): trycmd
    // cases `tests/cmd/usage-*.toml`.
    for args in [
        &["--help"][..],
        &["--version"],
        &["plan", "--help"],
        &["help"],
    ] {
        let out = run(args, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn each_command_s_help_describes_that_command() {
    // Help is wrapped to the terminal's width: compare with white space folded.
    let help = |args: &[&str]| {
        let out = text(&run(args, &[]).stdout);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let restore = help(&["restore", "--help"]);
    assert!(!restore.contains("for files that name none"), "{restore}");
    assert!(
        restore.contains("each journal line names its repository's own region"),
        "{restore}"
    );
    assert!(!restore.contains("for `apply`, write"), "{restore}");
    assert!(help(&["--help"]).contains("plans or journal"));
    let apply = help(&["apply", "--help"]);
    assert!(apply.contains("an existing file is appended to"), "{apply}");
    assert!(help(&["plan", "--help"]).contains("for files that name none"));
}

#[test]
fn diagnostics_go_to_stderr_and_the_plan_to_stdout() {
    let out = run(
        &["plan", "--snapshot", SNAPSHOT, EXAMPLES, "--color", "never"],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Plan: "));
    assert!(stdout.contains("warning[plan::tag-not-found]"));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let esc = |o: &Output| o.stdout.contains(&0x1b);
    let args = ["plan", "--snapshot", SNAPSHOT, EXAMPLES];
    assert!(!esc(&run(&args, &[])), "not a terminal: no color");
    assert!(esc(&run(
        &[&args[..], &["--color", "always"]].concat(),
        &[]
    )));
    assert!(!esc(&run(
        &[&args[..], &["--color", "never"]].concat(),
        &[("CLICOLOR_FORCE", "1")]
    )));
    assert!(esc(&run(&args, &[("CLICOLOR_FORCE", "1")])));
    assert!(
        !esc(&run(&args, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")])),
        "NO_COLOR wins"
    );
    // JSON and markdown never carry escapes.
    for format in ["json", "markdown"] {
        assert!(!esc(&run(
            &[&args[..], &["--color", "always", "--format", format]].concat(),
            &[]
        )));
    }
}

#[test]
fn a_saved_plan_is_shown_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let saved_s = saved.to_str().unwrap();
    let direct = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            EXAMPLES,
            "--color",
            "never",
            "--out",
            saved_s,
        ],
        &[],
    );
    assert_eq!(direct.status.code(), Some(0));
    for format in ["human", "json", "markdown"] {
        let planned = run(
            &[
                "plan",
                "--snapshot",
                SNAPSHOT,
                EXAMPLES,
                "--color",
                "never",
                "--format",
                format,
            ],
            &[],
        );
        let shown = run(
            &["show", saved_s, "--color", "never", "--format", format],
            &[],
        );
        assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
        assert_eq!(
            text(&shown.stdout),
            text(&planned.stdout),
            "show --format {format} renders the saved plan"
        );
    }
    // The saved plan is the JSON document, with what was observed of each image.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(plan["format_version"], 2);
    assert_eq!(
        plan["repositories"][0]["repository"]["account"],
        "123456789012"
    );
    assert_eq!(plan["repositories"][0]["repository"]["region"], "eu-west-1");
    assert!(
        plan["desired_state_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let repos = plan["repositories"].as_array().unwrap();
    let changed = repos
        .iter()
        .find(|r| r["status"] == "changes")
        .expect("a repository with changes");
    let action = &changed["actions"][0];
    for field in [
        "kind",
        "digest",
        "tags",
        "pushed_at",
        "size_bytes",
        "reason",
        "wave",
    ] {
        assert!(!action[field].is_null(), "action has {field}: {action}");
    }
}

#[test]
fn show_refuses_what_is_not_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("garbage.json", "not json at all"),
        ("other-version.json", r#"{"format_version": 99}"#),
        (
            "truncated.json",
            r#"{"format_version": 1, "tool_version": "0.1.0", "created_at": "#,
        ),
        (
            "unknown-field.json",
            r#"{"format_version": 1, "surprise": true}"#,
        ),
    ];
    for (name, content) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let out = run(&["show", p.to_str().unwrap()], &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(out.stdout.is_empty());
        assert!(!out.stderr.is_empty());
    }
    let out = run(&["show", "does/not/exist.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    // A desired-state file given by mistake: said plainly, where, and what to do.
    let out = run(&["show", "examples/desired/payments.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("examples/desired/payments.yaml:1:1: not a saved plan: examples/desired/payments.yaml is not JSON (expected value); save one with `plan --out`"),
        "{err}"
    );
}

#[test]
fn schema_prints_the_committed_schemas() {
    for (kind, file) in [
        ("config", "schema/ecr-reconcile.schema.json"),
        ("snapshot", "schema/snapshot.schema.json"),
        ("plan", "schema/plan.schema.json"),
        ("journal", "schema/journal.schema.json"),
    ] {
        let out = run(&["schema", "--kind", kind], &[]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out.stdout),
            std::fs::read_to_string(root().join(file)).unwrap(),
            "{kind}"
        );
    }
    let out = run(&["schema"], &[]);
    assert_eq!(
        text(&out.stdout),
        std::fs::read_to_string(root().join("schema/ecr-reconcile.schema.json")).unwrap()
    );
}

#[test]
fn bad_snapshots_stop_before_planning() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(root().join(SNAPSHOT)).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated.json",
            good[..good.len() / 2].to_owned(),
            "snapshot::syntax",
        ),
        (
            "version.json",
            good.replacen("\"version\": 1", "\"version\": 7", 1),
            "snapshot::version",
        ),
        ("empty.json", String::new(), "snapshot::syntax"),
        (
            "dup-tag.json",
            good.replacen("\"v1.1.0\"", "\"v1.0.0\"", 1),
            "snapshot::invalid",
        ),
    ];
    for (name, content, code) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let out = run(
            &[
                "plan",
                "--snapshot",
                p.to_str().unwrap(),
                EXAMPLES,
                "--detailed-exitcode",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(
            text(&out.stderr).contains(code),
            "{name}: {}",
            text(&out.stderr)
        );
    }
    let out = run(&["plan", "--snapshot", "no/such/file.json", EXAMPLES], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("snapshot::io"));
}

#[test]
fn allow_empty_flag_lifts_the_guard() {
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            "examples/desired/legacy.yaml",
            "--format",
            "json",
        ],
        &[],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["repositories"][0]["status"], "refused");
    assert_eq!(plan["summary"]["images_to_delete"], 0);
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            "examples/desired/legacy.yaml",
            "--format",
            "json",
            "--allow-empty",
        ],
        &[],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["repositories"][0]["status"], "changes");
    assert_eq!(plan["summary"]["images_to_delete"], 8);
}

#[test]
fn region_comes_from_the_file_the_flag_or_a_single_region_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        "version: 1\nrepositories:\n  identity/auth:\n    tags: [\"v3.*\"]\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = run(&["plan", "--snapshot", SNAPSHOT, f], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "single-region snapshot: {}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            f,
            "--region",
            "us-east-1",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "no registry for us-east-1 in the snapshot"
    );
    assert!(
        text(&out.stderr).contains("the snapshot holds no registry 123456789012/us-east-1: check the file's account and region (or --region)"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("could not reach"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            f,
            "--region",
            "not a region",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--region"));
}

#[test]
fn the_quick_start_works_whatever_aws_region_says() {
    // Most AWS users have AWS_REGION set: the offline plan of the example (a snapshot
    // of one region) must not depend on it.
    let quick_start = ["plan", "--snapshot", SNAPSHOT, EXAMPLES];
    let plain = run(&quick_start, &[]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        let out = run(&quick_start, &[("AWS_REGION", region)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{region}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), text(&plain.stdout), "{region}");
    }
    // The flag still wins over the snapshot's region.
    let out = run(
        &[&quick_start[..], &["--region", "us-east-1"]].concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn directories_are_searched_and_hidden_folders_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("teams/a")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("teams/a/x.yml"),
        "version: 1\nrepositories:\n  a/x:\n    tags: [v1]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("teams/y.yaml"),
        "version: 1\nrepositories:\n  a/y:\n    tags: [v1]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("teams/notes.txt"), "not yaml").unwrap();
    std::fs::write(dir.path().join(".git/config.yaml"), "garbage: [").unwrap();
    let out = run(&["validate", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 files declaring 2 repositories"),
        "{}",
        text(&out.stdout)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["validate", empty.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("config::no-files"));
}

#[test]
fn validate_reports_every_broken_file_in_one_run() {
    let out = run(
        &[
            "validate",
            "tests/fixtures/invalid/bad-glob.yaml",
            "tests/fixtures/invalid/version-2.yaml",
            EXAMPLES,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad-glob.yaml:5:9"), "{err}");
    assert!(err.contains("version-2.yaml:1:10"), "{err}");
    assert!(Path::new(&root().join("tests/fixtures/invalid/bad-glob.yaml")).exists());
}

#[test]
fn apply_to_a_snapshot_rewrites_it_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::copy(root().join(SNAPSHOT), &state).unwrap();
    let st = state.to_str().unwrap();
    let before = run(
        &["plan", "--snapshot", st, EXAMPLES, "--format", "json"],
        &[],
    );
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();
    let untagged_deletes = before["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "changes")
        .flat_map(|r| r["actions"].as_array().unwrap().iter())
        .filter(|a| a["kind"] == "delete" && a["tags"].as_array().unwrap().is_empty())
        .count();
    let journal = dir.path().join("journal.jsonl");
    let out = run(
        &[
            "apply",
            "--snapshot",
            st,
            EXAMPLES,
            "--auto-approve",
            "--journal",
            journal.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["images_deleted"], 171);
    assert_eq!(report["report"]["untagged"], 7);
    // The snapshot now holds the result: planning again leaves only the refused repository.
    let again = run(
        &["plan", "--snapshot", st, EXAMPLES, "--format", "json"],
        &[],
    );
    let plan: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(plan["summary"]["images_to_delete"], 0);
    assert_eq!(plan["summary"]["untags"], 0);
    assert_eq!(plan["summary"]["repositories_refused"], 1);
    // Every removal was journalled, one JSON object per line.
    let lines = std::fs::read_to_string(&journal).unwrap();
    let tags = before["summary"]["tags_to_remove"].as_u64().unwrap() as usize;
    assert_eq!(
        lines.lines().count(),
        tags + untagged_deletes,
        "one line per tag removed and per untagged image deleted"
    );
    for l in lines.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
    // No temporary file is left beside the snapshot.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_syntax_error_in_a_one_line_snapshot_is_reported_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(SNAPSHOT)).unwrap()).unwrap();
    let compact = serde_json::to_string(&good).unwrap();
    let broken = compact.replacen("\"pushed_at\":\"", "\"pushed_at\":\"not a time", 1);
    let p = dir.path().join("compact.json");
    std::fs::write(&p, broken).unwrap();
    for color in ["never", "always"] {
        let out = run(
            &[
                "plan",
                "--snapshot",
                p.to_str().unwrap(),
                EXAMPLES,
                "--color",
                color,
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.contains("snapshot::syntax"), "{err}");
        assert!(err.contains("compact.json:1:"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Runs the binary in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    crate::common::hermetic()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn a_saved_plan_applies_however_the_paths_are_spelled() {
    // Plan and apply jobs run in different directories: the desired state is known by
    // content and by paths relative to the folder that holds the files.
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let desired = work.join("desired");
    std::fs::create_dir(&desired).unwrap();
    for entry in std::fs::read_dir(root().join(EXAMPLES)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), desired.join(entry.file_name())).unwrap();
    }
    let state = work.join("state.json");
    let st = state.to_str().unwrap();
    let plan = work.join("plan.json");
    let pl = plan.to_str().unwrap();
    std::fs::copy(root().join(SNAPSHOT), &state).unwrap();
    let out = run_in(&work, &["plan", "--snapshot", st, "desired/", "--out", pl]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let absolute = desired.to_str().unwrap().to_owned();
    for (cwd, path) in [
        (work.clone(), "./desired"),
        (work.clone(), absolute.as_str()),
        (desired.clone(), "."),
    ] {
        // Each run verifies the saved plan against the registry, then is stopped by
        // --max-delete 0 before any removal: the plan was accepted as these files'.
        let out = run_in(
            &cwd,
            &[
                "apply",
                "--snapshot",
                st,
                path,
                "--plan",
                pl,
                "--auto-approve",
                "--max-delete",
                "0",
            ],
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("more than --max-delete 0"),
            "{path} in {}: {err}",
            cwd.display()
        );
    }
    // When the files really differ, the refusal names each file.
    std::fs::write(desired.join("extra.yaml"), "version: 1\nrepositories: {}\n").unwrap();
    let payments = desired.join("payments.yaml");
    let text_of = std::fs::read_to_string(&payments).unwrap();
    std::fs::write(&payments, format!("{text_of}\n# a comment\n")).unwrap();
    std::fs::remove_file(desired.join("legacy.yaml")).unwrap();
    let out = run_in(
        &work,
        &[
            "apply",
            "--snapshot",
            st,
            "desired",
            "--plan",
            pl,
            "--auto-approve",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("added: extra.yaml; removed: legacy.yaml; changed: payments.yaml"),
        "{err}"
    );
}

#[test]
fn written_files_keep_their_mode_and_errors_name_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    // Relative to the working directory (the crate root), where no such folder is.
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            EXAMPLES,
            "--out",
            "no-such-folder/plan.json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot save the plan to no-such-folder/plan.json: the folder no-such-folder does not exist"),
        "{err}"
    );
    assert!(!err.contains(".tmp"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // apply --snapshot rewrites the snapshot with the mode it had.
        let state = dir.path().join("state.json");
        std::fs::copy(root().join(SNAPSHOT), &state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).unwrap();
        let journal = dir.path().join("journal.jsonl");
        let out = run(
            &[
                "apply",
                "--snapshot",
                state.to_str().unwrap(),
                EXAMPLES,
                "--auto-approve",
                "--journal",
                journal.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(mode(&state), 0o644);
        // A new plan file has the mode any new file gets here (the umask's).
        let reference = dir.path().join("reference");
        std::fs::File::create(&reference).unwrap();
        let plan = dir.path().join("plan.json");
        let out = run(
            &[
                "plan",
                "--snapshot",
                SNAPSHOT,
                EXAMPLES,
                "--out",
                plan.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(mode(&plan), mode(&reference));
    }
}

/// Per repository: (digest, sorted tags, manifest) of every image, sorted.
type Images = std::collections::BTreeMap<String, Vec<(String, Vec<String>, Option<String>)>>;

fn images_of(snapshot: &Path) -> Images {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot).unwrap()).unwrap();
    let mut out = Images::new();
    for reg in s["registries"].as_array().unwrap() {
        for repo in reg["repositories"].as_array().unwrap() {
            let mut images: Vec<_> = repo["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let mut tags: Vec<String> = i["tags"]
                        .as_array()
                        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default();
                    tags.sort();
                    let manifest = i["manifest"].as_str().map(str::to_owned);
                    (i["digest"].as_str().unwrap().to_owned(), tags, manifest)
                })
                .collect();
            images.sort();
            out.insert(repo["name"].as_str().unwrap().to_owned(), images);
        }
    }
    out
}

/// `apply --snapshot` on a copy of the example, then `restore` of its journal, in a
/// folder of their own with AWS_REGION set as on a user's machine.
fn apply_then_restore(
    snapshot: &str,
    apply_flags: &[&str],
) -> (PathBuf, tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("snapshot.json");
    std::fs::write(&copy, snapshot).unwrap();
    let in_dir = |args: &[&str]| {
        crate::common::hermetic()
            .current_dir(dir.path())
            .env("AWS_REGION", "us-east-1")
            .args(args)
            .output()
            .unwrap()
    };
    let examples = root().join(EXAMPLES);
    let out = in_dir(
        &[
            &[
                "apply",
                "--snapshot",
                "snapshot.json",
                examples.to_str().unwrap(),
                "--auto-approve",
            ][..],
            apply_flags,
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let journal = std::fs::read_dir(dir.path().join(".ecr-reconcile"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = in_dir(&[
        "restore",
        "--snapshot",
        "snapshot.json",
        journal.to_str().unwrap(),
        "--auto-approve",
    ]);
    (copy, dir, out)
}

#[test]
fn the_example_applied_offline_is_restored_as_it_was() {
    let original = std::fs::read_to_string(root().join(SNAPSHOT)).unwrap();
    let (copy, _dir, out) = apply_then_restore(&original, &[]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("Restore complete: 121 tags put back, 171 images pushed again"),
        "{said}"
    );
    assert_eq!(images_of(&copy), images_of(&root().join(SNAPSHOT)));
}

/// The removals of a plan (`plan --format json`) in `dir`, per repository.
fn removals_in(dir: &Path, now: &str) -> Vec<serde_json::Value> {
    let out = crate::common::hermetic()
        .current_dir(dir)
        .env("AWS_REGION", "us-east-1")
        .args([
            "plan",
            "--snapshot",
            "snapshot.json",
            "--format",
            "json",
            "--now",
            now,
        ])
        .arg(root().join(EXAMPLES))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!({"repository": r["repository"], "actions": r["actions"]}))
        .collect()
}

/// Each image's recorded size, by repository and digest.
fn sizes_of(snapshot: &Path) -> std::collections::BTreeMap<(String, String), Option<u64>> {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snapshot).unwrap()).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for reg in s["registries"].as_array().unwrap() {
        for repo in reg["repositories"].as_array().unwrap() {
            for i in repo["images"].as_array().unwrap() {
                out.insert(
                    (repo["name"].to_string(), i["digest"].to_string()),
                    i["size_bytes"].as_u64(),
                );
            }
        }
    }
    out
}

#[test]
fn after_a_restore_the_next_plan_makes_the_first_plan_s_removals() {
    // The images a restore pushes again get a new push time (as in ECR); the restore
    // record it writes keeps their push time from before, so keep_latest ranks them
    // as the first plan did, and the real newest builds stay.
    let now = "2026-11-20T12:00:00Z";
    let original = std::fs::read_to_string(root().join(SNAPSHOT)).unwrap();
    let first = {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snapshot.json"), &original).unwrap();
        removals_in(dir.path(), now)
    };
    let (copy, dir, out) = apply_then_restore(&original, &[]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("Restore record: ") && said.contains(".ecr-reconcile/restored-"),
        "{said}"
    );
    // The offline registry gives each image its recorded size back.
    assert_eq!(sizes_of(&copy), sizes_of(&root().join(SNAPSHOT)));
    assert_eq!(removals_in(dir.path(), now), first);
    // Without the record, the restored images would rank newest: the plan differs.
    for entry in std::fs::read_dir(dir.path().join(".ecr-reconcile")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("restored-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert_ne!(removals_in(dir.path(), now), first);
}

#[test]
fn without_manifests_existing_images_are_retagged_and_each_loss_is_said_once() {
    // A snapshot without `manifest` fields: the apply cannot save what restore would
    // push back, but re-tagging an image that still exists always works.
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(SNAPSHOT)).unwrap()).unwrap();
    for repo in s["registries"][0]["repositories"].as_array_mut().unwrap() {
        for image in repo["images"].as_array_mut().unwrap() {
            image.as_object_mut().unwrap().remove("manifest");
        }
    }
    // Without a manifest that hashes to its digest a deletion could not be undone:
    // apply makes none of them unless told to.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("snapshot.json");
    std::fs::write(&copy, s.to_string()).unwrap();
    let out = crate::common::hermetic()
        .current_dir(dir.path())
        .args(["apply", "--snapshot", "snapshot.json", "--auto-approve"])
        .arg(root().join(EXAMPLES))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("ManifestNotSaved"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        images_of(&copy).values().map(Vec::len).sum::<usize>(),
        284,
        "no image deleted"
    );
    let (_copy, _dir, out) = apply_then_restore(&s.to_string(), &["--allow-unrestorable"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("7 tags put back, 0 images pushed again"),
        "{said}"
    );
    assert!(!said.contains("edited or damaged"), "{said}");
    let lost: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("the journal holds no manifest for it"))
        .collect();
    assert_eq!(lost.len(), 171, "{said}");
    assert!(lost[0].contains("a snapshot file without the image's `manifest`"));
    // Each problem once: in the plan, not again in the report.
    let mut seen = std::collections::HashSet::new();
    assert!(lost.iter().all(|l| seen.insert(*l)), "{said}");
    assert!(said.contains("171 not restored (listed above)."), "{said}");
}

#[test]
fn discovery_skips_only_what_is_excluded_and_says_so() {
    // A GitOps repository's root: desired state beside other YAML.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("ecr")).unwrap();
    std::fs::create_dir_all(d.join("charts/web")).unwrap();
    std::fs::copy(
        root().join("examples/desired/identity.yaml"),
        d.join("ecr/identity.yaml"),
    )
    .unwrap();
    std::fs::write(d.join("docker-compose.yml"), "services:\n  web: {}\n").unwrap();
    std::fs::write(d.join("charts/web/values.yaml"), "replicas: 2\n").unwrap();
    let validate = |args: &[&str]| {
        crate::common::hermetic()
            .current_dir(d)
            .arg("validate")
            .args(args)
            .output()
            .unwrap()
    };
    // YAML that is not desired state at all (no `version` or `repositories`) is
    // skipped with a note; exclusions make the note go away.
    let out = validate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(
        note.contains("2 YAML files found under . do not look like desired-state files")
            && note.contains("docker-compose.yml"),
        "{note}"
    );

    let out = validate(&["--exclude", "docker-compose*.yml", "--exclude", "charts/"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(said.contains("1 file declaring 2 repositories"), "{said}");
    assert!(
        said.contains("docker-compose.yml: excluded by `docker-compose*.yml` (--exclude)")
            && said.contains("charts: excluded by `charts/` (--exclude)"),
        "{said}"
    );

    // The same from the directory's ignore file, with its line.
    std::fs::write(
        d.join(".ecr-reconcile-ignore"),
        "# not desired state\ndocker-compose.yml\ncharts/*\n",
    )
    .unwrap();
    let out = validate(&[]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(said.contains(".ecr-reconcile-ignore:2)"), "{said}");
    assert!(said.contains("web: excluded by `charts/*`"), "{said}");
    assert!(
        !text(&out.stderr).contains("note:"),
        "{}",
        text(&out.stderr)
    );

    // Exclusion is not leniency: a broken desired-state file still fails, and a file
    // named on the command line is read even when a pattern matches it.
    std::fs::write(
        d.join("ecr/typo.yaml"),
        "version: 1\nrepositories:\n  team/app:\n    tagz: [v1]\n",
    )
    .unwrap();
    let out = validate(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("typo.yaml:4:5"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(d.join("ecr/typo.yaml")).unwrap();
    let out = validate(&["docker-compose.yml"]);
    assert_eq!(out.status.code(), Some(1));

    // plan takes the same flag.
    let out = crate::common::hermetic()
        .current_dir(d)
        .args(["plan", "--snapshot"])
        .arg(root().join(SNAPSHOT))
        .args(["--exclude", "charts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_default_path_skips_yaml_that_is_not_desired_state_in_a_few_lines() {
    // A GitOps repository's root: the desired state in a folder, beside workflows,
    // charts and an action.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for folder in ["desired", ".github/workflows", "charts/x"] {
        std::fs::create_dir_all(d.join(folder)).unwrap();
    }
    std::fs::copy(
        root().join("examples/desired/identity.yaml"),
        d.join("desired/identity.yaml"),
    )
    .unwrap();
    std::fs::write(
        d.join(".github/workflows/ci.yml"),
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
    )
    .unwrap();
    std::fs::write(d.join("charts/x/values.yaml"), "replicas: 2\n").unwrap();
    std::fs::write(d.join("action.yml"), "name: x\nruns:\n  using: node20\n").unwrap();
    for extra in 0..5 {
        std::fs::write(d.join(format!("charts/x/extra-{extra}.yaml")), "a: 1\n").unwrap();
    }
    let run_here = |args: &[&str]| {
        crate::common::hermetic()
            .current_dir(d)
            .args(args)
            .output()
            .unwrap()
    };

    let out = run_here(&["validate"]);
    let note = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{note}");
    assert!(text(&out.stdout).contains("1 file declaring 2 repositories"));
    assert!(note.lines().count() <= 3, "{note}");
    // Hidden folders are not searched: the workflow is not even found.
    assert!(
        note.contains("7 YAML files found under . do not look like desired-state files")
            && note.contains("./action.yml")
            && note.contains("and 4 more")
            && note.contains(".ecr-reconcile-ignore")
            && note.contains("--exclude"),
        "{note}"
    );

    let snapshot = root().join(SNAPSHOT);
    let plan_args = ["plan", "--snapshot", snapshot.to_str().unwrap()];
    let out = run_here(&plan_args);
    let said = text(&out.stdout);
    let note = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{note}");
    // The valid file is planned.
    assert!(
        said.contains("desired/identity.yaml:7:3") && said.contains("1 repository unchanged"),
        "{said}"
    );
    assert!(note.contains("note: 7 YAML files"), "{note}");
    assert!(note.lines().count() <= 3, "{note}");

    let out = run_here(&["validate", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["not_desired_state"].as_array().unwrap().len(), 7);

    // A file with `version` or `repositories` is desired state: broken, it is an error.
    std::fs::write(d.join("charts/x/ecr.yaml"), "version: 1\nrepositories: [\n").unwrap();
    let out = run_here(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ecr.yaml"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(d.join("charts/x/ecr.yaml")).unwrap();

    // Only YAML that is not desired state: an error, never "no changes" over nothing.
    std::fs::remove_dir_all(d.join("desired")).unwrap();
    for args in [&["validate"][..], &plan_args[..]] {
        let out = run_here(args);
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}");
        // The terminal report wraps lines: compare words.
        let words = said
            .split(|c: char| c.is_whitespace() || c == '│')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            words.contains("config::no-files")
                && words.contains("do not look like desired-state files")
                && words.contains("name the folder of your desired state"),
            "{said}"
        );
    }
}

#[test]
fn completions_load_in_bash_and_exist_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell], &[]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains("validate") && script.contains("detailed-exitcode"),
            "{shell}: commands and flags completed"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ecr-reconcile.bash");
    std::fs::write(&script, run(&["completions", "bash"], &[]).stdout).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("set -e; bash -n \"$1\"; source \"$1\"; complete -p ecr-reconcile")
        .arg("bash")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ecr-reconcile"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(run(&["completions", "tcsh"], &[]).status.code(), Some(1));
}

/// `page` rendered by groff with every warning on: the warnings, and the text.
fn groff(page: &[u8]) -> (String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou", "-ww", "-rLL=100n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff runs (the man pages are tested with it)");
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (text(&out.stderr), text(&out.stdout))
}

#[test]
fn the_man_pages_render() {
    let out = run(&["man"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (warnings, page) = groff(&out.stdout);
    assert_eq!(warnings, "");
    for section in ["SYNOPSIS", "SUBCOMMANDS", "EXIT STATUS", "ENVIRONMENT"] {
        assert!(page.contains(section), "{section} in\n{page}");
    }
    let out = run(&["man", "apply"], &[]);
    let (warnings, page) = groff(&out.stdout);
    assert_eq!(warnings, "");
    assert!(page.contains("--max-delete"), "{page}");
    assert_eq!(run(&["man", "nope"], &[]).status.code(), Some(1));

    // --dir writes the page the tool's page refers to for every command.
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (_, main) = groff(&std::fs::read(dir.path().join("ecr-reconcile.1")).unwrap());
    for command in [
        "plan", "apply", "restore", "snapshot", "validate", "show", "schema",
    ] {
        let name = format!("ecr-reconcile-{command}");
        assert!(main.contains(&format!("{name}(1)")), "{name} listed");
        let page = std::fs::read(dir.path().join(format!("{name}.1"))).unwrap();
        assert_eq!(groff(&page).0, "", "{name}");
    }
}

#[test]
fn in_github_actions_problems_and_warnings_annotate_the_diff() {
    let gh = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_WORKSPACE", env!("CARGO_MANIFEST_DIR")),
    ];
    let bad = "tests/fixtures/invalid/duplicate-with-other-errors";
    let out = run(&["validate", bad], &gh);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let commands: Vec<&str> = err.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        commands.len(),
        4,
        "one annotation per problem, related places inside theirs: {err}"
    );
    assert!(
        commands[3].starts_with(&format!(
            "::error file={bad}/b.yaml,line=6,col=3,title=config%3A%3Aduplicate-repository::repository `payments/api` is declared twice"
        )),
        "{}",
        commands[3]
    );
    assert!(err.contains("× "), "the diagnostics are still shown: {err}");
    // Not in a workflow: no workflow commands.
    let out = run(&["validate", bad], &[]);
    assert!(!text(&out.stderr).contains("::error"));

    // plan: a warning per plan warning, at its YAML line, and the markdown plan
    // appended to the step summary after what is there.
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let mut env = gh.to_vec();
    env.push(("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()));
    let out = run(&["plan", "--snapshot", SNAPSHOT, EXAMPLES], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("::warning"),
        "stdout stays the plan"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "::warning file=examples/desired/payments.yaml,line=13,col=9,title=plan%3A%3Atag-not-found::allowed tag `v1.38` is not in repository `payments/api`%0Ahelp: did you mean `v1.3.8`?"
        ),
        "{err}"
    );
    let plain = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            EXAMPLES,
            "--format",
            "markdown",
        ],
        &[],
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(written, format!("earlier step\n{}", text(&plain.stdout)));

    // Bounded by GitHub's 1 MiB per step: cut on a line, with a note.
    let room = 2_000;
    std::fs::write(&summary, "x".repeat(1024 * 1024 - room)).unwrap();
    let out = run(&["plan", "--snapshot", SNAPSHOT, EXAMPLES], &env);
    assert_eq!(out.status.code(), Some(0));
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.len() <= 1024 * 1024, "{}", written.len());
    assert!(written.contains("step-summary limit"));
}

#[test]
fn apply_progress_and_report_count_the_same_removals() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(SNAPSHOT), dir.path().join("snapshot.json")).unwrap();
    let out = crate::common::hermetic()
        .current_dir(dir.path())
        .args(["apply", "--snapshot", "snapshot.json", "--auto-approve"])
        .arg(root().join(EXAMPLES))
        .output()
        .unwrap();
    let (said, err) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}{err}");
    // The plan's unit: 121 tags and 57 untagged images by digest.
    let last = err
        .lines()
        .rfind(|l| l.starts_with("removals: "))
        .unwrap_or_else(|| panic!("progress lines: {err}"));
    assert_eq!(last, "removals: 178/178 settled", "{err}");
    assert!(
        said.contains("Apply complete: 178 removals made, 0 already gone, 0 skipped, 0 failed: 121 tags removed (7 from images that stay), 171 images deleted."),
        "{said}"
    );
    assert!(!format!("{said}{err}").contains("identifiers"));
}

#[test]
fn a_closed_pipe_is_silent_with_exit_0_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let out = run(
        &[
            "plan",
            "--snapshot",
            SNAPSHOT,
            EXAMPLES,
            "--out",
            saved.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let commands: [&[&str]; 9] = [
        &["plan", "--snapshot", SNAPSHOT, EXAMPLES],
        &["plan", "--snapshot", SNAPSHOT, EXAMPLES, "--format", "json"],
        &["show", saved.to_str().unwrap()],
        &["validate", EXAMPLES],
        &["validate", EXAMPLES, "--format", "json"],
        &["import", "--snapshot", SNAPSHOT, "--region", "eu-west-1"],
        &["schema"],
        &["completions", "bash"],
        &["man"],
    ];
    for args in commands {
        let mut cmd = crate::common::hermetic();
        cmd.current_dir(root())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // The reader goes away before the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        // Only import says something on stderr: one line per repository.
        let said = text(&out.stderr);
        if args[0] == "import" {
            assert!(
                !said.contains("error") && !said.contains("panicked"),
                "{said}"
            );
        } else {
            assert_eq!(said, "", "{args:?}");
        }
    }
}

#[test]
fn an_offline_apply_says_which_file_it_rewrites_and_can_write_another() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(root().join(SNAPSHOT)).unwrap();
    std::fs::write(dir.path().join("snapshot.json"), &original).unwrap();
    let apply = |extra: &[&str]| {
        crate::common::hermetic()
            .current_dir(dir.path())
            .env("AWS_REGION", "us-east-1")
            .args(["apply", "--snapshot", "snapshot.json", "--auto-approve"])
            .arg(root().join(EXAMPLES))
            .args(extra)
            .output()
            .unwrap()
    };
    // To another file: the snapshot read stays byte for byte as it was.
    let out = apply(&["--snapshot-out", "after.json"]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(
            "Offline: the changes are written to after.json; the snapshot read stays as it is."
        ),
        "{said}"
    );
    assert!(said.contains("Snapshot written: after.json."), "{said}");
    assert_eq!(
        std::fs::read(dir.path().join("snapshot.json")).unwrap(),
        original
    );
    let after = images_of(&dir.path().join("after.json"));
    assert_ne!(after, images_of(&root().join(SNAPSHOT)));
    // In place, and said so before anything changes.
    let out = apply(&[]);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("Offline: the snapshot file snapshot.json is rewritten in place with the changes (--snapshot-out FILE writes them to another file)."),
        "{said}"
    );
    assert_eq!(images_of(&dir.path().join("snapshot.json")), after);
}

#[test]
fn a_saved_plan_applied_twice_says_it_was_applied_already() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(SNAPSHOT), dir.path().join("snapshot.json")).unwrap();
    let in_dir = |args: &[&str]| {
        crate::common::hermetic()
            .current_dir(dir.path())
            .env("AWS_REGION", "us-east-1")
            .args(args)
            .arg(root().join(EXAMPLES))
            .output()
            .unwrap()
    };
    let out = in_dir(&["plan", "--snapshot", "snapshot.json", "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let apply = [
        "apply",
        "--snapshot",
        "snapshot.json",
        "--plan",
        "plan.json",
        "--auto-approve",
    ];
    let out = in_dir(&apply);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = in_dir(&apply);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("this plan was already applied (178 of 178 removals are gone); nothing was applied again"),
        "{said}"
    );
    assert!(!said.contains("no longer exists"), "{said}");
}

#[test]
fn snapshot_warns_like_plan_does() {
    let out = run(&["snapshot", "--snapshot", SNAPSHOT, EXAMPLES], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "warning[plan::repository-not-found]: repository `search/indexer` does not exist in 123456789012/eu-west-1\n  --> examples/desired/identity.yaml:7:3\n  help: check the name, account and region; it is left out of the snapshot\n"
    );
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(snap["registries"].is_array());
}

#[test]
fn a_long_path_in_a_diagnostic_is_never_cut_in_two() {
    let dir = tempfile::tempdir().unwrap();
    let folder = "a-very-long-folder-name-for-the-desired-state-of-the-platform-team/another-deeply-nested-folder";
    std::fs::create_dir_all(dir.path().join(folder)).unwrap();
    let file = format!("{folder}/payments-and-billing-services.yaml");
    std::fs::write(
        dir.path().join(&file),
        "version: 1\nversion: 1\nrepositories: {}\n",
    )
    .unwrap();
    let out = crate::common::hermetic()
        .current_dir(dir.path())
        .args(["validate", &file])
        .output()
        .unwrap();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.lines().any(|l| l.contains(&format!("× {file}:2:1:"))),
        "the whole path on one line: {said}"
    );
}

#[cfg(unix)]
#[test]
fn discovery_follows_symlinked_folders_once_and_refuses_what_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("desired")).unwrap();
    std::fs::create_dir_all(d.join("shared/team")).unwrap();
    std::fs::copy(
        root().join("examples/desired/identity.yaml"),
        d.join("desired/identity.yaml"),
    )
    .unwrap();
    std::fs::write(
        d.join("shared/team/payments.yaml"),
        "version: 1\nrepositories:\n  payments/api:\n    tags: [latest]\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(d.join("shared"), d.join("desired/shared")).unwrap();
    let validate = || {
        crate::common::hermetic()
            .current_dir(d)
            .args(["validate", "desired"])
            .output()
            .unwrap()
    };
    // The repository declared under the symlinked folder is in.
    let out = validate();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(said.contains("2 files declaring 3 repositories"), "{said}");

    // A link back up is a loop: an error naming both paths, not an endless search.
    std::os::unix::fs::symlink(d.join("desired"), d.join("shared/team/up")).unwrap();
    let out = validate();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "desired/shared/team/up: a symlink to the folder already searched as desired:"
        ),
        "{err}"
    );
    std::fs::remove_file(d.join("shared/team/up")).unwrap();

    // A FIFO named like desired state: an error with its path, and no hang.
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("desired/pipe.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    let out = validate();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("desired/pipe.yaml: a FIFO (named pipe), not a regular file"),
        "{err}"
    );
    // Excluded, it is listed as such.
    let out = crate::common::hermetic()
        .current_dir(d)
        .args(["validate", "desired", "--exclude", "pipe.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pipe.yaml: excluded by `pipe.yaml`"));
}
