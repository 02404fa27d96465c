//! UpdateImageStorageClass in the in-memory model, as the API reference describes it:
//! one image a call, answered with its status afterwards.

use super::InMemoryRegistry;
use crate::model::{Digest, RepositoryRef};
use crate::registry::{ImageStatus, Operation, RegistryError, ServiceCode, StorageClass};

impl InMemoryRegistry {
    /// UpdateImageStorageClass at `now`: `ARCHIVE` makes an active image `ARCHIVED`
    /// (with `lastArchivedAt`), `STANDARD` an archived one `ACTIVATING` (with
    /// `lastActivatedAt`; it stays so until [`InMemoryRegistry::finish_activations`], as
    /// ECR takes minutes). Asking for the class an image is in (or moving to) answers
    /// its status and changes nothing; archiving an image being reactivated is not
    /// supported, and ECR Public has no archive.
    pub fn storage_class_sync(
        &self,
        repo: &RepositoryRef,
        digest: &Digest,
        target: StorageClass,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ImageStatus, RegistryError> {
        let unsupported = |why: String| {
            RegistryError::service(
                ServiceCode::ImageStorageClassUpdateNotSupportedException,
                why,
            )
        };
        if repo.registry.is_public() {
            return Err(unsupported(
                "ECR Public has no archive storage class".into(),
            ));
        }
        self.calls.count(Operation::UpdateImageStorageClass);
        let mut state = self.lock();
        let r = state
            .repos
            .get_mut(repo)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repo.clone()))?;
        let Some(i) = r.by_digest(digest) else {
            return Err(RegistryError::service(
                ServiceCode::ImageNotFoundException,
                format!("The image with imageId {{imageDigest:'{digest}'}} does not exist"),
            ));
        };
        let detail = &mut r.images[i].detail;
        let status = detail.status.unwrap_or(ImageStatus::Active);
        let new = match (target, status) {
            (StorageClass::Archive, ImageStatus::Active) => {
                detail.last_archived_at = Some(now);
                ImageStatus::Archived
            }
            (StorageClass::Standard, ImageStatus::Archived) => {
                detail.last_activated_at = Some(now);
                ImageStatus::Activating
            }
            (StorageClass::Archive, ImageStatus::Archived)
            | (StorageClass::Standard, ImageStatus::Active | ImageStatus::Activating) => status,
            (StorageClass::Archive, ImageStatus::Activating | ImageStatus::Unknown)
            | (StorageClass::Standard, ImageStatus::Unknown) => {
                return Err(unsupported(format!(
                    "image {digest} is {}: it cannot move to {}",
                    status.as_ecr_str(),
                    target.as_ecr_str()
                )));
            }
        };
        detail.status = Some(new);
        Ok(new)
    }

    /// Ends every reactivation under way: `ACTIVATING` images become `ACTIVE` (what
    /// ECR does within about 20 minutes).
    pub fn finish_activations(&self) {
        let mut state = self.lock();
        for r in state.repos.values_mut() {
            for img in &mut r.images {
                if img.detail.status == Some(ImageStatus::Activating) {
                    img.detail.status = Some(ImageStatus::Active);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use crate::model::{
        AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef,
    };
    use crate::registry::memory::{InMemoryRegistry, StoredImage};
    use crate::registry::{ImageDetail, ImageStatus, ServiceCode, StorageClass};

    fn repo() -> RepositoryRef {
        RepositoryRef {
            registry: RegistryLocation::private(
                AccountId::parse("123456789012").unwrap(),
                Region::parse("eu-west-1").unwrap(),
            ),
            name: RepositoryName::parse("team/app").unwrap(),
        }
    }

    fn d(c: char) -> Digest {
        Digest::parse(format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn archive_and_reactivate_change_status_and_times_one_image_a_call() {
        let r = InMemoryRegistry::new();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        r.push(
            &repo(),
            StoredImage::new(ImageDetail::new(d('a'), vec![], t0), vec![]),
        );
        let later = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        let s = r
            .storage_class_sync(&repo(), &d('a'), StorageClass::Archive, later)
            .unwrap();
        assert_eq!(s, ImageStatus::Archived);
        let img = &r.images(&repo()).unwrap()[0].detail;
        assert_eq!(
            (img.status, img.last_archived_at),
            (Some(ImageStatus::Archived), Some(later))
        );
        // Archiving again changes nothing.
        assert_eq!(
            r.storage_class_sync(&repo(), &d('a'), StorageClass::Archive, t0)
                .unwrap(),
            ImageStatus::Archived
        );
        assert_eq!(
            r.images(&repo()).unwrap()[0].detail.last_archived_at,
            Some(later)
        );
        let s = r
            .storage_class_sync(&repo(), &d('a'), StorageClass::Standard, later)
            .unwrap();
        assert_eq!(s, ImageStatus::Activating);
        // Being reactivated, it cannot be archived.
        let e = r
            .storage_class_sync(&repo(), &d('a'), StorageClass::Archive, later)
            .unwrap_err();
        assert_eq!(
            e.service_code(),
            Some(&ServiceCode::ImageStorageClassUpdateNotSupportedException)
        );
        r.finish_activations();
        let img = &r.images(&repo()).unwrap()[0].detail;
        assert_eq!(
            (img.status, img.last_activated_at),
            (Some(ImageStatus::Active), Some(later))
        );
        let e = r
            .storage_class_sync(&repo(), &d('b'), StorageClass::Archive, later)
            .unwrap_err();
        assert_eq!(e.service_code(), Some(&ServiceCode::ImageNotFoundException));
        assert_eq!(r.calls().update_image_storage_class, 5);
    }
}
