use std::time::Duration;

use super::*;
use crate::config;
use crate::model::Region;
use crate::ops::apply::report::Quiet;
use crate::ops::run::{RunSettings, make_plan};
use crate::registry::StorageClass;
use crate::registry::memory::InMemoryRegistry;
use crate::registry::snapshot;

/// `team/app` with `v1` and `v2` archived and `v3` active; the desired state allows
/// all three, so the plan reactivates v1 and v2.
fn archived_registry() -> (InMemoryRegistry, Plan) {
    let image = |n: u32, status: &str| {
        format!(
            r#"{{"digest": "sha256:{n:064x}", "tags": ["v{n}"], "pushed_at": "2026-01-0{n}T00:00:00Z", "status": "{status}", "last_archived_at": "2026-02-01T00:00:00Z"}}"#
        )
    };
    let text = format!(
        r#"{{"version": 1, "generated_at": "2026-06-01T00:00:00Z", "registries": [{{"account": "123456789012", "region": "eu-west-1", "repositories": [{{"name": "team/app", "images": [{}, {}, {}]}}]}}]}}"#,
        image(1, "archived"),
        image(2, "archived"),
        image(3, "active"),
    );
    let snap = snapshot::parse("s.json", text.as_bytes()).unwrap();
    let now = snap.generated_at.unwrap();
    let registry = snap.into_registry();
    let yaml = "version: 1\nregistry:\n  region: eu-west-1\nrepositories:\n  team/app:\n    tags: [\"v*\"]\n";
    let desired = config::load_sources(vec![("a.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
    let settings = RunSettings::offline(Some(Region::parse("eu-west-1").unwrap()), now, 4);
    let plan = runtime()
        .block_on(make_plan(&registry, &desired, &settings))
        .unwrap();
    assert_eq!(
        plan.summary.images_to_reactivate, 2,
        "{:?}",
        plan.repositories[0].actions
    );
    (registry, plan)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Reactivates what `plan` reactivates, as apply does.
fn reactivate(registry: &InMemoryRegistry, plan: &Plan, which: &[usize]) {
    let repo = &plan.repositories[0];
    for &i in which {
        let a = &repo.actions[i];
        registry
            .storage_class_sync(
                &repo.repository,
                &a.digest,
                StorageClass::Standard,
                chrono::Utc::now(),
            )
            .unwrap();
    }
}

/// Counts the progress reports and keeps the last.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<(usize, usize)>>);

impl Progress for Seen {
    fn waiting(&self, active: usize, total: usize) {
        self.0.lock().unwrap().push((active, total));
    }
}

#[test]
fn it_waits_until_every_reactivated_image_is_active_saying_how_many_are() {
    let (registry, plan) = archived_registry();
    reactivate(&registry, &plan, &[0, 1]);
    let settings = WaitSettings {
        timeout: Duration::from_secs(600),
        interval: Duration::from_millis(5),
    };
    let seen = Seen::default();
    let waited = runtime().block_on(async {
        let finish = async {
            // ECR makes them active some time later.
            tokio::time::sleep(Duration::from_millis(30)).await;
            registry.finish_activations();
        };
        let (waited, ()) = futures_util::future::join(
            until_active(&registry, &plan, settings, &seen, &Cancel::new()),
            finish,
        )
        .await;
        waited
    });
    let waited = waited.unwrap();
    assert_eq!(
        (waited.active, waited.activating, waited.not_reactivated),
        (2, 0, 0),
        "{waited:?}"
    );
    assert!(waited.still_activating.is_empty());
    let seen = seen.0.into_inner().unwrap();
    assert!(seen.len() >= 2, "read until active: {seen:?}");
    assert_eq!(seen.first(), Some(&(0, 2)), "none active at first");
    assert_eq!(seen.last(), Some(&(2, 2)));
}

#[test]
fn at_the_timeout_it_names_the_images_still_activating_and_skips_those_never_reactivated() {
    let (registry, plan) = archived_registry();
    // Only the first is reactivated (the second's request was skipped, say).
    reactivate(&registry, &plan, &[0]);
    let settings = WaitSettings {
        timeout: Duration::from_millis(20),
        interval: Duration::from_millis(5),
    };
    let waited = runtime()
        .block_on(until_active(
            &registry,
            &plan,
            settings,
            &Quiet,
            &Cancel::new(),
        ))
        .unwrap();
    assert_eq!(
        (waited.active, waited.activating, waited.not_reactivated),
        (0, 1, 1),
        "{waited:?}"
    );
    let first = &plan.repositories[0].actions[0].digest;
    assert_eq!(
        waited.still_activating,
        [format!("{}@{first}", plan.repositories[0].repository)]
    );
}

#[test]
fn a_cancelled_wait_ends_at_once_with_what_it_saw() {
    let (registry, plan) = archived_registry();
    reactivate(&registry, &plan, &[0, 1]);
    let cancel = Cancel::new();
    cancel.cancel(2);
    let settings = WaitSettings {
        timeout: Duration::from_secs(600),
        interval: Duration::from_secs(600),
    };
    let waited = runtime()
        .block_on(until_active(&registry, &plan, settings, &Quiet, &cancel))
        .unwrap();
    assert_eq!((waited.active, waited.activating), (0, 2));
}
