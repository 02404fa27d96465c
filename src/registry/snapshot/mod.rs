//! The snapshot file: the observed state of registries as JSON, for offline plans,
//! tests and bug reports. Its JSON Schema is `schema/snapshot.schema.json`.
//!
//! This module holds the format; its submodules read it ([`chunked`] from a file a
//! chunk at a time, [`parse`] from bytes, with the fast field deserializers of
//! [`fast_de`]), check what JSON Schema cannot ([`check`]),
//! report errors ([`error`]) and convert to and from the in-memory registry
//! ([`convert`]).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{
    AccountId, Digest, MediaType, PublicAlias, Region, RegistryLocation, RepositoryName, Tag,
};
use crate::registry::ImageStatus;

mod check;
mod chunked;
mod convert;
mod error;
mod fast_de;
#[cfg(test)]
mod fixtures;
mod parse;

pub use error::SnapshotError;

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

/// One registry: an account in a region (private ECR), or an account's ECR Public
/// registry by its alias. Exactly one of `region` and `public_alias` is given.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["region"] }, { "required": ["public_alias"] }]))]
pub struct SnapshotRegistry {
    /// The 12-digit account id.
    pub account: AccountId,
    /// The region of a private ECR registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The alias of an ECR Public registry (`public.ecr.aws/ALIAS`). Its images have
    /// no status and no pull time: ECR Public reports neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_alias: Option<PublicAlias>,
    /// The repositories that exist in this registry.
    pub repositories: Vec<SnapshotRepository>,
    /// A private registry's replication rules (DescribeRegistry's
    /// `replicationConfiguration`): where its pushes are copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replication: Vec<crate::registry::ReplicationRule>,
    /// A private registry's pull-through cache rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_through_cache_rules: Vec<crate::registry::PullThroughCacheRule>,
}

impl SnapshotRegistry {
    /// An empty registry at `location`.
    pub fn at(location: RegistryLocation) -> Self {
        let account = location.account().clone();
        let (region, public_alias) = match location {
            RegistryLocation::Private { region, .. } => (Some(region), None),
            RegistryLocation::Public { alias, .. } => (None, Some(alias)),
        };
        SnapshotRegistry {
            account,
            region,
            public_alias,
            repositories: Vec::new(),
            replication: Vec::new(),
            pull_through_cache_rules: Vec::new(),
        }
    }

    /// Where the registry is; an error when it names both a region and an alias, or
    /// neither.
    pub fn location(&self) -> Result<RegistryLocation, String> {
        location_of(
            &self.account,
            self.region.as_ref(),
            self.public_alias.as_ref(),
        )
    }
}

/// A registry's location from a snapshot's fields.
fn location_of(
    account: &AccountId,
    region: Option<&Region>,
    alias: Option<&PublicAlias>,
) -> Result<RegistryLocation, String> {
    match (region, alias) {
        (Some(r), None) => Ok(RegistryLocation::private(account.clone(), r.clone())),
        (None, Some(a)) => Ok(RegistryLocation::public(account.clone(), a.clone())),
        (Some(_), Some(_)) => Err(
            "a registry has a `region` (private ECR) or a `public_alias` (ECR Public), not both"
                .into(),
        ),
        (None, None) => {
            Err("a registry needs a `region` (private ECR) or a `public_alias` (ECR Public)".into())
        }
    }
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
    /// The repository's ECR lifecycle policy, as ECR stores it (`lifecyclePolicyText`,
    /// a JSON document in a string); absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
    /// The repository's tag mutability (DescribeRepositories' `imageTagMutability`
    /// and `imageTagMutabilityExclusionFilters`); absent: every tag mutable, ECR's
    /// default. `restore` never moves a tag, and says which tags ECR would refuse to
    /// move back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_mutability: Option<crate::registry::TagMutability>,
}

/// One image.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotImage {
    /// The manifest digest.
    pub digest: Digest,
    /// Its tags.
    #[serde(default, deserialize_with = "fast_de::exact_vec")]
    pub tags: Vec<Tag>,
    /// When it was pushed (RFC 3339).
    #[serde(deserialize_with = "fast_de::utc")]
    pub pushed_at: DateTime<Utc>,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<MediaType>,
    /// The artifact media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<MediaType>,
    /// The size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// For a referrer, the digest of its subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// ECR's `imageStatus` (`active`, `archived`, `activating`); absent: active. An
    /// archived image's manifest cannot be read (ECR does not serve it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ImageStatus>,
    /// ECR's `lastRecordedPullTime` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recorded_pull_time: Option<DateTime<Utc>>,
    /// ECR's `lastArchivedAt` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_at: Option<DateTime<Utc>>,
    /// ECR's `lastActivatedAt` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activated_at: Option<DateTime<Utc>>,
    /// For an index, the digests of its children (each must be an image of the
    /// same repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// The raw manifest, when known; for an index it lists the children itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}
/// Reads and checks a snapshot file.
///
/// A file of the common form is read a chunk at a time ([`chunked`]), never held
/// whole; any other, and any with an error, is then read whole and parsed by
/// [`parse`], which says exactly where the error is.
pub fn read(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| SnapshotError::Io {
        path: shown.clone(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if let Some(snapshot) = chunked::read(&shown, file).map_err(io)? {
        return snapshot;
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse(&shown, &bytes)
}

/// A snapshot read without its images, and where each repository lies in the file,
/// so that a repository is parsed again only when it is read ([`read_indexed`]).
#[derive(Debug)]
pub struct Indexed {
    /// The snapshot, every repository without images.
    pub snapshot: Snapshot,
    /// Each repository's place in the file (offset, length), by registry and name.
    pub ranges: std::collections::HashMap<crate::model::RepositoryRef, (u64, u64)>,
}

/// Reads the snapshot at `path` as [`read`] does (the same checks, the same errors),
/// but keeps no image: `Ok(None)` when the file is not of the common form, or has an
/// error, so the caller reads it with [`read`] (which says where).
pub fn read_indexed(path: &std::path::Path) -> Result<Option<Indexed>, SnapshotError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| SnapshotError::Io {
        path: shown.clone(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let Some(Ok((snapshot, ranges))) = chunked::read_indexed(&shown, file).map_err(io)? else {
        return Ok(None);
    };
    let mut places = ranges.into_iter();
    let mut by_repository = std::collections::HashMap::with_capacity(places.len());
    for r in &snapshot.registries {
        let Ok(location) = r.location() else {
            return Ok(None);
        };
        for repo in &r.repositories {
            let place = places.next().expect("a range per repository");
            by_repository.insert(
                crate::model::RepositoryRef {
                    registry: location.clone(),
                    name: repo.name.clone(),
                },
                place,
            );
        }
    }
    Ok(Some(Indexed {
        snapshot,
        ranges: by_repository,
    }))
}

impl Indexed {
    /// The in-memory model of the snapshot at `path` (read by [`read_indexed`]), its
    /// images read from the file when a call needs them, those of at most `keep`
    /// repositories held at once.
    pub fn into_registry(
        self,
        path: &std::path::Path,
        keep: usize,
    ) -> std::io::Result<crate::registry::memory::InMemoryRegistry> {
        let mut registry = self.snapshot.into_registry();
        registry.read_on_demand(path.to_owned(), self.ranges, keep, parse_repository)?;
        Ok(registry)
    }
}

/// One repository's JSON, as [`Indexed::ranges`] finds it in the file: its name and
/// images; `None` when it does not parse (the file changed since it was read).
fn parse_repository(
    bytes: &[u8],
) -> Option<(
    crate::model::RepositoryName,
    Vec<crate::registry::memory::StoredImage>,
)> {
    let repo = chunked::parse_repository(bytes)?;
    let images = repo.images.into_iter().map(Into::into).collect();
    Some((repo.name, images))
}

/// Parses and checks a snapshot given as bytes; `path` is only shown.
///
/// Reading the top of the file, which finds where each repository starts and ends,
/// takes a pass over all of it. In the common case ([`parse::streaming`]),
/// repositories are parsed while that pass goes on; otherwise, and for every error,
/// the top is read first ([`parse::in_two_passes`]).
pub fn parse(path: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    match parse::streaming(path, bytes) {
        Some(snapshot) => snapshot,
        None => parse::in_two_passes(path, bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{digest, image, images, index, snapshot};
    use super::*;

    #[test]
    fn a_valid_snapshot_parses_with_its_media_types() {
        let text = snapshot(&[
            (
                "a/one",
                images(&[
                    image(1, r#""v1""#),
                    image(2, ""),
                    index(3, &[1, 2], Some(&[1, 2])),
                ]),
            ),
            ("a/two", images(&[image(1, r#""v1""#)])),
        ]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let repos = &s.registries[0].repositories;
        assert_eq!(repos.len(), 2);
        assert_eq!(repos[0].images.len(), 3);
        assert!(
            repos[0].images[2]
                .manifest_media_type
                .as_ref()
                .unwrap()
                .is_index()
        );
        assert_eq!(
            repos[0].images[0]
                .manifest_media_type
                .as_ref()
                .unwrap()
                .as_str(),
            crate::model::media_type::OCI_MANIFEST
        );
        // Serialized back exactly as read.
        let again = serde_json::to_string(&s).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&again).unwrap(),
            { serde_json::from_str::<serde_json::Value>(&text).unwrap() }
        );
    }

    #[test]
    fn public_registries_are_read_by_both_parsers_and_loaded_as_public() {
        let public = snapshot(&[("tools/cli", images(&[image(1, r#""v1""#)]))])
            .replace(r#""region":"eu-west-1""#, r#""public_alias":"my-org""#);
        // The common form (streamed), and one the streaming reader leaves to the other.
        let unusual = public.replace(r#"{"version":1,"#, r#"{"version":1,"generated_at":null,"#);
        for text in [&public, &unusual] {
            let s = parse("s.json", text.as_bytes()).unwrap();
            let location = s.registries[0].location().unwrap();
            assert_eq!(location.public_alias().unwrap().as_str(), "my-org");
            assert_eq!(location.region(), None);
            let reg = s.clone().into_registry();
            assert_eq!(
                reg.repositories()[0].to_string(),
                "public.ecr.aws/my-org/tools/cli"
            );
            // Written back exactly as read.
            let again = serde_json::to_value(&s).unwrap();
            assert_eq!(again["registries"][0]["public_alias"], "my-org");
            assert!(again["registries"][0].get("region").is_none());
        }
    }

    #[test]
    fn a_public_registry_needs_its_alias_alone_and_its_images_no_status() {
        let base = snapshot(&[("tools/cli", images(&[image(1, r#""v1""#)]))]);
        let both = base.replace(
            r#""region":"eu-west-1""#,
            r#""region":"eu-west-1","public_alias":"my-org""#,
        );
        let neither = base.replace(r#""region":"eu-west-1","#, "");
        for text in [both, neither] {
            let e = parse("s.json", text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("public_alias"), "{e}");
        }
        let with_status = base
            .replace(r#""region":"eu-west-1""#, r#""public_alias":"my-org""#)
            .replace(
                r#""pushed_at":"2026-01-01T00:00:00Z""#,
                r#""pushed_at":"2026-01-01T00:00:00Z","last_recorded_pull_time":"2026-01-02T00:00:00Z""#,
            );
        let e = parse("s.json", with_status.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ECR Public reports no `last_recorded_pull_time`"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_media_type_is_kept_as_is() {
        let text = snapshot(&[(
            "a/one",
            format!(
                r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/x-\u00e9t\u00e9","artifact_media_type":"text/plain"}}"#,
                digest(1)
            ),
        )]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let img = &s.registries[0].repositories[0].images[0];
        assert_eq!(
            img.manifest_media_type.as_ref().unwrap().as_str(),
            "application/x-été"
        );
        assert_eq!(
            img.artifact_media_type.as_ref().unwrap().as_str(),
            "text/plain"
        );
    }
}
