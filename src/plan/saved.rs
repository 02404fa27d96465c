//! Saved plans (`plan --out`): the plan document plus a `checksum`, SHA-256 over the
//! rest of the document in canonical JSON (keys sorted, no white space). Reading
//! refuses a file whose checksum is missing or does not match: a plan that was edited
//! by hand is never applied. White space and key order may change freely.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PLAN_FORMAT_VERSION;

/// Why a saved plan is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SavedPlanError {
    /// Not JSON at all.
    #[error("is not JSON ({message})")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// Made by a version of ecr-reconcile whose plan format this one does not read.
    #[error(
        "made by an incompatible version of ecr-reconcile (plan format {found}, this version reads {PLAN_FORMAT_VERSION}); make a new plan"
    )]
    Version {
        /// The format version found (`none` when absent).
        found: String,
    },
    /// No checksum.
    #[error(
        "carries no checksum, so it was not saved by `plan --out` or it was edited; make a new plan"
    )]
    Unsealed,
    /// The checksum does not match the content.
    #[error(
        "was changed after it was saved (its checksum does not match its content); make a new plan"
    )]
    Edited,
    /// Valid JSON and checksum, but not a plan (a tool wrote it wrong).
    #[error("is not a valid plan: {0}")]
    Shape(String),
}

/// The document with its keys sorted at every level, without the checksum.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| *k != "checksum").collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical_inner(&map[k]));
            }
            serde_json::Value::Object(out)
        }
        other => canonical_inner(other),
    }
}

/// As [`canonical`] for nested values, which keep every key.
fn canonical_inner(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical_inner(&map[k]));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical_inner).collect())
        }
        other => other.clone(),
    }
}

/// The checksum of a whole document (its `checksum` field left out), as [`seal`]
/// computes it.
pub fn checksum(document: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(&canonical(document)).expect("a JSON value serializes");
    crate::hash::sha256(&bytes)
}

/// The checksum of `document` (its `checksum` left out) whose top-level field `field`
/// is not in it (its value there is not read) but given by `value`, which adds that
/// value's canonical JSON to the hash: as [`seal`] computes it for the whole.
pub fn checksum_around<E>(
    document: &serde_json::Value,
    field: &str,
    value: impl FnOnce(&mut crate::hash::Hasher) -> Result<(), E>,
) -> Result<String, E> {
    let (before, after) = canonical_around(document, field);
    let mut hasher = crate::hash::Hasher::new();
    hasher.update(&before);
    value(&mut hasher)?;
    hasher.update(&after);
    Ok(hasher.finish())
}

/// The canonical JSON of a JSON value inside a plan document: [`canonical_bytes`].
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&canonical_inner(value)).expect("a JSON value serializes")
}

/// The canonical JSON of a value inside a plan document (keys sorted at every level,
/// every key kept, no white space), as the checksum reads it.
pub fn canonical_bytes(value: &impl Serialize) -> Vec<u8> {
    canonical_json(&serde_json::to_value(value).expect("a plan serializes"))
}

/// The canonical JSON of `document` (without its checksum) around the value of its
/// top-level field `field`: what comes before that value (`{...,"field":`) and what
/// comes after it (`,...}`), so a document whose `field` is written piece by piece
/// is checksummed as [`seal`] does: hash the first part, the canonical value, the
/// second part. The value of `field` in `document` is not read.
pub fn canonical_around(document: &impl Serialize, field: &str) -> (Vec<u8>, Vec<u8>) {
    let value = serde_json::to_value(document).expect("a plan serializes");
    let map = value.as_object().expect("a plan document is an object");
    let mut keys: Vec<&String> = map.keys().filter(|k| *k != "checksum").collect();
    keys.sort();
    let (mut before, mut after) = (b"{".to_vec(), Vec::new());
    let mut seen = false;
    for (n, k) in keys.into_iter().enumerate() {
        let out = if seen { &mut after } else { &mut before };
        if n > 0 {
            out.push(b',');
        }
        out.extend(serde_json::to_vec(k).expect("a key serializes"));
        out.push(b':');
        if k == field {
            seen = true;
        } else {
            out.extend(serde_json::to_vec(&canonical_inner(&map[k])).expect("serializes"));
        }
    }
    after.push(b'}');
    (before, after)
}

/// A plan document (the plan and what the run adds to it) as saved: its JSON with the
/// checksum set, last.
pub fn seal(plan: &impl Serialize) -> serde_json::Value {
    let mut document = serde_json::to_value(plan).expect("a plan serializes");
    let sum = checksum(&document);
    document["checksum"] = serde_json::Value::String(sum);
    document
}

/// Reads a saved plan document, refusing other format versions, a missing checksum
/// and any change since it was saved.
pub fn unseal<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SavedPlanError> {
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| syntax(&e))?;
    if sealed_checksum(&document)? != checksum(&document) {
        return Err(SavedPlanError::Edited);
    }
    from_document(document)
}

/// The refusal of a file the JSON parser stopped in.
pub fn syntax(e: &serde_json::Error) -> SavedPlanError {
    SavedPlanError::Syntax {
        line: e.line(),
        column: e.column(),
        message: crate::text::without_position(&e.to_string()),
    }
}

/// The checksum a saved document carries, once its format version is found to be
/// this one's: the first two checks of [`unseal`], in its order.
pub fn sealed_checksum(document: &serde_json::Value) -> Result<&str, SavedPlanError> {
    let version = document.get("format_version");
    if version.and_then(serde_json::Value::as_u64) != Some(u64::from(PLAN_FORMAT_VERSION)) {
        return Err(SavedPlanError::Version {
            found: version.map_or("none".to_owned(), ToString::to_string),
        });
    }
    document
        .get("checksum")
        .and_then(serde_json::Value::as_str)
        .ok_or(SavedPlanError::Unsealed)
}

/// What a checked document carries, without its checksum (which belongs to the
/// file, not to the plan).
pub fn from_document<T: DeserializeOwned>(
    mut document: serde_json::Value,
) -> Result<T, SavedPlanError> {
    if let Some(fields) = document.as_object_mut() {
        fields.remove("checksum");
    }
    serde_json::from_value(document).map_err(|e| SavedPlanError::Shape(e.to_string()))
}
