//! The confirmation of an archive or a reactivation, just before its request.

use chrono::{TimeZone, Utc};

use super::{Confirmed, confirm};
use crate::model::{Digest, Tag};
use crate::plan::{Action, ActionKind};
use crate::registry::{ImageDetail, ImageStatus};

fn digest() -> Digest {
    Digest::parse(format!("sha256:{}", "b".repeat(64))).unwrap()
}

fn action(kind: ActionKind, kept: &[&str]) -> Action {
    Action {
        kind,
        digest: digest(),
        tags: Vec::new(),
        kept_tags: kept.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
        pushed_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        size_bytes: None,
        media_type: None,
        reason: String::new(),
        wave: 0,
        status: None,
        last_recorded_pull_time: None,
        last_archived_at: None,
    }
}

fn now(tags: &[&str], status: Option<ImageStatus>) -> ImageDetail {
    let mut d = ImageDetail::new(
        digest(),
        tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    );
    d.status = status;
    d
}

#[test]
fn an_archive_goes_only_for_the_image_as_planned() {
    let a = action(ActionKind::Archive, &["pr-1"]);
    assert!(matches!(
        confirm(&a, Some(&now(&["pr-1"], None))),
        Confirmed::Go
    ));
    assert!(matches!(
        confirm(&a, Some(&now(&["pr-1"], Some(ImageStatus::Active)))),
        Confirmed::Go
    ));
    // A tag pushed since may be allowed: the next plan decides.
    match confirm(&a, Some(&now(&["pr-1", "v9"], None))) {
        Confirmed::Skip(why) => assert!(why.contains("`v9`"), "{why}"),
        _ => panic!("a gained tag must stop the archive"),
    }
    assert!(matches!(
        confirm(&a, Some(&now(&["pr-1"], Some(ImageStatus::Archived)))),
        Confirmed::Done
    ));
    assert!(matches!(
        confirm(&a, Some(&now(&["pr-1"], Some(ImageStatus::Activating)))),
        Confirmed::Skip(_)
    ));
    assert!(matches!(confirm(&a, None), Confirmed::Skip(_)));
}

#[test]
fn a_reactivation_goes_only_for_an_archived_image() {
    let a = action(ActionKind::Reactivate, &["v1"]);
    assert!(matches!(
        confirm(&a, Some(&now(&["v1"], Some(ImageStatus::Archived)))),
        Confirmed::Go
    ));
    assert!(matches!(
        confirm(&a, Some(&now(&["v1"], Some(ImageStatus::Activating)))),
        Confirmed::Done
    ));
    assert!(matches!(
        confirm(&a, Some(&now(&["v1"], None))),
        Confirmed::Done
    ));
    assert!(matches!(confirm(&a, None), Confirmed::Skip(_)));
}
