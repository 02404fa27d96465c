//! The guards of the operations, against the in-memory model of ECR (a snapshot
//! file): each refusal happens before any removal, and leaves the registry as it was.

use std::path::{Path, PathBuf};

use super::apply::Quiet;
use super::apply::{self, ApplyError, ApplyRequest, Gate, Guards};
use super::plan::{self, PlanRequest};
use super::restore::{self, RestoreError, RestoreRequest};
use super::verify::VerifyError;
use super::{Source, SourceSpec};
use crate::config::{self, DesiredState};
use crate::model::Tag;
use crate::plan::stale::StaleProblem;
use crate::registry::backend::Backend;
use crate::registry::{ImageId, Registry};

const EXAMPLE_SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshot.json");
const EXAMPLE_DESIRED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/desired");

struct Fixture {
    dir: tempfile::TempDir,
    snapshot: PathBuf,
}

impl Fixture {
    /// A copy of the example snapshot in a folder of its own.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("snapshot.json");
        std::fs::copy(EXAMPLE_SNAPSHOT, &snapshot).unwrap();
        Self { dir, snapshot }
    }

    fn source(&self) -> Source {
        Source::open(&SourceSpec {
            snapshot: Some(self.snapshot.clone()),
            parallelism: 4,
            ..SourceSpec::default()
        })
        .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn snapshot_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.snapshot).unwrap()
    }
}

fn example_desired() -> DesiredState {
    config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap()
}

/// Keeps every image of one repository: a plan with nothing to do.
fn keep_everything() -> DesiredState {
    let yaml = "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  payments/api:\n    tags:\n      - \"*\"\n    untagged: keep\n";
    config::load_sources(vec![("keep.yaml".into(), yaml.as_bytes().to_vec())]).unwrap()
}

fn auto() -> Guards {
    Guards {
        auto_approve: true,
        ..Guards::default()
    }
}

fn deletes(source: &Source) -> u64 {
    source.calls().batch_delete_image
}

#[test]
fn max_delete_refuses_before_any_removal() {
    let f = Fixture::new();
    let source = f.source();
    let prepared = apply::prepare(&source, &example_desired(), &ApplyRequest::default()).unwrap();
    let deletions = apply::planned_deletions(prepared.plan());
    assert!(deletions > 1, "the example plan deletes images");
    let guards = Guards {
        max_delete: Some(deletions - 1),
        ..auto()
    };
    match prepared.gate(&guards) {
        Err(ApplyError::TooManyDeletions { deletions: d, max }) => {
            assert_eq!((d, max), (deletions, deletions - 1));
        }
        other => panic!("expected the --max-delete refusal, got {other:?}"),
    }
    // At the limit, it goes on.
    let guards = Guards {
        max_delete: Some(deletions),
        ..auto()
    };
    assert_eq!(prepared.gate(&guards).unwrap(), Gate::Proceed);
    assert_eq!(deletes(&source), 0);
    assert_eq!(f.snapshot_bytes(), std::fs::read(EXAMPLE_SNAPSHOT).unwrap());
}

#[test]
fn max_delete_bytes_refuses_a_plan_that_frees_more_before_any_removal() {
    let f = Fixture::new();
    let source = f.source();
    let prepared = apply::prepare(&source, &example_desired(), &ApplyRequest::default()).unwrap();
    let freed = prepared.plan().summary.freed_bytes;
    assert!(freed > 0, "the example plan frees bytes");
    let guards = Guards {
        max_delete_bytes: Some(freed - 1),
        ..auto()
    };
    match prepared.gate(&guards) {
        Err(e @ ApplyError::TooManyBytes { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("({freed} bytes)")), "{text}");
            assert!(text.contains("nothing was applied"), "{text}");
        }
        other => panic!("expected the --max-delete-bytes refusal, got {other:?}"),
    }
    let guards = Guards {
        max_delete_bytes: Some(freed),
        ..auto()
    };
    assert_eq!(prepared.gate(&guards).unwrap(), Gate::Proceed);
    assert_eq!(deletes(&source), 0);
}

#[test]
fn a_repository_over_its_max_delete_is_refused_before_any_removal() {
    let f = Fixture::new();
    let source = f.source();
    let with_limit = |limit: &str| {
        let yaml = format!(
            "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n  payments/worker:\n    tags: [\"v2.*\"]\n    untagged: delete\n    max_delete: {limit}\n"
        );
        config::load_sources(vec![("limit.yaml".into(), yaml.into_bytes())]).unwrap()
    };
    let prepared = apply::prepare(
        &source,
        &with_limit("{images: 3}"),
        &ApplyRequest::default(),
    )
    .unwrap();
    match prepared.gate(&auto()) {
        Err(e @ ApplyError::RepositoryLimit { .. }) => {
            let text = e.to_string();
            assert!(text.contains("payments/worker"), "{text}");
            assert!(text.contains("images: 3"), "{text}");
            assert!(text.contains("limit.yaml:6:"), "{text}");
        }
        other => panic!("expected the max_delete refusal, got {other:?}"),
    }
    let prepared = apply::prepare(
        &source,
        &with_limit("{bytes: 1MiB}"),
        &ApplyRequest::default(),
    )
    .unwrap();
    assert!(matches!(
        prepared.gate(&auto()),
        Err(ApplyError::RepositoryLimit { .. })
    ));
    let prepared = apply::prepare(
        &source,
        &with_limit("{images: 1000, bytes: 1TiB}"),
        &ApplyRequest::default(),
    )
    .unwrap();
    assert_eq!(prepared.gate(&auto()).unwrap(), Gate::Proceed);
    assert_eq!(deletes(&source), 0);
}

#[test]
fn without_a_terminal_apply_needs_auto_approve() {
    let f = Fixture::new();
    let source = f.source();
    let prepared = apply::prepare(&source, &example_desired(), &ApplyRequest::default()).unwrap();
    assert!(matches!(
        prepared.gate(&Guards::default()),
        Err(ApplyError::NoTerminal)
    ));
    let interactive = Guards {
        interactive: true,
        ..Guards::default()
    };
    assert_eq!(prepared.gate(&interactive).unwrap(), Gate::Confirm);
    assert_eq!(prepared.gate(&auto()).unwrap(), Gate::Proceed);
    assert_eq!(deletes(&source), 0);
}

#[test]
fn nothing_to_do_asks_nothing_and_removes_nothing() {
    let f = Fixture::new();
    let source = f.source();
    let prepared = apply::prepare(&source, &keep_everything(), &ApplyRequest::default()).unwrap();
    assert!(!prepared.plan().has_changes());
    // Not even a terminal is needed, and --max-delete 0 is no obstacle.
    let guards = Guards {
        max_delete: Some(0),
        ..Guards::default()
    };
    assert_eq!(prepared.gate(&guards).unwrap(), Gate::NothingToDo);
    assert_eq!(deletes(&source), 0);
}

/// Saves the example plan to a file, as `plan --out` does.
fn saved_plan(f: &Fixture, desired: &DesiredState) -> PathBuf {
    let out = f.path("plan.json");
    let request = PlanRequest {
        out: Some(out.clone()),
        ..PlanRequest::default()
    };
    plan::plan(&f.source(), desired, &request).unwrap();
    out
}

fn with_saved(path: &Path) -> ApplyRequest {
    ApplyRequest {
        saved_plan: Some(path.to_owned()),
        ..ApplyRequest::default()
    }
}

#[test]
fn a_saved_plan_applies_while_it_holds() {
    let f = Fixture::new();
    let desired = example_desired();
    let saved = saved_plan(&f, &desired);
    let source = f.source();
    let prepared = apply::prepare(&source, &desired, &with_saved(&saved)).unwrap();
    assert_eq!(prepared.gate(&auto()).unwrap(), Gate::Proceed);
    let outcome = prepared
        .execute(Some(&f.path("journal.jsonl")), &Quiet)
        .unwrap();
    assert!(outcome.report.succeeded(), "{:?}", outcome.report);
    assert!(outcome.report.images_deleted > 0);
    // Written back: a fresh plan against the snapshot has nothing left to do.
    let again = plan::plan(&f.source(), &desired, &PlanRequest::default())
        .unwrap()
        .plan;
    assert_eq!(
        again.summary.images_to_delete + again.summary.untags,
        0,
        "{:?}",
        again.summary
    );
}

#[test]
fn a_saved_plan_from_other_files_is_refused() {
    let f = Fixture::new();
    let saved = saved_plan(&f, &example_desired());
    let source = f.source();
    let err = apply::prepare(&source, &keep_everything(), &with_saved(&saved)).unwrap_err();
    assert!(
        matches!(err, ApplyError::Verify(VerifyError::OtherDesiredState(_))),
        "{err:?}"
    );
    assert_eq!(source.calls().describe_images, 0, "refused before reading");
}

#[test]
fn a_stale_saved_plan_is_refused_before_any_removal() {
    let f = Fixture::new();
    let desired = example_desired();
    let saved = saved_plan(&f, &desired);
    let source = f.source();
    // Another client removes a tag the plan keeps on an image it untags.
    let plan = crate::ops::verify::read_saved_plan(&saved).unwrap();
    let (repo, action) = plan
        .repositories
        .iter()
        .flat_map(|r| r.actions.iter().map(move |a| (r, a)))
        .find(|(_, a)| !a.kept_tags.is_empty())
        .expect("an untag");
    let tag: Tag = action.kept_tags[0].clone();
    let Backend::Snapshot { registry, .. } = &source.backend else {
        unreachable!()
    };
    let done = source
        .block_on(registry.batch_delete_image(&repo.repository, &[ImageId::Tag(tag.clone())]))
        .unwrap();
    assert_eq!(done.removed.len(), 1);
    let before = deletes(&source);

    let err = apply::prepare(&source, &desired, &with_saved(&saved)).unwrap_err();
    let ApplyError::Verify(VerifyError::Stale(problems)) = &err else {
        panic!("expected a stale plan, got {err:?}");
    };
    assert!(
        problems.iter().any(|p| matches!(
            p,
            StaleProblem::Retagged { digest, planned, now, .. }
                if *digest == action.digest && planned.contains(&tag) && !now.contains(&tag)
        )),
        "{problems:?}"
    );
    assert!(err.to_string().starts_with("Saved plan is stale"), "{err}");
    assert!(err.to_string().contains(&format!("  -{tag}")), "{err}");
    assert_eq!(deletes(&source), before, "nothing removed");
}

#[test]
fn a_saved_plan_for_other_repositories_is_stale() {
    let f = Fixture::new();
    let desired = example_desired();
    let saved = saved_plan(&f, &desired);
    // The same files, resolved in another region: other repositories.
    let source = Source::open(&SourceSpec {
        snapshot: Some(f.snapshot.clone()),
        region: Some("us-east-1".into()),
        parallelism: 1,
        ..SourceSpec::default()
    })
    .unwrap();
    let err = apply::prepare(&source, &desired, &with_saved(&saved)).unwrap_err();
    assert!(
        matches!(&err, ApplyError::Verify(VerifyError::Stale(p)) if matches!(p[..], [StaleProblem::OtherTargets { .. }])),
        "{err:?}"
    );
}

/// One repository of two images with their real manifests (so that restore can push
/// them again), the first tagged `v1` and `extra`, the second `pr-1`.
fn snapshot_with_manifests() -> String {
    let image = |n: u32, tags: &str| {
        let manifest = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[],\"annotations\":{{\"n\":\"{n}\"}}}}"
        );
        let digest = crate::hash::sha256(manifest.as_bytes());
        let manifest = serde_json::to_string(&manifest).unwrap();
        format!(
            r#"{{"digest": "{digest}", "tags": [{tags}], "pushed_at": "2026-01-0{n}T00:00:00Z", "manifest_media_type": "application/vnd.oci.image.manifest.v1+json", "manifest": {manifest}}}"#
        )
    };
    format!(
        r#"{{"version": 1, "registries": [{{"account": "123456789012", "region": "eu-west-1", "repositories": [{{"name": "team/app", "images": [{}, {}]}}]}}]}}"#,
        image(1, r#""v1", "extra""#),
        image(2, r#""pr-1""#)
    )
}

#[test]
fn restore_asks_only_when_it_pushes_and_refuses_unknown_repositories() {
    let f = Fixture::new();
    std::fs::write(&f.snapshot, snapshot_with_manifests()).unwrap();
    let yaml = "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags:\n      - \"v*\"\n";
    let desired = config::load_sources(vec![("v.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
    let journal = f.path("journal.jsonl");
    let source = f.source();
    let prepared = apply::prepare(&source, &desired, &ApplyRequest::default()).unwrap();
    let outcome = prepared.execute(Some(&journal), &Quiet).unwrap();
    assert_eq!(
        (outcome.report.untagged, outcome.report.images_deleted),
        (1, 1),
        "{:?}",
        outcome.report
    );

    let source = f.source();
    let request = RestoreRequest {
        journal: journal.clone(),
        repositories: vec!["no/such".into()],
    };
    assert!(matches!(
        restore::prepare(&source, &request),
        Err(RestoreError::UnknownRepository { .. })
    ));
    let request = RestoreRequest {
        journal,
        repositories: Vec::new(),
    };
    let prepared = restore::prepare(&source, &request).unwrap();
    assert!(prepared.plan().has_work(), "{:#?}", prepared.plan());
    assert!(matches!(
        prepared.gate(false, false),
        Err(RestoreError::NoTerminal)
    ));
    assert_eq!(prepared.gate(false, true).unwrap(), Gate::Confirm);
    assert_eq!(prepared.gate(true, false).unwrap(), Gate::Proceed);
    assert_eq!(
        source.calls().put_image,
        0,
        "nothing pushed before the gate"
    );
    prepared.execute().unwrap();

    // Restored: nothing left to push, so nothing to ask.
    let source = f.source();
    let prepared = restore::prepare(&source, &request).unwrap();
    assert!(!prepared.plan().has_work());
    assert_eq!(prepared.gate(false, false).unwrap(), Gate::Proceed);
}

#[test]
fn a_registry_without_repositories_is_empty_not_unreachable() {
    let f = Fixture::new();
    std::fs::write(
        &f.snapshot,
        r#"{"version": 1, "registries": [{"account": "123456789012", "region": "eu-west-1", "repositories": []}]}"#,
    )
    .unwrap();
    let yaml =
        "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags: [v1]\n";
    let desired = config::load_sources(vec![("a.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
    let plan = plan::plan(&f.source(), &desired, &PlanRequest::default())
        .unwrap()
        .plan;
    assert_eq!(
        plan.repositories[0].status,
        crate::plan::RepositoryStatus::Missing
    );
    // Written back, the registry stays, empty.
    let source = f.source();
    source.write_back().unwrap();
    let snap = crate::registry::snapshot::read(&f.snapshot).unwrap();
    assert_eq!(snap.registries.len(), 1);
    assert!(snap.registries[0].repositories.is_empty());
}

#[test]
fn an_unreadable_repository_is_planned_as_such_and_apply_does_not_start() {
    let f = Fixture::new();
    std::fs::write(&f.snapshot, snapshot_with_manifests()).unwrap();
    let readable = "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags:\n      - \"v*\"\n";
    // A registry the snapshot does not hold: its repositories cannot be read.
    let elsewhere = "version: 1\nregistry:\n  account: \"999999999999\"\n  region: eu-west-1\nrepositories:\n  team/other:\n    tags: [v1]\n";
    let desired = config::load_sources(vec![
        ("a.yaml".into(), readable.as_bytes().to_vec()),
        ("b.yaml".into(), elsewhere.as_bytes().to_vec()),
    ])
    .unwrap();
    let plan = plan::plan(&f.source(), &desired, &PlanRequest::default())
        .unwrap()
        .plan;
    let status: Vec<_> = plan.repositories.iter().map(|r| r.status).collect();
    assert_eq!(
        status,
        [
            crate::plan::RepositoryStatus::Changes,
            crate::plan::RepositoryStatus::Unreadable
        ]
    );
    let error = plan.repositories[1].read_error.as_deref().unwrap();
    assert!(error.contains("no registry"), "{error}");
    assert_eq!(plan.summary.repositories_unreadable, 1);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.code == crate::plan::WarningCode::RepositoryUnreadable),
        "{:?}",
        plan.warnings
    );

    let source = f.source();
    let err = apply::prepare(&source, &desired, &ApplyRequest::default()).unwrap_err();
    assert!(
        matches!(&err, ApplyError::Unreadable(r) if r.len() == 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("team/other"), "{err}");
    assert_eq!(deletes(&source), 0);
}

#[test]
fn a_saved_plan_that_removes_more_than_the_files_ask_is_refused() {
    // The checksum is no signature: a plan edited and sealed again passes it, and its
    // images are as observed, so only planning again shows the extra removal.
    let f = Fixture::new();
    let desired = example_desired();
    let saved = saved_plan(&f, &desired);
    let mut plan = crate::ops::verify::read_saved_plan(&saved).unwrap();
    let action = plan
        .repositories
        .iter_mut()
        .flat_map(|r| r.actions.iter_mut())
        .find(|a| !a.kept_tags.is_empty())
        .expect("an untag");
    // The untag becomes a deletion of the image, with the tags the files keep.
    let kept = std::mem::take(&mut action.kept_tags);
    action.tags.extend(kept.iter().cloned());
    action.kind = crate::plan::ActionKind::Delete;
    crate::files::write_json_atomically(&saved, &crate::plan::saved::seal(&plan)).unwrap();
    let source = f.source();
    let before = deletes(&source);

    let err = apply::prepare(&source, &desired, &with_saved(&saved)).unwrap_err();
    let ApplyError::Verify(VerifyError::Unjustified(lines)) = &err else {
        panic!("expected an unjustified removal, got {err:?}");
    };
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("delete"), "{lines:?}");
    assert!(lines[0].contains(kept[0].as_str()), "{lines:?}");
    assert_eq!(deletes(&source), before, "nothing removed");
}

#[test]
fn an_image_that_comes_into_use_while_the_plan_is_reviewed_stays() {
    // With in-use sources, apply reads them again just before removing: a deployment
    // that starts at the confirmation prompt keeps its image, and everything it needs.
    let f = Fixture::new();
    let folder = f.path("desired");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("payments.yaml"),
        "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nin_use:\n  lists: [deployed.txt]\nrepositories:\n  payments/api:\n    tags: [latest]\n    untagged: delete\n",
    )
    .unwrap();
    let list = folder.join("deployed.txt");
    std::fs::write(&list, "# nothing deployed yet\n").unwrap();
    let desired = config::load(std::slice::from_ref(&folder)).unwrap();
    let source = f.source();
    let prepared = apply::prepare(&source, &desired, &ApplyRequest::default()).unwrap();
    let release = prepared.plan().repositories[0]
        .actions
        .iter()
        .find(|a| a.tags.iter().any(|t| t.as_str() == "v1.1.0"))
        .expect("v1.1.0 is planned for deletion")
        .clone();
    // While the plan is on screen, v1.1.0 is deployed.
    std::fs::write(
        &list,
        format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api@{}\n",
            release.digest
        ),
    )
    .unwrap();
    let outcome = prepared
        .execute(Some(&f.path("journal.jsonl")), &Quiet)
        .unwrap();
    assert!(outcome.report.succeeded(), "{:?}", outcome.report);
    assert!(
        outcome
            .report
            .skipped
            .iter()
            .any(|s| s.digest == release.digest && s.reason.contains("in use now")),
        "{:?}",
        outcome.report.skipped
    );
    let Backend::Snapshot { registry, .. } = &source.backend else {
        unreachable!()
    };
    let images = registry.images(&payments_api()).unwrap();
    let kept = images
        .iter()
        .find(|i| i.detail.digest == release.digest)
        .expect("the deployed image stays");
    assert!(kept.detail.tags.iter().any(|t| t.as_str() == "v1.1.0"));
    // The rest of the plan was applied.
    assert!(outcome.report.removed > 0);
}

/// The repository of `payments/api` in the example registry.
fn payments_api() -> crate::model::RepositoryRef {
    crate::model::RepositoryRef {
        registry: crate::model::RegistryLocation::private(
            crate::model::AccountId::parse("123456789012").unwrap(),
            crate::model::Region::parse("eu-west-1").unwrap(),
        ),
        name: crate::model::RepositoryName::parse("payments/api").unwrap(),
    }
}

#[test]
fn an_immutable_repository_is_applied_and_restored_offline_and_keeps_its_setting() {
    let f = Fixture::new();
    let snapshot = snapshot_with_manifests().replace(
        r#""name": "team/app","#,
        r#""name": "team/app", "tag_mutability": {"setting": "immutable"},"#,
    );
    std::fs::write(&f.snapshot, snapshot).unwrap();
    let yaml = "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags:\n      - \"v*\"\n";
    let desired = config::load_sources(vec![("v.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
    let journal = f.path("journal.jsonl");
    let source = f.source();
    let prepared = apply::prepare(&source, &desired, &ApplyRequest::default()).unwrap();
    let outcome = prepared.execute(Some(&journal), &Quiet).unwrap();
    // Immutability does not stop removals: the untag and the delete are both done.
    assert_eq!(
        (outcome.report.untagged, outcome.report.images_deleted),
        (1, 1),
        "{:?}",
        outcome.report
    );
    let written: serde_json::Value = serde_json::from_slice(&f.snapshot_bytes()).unwrap();
    assert_eq!(
        written["registries"][0]["repositories"][0]["tag_mutability"],
        serde_json::json!({"setting": "immutable"}),
        "the setting survives the write-back"
    );
    let source = f.source();
    let request = RestoreRequest {
        journal,
        repositories: Vec::new(),
    };
    let prepared = restore::prepare(&source, &request).unwrap();
    assert_eq!(
        prepared.plan().repositories[0]
            .tag_mutability
            .as_ref()
            .map(|m| m.setting),
        Some(crate::registry::TagMutabilitySetting::Immutable)
    );
    let outcome = prepared.execute().unwrap();
    assert!(outcome.report.succeeded(), "{:?}", outcome.report.problems);
    assert_eq!(
        (
            outcome.report.tags_restored,
            outcome.report.images_recreated
        ),
        (2, 1)
    );
}

#[test]
fn an_archive_is_applied_offline_planned_no_more_and_undone_by_restore() {
    let f = Fixture::new();
    std::fs::write(&f.snapshot, snapshot_with_manifests()).unwrap();
    let yaml = "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    removal: archive\n    tags: [v1, extra]\n";
    let desired = config::load_sources(vec![("a.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
    let journal = f.path("journal.jsonl");
    let source = f.source();
    let prepared = apply::prepare(&source, &desired, &ApplyRequest::default()).unwrap();
    let kinds: Vec<crate::plan::ActionKind> = prepared.plan().repositories[0]
        .actions
        .iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds,
        [crate::plan::ActionKind::Archive],
        "pr-1 is archived"
    );
    let outcome = prepared.execute(Some(&journal), &Quiet).unwrap();
    assert_eq!(outcome.report.images_archived, 1, "{:?}", outcome.report);
    assert_eq!(outcome.report.images_deleted, 0);
    assert_eq!(source.calls().update_image_storage_class, 1);
    assert_eq!(deletes(&source), 0, "nothing deleted");
    // The snapshot holds the archived image, with its time and its tag.
    let written: serde_json::Value = serde_json::from_slice(&f.snapshot_bytes()).unwrap();
    let images = &written["registries"][0]["repositories"][0]["images"];
    let pr = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"][0] == "pr-1")
        .unwrap();
    assert_eq!(pr["status"], "archived", "{pr}");
    assert!(pr["last_archived_at"].is_string(), "{pr}");
    // Planned again: nothing to do, it is archived already.
    let later = f.source();
    let again = apply::prepare(&later, &desired, &ApplyRequest::default()).unwrap();
    assert_eq!(again.gate(&auto()).unwrap(), Gate::NothingToDo);
    // Restore reactivates it.
    let source = f.source();
    let request = RestoreRequest {
        journal,
        repositories: Vec::new(),
    };
    let prepared = restore::prepare(&source, &request).unwrap();
    assert_eq!(prepared.plan().images_to_reactivate(), 1);
    let outcome = prepared.execute().unwrap();
    assert!(outcome.report.succeeded(), "{:?}", outcome.report.problems);
    assert_eq!(outcome.report.images_reactivated, 1);
    let written: serde_json::Value = serde_json::from_slice(&f.snapshot_bytes()).unwrap();
    let images = &written["registries"][0]["repositories"][0]["images"];
    let pr = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"][0] == "pr-1")
        .unwrap();
    assert_eq!(pr["status"], "activating", "{pr}");
}
