//! Unit tests of the storage accounting.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::config::load_sources;
use crate::model::{
    AccountId, GB, Price, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use crate::plan::{PlanOptions, plan_repository};
use crate::registry::ImageDetail;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn d(n: u32) -> Digest {
    Digest::parse(format!("sha256:{n:064x}")).unwrap()
}

/// A blob digest.
fn blob(name: &str) -> String {
    crate::hash::sha256(name.as_bytes())
}

const MB: u64 = 1 << 20;

/// A repository whose images tagged `keep*` stay and every other one (tagged or not)
/// is deleted.
struct Repo {
    images: Vec<ImageDetail>,
    children: HashMap<Digest, Vec<Digest>>,
    manifests: HashMap<Digest, String>,
}

impl Repo {
    fn new() -> Self {
        Self {
            images: Vec::new(),
            children: HashMap::new(),
            manifests: HashMap::new(),
        }
    }

    /// Image `n` with `tags`, a config of 1 KiB and `layers` (name, size).
    fn image(mut self, n: u32, tags: &[&str], layers: &[(&str, u64)]) -> Self {
        let mut detail = ImageDetail::new(
            d(n),
            tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            now() - Duration::days(i64::from(n)),
        );
        detail.manifest_media_type = Some(media_type::OCI_MANIFEST.into());
        detail.size_bytes = Some(layers.iter().map(|l| l.1).sum::<u64>() + 1024);
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|(name, size)| serde_json::json!({"digest": blob(name), "size": size}))
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"digest": blob(&format!("config-{n}")), "size": 1024},
            "layers": layers,
        });
        self.manifests.insert(d(n), manifest.to_string());
        self.images.push(detail);
        self
    }

    /// An index `n` with `tags` over `children`.
    fn index(mut self, n: u32, tags: &[&str], children: &[u32]) -> Self {
        let mut detail = ImageDetail::new(
            d(n),
            tags.iter().map(|t| Tag::parse(*t).unwrap()).collect(),
            now() - Duration::days(i64::from(n)),
        );
        detail.manifest_media_type = Some(media_type::OCI_INDEX.into());
        // ECR reports the largest child's size for an index.
        detail.size_bytes = Some(500 * MB);
        self.children
            .insert(d(n), children.iter().map(|&c| d(c)).collect());
        self.images.push(detail);
        self
    }

    /// The last image archived `days_ago` days before now, its manifest unread when
    /// `readable` is false.
    fn archived(mut self, days_ago: i64, readable: bool) -> Self {
        let img = self.images.last_mut().unwrap();
        img.status = Some(ImageStatus::Archived);
        img.last_archived_at = Some(now() - Duration::days(days_ago));
        if !readable {
            self.manifests.remove(&img.digest);
        }
        self
    }

    /// The last image's manifest could not be read.
    fn unread(mut self) -> Self {
        let digest = self.images.last().unwrap().digest.clone();
        self.manifests.remove(&digest);
        self
    }

    fn account_with(self, prices: &Prices) -> (RepositoryPlan, RepositoryStorage) {
        self.account_as("", prices)
    }

    /// The accounting with `extra` keys on the repository (indented 4 spaces).
    fn account_as(self, extra: &str, prices: &Prices) -> (RepositoryPlan, RepositoryStorage) {
        let yaml = format!(
            "version: 1\nrepositories:\n  team/app:\n    tags: [\"keep*\"]\n    untagged: delete\n    allow_empty: true\n{extra}"
        );
        let desired = load_sources(vec![("t.yaml".into(), yaml.into_bytes())])
            .unwrap()
            .repositories
            .remove(0);
        let observed = ObservedRepository {
            children: self.children,
            blobs: self.manifests.into_iter().collect(),
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
        };
        let (plan, _) = plan_repository(&desired, &observed, now(), PlanOptions::default(), &[]);
        let storage = account(&observed, &plan, prices, now());
        (plan, storage)
    }

    fn account(self) -> RepositoryStorage {
        self.account_with(&Prices::DEFAULT).1
    }
}

#[test]
fn a_base_layer_shared_by_deleted_images_is_freed_once_and_only_with_the_last() {
    // Three releases on one 100 MiB base; each has its own 10 MiB application layer.
    let base = ("base", 100 * MB);
    let repo = || {
        Repo::new()
            .image(1, &["keep-1"], &[base, ("app-1", 10 * MB)])
            .image(2, &["old-2"], &[base, ("app-2", 10 * MB)])
            .image(3, &["old-3"], &[base, ("app-3", 10 * MB)])
    };
    let s = repo().account();
    assert!(s.freed_bytes_exact);
    // The base stays with keep-1: only the two app layers and two configs go.
    assert_eq!(s.freed_bytes, 2 * (10 * MB + 1024));
    assert_eq!(s.stored_bytes_before, 100 * MB + 3 * (10 * MB + 1024));
    assert_eq!(s.stored_bytes_after, 100 * MB + 10 * MB + 1024);
    // Without the kept image, the base goes too, counted once (not twice, as the sum
    // of the reported sizes would).
    let s = Repo::new()
        .image(2, &["old-2"], &[base, ("app-2", 10 * MB)])
        .image(3, &["old-3"], &[base, ("app-3", 10 * MB)])
        .account();
    assert_eq!(s.freed_bytes, 100 * MB + 2 * (10 * MB + 1024));
    assert_eq!(s.stored_bytes_after, 0);
}

#[test]
fn a_layer_shared_by_a_kept_and_a_deleted_image_is_not_freed() {
    let s = Repo::new()
        .image(1, &["keep"], &[("shared", 50 * MB)])
        .image(2, &["old"], &[("shared", 50 * MB), ("own", 5 * MB)])
        .account();
    assert_eq!(s.freed_bytes, 5 * MB + 1024);
    assert!(s.freed_bytes_exact);
}

#[test]
fn an_index_frees_what_its_children_free_and_its_reported_size_is_not_counted() {
    // A deleted index over two children (amd64, arm64) that share a layer; a kept
    // single-platform image shares the other children's base.
    let s = Repo::new()
        .image(1, &[], &[("base", 80 * MB), ("amd64", 20 * MB)])
        .image(2, &[], &[("base", 80 * MB), ("arm64", 30 * MB)])
        .index(3, &["old"], &[1, 2])
        .image(4, &["keep"], &[("base", 80 * MB)])
        .account();
    assert_eq!(s.freed_bytes, 20 * MB + 30 * MB + 2 * 1024);
    assert!(s.freed_bytes_exact);
    // A kept index keeps its children and their layers.
    let s = Repo::new()
        .image(1, &[], &[("amd64", 20 * MB)])
        .index(3, &["keep"], &[1])
        .image(5, &["old"], &[("amd64", 20 * MB), ("extra", MB)])
        .account();
    assert_eq!(s.freed_bytes, MB + 1024);
}

#[test]
fn an_archived_image_is_priced_at_the_archive_class_with_its_minimum_charge() {
    let prices = Prices {
        standard: Price::per_gb_month(0.10).unwrap(),
        archive: Price::per_gb_month(0.05).unwrap(),
    };
    // 1 GiB active and 2 GiB archived 30 days ago: 60 days of the minimum left.
    let (_, s) = Repo::new()
        .image(1, &["keep"], &[("k", MB)])
        .image(2, &["old-a"], &[("active", GB - 1024)])
        .image(3, &["old-b"], &[("archived", 2 * GB - 1024)])
        .archived(30, true)
        .account_with(&prices);
    assert_eq!(s.freed_bytes, 3 * GB);
    assert_eq!(s.monthly_saving_usd, Usd::from_micros(100_000 + 100_000));
    // 2 GiB (less the config's KiB) x $0.05 x 60/30 days.
    let charge = s.archive_minimum_charge_usd.micros();
    assert!((199_990..=200_000).contains(&charge), "{charge}");
    // Archived long enough ago: no charge.
    let (_, s) = Repo::new()
        .image(3, &["old-b"], &[("archived", GB)])
        .archived(120, true)
        .account_with(&prices);
    assert_eq!(s.archive_minimum_charge_usd, Usd::ZERO);
    // An archived image's manifest that could not be read: its reported size, an
    // estimate, at the archive price.
    let (_, s) = Repo::new()
        .image(1, &["keep"], &[("k", MB)])
        .image(3, &["old-b"], &[("archived", GB - 1024)])
        .archived(120, false)
        .account_with(&prices);
    assert_eq!(s.freed_bytes, GB);
    assert!(!s.freed_bytes_exact);
    assert_eq!(s.manifests_unread, 1);
    assert_eq!(s.monthly_saving_usd, Usd::from_micros(50_000));
}

#[test]
fn a_manifest_that_could_not_be_read_makes_the_figure_an_estimate() {
    // A deleted image whose manifest is unknown counts its reported size.
    let s = Repo::new()
        .image(1, &["keep"], &[("base", 100 * MB)])
        .image(2, &["old"], &[("base", 100 * MB), ("own", MB)])
        .unread()
        .account();
    assert!(!s.freed_bytes_exact);
    assert_eq!(s.freed_bytes, 101 * MB + 1024, "the reported size");
    // A kept image whose manifest is unknown may share what is counted as freed.
    let s = Repo::new()
        .image(1, &["keep"], &[("base", 100 * MB)])
        .unread()
        .image(2, &["old"], &[("base", 100 * MB)])
        .account();
    assert!(!s.freed_bytes_exact);
    assert_eq!(s.freed_bytes, 100 * MB + 1024);
    // A manifest that does not parse is one that could not be read.
    let mut repo = Repo::new().image(2, &["old"], &[("own", MB)]);
    repo.manifests.insert(d(2), "{not json".into());
    let s = repo.account();
    assert!(!s.freed_bytes_exact);
    assert_eq!(s.manifests_unread, 1);
}

#[test]
fn nothing_is_freed_when_nothing_is_deleted() {
    let s = Repo::new()
        .image(1, &["keep"], &[("a", MB)])
        .image(2, &["keep-2"], &[("a", MB), ("b", MB)])
        .account();
    assert_eq!((s.freed_bytes, s.monthly_saving_usd), (0, Usd::ZERO));
    assert_eq!(s.stored_bytes_before, 2 * MB + 2048);
    assert_eq!(s.stored_bytes_after, s.stored_bytes_before);
}

#[test]
fn untagged_bytes_are_what_only_untagged_images_outside_an_index_store() {
    let s = Repo::new()
        .image(1, &["keep"], &[("base", 100 * MB)])
        // Untagged, on the kept image's base: only its own layer and config count.
        .image(2, &[], &[("base", 100 * MB), ("leftover", 7 * MB)])
        // A child of a tagged index is not a leftover.
        .image(3, &[], &[("child", 9 * MB)])
        .index(4, &["keep-list"], &[3])
        .account();
    assert_eq!(s.untagged_bytes, 7 * MB + 1024);
}

#[test]
fn archives_save_the_price_difference_and_reactivations_cost_it() {
    let prices = Prices {
        standard: Price::per_gb_month(0.10).unwrap(),
        archive: Price::per_gb_month(0.01).unwrap(),
    };
    let base = ("base", GB);
    // Two old releases archived: the base stays active with keep-1, so only their own
    // layers leave standard storage.
    let (plan, s) = Repo::new()
        .image(1, &["keep-1"], &[base])
        .image(2, &["old-2"], &[base, ("app-2", GB)])
        .image(3, &["old-3"], &[base, ("app-3", GB)])
        .account_as("    removal: archive\n", &prices);
    let kinds: Vec<ActionKind> = plan.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [ActionKind::Archive, ActionKind::Archive]);
    assert_eq!(s.freed_bytes, 0, "an archive frees nothing");
    assert_eq!(s.archived_bytes, 2 * (GB + 1024));
    let diff = |b: u64| {
        crate::model::Usd::from_micros(
            prices.standard.per_month(b).micros() - prices.archive.per_month(b).micros(),
        )
    };
    assert_eq!(s.archive_saving_usd, diff(s.archived_bytes));
    assert!(!s.archive_saving_usd.is_zero());
    assert_eq!(s.monthly_saving_usd, s.archive_saving_usd);
    // An archived image allowed again comes back: its bytes cost the difference.
    let (plan, s) = Repo::new()
        .image(1, &["keep-1"], &[("app-1", GB)])
        .archived(200, true)
        .image(2, &["keep-2"], &[("app-2", GB)])
        .account_as("", &prices);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].kind, ActionKind::Reactivate);
    assert_eq!(s.reactivated_bytes, GB + 1024);
    assert_eq!(s.reactivation_cost_usd, diff(GB + 1024));
    // At the default prices (the same for both classes) an archive saves nothing.
    let (_, s) = Repo::new()
        .image(1, &["keep-1"], &[base])
        .image(2, &["old-2"], &[("app-2", GB)])
        .account_as("    removal: archive\n", &Prices::DEFAULT);
    assert_eq!(s.archived_bytes, GB + 1024);
    assert!(s.archive_saving_usd.is_zero());
}
