//! Property tests of the safety invariants, over random registries and allow-lists:
//! no allowed tag is ever removed, no kept image is ever deleted, applying the plan to
//! the in-memory ECR model fails nothing, and planning again finds nothing to do.
//!
//! "Allowed" and "kept" are computed here by a separate, deliberately simple oracle,
//! not by the plan engine.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use ecr_reconcile::config::{DesiredState, load_sources};
use ecr_reconcile::in_use::{ImageUse, InUseSet, SourceKind, UseSite, parse_reference};
use ecr_reconcile::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use ecr_reconcile::ops::apply::{ApplyOptions, Journal, Quiet, apply_plan_with};
use ecr_reconcile::ops::run::{RunSettings, make_plan, make_plan_in_use};

/// The generated images have no manifests that hash to their digests (nothing a
/// restore could push back), and archived images none that can be read: these
/// properties are about what stays, so removals the journal cannot undo are made.
fn unrestorable_allowed() -> ApplyOptions {
    ApplyOptions {
        allow_unrestorable: true,
        ..ApplyOptions::default()
    }
}
use ecr_reconcile::plan::RepositoryStatus;
use ecr_reconcile::registry::memory::{InMemoryRegistry, StoredImage};
use ecr_reconcile::registry::{ImageDetail, ImageStatus};

const TAGS: [&str; 14] = [
    "v1", "v2", "v10", "latest", "pr-1", "pr-2", "pr-3", "pr-10", "main-a", "main-b", "rc-1",
    "rc-2", "build-1", "build-2",
];

#[derive(Clone, Debug)]
struct GenImage {
    tags: Vec<String>,
    age_hours: i64,
    /// Indexes of earlier images that this index lists (empty: not an index).
    children: Vec<usize>,
    /// Index of an earlier image this one refers to.
    subject: Option<usize>,
    /// Carries a cosign signature tag of this (earlier) image.
    signs: Option<usize>,
}

#[derive(Clone, Debug)]
enum GenEntry {
    Exact(String),
    Glob(String),
    Rule {
        pattern: String,
        keep_latest: Option<u32>,
        max_age_hours: Option<u32>,
    },
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn digest(i: usize) -> Digest {
    Digest::parse(format!("sha256:{i:064x}")).unwrap()
}

fn repo_ref() -> RepositoryRef {
    RepositoryRef {
        registry: RegistryLocation::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-1").unwrap(),
        ),
        name: RepositoryName::parse("team/app").unwrap(),
    }
}

fn images_strategy() -> impl Strategy<Value = Vec<GenImage>> {
    (1usize..24)
        .prop_flat_map(|n| {
            let per_image = (
                proptest::sample::subsequence(TAGS.to_vec(), 0..3),
                0i64..200,
                proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
                prop::option::weighted(0.1, any::<prop::sample::Index>()),
                prop::option::weighted(0.15, any::<prop::sample::Index>()),
                prop::bool::weighted(0.2),
            );
            (proptest::collection::vec(per_image, n), Just(n))
        })
        .prop_map(|(raw, n)| {
            let mut used: HashSet<String> = HashSet::new();
            let mut out: Vec<GenImage> = Vec::with_capacity(n);
            for (i, (tags, age, kids, subject, signs, is_index)) in raw.into_iter().enumerate() {
                // A tag is on one image at most.
                let tags: Vec<String> = tags
                    .into_iter()
                    .map(str::to_owned)
                    .filter(|t| used.insert(t.clone()))
                    .collect();
                let children: Vec<usize> = if is_index && i > 0 {
                    let mut c: Vec<usize> = kids.iter().map(|k| k.index(i)).collect();
                    c.sort();
                    c.dedup();
                    c
                } else {
                    Vec::new()
                };
                let subject = subject.filter(|_| i > 0).map(|s| s.index(i));
                let signs = signs.filter(|_| i > 0).map(|s| s.index(i));
                out.push(GenImage {
                    tags,
                    age_hours: age,
                    children,
                    subject,
                    signs,
                });
            }
            out
        })
}

fn entries_strategy() -> impl Strategy<Value = Vec<GenEntry>> {
    let entry = prop_oneof![
        prop::sample::select(TAGS.to_vec()).prop_map(|t| GenEntry::Exact(t.to_owned())),
        Just(GenEntry::Exact("missing".to_owned())),
        prop::sample::select(vec!["pr-*", "v?", "main-*", "rc-?", "*", "nomatch-*"])
            .prop_map(|g| GenEntry::Glob(g.to_owned())),
        (
            prop::sample::select(vec!["pr-*", "main-*", "*", "v*", "build-?"]),
            prop::option::of(1u32..4),
            prop::option::of(1u32..150),
        )
            .prop_map(|(p, k, a)| GenEntry::Rule {
                pattern: p.to_owned(),
                keep_latest: k,
                max_age_hours: a
            }),
    ];
    proptest::collection::vec(entry, 0..4)
}

fn yaml(entries: &[GenEntry], untagged_delete: bool, allow_empty: bool) -> String {
    let mut y = String::from("version: 1\nrepositories:\n  team/app:\n    tags:");
    if entries.is_empty() {
        y.push_str(" []");
    }
    y.push('\n');
    for e in entries {
        match e {
            GenEntry::Exact(t) => y.push_str(&format!("      - \"{t}\"\n")),
            GenEntry::Glob(g) => y.push_str(&format!("      - \"{g}\"\n")),
            GenEntry::Rule {
                pattern,
                keep_latest,
                max_age_hours,
            } => {
                y.push_str(&format!("      - pattern: \"{pattern}\"\n"));
                if let Some(k) = keep_latest {
                    y.push_str(&format!("        keep_latest: {k}\n"));
                }
                if let Some(a) = max_age_hours {
                    y.push_str(&format!("        max_age: {a}h\n"));
                }
            }
        }
    }
    y.push_str(&format!(
        "    untagged: {}\n    allow_empty: {allow_empty}\n",
        if untagged_delete { "delete" } else { "keep" }
    ));
    y
}

/// Full tag lists, including generated signature tags.
fn full_tags(images: &[GenImage]) -> Vec<Vec<String>> {
    images
        .iter()
        .map(|img| {
            let mut t = img.tags.clone();
            if let Some(s) = img.signs {
                t.push(format!("sha256-{}.sig", digest(s).hex()));
            }
            t
        })
        .collect()
}

fn registry(images: &[GenImage]) -> InMemoryRegistry {
    let mut reg = InMemoryRegistry::new();
    reg.set_caller_account(
        Region::parse("eu-west-1").unwrap(),
        AccountId::parse("123456789012").unwrap(),
    );
    reg.create_repository(repo_ref());
    let tags = full_tags(images);
    let mut seen_sig = HashSet::new();
    for (i, img) in images.iter().enumerate() {
        let mut my_tags: Vec<Tag> = tags[i]
            .iter()
            .map(|t| Tag::parse(t.clone()).unwrap())
            .collect();
        // Two images signing the same subject would share a tag; keep the first.
        my_tags.retain(|t| !t.as_str().starts_with("sha256-") || seen_sig.insert(t.clone()));
        let detail = ImageDetail {
            digest: digest(i),
            tags: my_tags,
            pushed_at: now() - Duration::hours(img.age_hours),
            manifest_media_type: Some(
                if img.children.is_empty() {
                    media_type::OCI_MANIFEST
                } else {
                    media_type::OCI_INDEX
                }
                .into(),
            ),
            artifact_media_type: None,
            size_bytes: Some(100),
            subject: img.subject.map(digest),
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        };
        reg.push(
            &repo_ref(),
            StoredImage::new(detail, img.children.iter().map(|&c| digest(c)).collect()),
        );
    }
    reg
}

/// The oracle: which tags the allow-list allows, by brute force over the registry.
fn oracle_allowed(
    entries: &[GenEntry],
    images: &BTreeMap<String, (String, DateTime<Utc>)>,
) -> BTreeSet<String> {
    fn glob(p: &str, t: &str) -> bool {
        // Simple recursive matcher for * and ?.
        fn m(p: &[u8], t: &[u8]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some(b'*'), _) => m(&p[1..], t) || (!t.is_empty() && m(p, &t[1..])),
                (Some(b'?'), Some(_)) => m(&p[1..], &t[1..]),
                (Some(a), Some(b)) if a == b => m(&p[1..], &t[1..]),
                _ => false,
            }
        }
        m(p.as_bytes(), t.as_bytes())
    }
    let mut allowed = BTreeSet::new();
    for e in entries {
        match e {
            GenEntry::Exact(t) => {
                if images.contains_key(t) {
                    allowed.insert(t.clone());
                }
            }
            GenEntry::Glob(g) => allowed.extend(images.keys().filter(|t| glob(g, t)).cloned()),
            GenEntry::Rule {
                pattern,
                keep_latest,
                max_age_hours,
            } => {
                // Images with a matching tag: (push time, smallest matching tag, tags).
                let mut by_image: BTreeMap<&String, (DateTime<Utc>, &String, Vec<&String>)> =
                    BTreeMap::new();
                for (t, (digest, at)) in images.iter().filter(|(t, _)| glob(pattern, t)) {
                    let e = by_image.entry(digest).or_insert((*at, t, Vec::new()));
                    e.1 = e.1.min(t);
                    e.2.push(t);
                }
                let mut c: Vec<(DateTime<Utc>, &String, Vec<&String>)> =
                    by_image.into_values().collect();
                c.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                if let Some(k) = keep_latest {
                    c.truncate(*k as usize);
                }
                if let Some(h) = max_age_hours {
                    c.retain(|(at, _, _)| *at >= now() - Duration::hours(i64::from(*h)));
                }
                allowed.extend(c.into_iter().flat_map(|(_, _, tags)| tags).cloned());
            }
        }
    }
    allowed
}

fn desired(y: &str) -> DesiredState {
    load_sources(vec![("t.yaml".into(), y.as_bytes().to_vec())])
        .unwrap_or_else(|e| panic!("{y}\n{:?}", e.diagnostics))
}

fn settings() -> RunSettings {
    RunSettings::offline(Some(Region::parse("eu-west-1").unwrap()), now(), 2)
}

fn tag_map(reg: &InMemoryRegistry) -> BTreeMap<String, (Digest, DateTime<Utc>)> {
    reg.images(&repo_ref())
        .unwrap()
        .into_iter()
        .flat_map(|i| {
            let (d, at) = (i.detail.digest.clone(), i.detail.pushed_at);
            i.detail
                .tags
                .into_iter()
                .map(move |t| (t.to_string(), (d.clone(), at)))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_are_safe_and_converge(
        images in images_strategy(),
        entries in entries_strategy(),
        untagged_delete in any::<bool>(),
        allow_empty in any::<bool>(),
    ) {
        let y = yaml(&entries, untagged_delete, allow_empty || entries.is_empty());
        let state = desired(&y);
        let reg = registry(&images);
        let before = tag_map(&reg);
        let stored = reg.images(&repo_ref()).unwrap();
        let by_tag: BTreeMap<String, (String, DateTime<Utc>)> = before
            .iter()
            .map(|(t, (d, at))| (t.clone(), (d.to_string(), *at)))
            .collect();
        let allowed = oracle_allowed(&entries, &by_tag);

        // Oracle for kept images: allowed tags, then children, referrers and signatures.
        let mut kept: HashSet<Digest> = before.iter().filter(|(t, _)| allowed.contains(*t)).map(|(_, (d, _))| d.clone()).collect();
        if !untagged_delete {
            kept.extend(stored.iter().filter(|s| s.detail.tags.is_empty()).map(|s| s.detail.digest.clone()));
        }
        loop {
            let n = kept.len();
            for s in &stored {
                if kept.contains(&s.detail.digest) {
                    let kids: Vec<Digest> = s.children.clone();
                    kept.extend(kids);
                }
                if s.detail.subject.as_ref().is_some_and(|x| kept.contains(x)) {
                    kept.insert(s.detail.digest.clone());
                }
                for t in &s.detail.tags {
                    if let Some(hex) = t.as_str().strip_prefix("sha256-").and_then(|r| r.strip_suffix(".sig"))
                        && kept.contains(&Digest::parse(format!("sha256:{hex}")).unwrap())
                    {
                        kept.insert(s.detail.digest.clone());
                    }
                }
            }
            if kept.len() == n { break; }
        }

        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(make_plan(&reg, &state, &settings())).unwrap();
        let refused = plan.repositories[0].status == RepositoryStatus::Refused;
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
        let report = rt.block_on(apply_plan_with(&reg, &plan, &mut journal, &Quiet, unrestorable_allowed())).unwrap();
        prop_assert!(report.skipped.is_empty(), "nothing changed, nothing skipped: {:?}", report.skipped);
        prop_assert!(report.failures.is_empty(), "apply failed: {:?}\n{y}", report.failures);

        let after = tag_map(&reg);
        let remaining: HashSet<Digest> = reg.images(&repo_ref()).unwrap().into_iter().map(|i| i.detail.digest).collect();
        for t in &allowed {
            prop_assert_eq!(after.get(t).map(|x| &x.0), before.get(t).map(|x| &x.0), "allowed tag {} lost or moved\n{}", t, y);
        }
        for d in &kept {
            prop_assert!(remaining.contains(d), "kept image {} deleted\n{}", d, y);
        }
        if refused {
            prop_assert_eq!(&after, &before, "a refused repository was touched");
        } else {
            // Everything not allowed is gone, except tags retained to keep a needed image.
            let retained = plan.warnings.iter().filter(|w| w.message.contains("stays")).count();
            let disallowed_left = after.keys().filter(|t| !allowed.contains(*t) && !t.starts_with("sha256-")).count();
            prop_assert!(disallowed_left <= retained, "{} disallowed tags left, {} retained\n{}", disallowed_left, retained, y);
            // Planning again finds nothing to do.
            let again = rt.block_on(make_plan(&reg, &state, &settings())).unwrap();
            prop_assert!(again.repositories[0].actions.is_empty(), "second plan not empty: {:?}\n{}", again.repositories[0].actions, y);
        }
    }

    /// Archived indexes, whose manifests cannot be read: the plan does not know their
    /// children, and still never deletes an image a kept image needs (the oracle
    /// knows every child), and the model, which refuses to delete a child of an
    /// existing index, fails nothing.
    #[test]
    fn archived_indexes_never_cost_what_a_kept_image_needs(
        images in images_strategy(),
        entries in entries_strategy(),
        archived in proptest::collection::vec(any::<bool>(), 24),
        untagged_delete in any::<bool>(),
    ) {
        let y = yaml(&entries, untagged_delete, true);
        let state = desired(&y);
        let reg = registry(&images);
        for (i, mut stored) in reg.images(&repo_ref()).unwrap().into_iter().enumerate() {
            // Pushed in order, as ECR requires of an index and what it lists (the
            // plan orders indexes it cannot read by push time).
            stored.detail.pushed_at = now() - Duration::hours(100 - i as i64);
            if !stored.children.is_empty() && archived[i] {
                stored.detail.status = Some(ImageStatus::Archived);
            }
            reg.push(&repo_ref(), stored);
        }
        let stored = reg.images(&repo_ref()).unwrap();
        let before = tag_map(&reg);
        let by_tag: BTreeMap<String, (String, DateTime<Utc>)> = before
            .iter()
            .map(|(t, (d, at))| (t.clone(), (d.to_string(), *at)))
            .collect();
        let allowed = oracle_allowed(&entries, &by_tag);
        let mut kept: HashSet<Digest> = before.iter().filter(|(t, _)| allowed.contains(*t)).map(|(_, (d, _))| d.clone()).collect();
        loop {
            let n = kept.len();
            let kids: Vec<Digest> = stored
                .iter()
                .filter(|s| kept.contains(&s.detail.digest))
                .flat_map(|s| s.children.iter().cloned())
                .collect();
            kept.extend(kids);
            if kept.len() == n { break; }
        }

        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(make_plan(&reg, &state, &settings())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
        let report = rt.block_on(apply_plan_with(&reg, &plan, &mut journal, &Quiet, unrestorable_allowed())).unwrap();
        prop_assert!(report.failures.is_empty(), "apply failed: {:?}\n{y}", report.failures);
        let remaining: HashSet<Digest> = reg.images(&repo_ref()).unwrap().into_iter().map(|i| i.detail.digest).collect();
        for d in &kept {
            prop_assert!(remaining.contains(d), "kept image {} deleted\n{}", d, y);
        }
    }
}

/// How a generated use names its image.
#[derive(Clone, Copy, Debug)]
enum UseBy {
    /// By one of its tags (chosen by the index).
    Tag(prop::sample::Index),
    /// By digest.
    Digest,
    /// By tag and digest.
    Both(prop::sample::Index),
}

fn use_by_strategy() -> impl Strategy<Value = UseBy> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(UseBy::Tag),
        Just(UseBy::Digest),
        any::<prop::sample::Index>().prop_map(UseBy::Both),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the allow-list, an image in use is never deleted and never loses the
    /// tag it is referenced by, and applying the plan fails nothing.
    #[test]
    fn images_in_use_survive_with_their_referenced_tags(
        images in images_strategy(),
        entries in entries_strategy(),
        untagged_delete in any::<bool>(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), use_by_strategy()), 0..6),
    ) {
        let y = yaml(&entries, untagged_delete, true);
        let state = desired(&y);
        let reg = registry(&images);
        let stored = reg.images(&repo_ref()).unwrap();
        let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app";
        // The uses, and what the oracle expects to stay: digests, and (tag, digest).
        let mut uses = Vec::new();
        let mut must_stay: HashSet<Digest> = HashSet::new();
        let mut tags_stay: Vec<(String, Digest)> = Vec::new();
        for (n, (pick, by)) in picks.iter().enumerate() {
            let img = &stored[pick.index(stored.len())].detail;
            let tag = |ix: &prop::sample::Index| {
                (!img.tags.is_empty()).then(|| img.tags[ix.index(img.tags.len())].to_string())
            };
            let (tag, by_digest) = match by {
                UseBy::Tag(ix) => (tag(ix), false),
                UseBy::Digest => (None, true),
                UseBy::Both(ix) => (tag(ix), true),
            };
            // An untagged image can only be named by digest.
            let by_digest = by_digest || tag.is_none();
            let mut text = host.to_owned();
            if let Some(t) = &tag {
                text.push(':');
                text.push_str(t);
                tags_stay.push((t.clone(), img.digest.clone()));
            }
            if by_digest {
                text.push('@');
                text.push_str(img.digest.as_str());
            }
            must_stay.insert(img.digest.clone());
            uses.push(ImageUse {
                image: parse_reference(&text).unwrap(),
                site: UseSite {
                    account: None,
                    source: SourceKind::List,
                    file: Some("in-use.txt".into()),
                    line: Some(n as u32 + 1),
                    pod: None,
                    container: None,
                    region: None,
                    cluster: None,
                    resource: None,
                    reference: text,
                },
            });
        }
        let in_use = InUseSet::from_uses(uses);

        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let plan = rt.block_on(make_plan_in_use(&reg, &state, &settings(), &in_use)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
        let report = rt.block_on(apply_plan_with(&reg, &plan, &mut journal, &Quiet, unrestorable_allowed())).unwrap();
        prop_assert!(report.failures.is_empty(), "apply failed: {:?}\n{y}", report.failures);

        let after = tag_map(&reg);
        let remaining: HashSet<Digest> = reg.images(&repo_ref()).unwrap().into_iter().map(|i| i.detail.digest).collect();
        for d in &must_stay {
            prop_assert!(remaining.contains(d), "image in use {} deleted\n{}", d, y);
        }
        for (t, d) in &tags_stay {
            prop_assert_eq!(after.get(t).map(|x| &x.0), Some(d), "tag in use {} lost or moved\n{}", t, y);
        }
        let listed: HashSet<&Digest> = plan.repositories[0].in_use.iter().map(|u| &u.digest).collect();
        prop_assert_eq!(listed, must_stay.iter().collect::<HashSet<_>>(), "the plan lists every image in use");
    }
}

/// A registry of plain images, each with a real manifest (its digest is the manifest's
/// sha256), so that everything an apply removes can be restored.
fn restorable_registry(images: &[GenImage]) -> InMemoryRegistry {
    let mut reg = InMemoryRegistry::new();
    reg.set_caller_account(
        Region::parse("eu-west-1").unwrap(),
        AccountId::parse("123456789012").unwrap(),
    );
    reg.create_repository(repo_ref());
    for (i, img) in images.iter().enumerate() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
            media_type::OCI_MANIFEST,
            digest(2 * i),
            digest(2 * i + 1),
            1000 + i
        );
        let detail = ImageDetail {
            digest: Digest::parse(ecr_reconcile::hash::sha256(manifest.as_bytes())).unwrap(),
            tags: img
                .tags
                .iter()
                .map(|t| Tag::parse(t.clone()).unwrap())
                .collect(),
            pushed_at: now() - Duration::hours(img.age_hours),
            manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_media_type: None,
            size_bytes: Some(1000 + i as u64),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        };
        let mut stored = StoredImage::new(detail, Vec::new());
        stored.manifest = Some(manifest);
        reg.push(&repo_ref(), stored);
    }
    reg
}

/// What a plan removes: each action's kind, image and tags.
fn removals(plan: &ecr_reconcile::plan::Plan) -> Vec<String> {
    plan.repositories
        .iter()
        .flat_map(|r| &r.actions)
        .map(|a| format!("{:?} {} {:?}", a.kind, a.digest, a.tags))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// A restore undoes an apply without changing what the next plan keeps: the
    /// images it pushes again get new push times (as in ECR), and the restore record
    /// gives keep_latest, max_age and pulled_within their push times from before.
    #[test]
    fn after_a_restore_the_same_plan_makes_the_same_removals(
        images in images_strategy(),
        entries in entries_strategy(),
        untagged_delete in any::<bool>(),
    ) {
        use ecr_reconcile::ops::pace::{Pacer, TokioClock};
        use ecr_reconcile::ops::restore::protocol;
        use ecr_reconcile::ops::restored::{RECORD_VERSION, RestoreRecord, RestoredPushTimes};

        let y = yaml(&entries, untagged_delete, true);
        let state = desired(&y);
        let reg = restorable_registry(&images);
        let before = tag_map(&reg);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let first = rt.block_on(make_plan(&reg, &state, &settings())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path).unwrap();
        let report = rt.block_on(apply_plan_with(&reg, &first, &mut journal, &Quiet, ApplyOptions::default())).unwrap();
        prop_assert!(report.failures.is_empty(), "apply failed: {:?}\n{y}", report.failures);
        drop(journal);

        let contents = Journal::read(&path).unwrap();
        let entries = protocol::select(&contents.entries, &[]);
        let started_at = Utc::now();
        let restored = rt.block_on(async {
            let plan = protocol::plan(&reg, &entries).await.unwrap();
            protocol::execute(
                &reg,
                &plan,
                &Pacer::unlimited(TokioClock::default()),
                &Default::default(),
            )
            .await
        });
        let finished_at = Utc::now();
        prop_assert!(restored.succeeded(), "{:?}", restored.problems);
        // Everything is back where it was.
        let back: BTreeMap<String, Digest> = tag_map(&reg).into_iter().map(|(t, (d, _))| (t, d)).collect();
        let was: BTreeMap<String, Digest> = before.into_iter().map(|(t, (d, _))| (t, d)).collect();
        prop_assert_eq!(back, was);

        let mut times = RestoredPushTimes::default();
        times.add(&RestoreRecord { version: RECORD_VERSION, started_at, finished_at, images: restored.recreated.clone() });
        let with_record = RunSettings { restored: std::sync::Arc::new(times), ..settings() };
        let again = rt.block_on(make_plan(&reg, &state, &with_record)).unwrap();
        prop_assert_eq!(removals(&again), removals(&first), "{}", y);
    }
}
