//! The bytes a plan frees, recounted by brute force: on the example and on a generated
//! snapshot whose images share base and dependency layers, every repository's
//! `freed_bytes` and stored bytes must be what a naive count over every image and
//! every blob gives (no hash set, no shared code with the plan's accounting).

use std::path::Path;

use ecr_reconcile::config;
use ecr_reconcile::model::Region;
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::plan::{ActionKind, Plan, RepositoryStatus};
use ecr_reconcile::registry::snapshot::Snapshot;
use testkit::generator;

fn plan_of(snap: &Snapshot, desired: &config::DesiredState) -> Plan {
    let settings = RunSettings::offline(
        Some(Region::parse("eu-west-1").unwrap()),
        snap.generated_at.unwrap(),
        4,
    );
    let registry = snap.clone().into_registry();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(make_plan(&registry, desired, &settings))
        .unwrap()
}

/// The (digest, size) of the config and layers of a manifest, read as plain JSON.
fn blobs(manifest: &str) -> Vec<(String, u64)> {
    let v: serde_json::Value = serde_json::from_str(manifest).unwrap();
    let mut out = Vec::new();
    let descriptors = std::iter::once(&v["config"])
        .chain(v["layers"].as_array().into_iter().flatten())
        .filter(|d| !d.is_null());
    for d in descriptors {
        out.push((
            d["digest"].as_str().unwrap().to_owned(),
            d["size"].as_u64().unwrap(),
        ));
    }
    out
}

/// Checks every repository of `plan` against a brute-force count over `snap`;
/// returns the bytes freed in all and the sum of the reported sizes of the deletions.
fn recount(snap: &Snapshot, plan: &Plan) -> (u64, u64) {
    let mut total = (0, 0);
    for r in &plan.repositories {
        let Some(repo) = snap.registries[0]
            .repositories
            .iter()
            .find(|s| s.name == r.repository.name)
        else {
            assert_eq!(r.freed_bytes, 0);
            continue;
        };
        let deleted: Vec<&str> = if r.status == RepositoryStatus::Changes {
            r.actions
                .iter()
                .filter(|a| a.kind == ActionKind::Delete)
                .map(|a| a.digest.as_str())
                .collect()
        } else {
            Vec::new()
        };
        // Every (image, blob) pair of the repository's image manifests.
        let mut pairs: Vec<(&str, String, u64)> = Vec::new();
        for img in &repo.images {
            let is_index = img
                .manifest_media_type
                .as_ref()
                .is_some_and(|m| m.is_index());
            if is_index {
                continue;
            }
            for (digest, size) in blobs(img.manifest.as_deref().unwrap()) {
                pairs.push((img.digest.as_str(), digest, size));
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        let (mut stored, mut freed) = (0, 0);
        for (_, blob, size) in &pairs {
            if seen.contains(&blob.as_str()) {
                continue;
            }
            seen.push(blob);
            stored += size;
            let users = pairs.iter().filter(|p| &p.1 == blob).map(|p| p.0);
            let (mut by_deleted, mut by_kept) = (false, false);
            for u in users {
                if deleted.contains(&u) {
                    by_deleted = true;
                } else {
                    by_kept = true;
                }
            }
            if by_deleted && !by_kept {
                freed += size;
            }
        }
        let name = &r.repository.name;
        assert!(r.freed_bytes_exact, "{name}");
        assert_eq!(r.freed_bytes, freed, "{name}: freed");
        assert_eq!(r.stored_bytes_before, stored, "{name}: stored before");
        assert_eq!(r.stored_bytes_after, stored - freed, "{name}: stored after");
        total.0 += freed;
        total.1 += r
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete && r.status == RepositoryStatus::Changes)
            .filter_map(|a| a.size_bytes)
            .sum::<u64>();
    }
    assert_eq!(plan.summary.freed_bytes, total.0);
    assert!(plan.summary.freed_bytes_exact);
    total
}

#[test]
fn the_bytes_freed_on_a_generated_snapshot_with_shared_layers_match_a_brute_force_count() {
    let (snap, yaml) = generator::scale_snapshot(12, 250);
    let desired = config::load_sources(vec![("scale.yaml".into(), yaml.into_bytes())]).unwrap();
    let plan = plan_of(&snap, &desired);
    let (freed, reported) = recount(&snap, &plan);
    assert!(freed > 0, "the plan deletes images");
    // Shared layers: what the deletions free is well under the sum of their sizes.
    assert!(freed * 2 < reported, "freed {freed}, reported {reported}");
    // Each repository's monthly saving is its bytes at the default $0.10 per GB-month.
    for r in &plan.repositories {
        let expected = (r.freed_bytes as f64 / (1u64 << 30) as f64) * 0.10;
        assert!(
            (r.monthly_saving_usd.dollars() - expected).abs() < 1e-6,
            "{}: {} vs {expected}",
            r.repository.name,
            r.monthly_saving_usd.dollars()
        );
    }
}

#[test]
fn the_bytes_freed_on_the_example_match_a_brute_force_count() {
    let snap =
        ecr_reconcile::registry::snapshot::read(Path::new("examples/snapshot.json")).unwrap();
    let desired = config::load(&["examples/desired".into()]).unwrap();
    let plan = plan_of(&snap, &desired);
    let (freed, reported) = recount(&snap, &plan);
    assert!(
        freed > 0 && freed < reported,
        "freed {freed}, reported {reported}"
    );
}
