//! The safe removal protocol against the in-memory ECR model, with the registry
//! changing under the apply: tags moved or added between plan and apply, and a race
//! between the confirming read and the delete.

use std::sync::Mutex;

use chrono::{Duration, TimeZone, Utc};

use ecr_reconcile::config::load_sources;
use ecr_reconcile::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use ecr_reconcile::ops::apply::{ApplyReport, Journal, Quiet, apply_plan};
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::plan::{Plan, PlanOptions};
use ecr_reconcile::registry::memory::{InMemoryRegistry, StoredImage};
use ecr_reconcile::registry::{
    BatchDeleteResult, BatchGetResult, ImageDetail, ImageId, ImagePage, Registry, RegistryError,
};

fn repo() -> RepositoryRef {
    RepositoryRef {
        registry: RegistryLocation {
            account: AccountId::parse("123456789012").unwrap(),
            region: Region::parse("eu-west-1").unwrap(),
        },
        name: RepositoryName::parse("team/app").unwrap(),
    }
}

/// Image `n`'s manifest: its digest is the manifest's hash, as in a registry, so the
/// journal can save it.
fn manifest(n: u32) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"sha256:{n:064x}"}}}}"#,
        media_type::OCI_MANIFEST
    )
}

fn d(n: u32) -> Digest {
    Digest::parse(ecr_reconcile::hash::sha256(manifest(n).as_bytes())).unwrap()
}

fn image(n: u32, tags: &[&str]) -> StoredImage {
    StoredImage::new(
        ImageDetail {
            digest: d(n),
            tags: tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            pushed_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                + Duration::minutes(n.into()),
            manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_media_type: None,
            size_bytes: Some(10),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        },
        vec![],
    )
    .with_manifest(manifest(n))
}

fn registry(images: &[StoredImage]) -> InMemoryRegistry {
    let mut reg = InMemoryRegistry::new();
    reg.set_caller_account(
        Region::parse("eu-west-1").unwrap(),
        AccountId::parse("123456789012").unwrap(),
    );
    reg.create_repository(repo());
    for i in images {
        reg.push(&repo(), i.clone());
    }
    reg
}

const CONFIG: &str =
    "version: 1\nrepositories:\n  team/app:\n    tags: [v1]\n    untagged: delete\n";

fn plan_for(reg: &InMemoryRegistry) -> Plan {
    let state = load_sources(vec![("t.yaml".into(), CONFIG.as_bytes().to_vec())]).unwrap();
    let settings = RunSettings {
        default_region: Some(Region::parse("eu-west-1").unwrap()),
        now: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        options: PlanOptions::default(),
        parallelism: 1,
        source_label: "test".into(),
    };
    block_on(make_plan(reg, &state, &settings)).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn apply<R: Registry>(reg: &R, plan: &Plan) -> (ApplyReport, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    let report = block_on(apply_plan(reg, plan, &mut journal, &Quiet)).unwrap();
    let lines = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (report, lines)
}

fn tags_of(reg: &InMemoryRegistry, n: u32) -> Option<Vec<String>> {
    reg.images(&repo())
        .unwrap()
        .into_iter()
        .find(|i| i.detail.digest == d(n))
        .map(|i| {
            let mut t: Vec<String> = i.detail.tags.iter().map(|t| t.to_string()).collect();
            t.sort();
            t
        })
}

#[test]
fn applies_and_journals_every_removal() {
    let reg = registry(&[
        image(1, &["v1", "rc"]),
        image(2, &["old", "older"]),
        image(3, &[]),
    ]);
    let plan = plan_for(&reg);
    let (report, journal) = apply(&reg, &plan);
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        (report.untagged, report.images_deleted, report.tags_removed),
        (1, 2, 3)
    );
    assert_eq!(tags_of(&reg, 1), Some(vec!["v1".to_owned()]));
    assert_eq!(reg.images(&repo()).unwrap().len(), 1);
    assert_eq!(
        journal.len(),
        4,
        "rc, old, older, and the untagged image by digest"
    );
    assert!(
        journal.iter().all(|e| e["manifest"].as_str().is_some()),
        "{journal:?}"
    );
    // Applying again is harmless: everything is already gone.
    let (again, _) = apply(&reg, &plan);
    assert!(again.succeeded());
    assert_eq!(again.images_deleted + again.tags_removed, 0);
    assert!(again.already_gone > 0);
}

#[test]
fn a_tag_moved_since_the_plan_is_skipped_and_kept() {
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"]), image(3, &["other"])]);
    let plan = plan_for(&reg);
    // Someone re-points `old` at image 3 (a push of the tag).
    reg.push(&repo(), image(3, &["other", "old"]));
    let (report, journal) = apply(&reg, &plan);
    // Image 3 was to be deleted with its tag `other`; it now carries `old` as well, so
    // it stays whole, and `old` is not removed from it.
    assert_eq!(
        tags_of(&reg, 3),
        Some(vec!["old".to_owned(), "other".to_owned()])
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.tag.as_ref().is_some_and(|t| t.as_str() == "old")),
        "{report:?}"
    );
    assert!(journal.iter().all(|e| e["tag"] != "old"));
}

#[test]
fn an_image_with_a_new_tag_stays() {
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"])]);
    let plan = plan_for(&reg);
    reg.push(&repo(), image(2, &["old", "hotfix"]));
    let (report, _) = apply(&reg, &plan);
    assert_eq!(
        tags_of(&reg, 2),
        Some(vec!["hotfix".to_owned(), "old".to_owned()])
    );
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].reason.contains("hotfix"), "{report:?}");
}

#[test]
fn an_untagged_image_that_got_a_tag_is_not_deleted_by_digest() {
    let reg = registry(&[image(1, &["v1"]), image(3, &[])]);
    let plan = plan_for(&reg);
    reg.push(&repo(), image(3, &["new"]));
    let (report, _) = apply(&reg, &plan);
    assert_eq!(tags_of(&reg, 3), Some(vec!["new".to_owned()]));
    assert_eq!(report.skipped.len(), 1, "{report:?}");
}

#[test]
fn an_untag_that_would_now_delete_the_image_is_skipped() {
    let reg = registry(&[image(1, &["v1", "rc"]), image(2, &["x"])]);
    let plan = plan_for(&reg);
    // `v1` moves away from image 1: removing `rc` would now delete image 1.
    reg.push(&repo(), image(2, &["x", "v1"]));
    let (report, _) = apply(&reg, &plan);
    assert_eq!(tags_of(&reg, 1), Some(vec!["rc".to_owned()]));
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.reason.contains("last tag") || s.reason.contains("delete the image")),
        "{report:?}"
    );
}

/// The in-memory model with a hook that runs once, on the first BatchDeleteImage:
/// it may change the registry first, or answer in its place.
type Hook = Box<dyn Fn(&InMemoryRegistry, &[ImageId]) -> Option<BatchDeleteResult> + Send + Sync>;

struct Hooked {
    inner: InMemoryRegistry,
    hook: Hook,
    fired: Mutex<bool>,
}

impl Hooked {
    fn new(inner: InMemoryRegistry, hook: Hook) -> Self {
        Self {
            inner,
            hook,
            fired: Mutex::new(false),
        }
    }
}

impl Registry for Hooked {
    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        self.inner.caller_account(region).await
    }
    async fn describe_repositories(
        &self,
        registry: &ecr_reconcile::model::RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<ecr_reconcile::registry::RepositoryPage, RegistryError> {
        self.inner.describe_repositories(registry, next_token).await
    }
    async fn describe_images(
        &self,
        r: &RepositoryRef,
        t: Option<&str>,
        m: u32,
    ) -> Result<ImagePage, RegistryError> {
        self.inner.describe_images(r, t, m).await
    }
    async fn describe_images_by_id(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ecr_reconcile::registry::ImageDetail>, RegistryError> {
        self.inner.describe_images_by_id(r, ids).await
    }
    async fn batch_get_image(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        self.inner.batch_get_image(r, ids).await
    }
    async fn batch_delete_image(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        let first = !std::mem::replace(&mut *self.fired.lock().unwrap(), true);
        if first && let Some(answer) = (self.hook)(&self.inner, ids) {
            return Ok(answer);
        }
        self.inner.batch_delete_image(r, ids).await
    }
    async fn put_image(
        &self,
        r: &RepositoryRef,
        m: &ecr_reconcile::registry::PutManifest<'_>,
        t: Option<&ecr_reconcile::model::Tag>,
    ) -> Result<(), RegistryError> {
        self.inner.put_image(r, m, t).await
    }
}

#[test]
fn a_race_after_confirmation_is_reported_loudly() {
    let reg = registry(&[
        image(1, &["v1"]),
        image(2, &["old"]),
        image(3, &["keep-me"]),
    ]);
    let plan = {
        let state = load_sources(vec![(
            "t.yaml".into(),
            b"version: 1\nrepositories:\n  team/app:\n    tags: [v1, keep-me]\n".to_vec(),
        )])
        .unwrap();
        let settings = RunSettings {
            default_region: Some(Region::parse("eu-west-1").unwrap()),
            now: Utc::now(),
            options: PlanOptions::default(),
            parallelism: 1,
            source_label: "test".into(),
        };
        block_on(make_plan(&reg, &state, &settings)).unwrap()
    };
    // Moves a tag between the confirming read and the delete: the race the protocol
    // cannot prevent, only detect.
    let racing = Hooked::new(
        reg,
        Box::new(|inner, _| {
            inner.push(&repo(), image(3, &["old"]));
            None
        }),
    );
    let (report, _) = apply(&racing, &plan);
    assert!(!report.succeeded());
    assert_eq!(report.failures[0].code, "DigestMismatch", "{report:?}");
}

#[test]
fn per_item_upstream_throttling_is_retried() {
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"]), image(3, &["older"])]);
    let plan = plan_for(&reg);
    // The first BatchDeleteImage answers a per-item upstream throttle for every id.
    let throttling = Hooked::new(
        reg,
        Box::new(|_, ids| {
            Some(BatchDeleteResult {
                removed: vec![],
                failures: ids
                    .iter()
                    .map(|id| ecr_reconcile::registry::ItemFailure {
                        id: id.clone(),
                        code: ecr_reconcile::registry::FailureCode::UpstreamTooManyRequests,
                        reason: "Rate exceeded".into(),
                    })
                    .collect(),
            })
        }),
    );
    let (report, _) = apply(&throttling, &plan);
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.upstream_retries, 2);
    assert_eq!(report.images_deleted, 2);
    assert_eq!(report.delete_batches, [2, 2]);
    assert_eq!(throttling.inner.images(&repo()).unwrap().len(), 1);
}
