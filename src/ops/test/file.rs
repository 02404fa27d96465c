//! The test file: cases that give a registry state and an instant, and what the plan
//! of the desired state beside them must do. Its JSON Schema is
//! `schema/test.schema.json`; the book documents it (`docs/src/cli/test.md`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::model::{AccountId, Digest, Region, RepositoryName, Tag};
use crate::plan::{RepositoryStatus, WarningCode};
use crate::registry::ImageStatus;

/// The format version this program reads.
pub const TEST_FILE_VERSION: u32 = 1;

pub use crate::config::TEST_FILE_SUFFIXES;

/// A test file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ecr-reconcile test file")]
pub struct TestFile {
    /// Format version; must be 1.
    pub version: u32,
    /// The desired-state files or folders the cases plan, relative to this file's
    /// folder. Default: the folder that holds this file.
    #[serde(default)]
    pub desired: Vec<String>,
    /// The cases, run in order.
    #[schemars(with = "Vec<TestCase>", length(min = 1))]
    pub tests: Vec<Spanned<TestCase>>,
}

/// One case: a registry state, an instant, and the expected outcome.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case checks, shown on its line of the output.
    pub name: String,
    /// The instant the plan is made for (RFC 3339). Default: the snapshot's
    /// `generated_at`; required with `registry`.
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
    /// A snapshot file to plan against, relative to this file's folder (one of
    /// `snapshot` and `registry`).
    #[serde(default)]
    pub snapshot: Option<String>,
    /// The registry state, written inline (one of `snapshot` and `registry`).
    #[serde(default)]
    pub registry: Option<InlineRegistry>,
    /// Plan as `--allow-empty` does.
    #[serde(default)]
    pub allow_empty: bool,
    /// The expected outcome, by repository name (or `name (account/region)` where the
    /// name alone is ambiguous). Only what is written is checked.
    #[schemars(with = "BTreeMap<String, Expectation>")]
    pub expect: BTreeMap<Key, Expectation>,
}

/// A repository's key in `expect`, with where it stands.
#[derive(Debug, Clone)]
pub struct Key(pub Spanned<String>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.value.cmp(&other.0.value)
    }
}
impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::deserialize(d).map(Key)
    }
}

/// One private registry (an account in a region) and its repositories.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineRegistry {
    /// The 12-digit account id (also the caller's account for files that name none).
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The repositories that exist, each with its images.
    pub repositories: BTreeMap<RepositoryName, Vec<InlineImage>>,
}

/// One image of an inline registry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineImage {
    /// Its digest. Default: one made up from the repository and the image's place in
    /// the list (give one to refer to the image from `children`, `subject` or
    /// `deleted`).
    #[serde(default)]
    pub digest: Option<Digest>,
    /// Its tags (none: untagged).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// When it was pushed (RFC 3339).
    pub pushed_at: DateTime<Utc>,
    /// ECR's last recorded pull (RFC 3339), for `pulled_within`.
    #[serde(default)]
    pub last_pulled_at: Option<DateTime<Utc>>,
    /// Its size in bytes.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// For an index (a multi-platform image): the digests of its children.
    #[serde(default)]
    pub children: Vec<Digest>,
    /// For a referrer (a signature, an SBOM): the digest of its subject.
    #[serde(default)]
    pub subject: Option<Digest>,
    /// ECR's image status (`active`, `archived`, `activating`); absent: active.
    #[serde(default)]
    pub status: Option<ImageStatus>,
}

/// What the plan of one repository must do. Each list is compared as a set, exactly:
/// a tag missing or one too many fails the case.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The repository's status in the plan (`unchanged`, `changes`, `refused`,
    /// `missing`).
    #[serde(default)]
    pub status: Option<RepositoryStatus>,
    /// Every tag that stays.
    #[serde(default)]
    pub kept: Option<Vec<Tag>>,
    /// Every tag removed (by untag, or with its image).
    #[serde(default)]
    pub removed: Option<Vec<Tag>>,
    /// Every image deleted, each by its digest (`sha256:…`) or by one of its tags.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub deleted: Option<Vec<Spanned<String>>>,
    /// The codes of the repository's warnings (`plan::tag-not-found`, or
    /// `tag-not-found`), each once.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub warnings: Option<Vec<Spanned<String>>>,
}

/// A warning code as a test file writes it: `plan::tag-not-found` or `tag-not-found`.
pub fn warning_code(text: &str) -> Option<WarningCode> {
    let bare = text.strip_prefix("plan::").unwrap_or(text);
    serde_json::from_value(serde_json::Value::String(bare.to_owned())).ok()
}

/// An entry of `deleted`: a digest, or a tag the deleted image had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageName {
    /// By digest.
    Digest(Digest),
    /// By one of its tags.
    Tag(Tag),
}

impl ImageName {
    /// Parses an entry of `deleted`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("sha256:") {
            Digest::parse(text)
                .map(ImageName::Digest)
                .map_err(|e| e.to_string())
        } else {
            Tag::parse(text)
                .map(ImageName::Tag)
                .map_err(|e| e.to_string())
        }
    }
}
