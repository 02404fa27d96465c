//! Between the snapshot file and the in-memory registry.

use chrono::{DateTime, Utc};

use super::check::children_of;
use super::{SNAPSHOT_VERSION, Snapshot, SnapshotImage, SnapshotRegistry, SnapshotRepository};
use crate::model::{RegistryLocation, RepositoryRef};
use crate::registry::ImageDetail;
use crate::registry::memory::{InMemoryRegistry, StoredImage};

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
