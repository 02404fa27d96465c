//! The safe removal protocol against the in-memory ECR model, with the registry
//! changing under the apply: tags moved or added between plan and apply, and a race
//! between the confirming read and the delete.

use std::sync::Mutex;

use chrono::{Duration, TimeZone, Utc};

use ecr_reconcile::config::load_sources;
use ecr_reconcile::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use futures_util::FutureExt;

use ecr_reconcile::ops::apply::{
    ApplyOptions, ApplyReport, Journal, JournalEntry, Quiet, apply_plan, apply_plan_with,
};
use ecr_reconcile::ops::restore::protocol as restore;
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::plan::Plan;
use ecr_reconcile::registry::memory::{InMemoryRegistry, StoredImage};
use ecr_reconcile::registry::{
    BatchDeleteResult, BatchGetResult, FailureCode, ImageDetail, ImageId, ImagePage, ItemFailure,
    Registry, RegistryError,
};

fn repo() -> RepositoryRef {
    RepositoryRef {
        registry: RegistryLocation::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-1").unwrap(),
        ),
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
    let settings = RunSettings::offline(
        Some(Region::parse("eu-west-1").unwrap()),
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        1,
    );
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

/// Runs before a BatchGetImage is answered.
type GetHook = Box<dyn Fn(&InMemoryRegistry, &[ImageId]) + Send + Sync>;

/// The in-memory model with a BatchDeleteImage hook, and manifests BatchGetImage
/// cannot read (`unreadable`: a disabled KMS key, say).
struct Hooked {
    inner: InMemoryRegistry,
    hook: Hook,
    fired: Mutex<bool>,
    unreadable: Vec<Digest>,
    /// Runs before each BatchGetImage is answered (another client acting between the
    /// confirming read and the manifest read of a request).
    before_get: Option<GetHook>,
}

impl Hooked {
    fn new(inner: InMemoryRegistry, hook: Hook) -> Self {
        Self {
            inner,
            hook,
            fired: Mutex::new(false),
            unreadable: Vec::new(),
            before_get: None,
        }
    }
}

impl Registry for Hooked {
    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        self.inner.caller_account(region).await
    }
    async fn describe_public_registries(
        &self,
    ) -> Result<Vec<ecr_reconcile::registry::PublicRegistryInfo>, RegistryError> {
        self.inner.describe_public_registries().await
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
        if let Some(hook) = &self.before_get {
            hook(&self.inner, ids);
        }
        let mut got = self.inner.batch_get_image(r, ids).await?;
        got.manifests
            .retain(|m| !self.unreadable.contains(&m.digest));
        got.failures.extend(
            self.unreadable
                .iter()
                .filter(|d| ids.contains(&ImageId::Digest((*d).clone())))
                .map(|d| ItemFailure {
                    id: ImageId::Digest(d.clone()),
                    code: FailureCode::KmsError,
                    reason: "the key is disabled".into(),
                }),
        );
        Ok(got)
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
        let settings =
            RunSettings::offline(Some(Region::parse("eu-west-1").unwrap()), Utc::now(), 1);
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
    assert_eq!(
        report.failures[0].code.to_string(),
        "DigestMismatch",
        "{report:?}"
    );
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

/// An image whose manifest is real (its digest is the sha256 of it), so that
/// `restore` can push it back.
fn restorable(n: u32, tags: &[&str]) -> StoredImage {
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"layers\":[],\"annotations\":{{\"n\":\"{n}\"}}}}",
        media_type::OCI_MANIFEST
    );
    let digest = Digest::parse(ecr_reconcile::hash::sha256(manifest.as_bytes())).unwrap();
    let mut image = image(n, tags);
    image.detail.digest = digest;
    image.manifest = Some(manifest);
    image
}

fn tags_at(reg: &InMemoryRegistry, digest: &Digest) -> Option<Vec<String>> {
    reg.images(&repo())
        .unwrap()
        .into_iter()
        .find(|i| &i.detail.digest == digest)
        .map(|i| {
            let mut t: Vec<String> = i.detail.tags.iter().map(|t| t.to_string()).collect();
            t.sort();
            t
        })
}

/// An index of images 6 and 7, with a manifest that lists them and hashes to its
/// digest.
fn index_image(tags: &[&str]) -> StoredImage {
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}"}},{{"mediaType":"{}","digest":"{}"}}]}}"#,
        media_type::OCI_INDEX,
        media_type::OCI_MANIFEST,
        d(6),
        media_type::OCI_MANIFEST,
        d(7)
    );
    let mut index = image(5, tags).with_manifest(manifest.clone());
    index.detail.digest = Digest::parse(ecr_reconcile::hash::sha256(manifest.as_bytes())).unwrap();
    index.detail.manifest_media_type = Some(media_type::OCI_INDEX.into());
    index.children = vec![d(6), d(7)];
    index
}

/// The cosign tag that signs image `n`.
fn signature_tag(n: u32) -> String {
    format!("sha256-{}.sig", d(n).hex())
}

#[test]
fn a_deletion_skipped_at_confirmation_keeps_what_the_image_needs() {
    let mut referrer = image(4, &[]);
    referrer.detail.subject = Some(d(2));
    referrer.detail.artifact_media_type = Some("application/vnd.example.sbom".into());
    let index = index_image(&["multi"]);
    let di = index.detail.digest.clone();
    let reg = registry(&[
        image(1, &["v1"]),
        image(2, &["old"]),
        image(3, &[signature_tag(2).as_str()]),
        referrer,
        image(6, &[]),
        image(7, &[]),
        index,
    ]);
    let plan = plan_for(&reg);
    let planned: Vec<&Digest> = plan.repositories[0]
        .actions
        .iter()
        .map(|a| &a.digest)
        .collect();
    for n in [2, 3, 4, 6, 7] {
        assert!(
            planned.contains(&&d(n)),
            "image {n} is planned for deletion"
        );
    }
    assert!(planned.contains(&&di), "the index is planned for deletion");
    // After the plan, images 2 and 5 gain a tag: they stay, so must their signature,
    // their referrer and the index's children.
    reg.push(&repo(), image(2, &["old", "hotfix"]));
    reg.push(&repo(), index_image(&["multi", "pinned"]));

    let (report, journal) = apply(&reg, &plan);
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(tags_of(&reg, 3), Some(vec![signature_tag(2)]), "signature");
    assert_eq!(tags_of(&reg, 4), Some(vec![]), "referrer");
    assert_eq!(tags_of(&reg, 6), Some(vec![]), "child");
    assert_eq!(tags_of(&reg, 7), Some(vec![]), "child");
    assert!(journal.is_empty(), "nothing removed: {journal:?}");
    for n in [3, 4, 6, 7] {
        assert!(
            report
                .skipped
                .iter()
                .any(|s| s.digest == d(n) && s.reason.contains("needs it")),
            "image {n}: {report:#?}"
        );
    }
}

#[test]
fn a_tag_reported_for_an_image_deleted_by_digest_fails_and_is_restored() {
    let late = restorable(3, &[]);
    let digest = late.detail.digest.clone();
    let reg = registry(&[image(1, &["v1"]), late.clone()]);
    let plan = plan_for(&reg);
    assert_eq!(plan.repositories[0].actions.len(), 1);
    // Between the confirming read and the request, someone tags the untagged image:
    // ECR deletes it by digest with its new tag, and says so.
    let tagged = {
        let mut t = late.clone();
        t.detail.tags = vec![Tag::parse("late").unwrap()];
        t
    };
    let racing = Hooked::new(
        reg,
        Box::new(move |inner, _| {
            inner.push(&repo(), tagged.clone());
            None
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut journal = Journal::open(&path).unwrap();
    let report = block_on(apply_plan(&racing, &plan, &mut journal, &Quiet)).unwrap();
    assert!(!report.succeeded(), "{report:#?}");
    assert_eq!(report.failures_by_code.get("UnplannedRemoval"), Some(&1));
    assert_eq!(report.failures[0].id, "tag late", "{report:#?}");
    assert_eq!(tags_at(&racing.inner, &digest), None, "deleted");
    let entries = Journal::read(&path).unwrap().entries;
    assert!(
        entries
            .iter()
            .any(|e| e.tag.as_ref().is_some_and(|t| t.as_str() == "late")
                && e.digest == digest
                && e.manifest.is_some()),
        "{entries:#?}"
    );
    // restore puts the image back with the tag.
    let selected: Vec<&JournalEntry> = entries.iter().collect();
    let restore_plan = block_on(restore::plan(&racing.inner, &selected)).unwrap();
    let restored = block_on(restore::execute(
        &racing.inner,
        &restore_plan,
        &ecr_reconcile::ops::pace::Pacer::put_image(ecr_reconcile::ops::pace::TokioClock::default()),
        &Default::default(),
    ));
    assert!(restored.succeeded(), "{restored:#?}");
    assert_eq!(
        tags_at(&racing.inner, &digest),
        Some(vec!["late".to_owned()])
    );
}

#[test]
fn a_removal_whose_manifest_cannot_be_saved_is_not_made_unless_allowed() {
    let reg = registry(&[
        image(1, &["v1"]),
        image(2, &["old"]),
        image(3, &["older"]),
        image(4, &[signature_tag(2).as_str()]),
    ]);
    let plan = plan_for(&reg);
    let mut unreadable = Hooked::new(reg, Box::new(|_, _| None));
    unreadable.unreadable = vec![d(2)];
    let (report, journal) = apply(&unreadable, &plan);
    assert!(!report.succeeded());
    assert_eq!(
        report.failures_by_code.get("ManifestNotSaved"),
        Some(&1),
        "{report:#?}"
    );
    assert!(
        report.failures[0].reason.contains("KmsError"),
        "{report:#?}"
    );
    assert_eq!(tags_of(&unreadable.inner, 2), Some(vec!["old".to_owned()]));
    // Image 2 stays, so its signature stays too; image 3 goes.
    assert_eq!(tags_of(&unreadable.inner, 4), Some(vec![signature_tag(2)]));
    assert_eq!(tags_of(&unreadable.inner, 3), None);
    assert_eq!(journal.len(), 1, "{journal:?}");

    // Opted in: removed, journalled without a manifest.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let options = ApplyOptions {
        allow_unrestorable: true,
        ..ApplyOptions::default()
    };
    let report = block_on(apply_plan_with(&unreadable, &plan, &mut j, &Quiet, options)).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(tags_of(&unreadable.inner, 2), None);
    assert_eq!(tags_of(&unreadable.inner, 4), None);
}

#[test]
fn an_image_another_apply_removed_before_its_manifest_read_is_already_gone() {
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"]), image(3, &["older"])]);
    let plan = plan_for(&reg);
    // Another apply of the same files deletes image 2 after this one's confirming
    // read of the request, just before its manifest read.
    let mut racing = Hooked::new(reg, Box::new(|_, _| None));
    racing.before_get = Some(Box::new(|inner, _| {
        let ids = [ImageId::Tag(Tag::parse("old").unwrap())];
        let _ = inner.batch_delete_image(&repo(), &ids).now_or_never();
    }));
    let (report, journal) = apply(&racing, &plan);
    assert!(report.succeeded(), "{report:#?}");
    assert!(report.failures_by_code.is_empty(), "{report:#?}");
    assert_eq!(report.already_gone, 1, "{report:#?}");
    assert_eq!(report.images_deleted, 1, "{report:#?}");
    assert_eq!(tags_of(&racing.inner, 2), None);
    assert_eq!(tags_of(&racing.inner, 3), None);
    assert_eq!(
        journal.len(),
        1,
        "only what this apply removed: {journal:?}"
    );
}

#[test]
fn an_unanswered_removal_is_read_back_before_the_report() {
    // The registry answers nothing at all and removes nothing: every removal fails.
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"]), image(3, &[])]);
    let plan = plan_for(&reg);
    let silent = Hooked::new(reg, Box::new(|_, _| Some(BatchDeleteResult::default())));
    let (report, _) = apply(&silent, &plan);
    assert_eq!(report.images_deleted, 0, "{report:#?}");
    assert_eq!(report.failures_by_code.get("Unanswered"), Some(&2));
    assert!(
        report.failures[0].reason.contains("still there"),
        "{report:#?}"
    );

    // The registry removes them but says nothing (as moto does for an untagged image
    // deleted by digest): the read back finds them gone, and they count as done.
    let reg = registry(&[image(1, &["v1"]), image(2, &["old"]), image(3, &[])]);
    let plan = plan_for(&reg);
    let quiet = Hooked::new(
        reg,
        Box::new(|inner, ids| {
            let r = repo();
            inner
                .batch_delete_image(&r, ids)
                .now_or_never()
                .expect("the model answers at once")
                .unwrap();
            Some(BatchDeleteResult::default())
        }),
    );
    let (report, _) = apply(&quiet, &plan);
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(report.images_deleted, 2);
}

#[test]
fn untags_share_the_first_request_and_the_plan_listing_is_not_repeated() {
    let mut images = vec![image(1, &["v1", "rc1"]), image(2, &["v1-keep", "rc2"])];
    images.extend((10..260).map(|n| image(n, &[&format!("pr-{n}")])));
    let reg = registry(&images);
    let state = load_sources(vec![(
        "t.yaml".into(),
        b"version: 1\nrepositories:\n  team/app:\n    tags: [\"v1*\"]\n".to_vec(),
    )])
    .unwrap();
    let settings = RunSettings::offline(
        Some(Region::parse("eu-west-1").unwrap()),
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        1,
    );
    let plan = block_on(make_plan(&reg, &state, &settings)).unwrap();
    let before = reg.calls();
    let (report, _) = apply(&reg, &plan);
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!((report.untagged, report.images_deleted), (2, 250));
    let after = reg.calls();
    // 252 removals: three requests, each with one confirmation read and one manifest
    // read; no listing.
    assert_eq!(after.batch_delete_image - before.batch_delete_image, 3);
    assert_eq!(after.describe_images - before.describe_images, 3);
    assert_eq!(after.batch_get_image - before.batch_get_image, 3);
    let mut sizes = report.delete_batches.clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [52, 100, 100]);
}

#[test]
fn an_image_whose_tags_straddle_two_requests_is_not_taken_for_one_that_stays() {
    // 98 builds, then the signature of image 200, then image 200's two tags: the
    // second tag falls in the second request of 100.
    let mut images: Vec<StoredImage> = (1..=98).map(|n| image(n, &[&format!("pr-{n}")])).collect();
    images.push(image(150, &[signature_tag(200).as_str()]));
    images.push(image(200, &["a-200", "b-200"]));
    images.push(image(1000, &["v1"]));
    let reg = registry(&images);
    let plan = plan_for(&reg);
    let (report, _) = apply(&reg, &plan);
    assert!(report.succeeded(), "{report:#?}");
    assert!(report.skipped.is_empty(), "{report:#?}");
    let mut sizes = report.delete_batches.clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 100]);
    assert_eq!(
        tags_of(&reg, 150),
        None,
        "the signature goes with its image"
    );
    assert_eq!(tags_of(&reg, 200), None);
    assert_eq!(reg.images(&repo()).unwrap().len(), 1);
}
