//! The snapshot file: the observed state of registries as JSON, for offline plans,
//! tests and bug reports. Its JSON Schema is `schema/snapshot.schema.json`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use miette::{Diagnostic, NamedSource, SourceSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ImageDetail;
use super::memory::{InMemoryRegistry, StoredImage};
use super::observe::index_children;
use crate::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
};

/// The snapshot format version this program reads and writes.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A snapshot of registries: accounts and regions, their repositories and images.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ecr-reconcile registry snapshot")]
pub struct Snapshot {
    /// Format version; must be 1.
    pub version: u32,
    /// When the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<DateTime<Utc>>,
    /// The registries. The first one's account is the caller's account for files that
    /// name no account.
    pub registries: Vec<SnapshotRegistry>,
}

/// One registry: an account in a region.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRegistry {
    /// The 12-digit account id.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The repositories that exist in this registry.
    pub repositories: Vec<SnapshotRepository>,
}

/// One repository and its images.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRepository {
    /// The repository name.
    pub name: RepositoryName,
    /// Every image, tagged or not, in push order.
    #[serde(default)]
    pub images: Vec<SnapshotImage>,
}

/// One image.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotImage {
    /// The manifest digest.
    pub digest: Digest,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// When it was pushed (RFC 3339).
    pub pushed_at: DateTime<Utc>,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// The artifact media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<String>,
    /// The size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// For a referrer, the digest of its subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// For an index, the digests of its children (each must be an image of the
    /// same repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// The raw manifest, when known; for an index it lists the children itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot {path}: {message}")]
    #[diagnostic(code(snapshot::io))]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The JSON does not parse or does not fit the format.
    #[error("{path}:{line}:{column}: invalid snapshot: {message}")]
    #[diagnostic(
        code(snapshot::syntax),
        help("see schema/snapshot.schema.json for the format")
    )]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
        /// The file's text.
        #[source_code]
        src: NamedSource<String>,
        /// The place.
        #[label("here")]
        span: SourceSpan,
    },
    /// A version this program does not read.
    #[error(
        "{path}: snapshot format version {version} is not supported (this version reads {SNAPSHOT_VERSION})"
    )]
    #[diagnostic(code(snapshot::version))]
    Version {
        /// The file.
        path: String,
        /// The version found.
        version: u64,
    },
    /// The JSON is well-formed but describes something ECR cannot hold.
    #[error("{path}: invalid snapshot at {at}: {message}")]
    #[diagnostic(code(snapshot::invalid))]
    Invalid {
        /// The file.
        path: String,
        /// Where, as a JSON path.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and checks a snapshot file.
pub fn read(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SnapshotError::Io {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    parse(&shown, &bytes)
}

/// The top of a snapshot, with each repository left as raw JSON to be parsed in
/// parallel (a large snapshot spends most of its load time parsing images).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shallow<'a> {
    version: u32,
    #[serde(default)]
    generated_at: Option<DateTime<Utc>>,
    #[serde(borrow)]
    registries: Vec<ShallowRegistry<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShallowRegistry<'a> {
    account: AccountId,
    region: Region,
    #[serde(borrow)]
    repositories: Vec<&'a serde_json::value::RawValue>,
}

/// Parses and checks a snapshot given as bytes; `path` is only shown.
pub fn parse(path: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let shallow = match serde_json::from_slice::<Shallow<'_>>(bytes) {
        Ok(s) => s,
        Err(e) => {
            #[derive(Deserialize)]
            struct VersionOnly {
                version: u64,
            }
            if let Ok(v) = serde_json::from_slice::<VersionOnly>(bytes)
                && v.version != u64::from(SNAPSHOT_VERSION)
            {
                return Err(SnapshotError::Version {
                    path: path.to_owned(),
                    version: v.version,
                });
            }
            return Err(syntax_error(path, bytes, &e, None));
        }
    };
    if shallow.version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version {
            path: path.to_owned(),
            version: shallow.version.into(),
        });
    }
    let raws: Vec<&serde_json::value::RawValue> = shallow
        .registries
        .iter()
        .flat_map(|r| r.repositories.iter().copied())
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(raws.len().max(1));
    let chunk = raws.len().div_ceil(threads).max(1);
    let parsed: Vec<Result<SnapshotRepository, SnapshotError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = raws
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|raw| {
                            serde_json::from_str::<SnapshotRepository>(raw.get())
                                .map_err(|e| syntax_error(path, bytes, &e, Some(raw.get())))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a parser thread does not panic"))
            .collect()
    });
    let mut parsed = parsed.into_iter();
    let mut registries = Vec::with_capacity(shallow.registries.len());
    for r in shallow.registries {
        let mut repositories = Vec::with_capacity(r.repositories.len());
        for _ in 0..r.repositories.len() {
            repositories.push(parsed.next().expect("one result per repository")?);
        }
        registries.push(SnapshotRegistry {
            account: r.account,
            region: r.region,
            repositories,
        });
    }
    let snapshot = Snapshot {
        version: shallow.version,
        generated_at: shallow.generated_at,
        registries,
    };
    check(path, &snapshot)?;
    Ok(snapshot)
}

/// A syntax error at the right place of the whole file, also when it was found while
/// parsing `part`, a slice of it.
fn syntax_error(
    path: &str,
    bytes: &[u8],
    e: &serde_json::Error,
    part: Option<&str>,
) -> SnapshotError {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let index = crate::config::yaml::LineIndex::new(&text);
    let offset = match part {
        None => index.offset(e.line() as u64, e.column().max(1) as u64),
        Some(part) => {
            let base = (part.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
            base + crate::config::yaml::LineIndex::new(part)
                .offset(e.line() as u64, e.column().max(1) as u64)
        }
    };
    let (line, column) = index.position(offset);
    SnapshotError::Syntax {
        path: path.to_owned(),
        line: line as usize,
        column: column as usize,
        message: strip_position(&e.to_string()),
        src: NamedSource::new(path, text),
        span: (offset, 0).into(),
    }
}

/// serde_json appends " at line L column C"; the diagnostic shows the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Checks what JSON Schema cannot: uniqueness and references.
fn check(path: &str, s: &Snapshot) -> Result<(), SnapshotError> {
    let invalid = |at: String, message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        at,
        message,
    };
    let mut repos = HashSet::new();
    for (ri, reg) in s.registries.iter().enumerate() {
        for (pi, repo) in reg.repositories.iter().enumerate() {
            let at = format!("registries[{ri}].repositories[{pi}]");
            if !repos.insert((&reg.account, &reg.region, &repo.name)) {
                return Err(invalid(
                    at,
                    format!("repository `{}` appears twice", repo.name),
                ));
            }
            let mut digests: HashMap<&Digest, &SnapshotImage> =
                HashMap::with_capacity(repo.images.len());
            let mut tags: HashSet<&Tag> = HashSet::new();
            for (ii, img) in repo.images.iter().enumerate() {
                let at = format!("{at}.images[{ii}]");
                if digests.insert(&img.digest, img).is_some() {
                    return Err(invalid(at, format!("digest {} appears twice", img.digest)));
                }
                for t in &img.tags {
                    if !tags.insert(t) {
                        return Err(invalid(at, format!("tag `{t}` is on two images")));
                    }
                }
                let is_index = img
                    .manifest_media_type
                    .as_deref()
                    .is_some_and(crate::model::media_type::is_index);
                if !img.children.is_empty() && !is_index {
                    return Err(invalid(
                        at,
                        "`children` is only for index media types".into(),
                    ));
                }
            }
            for (ii, img) in repo.images.iter().enumerate() {
                let at = format!("{at}.images[{ii}]");
                for c in children_of(img).map_err(|e| invalid(at.clone(), e))? {
                    if !digests.contains_key(&c) {
                        return Err(invalid(
                            at,
                            format!(
                                "index {} lists child {c}, which is not an image of the repository",
                                img.digest
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn children_of(img: &SnapshotImage) -> Result<Vec<Digest>, String> {
    let is_index = img
        .manifest_media_type
        .as_deref()
        .is_some_and(crate::model::media_type::is_index);
    match (&img.manifest, is_index) {
        (Some(m), true) => {
            let from_manifest = index_children(m)?;
            if !img.children.is_empty() && img.children != from_manifest {
                return Err("`children` differs from the manifest's list".into());
            }
            Ok(from_manifest)
        }
        _ => Ok(img.children.clone()),
    }
}

impl Snapshot {
    /// Loads the snapshot into an in-memory registry (consuming it).
    pub fn into_registry(self) -> InMemoryRegistry {
        let mut reg = InMemoryRegistry::new();
        for r in &self.registries {
            reg.set_caller_account(r.region.clone(), r.account.clone());
        }
        for r in self.registries {
            let location = RegistryLocation {
                account: r.account,
                region: r.region,
            };
            for repo in r.repositories {
                let reference = RepositoryRef {
                    registry: location.clone(),
                    name: repo.name,
                };
                reg.create_repository(reference.clone());
                let images = repo.images.into_iter().map(|img| {
                    // `check` has already parsed every manifest.
                    let children = children_of(&img).unwrap_or_default();
                    let detail = ImageDetail {
                        digest: img.digest,
                        tags: img.tags,
                        pushed_at: img.pushed_at,
                        manifest_media_type: img.manifest_media_type,
                        artifact_media_type: img.artifact_media_type,
                        size_bytes: img.size_bytes,
                        subject: img.subject,
                    };
                    StoredImage {
                        detail,
                        manifest: img.manifest,
                        children,
                    }
                });
                reg.load_images(&reference, images);
            }
        }
        reg
    }

    /// A snapshot of everything an in-memory registry holds.
    pub fn from_registry(reg: &InMemoryRegistry, generated_at: Option<DateTime<Utc>>) -> Self {
        let mut registries: Vec<SnapshotRegistry> = Vec::new();
        for reference in reg.repositories() {
            let images = reg
                .images(&reference)
                .unwrap_or_default()
                .into_iter()
                .map(|s| SnapshotImage {
                    digest: s.detail.digest,
                    tags: s.detail.tags,
                    pushed_at: s.detail.pushed_at,
                    manifest_media_type: s.detail.manifest_media_type,
                    artifact_media_type: s.detail.artifact_media_type,
                    size_bytes: s.detail.size_bytes,
                    subject: s.detail.subject,
                    children: s.children,
                    manifest: s.manifest,
                })
                .collect();
            let repo = SnapshotRepository {
                name: reference.name,
                images,
            };
            match registries.iter_mut().find(|r| {
                r.account == reference.registry.account && r.region == reference.registry.region
            }) {
                Some(r) => r.repositories.push(repo),
                None => registries.push(SnapshotRegistry {
                    account: reference.registry.account,
                    region: reference.registry.region,
                    repositories: vec![repo],
                }),
            }
        }
        Snapshot {
            version: SNAPSHOT_VERSION,
            generated_at,
            registries,
        }
    }
}
