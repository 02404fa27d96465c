//! Unit tests of archive instead of delete.

use chrono::Duration;

use crate::plan::tests::{Repo, d, deleted, now, plan};
use crate::plan::{ActionKind, RepositoryPlan, WarningCode};
use crate::registry::ImageStatus;

fn of(p: &RepositoryPlan, kind: ActionKind) -> Vec<crate::model::Digest> {
    p.actions
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.digest.clone())
        .collect()
}

#[test]
fn removal_archive_archives_what_the_allow_list_does_not_keep() {
    let repo = || {
        Repo::new()
            .image(1, &["v1"], 3)
            .image(2, &["v2", "rc"], 2)
            .image(3, &[], 1)
    };
    let (p, _) = plan(
        "    tags: [v1]\n    untagged: delete\n    removal: archive\n",
        repo(),
    );
    assert_eq!(of(&p, ActionKind::Archive), [d(2), d(3)]);
    assert!(deleted(&p).is_empty());
    let a = p.actions.iter().find(|a| a.digest == d(2)).unwrap();
    assert!(a.tags.is_empty(), "an archive removes no tag");
    assert_eq!(a.kept_tags.len(), 2, "the image keeps its tags");
    assert!(a.reason.contains("`removal: archive`"), "{}", a.reason);
    assert_eq!(p.status, crate::plan::RepositoryStatus::Changes);
    // The default is delete.
    let (p, _) = plan("    tags: [v1]\n    untagged: delete\n", repo());
    assert_eq!(deleted(&p), [d(2), d(3)]);
    assert!(of(&p, ActionKind::Archive).is_empty());
    // The JSON kinds.
    assert_eq!(
        serde_json::to_value(ActionKind::Archive).unwrap(),
        "archive"
    );
    assert_eq!(
        serde_json::to_value(ActionKind::Reactivate).unwrap(),
        "reactivate"
    );
}

#[test]
fn a_rule_then_overrides_the_repository_removal_for_what_it_matches() {
    let repo = || {
        Repo::new()
            .image(1, &["pr-1"], 3)
            .image(2, &["pr-2"], 2)
            .image(3, &["pr-3"], 1)
            .image(4, &["nightly-1"], 1)
            .image(5, &["v1"], 1)
    };
    let rule = "      - pattern: \"pr-*\"\n        keep_latest: 1\n";
    let (p, _) = plan(
        &format!("    tags:\n      - v1\n{rule}        then: archive\n"),
        repo(),
    );
    assert_eq!(of(&p, ActionKind::Archive), [d(1), d(2)]);
    assert_eq!(
        deleted(&p),
        [d(4)],
        "what the rule does not match is deleted"
    );
    assert!(
        p.actions[0].reason.contains("rule `pr-*`"),
        "{}",
        p.actions[0].reason
    );
    let (p, _) = plan(
        &format!("    removal: archive\n    tags:\n      - v1\n{rule}        then: delete\n"),
        repo(),
    );
    assert_eq!(deleted(&p), [d(1), d(2)]);
    assert_eq!(of(&p, ActionKind::Archive), [d(4)]);
}

#[test]
fn archived_images_stay_archived_until_delete_archived_after() {
    let repo = || {
        Repo::new()
            .image(1, &["old-1"], 500)
            .archived(Some(400))
            .image(2, &["old-2"], 200)
            .archived(Some(10))
            .image(3, &["old-3"], 200)
            .archived(None)
            .image(4, &["v1"], 1)
    };
    let (p, w) = plan("    tags: [v1]\n    removal: archive\n", repo());
    assert!(p.actions.is_empty(), "already archived: {:?}", p.actions);
    assert_eq!(p.status, crate::plan::RepositoryStatus::Unchanged);
    assert!(w.is_empty(), "{w:?}");
    let (p, w) = plan(
        "    tags: [v1]\n    removal: archive\n    delete_archived_after: 365d\n",
        repo(),
    );
    assert_eq!(deleted(&p), [d(1)], "only what has been archived 365 days");
    assert!(
        p.actions[0].reason.contains("delete_archived_after"),
        "{}",
        p.actions[0].reason
    );
    assert!(
        !w.iter()
            .any(|w| w.code == WarningCode::ArchiveMinimumCharge),
        "archived over 90 days: nothing more billed: {w:?}"
    );
    // Deleting an image archived under 90 days says what is still billed.
    let (p, w) = plan("    tags: [v1]\n    delete_archived_after: 30d\n", repo());
    assert_eq!(deleted(&p), [d(1), d(2), d(3)]);
    let charge: Vec<_> = w
        .iter()
        .filter(|w| w.code == WarningCode::ArchiveMinimumCharge)
        .collect();
    assert_eq!(charge.len(), 2, "{w:?}");
    assert!(
        charge
            .iter()
            .any(|w| w.message.contains("the 80 days left")),
        "{charge:?}"
    );
}

#[test]
fn an_archived_image_allowed_again_is_reactivated() {
    let repo = Repo::new()
        .image(1, &["v1"], 300)
        .archived(Some(200))
        .image(2, &[], 300)
        .archived(Some(200))
        .image(3, &["v2"], 1);
    let (p, _) = plan("    tags: [v1, v2]\n", repo);
    assert_eq!(
        of(&p, ActionKind::Reactivate),
        [d(1)],
        "untagged: keep alone reactivates nothing"
    );
    let a = &p.actions[0];
    assert!(
        a.reason.contains("20 minutes") && a.reason.contains("restore fee"),
        "{}",
        a.reason
    );
    assert_eq!(a.status, Some(ImageStatus::Archived));
    assert_eq!(p.status, crate::plan::RepositoryStatus::Changes);
}

#[test]
fn children_and_referrers_follow_their_subject_into_the_archive() {
    let repo = || {
        Repo::new()
            .image(1, &[], 5)
            .image(2, &[], 5)
            .index(10, &["old"], &[1, 2])
            .referrer(11, 10)
            .image(
                12,
                &["sha256-000000000000000000000000000000000000000000000000000000000000000a.sig"],
                1,
            )
            .image(20, &["v1"], 1)
    };
    let (p, _) = plan(
        "    tags:\n      - v1\n      - pattern: \"o*\"\n        max_age: 1s\n        then: archive\n    untagged: delete\n",
        repo(),
    );
    assert!(deleted(&p).is_empty(), "{:?}", p.actions);
    let mut archived = of(&p, ActionKind::Archive);
    archived.sort();
    assert_eq!(archived, [d(1), d(2), d(10), d(11), d(12)]);
    let child = p.actions.iter().find(|a| a.digest == d(1)).unwrap();
    assert!(child.reason.contains("follows"), "{}", child.reason);
    // An index left in the archive keeps its children there: deleting them would
    // fail while it exists.
    let mut repo = repo();
    for img in &mut repo.images {
        if img.digest == d(10) {
            img.status = Some(ImageStatus::Archived);
            img.last_archived_at = Some(now() - Duration::days(10));
        }
    }
    let (p, _) = plan(
        "    tags:\n      - v1\n      - pattern: \"o*\"\n        max_age: 1s\n        then: archive\n    untagged: delete\n",
        repo,
    );
    assert!(deleted(&p).is_empty(), "{:?}", p.actions);
    let archived = of(&p, ActionKind::Archive);
    assert!(!archived.contains(&d(10)), "already archived");
    assert!(
        archived.contains(&d(1)) && archived.contains(&d(2)),
        "{archived:?}"
    );
}

#[test]
fn an_unreadable_archived_index_that_stays_archived_is_not_said_to_be_deleted() {
    let repo = || {
        Repo::new()
            .image(1, &["old-amd64"], 2)
            .unreadable_index(3, &["old"])
            .image(4, &["v1"], 1)
    };
    let unreadable = |w: &[crate::plan::Warning]| {
        w.iter()
            .filter(|w| w.code == WarningCode::IndexUnreadable)
            .map(|w| w.message.clone())
            .collect::<Vec<_>>()
    };
    let (p, w) = plan("    tags: [v1]\n    removal: archive\n", repo());
    assert!(!deleted(&p).contains(&d(3)), "{:?}", p.actions);
    let said = unreadable(&w);
    assert_eq!(said.len(), 1, "{w:?}");
    assert!(said[0].contains("it is not deleted"), "{said:?}");
    // With `removal: delete` it is deleted, and said to be.
    let (p, w) = plan("    tags: [v1]\n", repo());
    assert!(deleted(&p).contains(&d(3)), "{:?}", p.actions);
    assert!(
        unreadable(&w)[0].contains("deleted in a wave before"),
        "{w:?}"
    );
}
