//! The bundled examples and the committed schemas stay true: the example snapshot is
//! what the generator makes, the schemas are what the types make, and every example
//! validates against its schema. Set `BLESS=1` to rewrite the committed files.

use std::path::Path;

use ecr_reconcile::schema::{SchemaKind, json as schema_json};
use testkit::generator;

fn check_or_bless(path: &str, fresh: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `BLESS=1 cargo test --test integration examples::`",
            path.display()
        )
    });
    assert!(
        committed == fresh,
        "{} is out of date; run `BLESS=1 cargo test --test integration examples::` and commit the result",
        path.display()
    );
}

#[test]
fn schemas_have_not_drifted() {
    check_or_bless(
        "schema/ecr-reconcile.schema.json",
        &schema_json(SchemaKind::Config),
    );
    check_or_bless(
        "schema/snapshot.schema.json",
        &schema_json(SchemaKind::Snapshot),
    );
    check_or_bless("schema/plan.schema.json", &schema_json(SchemaKind::Plan));
    check_or_bless(
        "schema/journal.schema.json",
        &schema_json(SchemaKind::Journal),
    );
    check_or_bless(
        "schema/validation.schema.json",
        &schema_json(SchemaKind::Validation),
    );
    check_or_bless("schema/test.schema.json", &schema_json(SchemaKind::Test));
}

#[test]
fn example_snapshot_is_generated() {
    let mut json = serde_json::to_string_pretty(&generator::example_snapshot()).unwrap();
    json.push('\n');
    check_or_bless("examples/snapshot.json", &json);
}

fn validator(kind: SchemaKind) -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&schema_json(kind)).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn example_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/desired");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_example_test_file_validates_against_its_schema_and_passes() {
    let schema = validator(SchemaKind::Test);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/desired");
    let file = dir.join("payments.test.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let errors: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schema refuses what the reader refuses: an unknown key.
    let mut wrong = value.clone();
    wrong["tests"][0]["expect"]["payments/api"]["kep"] = serde_json::json!([]);
    assert!(!schema.is_valid(&wrong));
    let outcome = ecr_reconcile::ops::test::run(&[dir]).unwrap();
    assert!(outcome.cases.len() >= 2);
    assert_eq!(outcome.failed(), 0, "{:#?}", outcome.cases);
}

#[test]
fn examples_validate_against_the_schemas() {
    let config = validator(SchemaKind::Config);
    let files = example_files();
    assert!(files.len() >= 3);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = config.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
        // ...and the strict validator agrees.
        ecr_reconcile::config::load(std::slice::from_ref(f)).unwrap();
    }
    let snapshot = validator(SchemaKind::Snapshot);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/snapshot.json"),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors: Vec<String> = snapshot
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn schema_rejects_what_the_validator_rejects() {
    let config = validator(SchemaKind::Config);
    for bad in [
        "version: 1\nrepositories:\n  a/b:\n    tag: [x]\n",
        "version: 2\nrepositories: {}\n",
        "version: 1\nrepositories:\n  a/b:\n    tags: [x]\n    untagged: maybe\n",
        "version: 1\nrepositories:\n  a/b:\n    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 0\n",
    ] {
        let value: serde_json::Value = serde_saphyr::from_str(bad).unwrap();
        assert!(!config.is_valid(&value), "schema accepted {bad:?}");
        assert!(
            ecr_reconcile::config::load_sources(vec![("t.yaml".into(), bad.as_bytes().to_vec())])
                .is_err(),
            "validator accepted {bad:?}"
        );
    }
}
