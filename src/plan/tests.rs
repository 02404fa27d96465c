//! Unit tests of the plan engine.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::config::{DesiredRepository, load_sources};
use crate::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use crate::registry::ImageDetail;
use crate::registry::ObservedRepository;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

pub(super) fn d(n: u32) -> Digest {
    Digest::parse(format!("sha256:{n:064x}")).unwrap()
}

/// The repository's desired state from the YAML of its body (indented 4 spaces).
pub(super) fn desired(body: &str) -> DesiredRepository {
    let yaml = format!("version: 1\nrepositories:\n  team/app:\n{body}");
    let state = load_sources(vec![("t.yaml".into(), yaml.into_bytes())])
        .unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
    state.repositories.into_iter().next().unwrap()
}

pub(super) struct Repo {
    pub(super) images: Vec<ImageDetail>,
    children: HashMap<Digest, Vec<Digest>>,
    unreadable: Vec<Digest>,
}

impl Repo {
    pub(super) fn new() -> Self {
        Self {
            images: Vec::new(),
            children: HashMap::new(),
            unreadable: Vec::new(),
        }
    }

    /// Marks the last image archived `days_ago` days before now (`None`: the
    /// registry does not say when).
    pub(super) fn archived(mut self, days_ago: Option<i64>) -> Self {
        let img = self.images.last_mut().unwrap();
        img.status = Some(crate::registry::ImageStatus::Archived);
        img.last_archived_at = days_ago.map(|d| now() - Duration::days(d));
        self
    }

    /// An archived index `n` whose manifest could not be read.
    pub(super) fn unreadable_index(mut self, n: u32, tags: &[&str]) -> Self {
        self = self.image(n, tags, 1).archived(Some(200));
        self.images.last_mut().unwrap().manifest_media_type = Some(media_type::OCI_INDEX.into());
        self.unreadable.push(d(n));
        self
    }

    /// An image `n` with `tags`, pushed `age_days` before now.
    pub(super) fn image(mut self, n: u32, tags: &[&str], age_days: i64) -> Self {
        self.images.push(ImageDetail {
            digest: d(n),
            tags: tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            pushed_at: now() - Duration::days(age_days),
            manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_media_type: None,
            size_bytes: Some(1_000),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
        });
        self
    }

    pub(super) fn index(mut self, n: u32, tags: &[&str], children: &[u32]) -> Self {
        self = self.image(n, tags, 1);
        self.images.last_mut().unwrap().manifest_media_type = Some(media_type::OCI_INDEX.into());
        self.children
            .insert(d(n), children.iter().map(|&c| d(c)).collect());
        self
    }

    pub(super) fn referrer(mut self, n: u32, subject: u32) -> Self {
        self = self.image(n, &[], 1);
        self.images.last_mut().unwrap().subject = Some(d(subject));
        self
    }

    pub(super) fn observed(self) -> ObservedRepository {
        ObservedRepository {
            children: self.children,
            unreadable: self.unreadable,
            ..ObservedRepository::listed(
                RepositoryRef {
                    registry: RegistryLocation::private(
                        AccountId::parse("123456789012").unwrap(),
                        Region::parse("eu-west-1").unwrap(),
                    ),
                    name: RepositoryName::parse("team/app").unwrap(),
                },
                self.images,
            )
        }
    }
}

pub(super) fn plan(body: &str, repo: Repo) -> (RepositoryPlan, Vec<Warning>) {
    plan_repository(
        &desired(body),
        &repo.observed(),
        now(),
        PlanOptions::default(),
        &[],
    )
}

pub(super) fn deleted(p: &RepositoryPlan) -> Vec<Digest> {
    p.actions
        .iter()
        .filter(|a| a.kind == ActionKind::Delete)
        .map(|a| a.digest.clone())
        .collect()
}

fn untagged_tags(p: &RepositoryPlan) -> Vec<String> {
    p.actions
        .iter()
        .filter(|a| a.kind == ActionKind::Untag)
        .flat_map(|a| a.tags.iter().map(|t| t.to_string()))
        .collect()
}

#[test]
fn untag_when_an_allowed_tag_remains() {
    let (p, w) = plan(
        "    tags: [v1]\n",
        Repo::new()
            .image(1, &["v1", "rc-1", "build-7"], 3)
            .image(2, &["v2"], 1),
    );
    assert_eq!(untagged_tags(&p), ["build-7", "rc-1"]);
    let untag = &p.actions[0];
    assert_eq!(untag.kept_tags, [Tag::parse("v1").unwrap()]);
    assert_eq!(untag.wave, 0);
    assert_eq!(deleted(&p), [d(2)], "v2 was the last tag of image 2");
    assert_eq!(p.status, RepositoryStatus::Changes);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(p.tags_kept, [Tag::parse("v1").unwrap()]);
}

#[test]
fn removing_the_last_tags_deletes_the_image() {
    let (p, _) = plan(
        "    tags: [keep]\n",
        Repo::new().image(1, &["a", "b"], 1).image(2, &["keep"], 1),
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].kind, ActionKind::Delete);
    assert_eq!(p.actions[0].tags.len(), 2);
    assert_eq!(p.actions[0].reason, "no allowed tag");
}

#[test]
fn children_of_kept_indexes_are_kept_even_when_pruning_untagged() {
    let repo = Repo::new()
        .image(1, &[], 2)
        .image(2, &[], 2)
        .image(3, &[], 2)
        .index(10, &["v1"], &[1, 2]);
    let (p, _) = plan("    tags: [v1]\n    untagged: delete\n", repo);
    assert_eq!(deleted(&p), [d(3)], "only the orphan goes");
}

#[test]
fn an_index_is_deleted_before_its_children() {
    let repo = Repo::new()
        .image(1, &[], 2)
        .image(2, &[], 2)
        .index(10, &["old"], &[1, 2])
        .index(20, &["older-list"], &[10])
        .image(5, &["keep"], 1);
    let (p, _) = plan("    tags: [keep]\n    untagged: delete\n", repo);
    let wave = |n: u32| p.actions.iter().find(|a| a.digest == d(n)).unwrap().wave;
    assert!(wave(20) < wave(10), "outer index first");
    assert!(wave(10) < wave(1) && wave(10) < wave(2));
    let order: Vec<u32> = p.actions.iter().map(|a| a.wave).collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "actions are in wave order"
    );
}

#[test]
fn a_child_shared_with_a_kept_index_stays() {
    let repo = Repo::new()
        .image(1, &[], 2)
        .index(10, &["old"], &[1])
        .index(11, &["v1"], &[1]);
    let (p, _) = plan("    tags: [v1]\n    untagged: delete\n", repo);
    assert_eq!(deleted(&p), [d(10)]);
}

#[test]
fn cosign_tags_follow_their_subject() {
    let kept_sig = format!("sha256-{}.sig", d(1).hex());
    let kept_att = format!("sha256-{}.att", d(1).hex());
    let gone_sig = format!("sha256-{}.sig", d(2).hex());
    let soci = format!("sha256-{}", d(1).hex());
    let repo = Repo::new()
        .image(1, &["v1"], 3)
        .image(2, &["v0"], 4)
        .image(3, &[&kept_sig], 3)
        .image(4, &[&gone_sig], 4)
        .image(5, &[&kept_att], 3)
        .image(6, &[&soci], 3);
    let (p, w) = plan("    tags: [v1]\n", repo);
    let mut gone = deleted(&p);
    gone.sort();
    assert_eq!(gone, [d(2), d(4)]);
    assert!(p.tags_kept.iter().any(|t| t.as_str() == kept_sig));
    assert!(p.tags_kept.iter().any(|t| t.as_str() == soci));
    assert!(w.is_empty());
}

#[test]
fn signature_subjects_parse_only_known_suffixes() {
    let hex = d(7).hex().to_owned();
    assert_eq!(signature_subject(&format!("sha256-{hex}.sig")), Some(d(7)));
    assert_eq!(signature_subject(&format!("sha256-{hex}.sbom")), Some(d(7)));
    assert_eq!(signature_subject(&format!("sha256-{hex}")), Some(d(7)));
    assert_eq!(signature_subject(&format!("sha256-{hex}.other")), None);
    assert_eq!(signature_subject("sha256-abc.sig"), None);
    assert_eq!(signature_subject("v1.sig"), None);
}

#[test]
fn referrers_live_and_die_with_their_subject() {
    let repo = Repo::new()
        .image(1, &["v1"], 1)
        .image(2, &["v0"], 2)
        .referrer(3, 1)
        .referrer(4, 2);
    let (p, _) = plan("    tags: [v1]\n    untagged: delete\n", repo);
    let gone = deleted(&p);
    assert_eq!(gone.len(), 2);
    assert!(gone.contains(&d(2)) && gone.contains(&d(4)));
    let wave = |n: u32| p.actions.iter().find(|a| a.digest == d(n)).unwrap().wave;
    assert!(wave(4) < wave(2), "a referrer goes before its subject");
}

#[test]
fn keep_latest_breaks_ties_by_tag_name_whatever_the_listing_order() {
    let body = "    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 2\n";
    let forward = Repo::new()
        .image(1, &["pr-c"], 1)
        .image(2, &["pr-a"], 1)
        .image(3, &["pr-b"], 1)
        .image(4, &["pr-z"], 5);
    let backward = Repo::new()
        .image(4, &["pr-z"], 5)
        .image(3, &["pr-b"], 1)
        .image(2, &["pr-a"], 1)
        .image(1, &["pr-c"], 1);
    let (p1, _) = plan(body, forward);
    let (p2, _) = plan(body, backward);
    let kept: Vec<&str> = p1.tags_kept.iter().map(|t| t.as_str()).collect();
    assert_eq!(kept, ["pr-a", "pr-b"], "same push time: by name, ascending");
    assert_eq!(p1.tags_kept, p2.tags_kept);
    let mut a = deleted(&p1);
    let mut b = deleted(&p2);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn keep_latest_counts_images_not_tags() {
    // The newest image carries two matching tags: it counts once, so the second
    // newest image stays too, and both tags of the newest stay allowed.
    let body = "    tags:\n      - pattern: \"v*\"\n        keep_latest: 2\n";
    let (p, _) = plan(
        body,
        Repo::new()
            .image(1, &["v1"], 30)
            .image(2, &["v2"], 20)
            .image(3, &["v3", "v3.0"], 10),
    );
    let kept: Vec<&str> = p.tags_kept.iter().map(|t| t.as_str()).collect();
    assert_eq!(kept, ["v2", "v3", "v3.0"]);
    assert_eq!(deleted(&p), [d(1)]);
}

#[test]
fn keep_latest_ranks_same_time_images_by_their_smallest_matching_tag() {
    let body = "    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 1\n";
    let (p, _) = plan(
        body,
        Repo::new()
            .image(1, &["pr-b", "pr-z"], 1)
            .image(2, &["pr-c", "pr-a"], 1),
    );
    let kept: Vec<&str> = p.tags_kept.iter().map(|t| t.as_str()).collect();
    assert_eq!(kept, ["pr-a", "pr-c"]);
}

#[test]
fn keep_latest_prefers_the_newest_push() {
    let body = "    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 1\n";
    let (p, _) = plan(
        body,
        Repo::new().image(1, &["pr-9"], 3).image(2, &["pr-1"], 1),
    );
    assert_eq!(p.tags_kept, [Tag::parse("pr-1").unwrap()]);
}

#[test]
fn max_age_is_measured_from_the_injected_now() {
    let body = "    tags:\n      - pattern: \"pr-*\"\n        max_age: 7d\n      - keep\n";
    let repo = || {
        Repo::new()
            .image(1, &["pr-1"], 10)
            .image(2, &["pr-2"], 6)
            .image(3, &["keep"], 100)
    };
    let (p, _) = plan(body, repo());
    assert_eq!(deleted(&p), [d(1)]);
    // Two days later pr-2 is too old as well.
    let later = now() + Duration::days(2);
    let (p, _) = plan_repository(
        &desired(body),
        &repo().observed(),
        later,
        PlanOptions::default(),
        &[],
    );
    let mut gone = deleted(&p);
    gone.sort();
    assert_eq!(gone, [d(1), d(2)]);
}

#[test]
fn keep_latest_then_max_age() {
    let body = "    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 2\n        max_age: 5d\n      - keep\n";
    let repo = Repo::new()
        .image(1, &["pr-1"], 1)
        .image(2, &["pr-2"], 6)
        .image(3, &["pr-3"], 7)
        .image(4, &["keep"], 100);
    let (p, _) = plan(body, repo);
    assert_eq!(
        p.tags_kept.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["keep", "pr-1"]
    );
}

#[test]
fn untagged_images_are_kept_or_pruned_by_policy() {
    let repo = || Repo::new().image(1, &[], 5).image(2, &["v1"], 1);
    let (p, _) = plan("    tags: [v1]\n", repo());
    assert_eq!(p.status, RepositoryStatus::Unchanged);
    assert!(p.actions.is_empty());
    let (p, _) = plan("    tags: [v1]\n    untagged: keep\n", repo());
    assert!(p.actions.is_empty());
    let (p, _) = plan("    tags: [v1]\n    untagged: delete\n", repo());
    assert_eq!(deleted(&p), [d(1)]);
    assert_eq!(
        p.actions[0].reason,
        "untagged and not needed by a kept image"
    );
}

#[test]
fn the_guard_refuses_deleting_every_image() {
    let repo = || Repo::new().image(1, &["a"], 1).image(2, &[], 1);
    let (p, w) = plan("    tags: [nothing-here]\n    untagged: delete\n", repo());
    assert_eq!(p.status, RepositoryStatus::Refused);
    assert!(p.refused_reason.is_some());
    assert!(w.iter().any(|w| w.code == WarningCode::RefusedEmpty));
    assert_eq!(p.actions.len(), 2, "the plan still shows what it would do");
    assert_eq!(
        p.tags_kept,
        [Tag::parse("a").unwrap()],
        "nothing is applied, so every tag stays"
    );
    assert_eq!(
        Summary::of(std::slice::from_ref(&p)).images_to_delete,
        0,
        "refused repositories count nothing"
    );

    let (p, _) = plan(
        "    tags: [nothing-here]\n    untagged: delete\n    allow_empty: true\n",
        repo(),
    );
    assert_eq!(p.status, RepositoryStatus::Changes);

    let (p, _) = plan_repository(
        &desired("    tags: [nothing-here]\n    untagged: delete\n"),
        &repo().observed(),
        now(),
        PlanOptions {
            allow_empty: true,
            ..PlanOptions::default()
        },
        &[],
    );
    assert_eq!(p.status, RepositoryStatus::Changes);

    // Keeping one untagged image is not "every image".
    let (p, _) = plan("    tags: [nothing-here]\n", repo());
    assert_eq!(p.status, RepositoryStatus::Changes);
}

#[test]
fn the_only_tag_of_a_kept_child_is_retained_with_a_warning() {
    let repo = Repo::new()
        .image(1, &["build-1-amd64"], 2)
        .image(2, &["build-1-arm64", "extra"], 2)
        .index(10, &["v1"], &[1, 2]);
    let (p, w) = plan("    tags: [v1]\n", repo);
    assert!(deleted(&p).is_empty());
    // Image 2 loses one of its two tags; image 1 keeps its only tag.
    assert_eq!(untagged_tags(&p), ["extra"]);
    assert!(p.tags_kept.iter().any(|t| t.as_str() == "build-1-amd64"));
    let retained: Vec<_> = w
        .iter()
        .filter(|w| w.code == WarningCode::TagRetained)
        .collect();
    assert_eq!(retained.len(), 2);
    assert!(
        retained[0].message.contains("build-1-amd64"),
        "{}",
        retained[0].message
    );
}

#[test]
fn warnings_point_at_the_yaml() {
    let (p, w) = plan(
        "    tags:\n      - v1.4.2\n      - \"nightly-*\"\n",
        Repo::new().image(1, &["v1.4.3"], 1),
    );
    assert_eq!(p.status, RepositoryStatus::Refused);
    let typo = w
        .iter()
        .find(|w| w.code == WarningCode::TagNotFound)
        .unwrap();
    let loc = typo.location.as_ref().unwrap();
    assert_eq!((loc.file.as_str(), loc.line, loc.column), ("t.yaml", 5, 9));
    assert!(
        typo.help.as_deref().unwrap().contains("v1.4.3"),
        "{:?}",
        typo.help
    );
    let glob = w
        .iter()
        .find(|w| w.code == WarningCode::PatternMatchedNothing)
        .unwrap();
    assert_eq!(glob.location.as_ref().unwrap().line, 6);
}

#[test]
fn a_missing_repository_is_a_warning_with_nothing_planned() {
    let mut observed = Repo::new().observed();
    observed.exists = false;
    let (p, w) = plan_repository(
        &desired("    tags: [v1]\n"),
        &observed,
        now(),
        PlanOptions::default(),
        &[],
    );
    assert_eq!(p.status, RepositoryStatus::Missing);
    assert!(p.actions.is_empty());
    assert_eq!(w[0].code, WarningCode::RepositoryNotFound);
    assert_eq!(w[0].location.as_ref().unwrap().line, 3);
}

#[test]
fn summary_counts_tags_images_and_bytes() {
    let (p, _) = plan(
        "    tags: [v1]\n    untagged: delete\n",
        Repo::new()
            .image(1, &["v1", "x", "y"], 1)
            .image(2, &["a", "b"], 1)
            .image(3, &[], 1),
    );
    let s = Summary::of(&[p]);
    assert_eq!(s.untags, 2);
    assert_eq!(s.images_to_delete, 2);
    assert_eq!(s.tags_to_remove, 4);
    assert_eq!(s.bytes_to_delete, 2_000);
    assert_eq!(s.repositories_changed, 1);
}

/// The help of the one `plan::tag-not-found` warning.
fn typo_help(w: &[Warning]) -> String {
    let found: Vec<&Warning> = w
        .iter()
        .filter(|w| w.code == WarningCode::TagNotFound)
        .collect();
    assert_eq!(found.len(), 1, "{w:?}");
    found[0].help.clone().unwrap_or_default()
}

#[test]
fn a_typo_hint_says_what_the_plan_does_with_the_suggested_tag() {
    // Matched by a rule that leaves it out: removed, and the hint says so.
    let (p, w) = plan(
        "    tags:\n      - v1.38\n      - pattern: \"v1.*\"\n        keep_latest: 1\n",
        Repo::new()
            .image(1, &["v1.3.8"], 9)
            .image(2, &["v1.4.0"], 1),
    );
    assert_eq!(deleted(&p), [d(1)]);
    let help = typo_help(&w);
    assert!(help.contains("did you mean `v1.3.8`?"), "{help}");
    assert!(help.contains("this plan removes it"), "{help}");

    // Not allowed, but kept as the only tag of a kept index's child: it stays.
    let (p, w) = plan(
        "    tags: [v1, build-1-amd46]\n",
        Repo::new()
            .image(1, &["build-1-amd64"], 2)
            .index(10, &["v1"], &[1]),
    );
    assert!(deleted(&p).is_empty());
    let help = typo_help(&w);
    assert!(help.contains("did you mean `build-1-amd64`?"), "{help}");
    assert!(help.contains("it stays only because"), "{help}");
    assert!(!help.contains("removes it"), "{help}");

    // Allowed by another entry: just the suggestion.
    let (_, w) = plan(
        "    tags:\n      - v1.38\n      - \"v1.*\"\n",
        Repo::new().image(1, &["v1.3.8"], 9),
    );
    assert_eq!(typo_help(&w), "did you mean `v1.3.8`?");
}

#[test]
fn a_kept_index_whose_manifest_cannot_be_read_keeps_every_image_it_may_need() {
    let repo = Repo::new()
        .image(1, &[], 2)
        .image(2, &["arm64-build"], 2)
        .unreadable_index(3, &["v1"])
        .image(4, &["v2"], 1);
    let (p, w) = plan(
        "    tags: [v1, v2]
    untagged: delete
",
        repo,
    );
    assert!(deleted(&p).is_empty(), "{:?}", p.actions);
    // The only tag of image 2 is retained; the archived index, allowed, is
    // reactivated (so that the next plan can read its children).
    let kinds: Vec<(ActionKind, Digest)> = p
        .actions
        .iter()
        .map(|a| (a.kind, a.digest.clone()))
        .collect();
    assert_eq!(kinds, [(ActionKind::Reactivate, d(3))]);
    let unreadable: Vec<&Warning> = w
        .iter()
        .filter(|w| w.code == WarningCode::IndexUnreadable)
        .collect();
    assert_eq!(unreadable.len(), 1, "{w:?}");
    assert!(unreadable[0].message.contains("archived"), "{w:?}");
    assert!(
        unreadable[0].message.contains("nothing is deleted"),
        "{w:?}"
    );
    let retained = w
        .iter()
        .find(|w| w.code == WarningCode::TagRetained)
        .unwrap();
    assert!(
        retained.message.contains("manifest cannot be read"),
        "{retained:?}"
    );
}

#[test]
fn a_deleted_index_whose_manifest_cannot_be_read_goes_before_all_it_may_reference() {
    let repo = Repo::new()
        .image(1, &[], 2)
        .image(2, &["old-amd64"], 2)
        .unreadable_index(3, &["old"])
        .referrer(5, 3)
        .image(4, &["v1"], 1);
    let (p, w) = plan(
        "    tags: [v1]
    untagged: delete
",
        repo,
    );
    let wave = |n: u32| p.actions.iter().find(|a| a.digest == d(n)).unwrap().wave;
    assert!(wave(5) < wave(3), "its referrer goes first");
    assert!(wave(3) < wave(1) && wave(3) < wave(2), "{:?}", p.actions);
    assert_eq!(deleted(&p).len(), 4);
    assert!(
        w.iter().any(|w| w.code == WarningCode::IndexUnreadable
            && w.message.contains("deleted in a wave before")),
        "{w:?}"
    );
}

#[test]
fn deleting_a_recently_archived_image_says_how_many_days_are_billed() {
    let repo = Repo::new()
        .image(1, &["recent"], 200)
        .archived(Some(30))
        .image(2, &["long-ago"], 300)
        .archived(Some(120))
        .image(3, &["unknown"], 300)
        .archived(None)
        .image(4, &["v1"], 1);
    let (p, w) = plan(
        "    tags: [v1]
",
        repo,
    );
    assert_eq!(deleted(&p).len(), 3);
    let charges: Vec<&str> = w
        .iter()
        .filter(|w| w.code == WarningCode::ArchiveMinimumCharge)
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(charges.len(), 2, "{charges:?}");
    assert!(
        charges[0].contains("(recent)") && charges[0].contains("the 60 days left"),
        "{charges:?}"
    );
    assert!(
        charges[1].contains("(unknown)") && charges[1].contains("does not say since when"),
        "{charges:?}"
    );
    let recent = p.actions.iter().find(|a| a.digest == d(1)).unwrap();
    assert_eq!(recent.status, Some(crate::registry::ImageStatus::Archived));
    assert_eq!(recent.last_archived_at, Some(now() - Duration::days(30)));
}

#[test]
fn the_archive_minimum_counts_a_started_day_as_a_day() {
    use super::engine::archive_days_billed;
    let at = now() - Duration::days(89) - Duration::hours(12);
    assert_eq!(archive_days_billed(at, now()), Some(1));
    assert_eq!(archive_days_billed(now() - Duration::days(90), now()), None);
    assert_eq!(archive_days_billed(now(), now()), Some(90));
}

#[test]
fn actions_carry_the_last_recorded_pull() {
    let mut repo = Repo::new().image(1, &["old"], 20).image(2, &["v1"], 1);
    let pulled = now() - Duration::days(3);
    repo.images[0].last_recorded_pull_time = Some(pulled);
    repo.images[0].status = Some(crate::registry::ImageStatus::Active);
    let (p, w) = plan(
        "    tags: [v1]
",
        repo,
    );
    assert_eq!(p.actions[0].last_recorded_pull_time, Some(pulled));
    assert!(w.is_empty(), "an active image costs nothing more: {w:?}");
}

/// Uses of `team/app` images, each a reference (`:TAG`, `@sha256:…`, or both) found
/// at line N of `deploy.yaml`.
fn uses(refs: &[&str]) -> Vec<crate::in_use::ImageUse> {
    refs.iter()
        .enumerate()
        .map(|(n, r)| {
            let text = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app{r}");
            crate::in_use::ImageUse {
                image: crate::in_use::parse_reference(&text).unwrap(),
                site: crate::in_use::UseSite {
                    account: None,
                    source: crate::in_use::SourceKind::File,
                    file: Some("deploy.yaml".into()),
                    line: Some(n as u32 + 1),
                    pod: None,
                    container: None,
                    region: None,
                    cluster: None,
                    resource: None,
                    reference: text,
                },
            }
        })
        .collect()
}

fn plan_in_use(body: &str, repo: Repo, refs: &[&str]) -> (RepositoryPlan, Vec<Warning>) {
    plan_repository(
        &desired(body),
        &repo.observed(),
        now(),
        PlanOptions::default(),
        &uses(refs),
    )
}

fn codes(w: &[Warning]) -> Vec<&'static str> {
    w.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn an_image_in_use_by_tag_keeps_that_tag_with_a_warning_at_the_repository() {
    let (p, w) = plan_in_use(
        "    tags: [v2]\n    untagged: delete\n",
        Repo::new()
            .image(1, &["v1", "hotfix"], 3)
            .image(2, &["v2"], 1)
            .image(3, &["old"], 9),
        &[":hotfix"],
    );
    assert_eq!(deleted(&p), [d(3)]);
    assert_eq!(untagged_tags(&p), ["v1"], "only the tag in use stays");
    assert_eq!(p.in_use.len(), 1);
    assert_eq!(p.in_use[0].digest, d(1));
    assert_eq!(p.in_use[0].tags, [Tag::parse("hotfix").unwrap()]);
    assert_eq!(p.in_use[0].uses[0].to_string(), "deploy.yaml:1");
    assert_eq!(codes(&w), ["plan::in-use-not-allowed"]);
    assert!(
        w[0].message.contains("`hotfix` is in use (deploy.yaml:1)"),
        "{}",
        w[0].message
    );
    assert_eq!(
        w[0].location.as_ref().unwrap().line,
        3,
        "the repository's line"
    );
}

#[test]
fn an_image_in_use_by_digest_is_kept_with_its_children_and_referrers() {
    let (p, w) = plan_in_use(
        "    tags: [v2]\n    untagged: delete\n",
        Repo::new()
            .image(10, &[], 5)
            .image(11, &[], 5)
            .index(1, &["v1"], &[10, 11])
            .referrer(20, 1)
            .image(2, &["v2"], 1),
        &[&format!("@{}", d(1))],
    );
    assert!(deleted(&p).is_empty(), "{:?}", p.actions);
    assert!(untagged_tags(&p).is_empty(), "its only tag is retained");
    assert_eq!(p.in_use[0].digest, d(1));
    assert!(p.in_use[0].tags.is_empty());
    assert_eq!(codes(&w), ["plan::tag-retained"]);
    assert!(
        w[0].message.contains("is in use (deploy.yaml:1)"),
        "{}",
        w[0].message
    );
}

#[test]
fn a_tag_and_digest_reference_keeps_both_images_when_the_tag_moved() {
    let (p, _) = plan_in_use(
        "    tags: [v2]\n",
        Repo::new()
            .image(1, &["old"], 3)
            .image(3, &["app"], 2)
            .image(2, &["v2"], 1),
        &[&format!(":app@{}", d(1))],
    );
    assert!(deleted(&p).is_empty(), "{:?}", p.actions);
    let kept: Vec<&Digest> = p.in_use.iter().map(|u| &u.digest).collect();
    assert_eq!(kept, [&d(1), &d(3)]);
}

#[test]
fn an_allowed_tag_in_use_warns_of_nothing_and_a_missing_one_is_reported() {
    let (p, w) = plan_in_use(
        "    tags: [v2]\n",
        Repo::new().image(2, &["v2"], 1).image(3, &["x"], 1),
        &[":v2", ":v9", ":v9", ""],
    );
    assert_eq!(
        deleted(&p),
        [d(3)],
        "`latest` implied by a bare reference is not there"
    );
    assert_eq!(codes(&w), ["plan::in-use-not-found"]);
    assert!(
        w[0].message
            .contains("team/app:v9` is in use (deploy.yaml:2, and 1 more place)"),
        "{}",
        w[0].message
    );
}

#[test]
fn uses_of_other_repositories_keep_nothing_here() {
    let mut other = uses(&[":v1"]);
    let account = other[0].image.repository.registry.account().clone();
    other[0].image.repository.registry =
        RegistryLocation::private(account, Region::parse("us-east-1").unwrap());
    let (p, w) = plan_repository(
        &desired("    tags: [v2]\n"),
        &Repo::new()
            .image(1, &["v1"], 1)
            .image(2, &["v2"], 1)
            .observed(),
        now(),
        PlanOptions::default(),
        &other,
    );
    assert_eq!(deleted(&p), [d(1)]);
    assert!(p.in_use.is_empty() && w.is_empty());
}

#[test]
fn pulled_within_alone_keeps_images_pulled_or_pushed_recently() {
    let mut repo = Repo::new()
        .image(1, &["pr-1"], 90)
        .image(2, &["pr-2"], 90)
        .image(3, &["pr-3"], 2)
        .image(4, &["pr-4"], 90);
    repo.images[0].last_recorded_pull_time = Some(now() - Duration::days(5));
    repo.images[1].last_recorded_pull_time = Some(now() - Duration::days(45));
    let (p, _) = plan(
        "    tags:\n      - pattern: \"pr-*\"\n        pulled_within: 30d\n",
        repo,
    );
    assert_eq!(
        deleted(&p),
        [d(2), d(4)],
        "pulled 45 days ago and never pulled since a push 90 days ago"
    );
}

#[test]
fn pulled_within_is_another_way_to_stay_beside_keep_latest() {
    let mut repo = Repo::new()
        .image(1, &["pr-1"], 90)
        .image(2, &["pr-2"], 80)
        .image(3, &["pr-3"], 70);
    repo.images[0].last_recorded_pull_time = Some(now() - Duration::days(1));
    let (p, _) = plan(
        "    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 1\n        pulled_within: 7d\n",
        repo,
    );
    assert_eq!(deleted(&p), [d(2)], "pr-3 is the latest, pr-1 was pulled");
}
