//! The JSON Schemas of every document the tool reads or writes, generated from the
//! types (the committed copies in `schema/` are drift-tested).

/// Which document a schema describes.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumMessage,
)]
#[strum(serialize_all = "lowercase")]
pub enum SchemaKind {
    /// Desired-state files.
    Config,
    /// Snapshot files.
    Snapshot,
    /// Plan documents (`plan --format json`, `plan --out`).
    Plan,
    /// One line of an apply's journal.
    Journal,
    /// The report of `validate --format json`.
    Validation,
    /// Test files of `test` (`*.test.yaml`).
    Test,
}

/// The JSON Schema of `kind`, pretty-printed with a final newline.
pub fn json(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Config => schemars::schema_for!(crate::config::raw::RawFile),
        SchemaKind::Snapshot => schemars::schema_for!(crate::registry::snapshot::Snapshot),
        SchemaKind::Plan => schemars::schema_for!(crate::ops::plan::PlanOutcome),
        SchemaKind::Journal => schemars::schema_for!(crate::ops::journal::JournalEntry),
        SchemaKind::Validation => schemars::schema_for!(crate::config::report::ValidationReport),
        SchemaKind::Test => schemars::schema_for!(crate::ops::test::file::TestFile),
    };
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}
