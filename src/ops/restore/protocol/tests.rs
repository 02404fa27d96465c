//! Tests of the restore protocol: the plan against the registry now, and the pushes.

use super::*;
use crate::model::AccountId;
use crate::ops::journal::JOURNAL_VERSION;

fn repo() -> RepositoryRef {
    RepositoryRef::for_tests()
}

fn manifest(seed: &str) -> (String, Digest) {
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{seed}"}}}}"#,
        media_type::OCI_MANIFEST
    );
    let d = Digest::parse(crate::hash::sha256(m.as_bytes())).unwrap();
    (m, d)
}

fn entry(kind: ActionKind, tag: Option<&str>, seed: &str) -> JournalEntry {
    let (m, d) = manifest(seed);
    JournalEntry {
        version: JOURNAL_VERSION,
        time: chrono::Utc::now(),
        repository: repo(),
        kind,
        tag: tag.map(|t| Tag::parse(t).unwrap()),
        digest: d,
        image_tags: Vec::new(),
        pushed_at: chrono::Utc::now(),
        size_bytes: None,
        manifest_media_type: Some(media_type::OCI_MANIFEST.to_owned()),
        manifest: Some(m),
    }
}

fn detail(seed: &str, tags: &[&str]) -> ImageDetail {
    ImageDetail {
        digest: manifest(seed).1,
        tags: tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
        pushed_at: chrono::Utc::now(),
        manifest_media_type: None,
        artifact_media_type: None,
        size_bytes: None,
        subject: None,
        status: None,
        last_recorded_pull_time: None,
        last_archived_at: None,
        last_activated_at: None,
    }
}

fn tags(v: &[Tag]) -> Vec<&str> {
    v.iter().map(Tag::as_str).collect()
}

#[test]
fn retag_recreate_present_and_conflicts() {
    let entries = [
        entry(ActionKind::Untag, Some("rc-1"), "a"),
        entry(ActionKind::Delete, Some("b1"), "b"),
        entry(ActionKind::Delete, Some("b2"), "b"),
        entry(ActionKind::Delete, None, "c"),
        entry(ActionKind::Untag, Some("back"), "d"),
        entry(ActionKind::Untag, Some("taken"), "e"),
    ];
    let refs: Vec<&JournalEntry> = entries.iter().collect();
    let current = [
        detail("a", &["v1"]),
        detail("d", &["back"]),
        detail("e", &["keep"]),
        detail("z", &["taken"]),
    ];
    let plan = plan_repository(&refs, Some(&current), None);
    let find = |seed: &str| plan.iter().find(|i| i.digest == manifest(seed).1).unwrap();
    let a = find("a");
    assert!(!a.recreate);
    assert_eq!(tags(&a.tags), ["rc-1"]);
    let b = find("b");
    assert!(b.recreate);
    assert_eq!(tags(&b.tags), ["b1", "b2"]);
    let c = find("c");
    assert!(
        c.recreate && c.tags.is_empty(),
        "untagged image comes back untagged"
    );
    let d = find("d");
    assert!(!d.has_work());
    assert_eq!(tags(&d.present), ["back"]);
    let e = find("e");
    assert!(
        !e.has_work(),
        "a tag that names another image now is not moved back"
    );
    assert_eq!(e.problems.len(), 1);
    assert!(
        e.problems[0].reason.contains("now names image"),
        "{:?}",
        e.problems
    );
}

#[test]
fn a_damaged_manifest_or_a_missing_repository_is_a_problem() {
    let mut damaged = entry(ActionKind::Delete, Some("x"), "a");
    damaged.manifest = Some("{}".into());
    let refs = [&damaged];
    let plan = plan_repository(&refs, Some(&[]), None);
    assert!(!plan[0].has_work());
    assert!(plan[0].problems[0].reason.contains("edited or damaged"));

    // The image still exists: it is re-tagged with the registry's manifest.
    let mut damaged = entry(ActionKind::Untag, Some("x"), "a");
    damaged.manifest = Some("{}".into());
    let plan = plan_repository(&[&damaged], Some(&[detail("a", &["v1"])]), None);
    assert!(plan[0].problems.is_empty(), "{:?}", plan[0].problems);
    assert_eq!(tags(&plan[0].tags), ["x"]);
    assert!(plan[0].manifest.is_none(), "read from the registry instead");

    let fine = entry(ActionKind::Delete, Some("x"), "a");
    let plan = plan_repository(&[&fine], None, None);
    assert!(!plan[0].has_work());
    assert!(plan[0].problems[0].reason.contains("no longer exists"));
}

/// An index manifest listing `children`, with `seed` as an annotation.
fn index_entry(tag: Option<&str>, children: &[&Digest], seed: u32) -> JournalEntry {
    let items: Vec<String> = children
        .iter()
        .map(|c| {
            format!(
                r#"{{"mediaType":"{}","digest":"{c}","size":1}}"#,
                media_type::OCI_MANIFEST
            )
        })
        .collect();
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}],"annotations":{{"seed":"{seed}"}}}}"#,
        media_type::OCI_INDEX,
        items.join(",")
    );
    let mut e = entry(ActionKind::Delete, tag, "unused");
    e.digest = Digest::parse(crate::hash::sha256(m.as_bytes())).unwrap();
    e.manifest_media_type = Some(media_type::OCI_INDEX.to_owned());
    e.manifest = Some(m);
    e
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn nested_indexes_are_pushed_children_first_whatever_their_digests() {
    use crate::ops::pace::tests::FakeClock;
    use crate::registry::memory::InMemoryRegistry;

    let child = entry(ActionKind::Delete, None, "leaf");
    let inner = index_entry(None, &[&child.digest], 0);
    // The outer index's digest sorts before the inner one's: in digest order it
    // would be pushed first, and refused.
    let outer = (0..)
        .map(|seed| index_entry(Some("multi"), &[&inner.digest], seed))
        .find(|o| o.digest < inner.digest)
        .unwrap();
    let entries = [&outer, &inner, &child];
    let registry = InMemoryRegistry::new();
    registry.create_repository(repo());
    let clock = FakeClock::default();
    let report = block_on(async {
        let plan = plan(&registry, &entries).await.unwrap();
        let order: Vec<&Digest> = plan.repositories[0]
            .images
            .iter()
            .map(|i| &i.digest)
            .collect();
        assert_eq!(order, [&child.digest, &inner.digest, &outer.digest]);
        execute(
            &registry,
            &plan,
            &Pacer::put_image(&clock),
            &Default::default(),
        )
        .await
    });
    assert!(report.succeeded(), "{:?}", report.problems);
    assert_eq!(report.images_recreated, 3);
    assert_eq!(registry.images(&repo()).unwrap().len(), 3);
}

/// The in-memory registry, noting the fake clock's time at each PutImage.
struct Timed<'a> {
    inner: crate::registry::memory::InMemoryRegistry,
    clock: &'a crate::ops::pace::tests::FakeClock,
    puts: std::sync::Mutex<Vec<std::time::Duration>>,
}

impl Registry for Timed<'_> {
    async fn caller_account(
        &self,
        region: &crate::model::Region,
    ) -> Result<AccountId, RegistryError> {
        self.inner.caller_account(region).await
    }
    async fn describe_public_registries(
        &self,
    ) -> Result<Vec<crate::registry::PublicRegistryInfo>, RegistryError> {
        self.inner.describe_public_registries().await
    }

    async fn describe_repositories(
        &self,
        registry: &crate::model::RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<crate::registry::RepositoryPage, RegistryError> {
        self.inner.describe_repositories(registry, next_token).await
    }
    async fn describe_images(
        &self,
        repo: &RepositoryRef,
        next_token: Option<&str>,
        max_results: u32,
    ) -> Result<crate::registry::ImagePage, RegistryError> {
        self.inner
            .describe_images(repo, next_token, max_results)
            .await
    }
    async fn describe_images_by_id(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        self.inner.describe_images_by_id(repo, ids).await
    }
    async fn batch_get_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<crate::registry::BatchGetResult, RegistryError> {
        self.inner.batch_get_image(repo, ids).await
    }
    async fn batch_delete_image(
        &self,
        repo: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<crate::registry::BatchDeleteResult, RegistryError> {
        self.inner.batch_delete_image(repo, ids).await
    }
    async fn put_image(
        &self,
        repo: &RepositoryRef,
        manifest: &PutManifest<'_>,
        tag: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        use crate::ops::pace::Clock;
        self.puts.lock().unwrap().push(self.clock.now());
        self.inner.put_image(repo, manifest, tag).await
    }
}

#[test]
fn put_image_is_paced_under_ecrs_quota() {
    use crate::ops::pace::PUT_IMAGE_PER_SECOND;
    use crate::ops::pace::tests::{FakeClock, most_in_any_window};

    // 20 deleted images with two tags each: 40 PutImage.
    let entries: Vec<JournalEntry> = (0..20)
        .flat_map(|n| {
            let seed = format!("image-{n}");
            [
                entry(ActionKind::Delete, Some(&format!("a{n}")), &seed),
                entry(ActionKind::Delete, Some(&format!("b{n}")), &seed),
            ]
        })
        .collect();
    let refs: Vec<&JournalEntry> = entries.iter().collect();
    let clock = FakeClock::default();
    let registry = Timed {
        inner: crate::registry::memory::InMemoryRegistry::new(),
        clock: &clock,
        puts: std::sync::Mutex::new(Vec::new()),
    };
    registry.inner.create_repository(repo());
    let report = block_on(async {
        let plan = plan(&registry, &refs).await.unwrap();
        execute(
            &registry,
            &plan,
            &Pacer::put_image(&clock),
            &Default::default(),
        )
        .await
    });
    assert!(report.succeeded(), "{:?}", report.problems);
    assert_eq!(report.tags_restored, 40);
    let puts = registry.puts.lock().unwrap();
    assert_eq!(puts.len(), 40);
    assert!(
        most_in_any_window(&puts, std::time::Duration::from_secs(1)) <= PUT_IMAGE_PER_SECOND,
        "{puts:?}"
    );
}

/// A repository with these images (by seed, with tags), whose tags are immutable but
/// for `dev-*`.
fn immutable_except_dev(images: &[(&str, &[&str])]) -> crate::registry::memory::InMemoryRegistry {
    use crate::registry::memory::{InMemoryRegistry, StoredImage};
    use crate::registry::{TagMutability, TagMutabilitySetting};
    let registry = InMemoryRegistry::new();
    registry.set_tag_mutability(
        &repo(),
        TagMutability::with_exclusions(
            TagMutabilitySetting::ImmutableWithExclusion,
            vec!["dev-*".to_owned()],
        ),
    );
    for (seed, tags) in images {
        registry.push(
            &repo(),
            StoredImage::new(detail(seed, tags), Vec::new()).with_manifest(manifest(seed).0),
        );
    }
    registry
}

#[test]
fn an_immutable_repository_gets_back_what_it_can_and_names_each_tag_it_cannot() {
    use crate::ops::pace::tests::FakeClock;
    use crate::registry::TagMutabilitySetting;

    let entries = [
        entry(ActionKind::Untag, Some("rc-1"), "a"),
        entry(ActionKind::Untag, Some("rc-2"), "a"),
        entry(ActionKind::Delete, Some("b1"), "b"),
        entry(ActionKind::Untag, Some("taken"), "e"),
        entry(ActionKind::Untag, Some("dev-taken"), "e"),
    ];
    let refs: Vec<&JournalEntry> = entries.iter().collect();
    let registry = immutable_except_dev(&[
        ("a", &["v1"][..]),
        ("e", &["keep"]),
        ("z", &["taken", "dev-taken"]),
    ]);
    let clock = FakeClock::default();
    let (plan, report) = block_on(async {
        let plan = plan(&registry, &refs).await.unwrap();
        // Between the plan and the push, another client pushes rc-2 onto another image.
        let (m, d) = manifest("y");
        let other = PutManifest {
            manifest: &m,
            media_type: media_type::OCI_MANIFEST,
            digest: &d,
            size_bytes: None,
        };
        registry
            .put_image(&repo(), &other, Some(&Tag::parse("rc-2").unwrap()))
            .await
            .unwrap();
        let report = execute(
            &registry,
            &plan,
            &Pacer::put_image(&clock),
            &Default::default(),
        )
        .await;
        (plan, report)
    });
    let r = &plan.repositories[0];
    assert_eq!(
        r.tag_mutability.as_ref().map(|m| m.setting),
        Some(TagMutabilitySetting::ImmutableWithExclusion)
    );
    let e = r
        .images
        .iter()
        .find(|i| i.digest == manifest("e").1)
        .unwrap();
    let by_tag = |t: &str| {
        e.problems
            .iter()
            .find(|p| p.tag.as_ref().is_some_and(|x| x.as_str() == t))
            .unwrap_or_else(|| panic!("no problem for {t}: {:?}", e.problems))
    };
    // The immutable tag: ECR would refuse to move it, and the way back says so.
    assert!(
        by_tag("taken").reason.contains("immutable")
            && by_tag("taken")
                .reason
                .contains("ImageTagAlreadyExistsException"),
        "{:?}",
        by_tag("taken")
    );
    assert!(by_tag("taken").remedy.contains("remove the tag from image"));
    // The excluded tag is mutable: restore still leaves it, with the usual way back.
    assert!(!by_tag("dev-taken").reason.contains("immutable"));
    // What could be put back is: rc-1 on a, b again with b1; rc-2, taken in the
    // meantime, is refused by the registry and reported by tag.
    assert_eq!(report.tags_restored, 2, "{:?}", report.problems);
    assert_eq!(report.images_recreated, 1);
    assert_eq!(report.planned_problems, 2);
    let refused: Vec<&ReportedProblem> =
        report.problems[report.planned_problems..].iter().collect();
    assert_eq!(refused.len(), 1, "{:?}", report.problems);
    assert_eq!(
        refused[0].problem.tag.as_ref().map(Tag::as_str),
        Some("rc-2")
    );
    assert!(
        refused[0].problem.remedy.contains("immutable"),
        "{:?}",
        refused[0]
    );
    let now = registry.images(&repo()).unwrap();
    let tags_of = |seed: &str| -> Vec<String> {
        let d = manifest(seed).1;
        let mut t: Vec<String> = now
            .iter()
            .find(|i| i.detail.digest == d)
            .map(|i| {
                i.detail
                    .tags
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        t.sort();
        t
    };
    assert_eq!(tags_of("a"), ["rc-1", "v1"]);
    assert_eq!(tags_of("b"), ["b1"]);
    assert_eq!(tags_of("z"), ["dev-taken", "taken"]);
    assert_eq!(tags_of("y"), ["rc-2"]);
    assert_eq!(registry.calls().tag_mutability, 1);
}
