use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const DESIRED: &str = "version: 1
registry:
  account: \"123456789012\"
  region: eu-west-1
repositories:
  team/app:
    tags:
      - v1
      - pattern: \"pr-*\"
        keep_latest: 2
";

const CASES: &str = "version: 1
tests:
  - name: the two newest pull-request builds stay
    now: 2026-11-20T12:00:00Z
    registry:
      account: \"123456789012\"
      region: eu-west-1
      repositories:
        team/app:
          - { tags: [v1], pushed_at: 2026-11-01T00:00:00Z }
          - { tags: [pr-1], pushed_at: 2026-11-02T00:00:00Z }
          - { tags: [pr-2], pushed_at: 2026-11-03T00:00:00Z }
          - { tags: [pr-3], pushed_at: 2026-11-04T00:00:00Z }
          - { tags: [old], pushed_at: 2026-11-04T00:00:00Z }
    expect:
      team/app:
        status: changes
        kept: [v1, pr-2, pr-3]
        removed: [pr-1, old]
        deleted: [pr-1, old]
        warnings: []
  - name: a wrong expectation fails
    now: 2026-11-20T12:00:00Z
    registry:
      account: \"123456789012\"
      region: eu-west-1
      repositories:
        team/app:
          - { tags: [v1, v2], pushed_at: 2026-11-01T00:00:00Z }
    expect:
      team/app:
        kept: [v1, v2]
        warnings: [tag-not-found]
";

#[test]
fn cases_pass_and_fail_with_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", DESIRED);
    let file = write(dir.path(), "app.test.yaml", CASES);
    let outcome = run(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(outcome.cases.len(), 2);
    assert!(outcome.cases[0].passed(), "{:?}", outcome.cases[0]);
    assert_eq!(outcome.cases[0].line, 3);
    assert_eq!(outcome.cases[0].file, file.display().to_string());
    let failed = &outcome.cases[1];
    assert_eq!(
        failed.mismatches,
        vec![
            Mismatch {
                repository: "team/app".into(),
                aspect: Aspect::Kept,
                missing: vec!["v2".into()],
                unexpected: vec![],
            },
            Mismatch {
                repository: "team/app".into(),
                aspect: Aspect::Warnings,
                missing: vec!["plan::tag-not-found".into()],
                unexpected: vec!["plan::pattern-matched-nothing".into()],
            }
        ],
        "v2 is not allowed: untagged; `pr-*` matches nothing"
    );
    assert_eq!((outcome.passed(), outcome.failed()), (1, 1));
}

#[test]
fn a_test_file_is_checked_with_positions() {
    let bad_key = CASES.replace("status: changes", "stauts: changes");
    let e = parse("t.test.yaml", &bad_key).unwrap_err().to_string();
    assert!(e.starts_with("t.test.yaml:17:9: "), "{e}");
    assert!(e.contains("stauts"), "{e}");
    let bad_code = CASES.replace("[tag-not-found]", "[tag-not-fund]");
    let e = parse("t.test.yaml", &bad_code).unwrap_err().to_string();
    assert!(e.starts_with("t.test.yaml:33:20: "), "{e}");
    let no_now = CASES.replacen("    now: 2026-11-20T12:00:00Z\n", "", 1);
    let e = parse("t.test.yaml", &no_now).unwrap_err().to_string();
    assert!(
        e.starts_with("t.test.yaml:3:5: ") && e.contains("needs `now`"),
        "{e}"
    );
    let both = CASES.replacen(
        "    registry:\n",
        "    snapshot: s.json\n    registry:\n",
        1,
    );
    let e = parse("t.test.yaml", &both).unwrap_err().to_string();
    assert!(e.contains("one of them"), "{e}");
    let bad_deleted = CASES.replace("deleted: [pr-1, old]", "deleted: [\"sha256:nope\"]");
    let e = parse("t.test.yaml", &bad_deleted).unwrap_err().to_string();
    assert!(e.starts_with("t.test.yaml:20:19: `deleted`"), "{e}");
}

#[test]
fn an_expectation_for_an_undeclared_repository_is_an_error_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", DESIRED);
    write(
        dir.path(),
        "app.test.yaml",
        &CASES.replacen(
            "      team/app:\n        status",
            "      team/ap:\n        status",
            1,
        ),
    );
    let e = run(&[dir.path().to_path_buf()]).unwrap_err().to_string();
    assert!(
        e.contains("app.test.yaml:16:7: `expect` names `team/ap`"),
        "{e}"
    );
}

#[test]
fn the_desired_state_search_skips_test_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", DESIRED);
    write(dir.path(), "app.test.yaml", CASES);
    let state = crate::config::load(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(state.files.len(), 1);
    assert!(state.not_desired.files.is_empty());
}
