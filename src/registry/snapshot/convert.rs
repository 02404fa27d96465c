//! Between the snapshot file and the in-memory registry: one conversion of an image
//! each way, and one grouping of repositories into registries.

use chrono::{DateTime, Utc};

use super::check::children_of;
use super::{SNAPSHOT_VERSION, Snapshot, SnapshotImage, SnapshotRegistry, SnapshotRepository};
use crate::model::RepositoryRef;
use crate::registry::ImageDetail;
use crate::registry::memory::{InMemoryRegistry, StoredImage};

impl From<SnapshotImage> for StoredImage {
    /// The image as the in-memory registry holds it. An index with a manifest has the
    /// children its manifest lists (which a checked snapshot's `children` agree with),
    /// any other image its `children`.
    fn from(img: SnapshotImage) -> Self {
        // `check` has already parsed every manifest.
        let children = children_of(&img).unwrap_or_default();
        let SnapshotImage {
            digest,
            tags,
            pushed_at,
            manifest_media_type,
            artifact_media_type,
            size_bytes,
            subject,
            status,
            last_recorded_pull_time,
            last_archived_at,
            last_activated_at,
            children: _,
            manifest,
        } = img;
        StoredImage {
            detail: ImageDetail {
                digest,
                tags,
                pushed_at,
                manifest_media_type,
                artifact_media_type,
                size_bytes,
                subject,
                status,
                last_recorded_pull_time,
                last_archived_at,
                last_activated_at,
            },
            manifest,
            children,
        }
    }
}

impl From<StoredImage> for SnapshotImage {
    /// The image as a snapshot writes it.
    fn from(img: StoredImage) -> Self {
        let StoredImage {
            detail:
                ImageDetail {
                    digest,
                    tags,
                    pushed_at,
                    manifest_media_type,
                    artifact_media_type,
                    size_bytes,
                    subject,
                    status,
                    last_recorded_pull_time,
                    last_archived_at,
                    last_activated_at,
                },
            manifest,
            children,
        } = img;
        SnapshotImage {
            digest,
            tags,
            pushed_at,
            manifest_media_type,
            artifact_media_type,
            size_bytes,
            subject,
            status,
            last_recorded_pull_time,
            last_archived_at,
            last_activated_at,
            children,
            manifest,
        }
    }
}

impl Snapshot {
    /// A snapshot of these repositories, their images and their lifecycle policies, in
    /// this order, grouped into registries in the order each registry first appears.
    pub fn from_repositories(
        generated_at: Option<DateTime<Utc>>,
        repositories: impl IntoIterator<Item = (RepositoryRef, Vec<SnapshotImage>, Option<String>)>,
    ) -> Self {
        let mut registries: Vec<SnapshotRegistry> = Vec::new();
        for (reference, images, lifecycle_policy) in repositories {
            let repo = SnapshotRepository {
                name: reference.name,
                images,
                lifecycle_policy,
                tag_mutability: None,
            };
            let location = reference.registry;
            match registries
                .iter_mut()
                .find(|r| r.location().is_ok_and(|l| l == location))
            {
                Some(r) => r.repositories.push(repo),
                None => {
                    let mut r = SnapshotRegistry::at(location);
                    r.repositories.push(repo);
                    registries.push(r);
                }
            }
        }
        Snapshot {
            version: SNAPSHOT_VERSION,
            generated_at,
            registries,
        }
    }

    /// Loads the snapshot into an in-memory registry (consuming it).
    pub fn into_registry(self) -> InMemoryRegistry {
        let mut reg = InMemoryRegistry::new();
        for r in &self.registries {
            if let Some(region) = &r.region {
                reg.set_caller_account(region.clone(), r.account.clone());
            }
        }
        for r in self.registries {
            // `check` has refused a registry with both a region and an alias, or neither.
            let Ok(location) = r.location() else {
                continue;
            };
            reg.add_registry(location.clone());
            if !r.replication.is_empty() || !r.pull_through_cache_rules.is_empty() {
                reg.set_registry_settings(
                    location.clone(),
                    crate::registry::RegistrySettings {
                        replication: r.replication,
                        pull_through_cache_rules: r.pull_through_cache_rules,
                        unreadable: None,
                    },
                );
            }
            for repo in r.repositories {
                let reference = RepositoryRef {
                    registry: location.clone(),
                    name: repo.name,
                };
                reg.create_repository(reference.clone());
                if repo.lifecycle_policy.is_some() {
                    reg.set_lifecycle_policy(&reference, repo.lifecycle_policy);
                }
                if let Some(mutability) = repo.tag_mutability {
                    reg.set_tag_mutability(&reference, mutability);
                }
                reg.load_images(&reference, repo.images.into_iter().map(StoredImage::from));
            }
        }
        reg
    }

    /// A snapshot of everything an in-memory registry holds.
    pub fn from_registry(reg: &InMemoryRegistry, generated_at: Option<DateTime<Utc>>) -> Self {
        let repositories = reg.repositories().into_iter().map(|reference| {
            let images = reg.images(&reference).unwrap_or_default();
            let images = images.into_iter().map(SnapshotImage::from).collect();
            let policy = reg.lifecycle_policy(&reference);
            (reference, images, policy)
        });
        let mut snapshot = Self::from_repositories(generated_at, repositories);
        // A registry without repositories stays in the file: it is known to be empty.
        for location in reg.registries() {
            if !snapshot
                .registries
                .iter()
                .any(|r| r.location().is_ok_and(|l| l == location))
            {
                snapshot.registries.push(SnapshotRegistry::at(location));
            }
        }
        snapshot.set_registry_settings(|l| Some(reg.registry_settings_of(l)));
        snapshot.set_tag_mutability(|r| Some(reg.tag_mutability_of(r)));
        snapshot
    }

    /// Writes each repository's tag mutability, as `mutability` gives it (ECR's
    /// default is left out of the file).
    pub fn set_tag_mutability(
        &mut self,
        mutability: impl Fn(&RepositoryRef) -> Option<crate::registry::TagMutability>,
    ) {
        for r in &mut self.registries {
            let Ok(location) = r.location() else {
                continue;
            };
            for repo in &mut r.repositories {
                let reference = RepositoryRef {
                    registry: location.clone(),
                    name: repo.name.clone(),
                };
                repo.tag_mutability = mutability(&reference).filter(|m| !m.is_default());
            }
        }
    }

    /// Writes each private registry's replication and pull-through cache rules, as
    /// `settings` gives them.
    pub fn set_registry_settings(
        &mut self,
        settings: impl Fn(&crate::model::RegistryLocation) -> Option<crate::registry::RegistrySettings>,
    ) {
        for r in &mut self.registries {
            if let Some(s) = r.location().ok().and_then(|l| settings(&l)) {
                r.replication = s.replication;
                r.pull_through_cache_rules = s.pull_through_cache_rules;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{digest, image, images, index};
    use super::super::parse;
    use super::*;
    use crate::model::{AccountId, Digest, Region, RegistryLocation, RepositoryName};

    fn reference(region: &str, name: &str) -> RepositoryRef {
        RepositoryRef {
            registry: RegistryLocation::private(
                AccountId::parse("123456789012").unwrap(),
                Region::parse(region).unwrap(),
            ),
            name: RepositoryName::parse(name).unwrap(),
        }
    }

    #[test]
    fn repositories_are_grouped_by_registry_in_first_appearance_order() {
        let s = Snapshot::from_repositories(
            None,
            [
                (reference("eu-west-2", "a/one"), Vec::new(), None),
                (reference("eu-west-1", "a/two"), Vec::new(), None),
                (reference("eu-west-2", "a/three"), Vec::new(), None),
            ],
        );
        let shape: Vec<(&str, Vec<&str>)> = s
            .registries
            .iter()
            .map(|r| {
                (
                    r.region.as_ref().map_or("", |r| r.as_str()),
                    r.repositories.iter().map(|p| p.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("eu-west-2", vec!["a/one", "a/three"]),
                ("eu-west-1", vec!["a/two"])
            ]
        );
        assert_eq!(s.version, SNAPSHOT_VERSION);
    }

    #[test]
    fn a_snapshot_survives_the_in_memory_registry() {
        // Repositories in the registry's order; an index whose `children` are left to
        // its manifest gets them written back.
        let text = format!(
            r#"{{"version":1,"generated_at":"2026-01-01T00:00:00Z","registries":[{{"account":"123456789012","region":"eu-west-1","repositories":[{{"name":"a/one","images":[{}],"tag_mutability":{{"setting":"immutable_with_exclusion","exclusion_filters":["dev-*"]}}}},{{"name":"a/two","images":[{}]}}]}}]}}"#,
            images(&[
                image(1, r#""v1""#),
                image(2, ""),
                index(3, &[], Some(&[1, 2])),
                format!(
                    r#"{{"digest":"{}","tags":["sig"],"pushed_at":"2026-01-02T03:04:05.5Z","artifact_media_type":"text/plain","size_bytes":7,"subject":"{}"}}"#,
                    digest(4),
                    digest(1)
                ),
            ]),
            image(1, r#""v2""#),
        );
        let s = parse("s.json", text.as_bytes()).unwrap();
        let registry = s.clone().into_registry();
        let one = reference("eu-west-1", "a/one");
        assert!(
            registry
                .tag_mutability_of(&one)
                .is_immutable(&crate::model::Tag::parse("v1").unwrap())
        );
        let again = Snapshot::from_registry(&registry, s.generated_at);
        let mut want = serde_json::to_value(&s).unwrap();
        want["registries"][0]["repositories"][0]["images"][2]["children"] =
            serde_json::json!([digest(1), digest(2)]);
        assert_eq!(serde_json::to_value(&again).unwrap(), want);
    }

    #[test]
    fn an_observed_image_has_no_manifest() {
        let detail = ImageDetail {
            digest: Digest::parse(digest(3)).unwrap(),
            tags: Vec::new(),
            pushed_at: DateTime::UNIX_EPOCH,
            manifest_media_type: None,
            artifact_media_type: None,
            size_bytes: None,
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        };
        let children = vec![Digest::parse(digest(1)).unwrap()];
        let img = SnapshotImage::from(StoredImage::new(detail, children.clone()));
        assert_eq!((img.children, img.manifest), (children, None));
    }
}
