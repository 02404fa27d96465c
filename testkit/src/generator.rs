//! Deterministic generators of registry snapshots: the bundled example and the
//! large snapshots of the benchmark.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ecr_reconcile::model::{AccountId, Digest, Region, RepositoryName, Tag, media_type};
use ecr_reconcile::registry::snapshot::{
    SNAPSHOT_VERSION, Snapshot, SnapshotImage, SnapshotRegistry, SnapshotRepository,
};
use sha2::{Digest as _, Sha256};

/// splitmix64: a tiny, well-known deterministic generator.
struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next number.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The sha256 digest of `content`.
fn digest_of(content: &str) -> Digest {
    Digest::parse(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(content.as_bytes()))
    ))
    .unwrap()
}

/// `t` as a tag (it must be a valid one).
fn tag(t: &str) -> Tag {
    Tag::parse(t).unwrap()
}

/// The instant the example snapshot was taken.
fn example_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// An OCI image manifest with a config named by a digest derived from `seed`, then
/// `base` (layers shared with other images: (name, size), their digests derived from
/// the name alone) and one layer of its own of `size` bytes; the image's digest is the
/// sha256 of this text, as in a registry.
fn image_manifest(
    seed: &str,
    config_type: &str,
    layer_type: &str,
    base: &[(String, u64)],
    size: u64,
) -> String {
    let mut layers: Vec<serde_json::Value> = base
        .iter()
        .map(|(name, bytes)| {
            serde_json::json!({
                "mediaType": layer_type,
                "digest": digest_of(&format!("layer:{name}")).as_str(),
                "size": bytes,
            })
        })
        .collect();
    layers.push(serde_json::json!({
        "mediaType": layer_type,
        "digest": digest_of(&format!("{seed}:layer")).as_str(),
        "size": size,
    }));
    manifest_text(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {
            "mediaType": config_type,
            "digest": digest_of(&format!("{seed}:config")).as_str(),
            "size": 1_024 + size % 4_096,
        },
        "layers": layers,
    }))
}

/// The text of a manifest with the keys of every object in order, whatever order
/// serde_json keeps: the example's digests are the hashes of these exact bytes.
fn manifest_text(value: serde_json::Value) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    sorted(value).to_string()
}

struct RepoBuilder {
    name: &'static str,
    images: Vec<SnapshotImage>,
    rng: Rng,
    /// The base layers every image of the repository is built on (name, size), as a
    /// Dockerfile's `FROM` gives them: shared, so stored once.
    base: Vec<(String, u64)>,
}

impl RepoBuilder {
    fn new(name: &'static str, seed: u64) -> Self {
        Self {
            name,
            images: Vec::new(),
            rng: Rng::new(seed),
            base: Vec::new(),
        }
    }

    /// The same builder, its images on base layers named `base` of these sizes (an
    /// operating system, a runtime): every image of the repository shares them.
    fn on(mut self, base: &str, sizes: &[u64]) -> Self {
        self.base = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("{base}:{i}"), n))
            .collect();
        self
    }

    /// The size of an image's own layer.
    fn size(&mut self) -> u64 {
        2_000_000 + self.rng.below(60_000_000)
    }

    /// A single-platform image.
    fn image(&mut self, tags: &[String], at: DateTime<Utc>) -> Digest {
        let seed = format!("{}:{}:{}", self.name, self.images.len(), tags.join(","));
        self.plain(&seed, tags, at).0
    }

    /// Pushes a single-platform image whose manifest is made from `seed`; returns its
    /// digest and the length of its manifest.
    fn plain(&mut self, seed: &str, tags: &[String], at: DateTime<Utc>) -> (Digest, usize) {
        let base = self.base.clone();
        self.plain_on(seed, tags, at, &base)
    }

    /// [`Self::plain`] on the base layers `base`.
    fn plain_on(
        &mut self,
        seed: &str,
        tags: &[String],
        at: DateTime<Utc>,
        base: &[(String, u64)],
    ) -> (Digest, usize) {
        let own = self.size();
        let manifest = image_manifest(seed, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, base, own);
        // ECR reports the layers' sizes, the shared ones included.
        let size = own + base.iter().map(|b| b.1).sum::<u64>();
        let digest = digest_of(&manifest);
        let len = manifest.len();
        self.images.push(SnapshotImage {
            digest: digest.clone(),
            tags: tags.iter().map(|t| tag(t)).collect(),
            pushed_at: at,
            manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_media_type: Some(CONFIG_MEDIA_TYPE.into()),
            size_bytes: Some(size),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
            children: vec![],
            manifest: Some(manifest),
        });
        (digest, len)
    }

    /// A multi-platform image: amd64 and arm64 children (untagged), then the index.
    fn multi_arch(&mut self, tags: &[String], at: DateTime<Utc>) -> Digest {
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for arch in ["amd64", "arm64"] {
            let seed = format!(
                "{}:{}:{arch}:{}",
                self.name,
                self.images.len(),
                tags.join(",")
            );
            // Each platform has its own base layers.
            let base: Vec<(String, u64)> = self
                .base
                .iter()
                .map(|(name, n)| (format!("{name}:{arch}"), *n))
                .collect();
            let (d, len) = self.plain_on(&seed, &[], at, &base);
            entries.push(serde_json::json!({
                "mediaType": media_type::OCI_MANIFEST,
                "digest": d.as_str(),
                "size": len,
                "platform": {"architecture": arch, "os": "linux"},
            }));
            children.push(d);
        }
        let manifest = manifest_text(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": entries,
        }));
        let digest = digest_of(&manifest);
        self.images.push(SnapshotImage {
            digest: digest.clone(),
            tags: tags.iter().map(|t| tag(t)).collect(),
            pushed_at: at + Duration::seconds(5),
            manifest_media_type: Some(media_type::OCI_INDEX.into()),
            artifact_media_type: None,
            size_bytes: Some(manifest.len() as u64),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
            children,
            manifest: Some(manifest),
        });
        digest
    }

    /// A cosign signature (tag scheme) of `subject`.
    fn signature(&mut self, subject: &Digest, at: DateTime<Utc>) {
        let t = format!("sha256-{}.sig", subject.hex());
        let seed = format!("{}:sig:{subject}", self.name);
        let manifest = image_manifest(&seed, CONFIG_MEDIA_TYPE, SIGNATURE_MEDIA_TYPE, &[], 1_500);
        self.images.push(SnapshotImage {
            digest: digest_of(&manifest),
            tags: vec![tag(&t)],
            pushed_at: at + Duration::seconds(30),
            manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_media_type: Some(SIGNATURE_MEDIA_TYPE.into()),
            size_bytes: Some(1_500),
            subject: None,
            status: None,
            last_recorded_pull_time: None,
            last_archived_at: None,
            last_activated_at: None,
            children: vec![],
            manifest: Some(manifest),
        });
    }

    fn done(self) -> SnapshotRepository {
        SnapshotRepository {
            name: RepositoryName::parse(self.name).unwrap(),
            images: self.images,
            lifecycle_policy: None,
            tag_mutability: None,
        }
    }
}

/// The example registry of `examples/snapshot.json`: several teams' repositories with
/// releases, pull-request and branch builds, multi-platform images, cosign
/// signatures and untagged leftovers.
pub fn example_snapshot() -> Snapshot {
    let now = example_time();
    let days = |d: i64| now - Duration::days(d);
    let hours = |h: i64| now - Duration::hours(h);

    // payments/api: multi-arch signed releases, PR builds, main builds, leftovers.
    let mut api =
        RepoBuilder::new("payments/api", 1).on("debian-12-slim", &[29_000_000, 48_000_000]);
    let releases = [
        "v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.3.8", "v1.4.0", "v1.4.1", "v1.4.2", "v1.4.3",
    ];
    for (i, v) in releases.iter().enumerate() {
        let at = days(200 - 20 * i as i64);
        let mut tags = vec![v.to_string()];
        if *v == "v1.4.3" {
            tags.push("latest".into());
        }
        if i % 3 == 0 {
            tags.push(format!("release-2026.{}", i + 1));
        }
        let d = api.multi_arch(&tags, at);
        api.signature(&d, at);
    }
    for pr in 0..40 {
        let at = hours(24 * 40 - 23 * pr);
        api.image(&[format!("pr-{}", 800 + pr)], at);
    }
    for b in 0..30 {
        let sha = &digest_of(&format!("commit{b}")).hex()[..7].to_owned();
        api.image(&[format!("main-{sha}")], days(60 - 2 * b));
    }
    for u in 0..25 {
        api.image(&[], days(90 - 3 * u));
    }

    // payments/worker: single-platform, keeps untagged images.
    let mut worker =
        RepoBuilder::new("payments/worker", 2).on("python-3.12", &[29_000_000, 55_000_000]);
    for (i, v) in ["v2.0.0", "v2.1.0", "v2.2.0", "v2.2.1"].iter().enumerate() {
        worker.image(
            &[v.to_string(), format!("{v}-debug")],
            days(120 - 30 * i as i64),
        );
    }
    for b in 0..24 {
        worker.image(&[format!("main-{}", 4000 + b)], hours(24 * 24 - 24 * b));
    }
    for u in 0..10 {
        worker.image(&[], days(50 - 4 * u));
    }

    // platform/base-images: multi-arch bases rebuilt weekly.
    let mut base = RepoBuilder::new("platform/base-images", 3).on("debian-12", &[30_000_000]);
    for w in 0..20 {
        let at = days(7 * (20 - w));
        let mut tags = vec![format!("bookworm-2026w{:02}", 27 + w)];
        if w == 19 {
            tags.push("bookworm".into());
            tags.push("latest".into());
        }
        if w % 5 == 0 {
            tags.push(format!("alpine-3.{}", 18 + w / 5));
        }
        base.multi_arch(&tags, at);
    }
    for n in 0..15 {
        base.image(&[format!("scratch-test-{n}")], days(30 + n));
    }

    // identity/auth: everything allowed, nothing to do.
    let mut auth =
        RepoBuilder::new("identity/auth", 4).on("distroless-java", &[22_000_000, 90_000_000]);
    for i in 0..12 {
        auth.image(&[format!("v3.{i}.0")], days(12 * (12 - i)));
    }

    // legacy/reporting: nothing it allows exists any more; the guard refuses.
    let mut legacy = RepoBuilder::new("legacy/reporting", 5).on("ubuntu-20.04", &[28_000_000]);
    for i in 0..8 {
        legacy.image(&[format!("2024.{:02}", i + 1)], days(600 - 30 * i));
    }

    // sandbox/experiments: declared in no file, never touched.
    let mut sandbox = RepoBuilder::new("sandbox/experiments", 6).on("alpine-3.20", &[3_600_000]);
    for i in 0..20 {
        sandbox.image(&[format!("try-{i}")], days(i));
    }

    Snapshot {
        version: SNAPSHOT_VERSION,
        generated_at: Some(now),
        registries: vec![SnapshotRegistry {
            account: AccountId::parse("123456789012").unwrap(),
            region: Some(Region::parse("eu-west-1").unwrap()),
            public_alias: None,
            replication: Vec::new(),
            pull_through_cache_rules: Vec::new(),
            repositories: vec![
                api.done(),
                worker.done(),
                base.done(),
                auth.done(),
                legacy.done(),
                sandbox.done(),
            ],
        }],
    }
}

/// An OCI image manifest with config `config` and `layers` (digest, size), written
/// directly (the benchmark's snapshots hold a million of them).
fn scale_manifest(config: &Digest, layers: &[(&Digest, u64)]) -> String {
    let mut out = format!(
        r#"{{"config":{{"digest":"{config}","mediaType":"{CONFIG_MEDIA_TYPE}","size":1024}},"layers":["#
    );
    for (n, (digest, size)) in layers.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"digest":"{digest}","mediaType":"{LAYER_MEDIA_TYPE}","size":{size}}}"#
        ));
    }
    out.push_str(&format!(
        r#"],"mediaType":"{}","schemaVersion":2}}"#,
        media_type::OCI_MANIFEST
    ));
    out
}

/// A large snapshot for the benchmark: `repos` repositories of `per_repo` images
/// each (releases, PR and branch builds, untagged leftovers), every image with its
/// manifest (digests true: the sha256 of the manifest) on layers shared as builds
/// share them (two base layers per repository, a dependency layer per 10 builds), and
/// the desired-state YAML that declares them all.
pub fn scale_snapshot(repos: usize, per_repo: usize) -> (Snapshot, String) {
    let now = example_time();
    let mut rng = Rng::new(42);
    let mut repositories = Vec::with_capacity(repos);
    let mut yaml = String::from(
        "version: 1\nregistry:\n  account: \"123456789012\"\n  region: eu-west-1\nrepositories:\n",
    );
    for r in 0..repos {
        let name = format!("team-{}/service-{r}", r % 50);
        let base = [
            digest_of(&format!("base:{r}:0")),
            digest_of(&format!("base:{r}:1")),
        ];
        let dependency_layers: Vec<(Digest, u64)> = (0..per_repo.div_ceil(10).max(1))
            .map(|g| {
                (
                    digest_of(&format!("dependencies:{r}:{g}")),
                    5_000_000 + rng.below(20_000_000),
                )
            })
            .collect();
        let mut images = Vec::with_capacity(per_repo);
        let mut i = 0;
        while images.len() < per_repo {
            let at = now - Duration::minutes((per_repo - images.len()) as i64 * 37);
            let kind = rng.below(10);
            // Built on the repository's two base layers and a dependency layer that
            // changes every 10 builds, plus a layer of its own.
            let dependencies = &dependency_layers[(i / 10) as usize % dependency_layers.len()];
            let own = 1_000_000 + rng.below(30_000_000);
            let own_digest = digest_of(&format!("own:{r}:{i}"));
            let manifest = scale_manifest(
                &digest_of(&format!("config:{r}:{i}")),
                &[
                    (&base[0], 30_000_000),
                    (&base[1], 50_000_000),
                    (&dependencies.0, dependencies.1),
                    (&own_digest, own),
                ],
            );
            let d = digest_of(&manifest);
            let size = 80_000_000 + dependencies.1 + own;
            i += 1;
            let tags: Vec<Tag> = match kind {
                0 => vec![tag(&format!("v1.{}.{}", i / 10, i % 10))],
                1..=5 => vec![tag(&format!("pr-{i}"))],
                6 | 7 => vec![tag(&format!("main-{i}"))],
                _ => vec![],
            };
            images.push(SnapshotImage {
                digest: d,
                tags,
                pushed_at: at,
                manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
                artifact_media_type: None,
                size_bytes: Some(size),
                subject: None,
                status: None,
                last_recorded_pull_time: None,
                last_archived_at: None,
                last_activated_at: None,
                children: vec![],
                manifest: Some(manifest),
            });
        }
        repositories.push(SnapshotRepository {
            name: RepositoryName::parse(name.clone()).unwrap(),
            images,
            lifecycle_policy: None,
            tag_mutability: None,
        });
        yaml.push_str(&format!(
            "  {name}:\n    tags:\n      - \"v1.*\"\n      - pattern: \"pr-*\"\n        keep_latest: 20\n        max_age: 14d\n      - pattern: \"main-*\"\n        keep_latest: 10\n    untagged: delete\n"
        ));
    }
    let snapshot = Snapshot {
        version: SNAPSHOT_VERSION,
        generated_at: Some(now),
        registries: vec![SnapshotRegistry {
            account: AccountId::parse("123456789012").unwrap(),
            region: Some(Region::parse("eu-west-1").unwrap()),
            public_alias: None,
            repositories,
            replication: Vec::new(),
            pull_through_cache_rules: Vec::new(),
        }],
    };
    (snapshot, yaml)
}

/// The shape of an organisation's snapshot ([`org_snapshot`]).
#[derive(Clone, Copy, Debug)]
pub struct OrgShape {
    /// Accounts, a private registry each (all in one region).
    pub accounts: usize,
    /// Repositories per account.
    pub repositories: usize,
    /// Images per repository.
    pub images: usize,
}

/// The id of the `n`-th account of an organisation snapshot.
pub fn org_account(n: usize) -> String {
    format!("{:012}", 100_000_000_000 + n)
}

/// The repositories block of the desired state of one account of [`org_snapshot`]:
/// the releases kept, the pull-request builds by count and age, the branch builds by
/// count, the untagged images deleted.
fn org_rules(name: &str) -> String {
    format!(
        "  {name}:\n    tags:\n      - \"v1.*\"\n      - pattern: \"pr-*\"\n        keep_latest: 20\n        max_age: 14d\n      - pattern: \"main-*\"\n        keep_latest: 10\n    untagged: delete\n"
    )
}

/// Writes an organisation's snapshot of `shape` to `snapshot` and its desired state to
/// `desired` (a folder: one file per account, `account-N.yaml`, naming its registry),
/// streaming: one repository at a time is held, so 20 million images take no more
/// memory than 200. The images carry no manifest (their size only, as a registry
/// reports it): with manifests a snapshot of that size would not fit a disk. Tags as
/// [`scale_snapshot`]'s: releases, pull-request and branch builds, untagged leftovers.
pub fn org_snapshot(
    shape: OrgShape,
    snapshot: &std::path::Path,
    desired: &std::path::Path,
) -> std::io::Result<()> {
    use std::io::Write;
    let now = example_time();
    let mut rng = Rng::new(7);
    std::fs::create_dir_all(desired)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(snapshot)?);
    write!(
        out,
        r#"{{"version":{SNAPSHOT_VERSION},"generated_at":{},"registries":["#,
        serde_json::to_string(&now)?
    )?;
    for a in 0..shape.accounts {
        let account = org_account(a);
        let mut yaml = format!(
            "version: 1\nregistry:\n  account: \"{account}\"\n  region: eu-west-1\nrepositories:\n"
        );
        if a > 0 {
            out.write_all(b",")?;
        }
        write!(
            out,
            r#"{{"account":"{account}","region":"eu-west-1","repositories":["#
        )?;
        for r in 0..shape.repositories {
            let name = format!("team-{}/service-{r}", r % 50);
            let mut images = Vec::with_capacity(shape.images);
            for i in 0..shape.images {
                let at = now - Duration::minutes((shape.images - i) as i64 * 37);
                let n = i + 1;
                let tags: Vec<Tag> = match rng.below(10) {
                    0 => vec![tag(&format!("v1.{}.{}", n / 10, n % 10))],
                    1..=5 => vec![tag(&format!("pr-{n}"))],
                    6 | 7 => vec![tag(&format!("main-{n}"))],
                    _ => vec![],
                };
                images.push(SnapshotImage {
                    digest: digest_of(&format!("org:{a}:{r}:{i}")),
                    tags,
                    pushed_at: at,
                    manifest_media_type: None,
                    artifact_media_type: None,
                    size_bytes: Some(80_000_000 + rng.below(30_000_000)),
                    subject: None,
                    status: None,
                    last_recorded_pull_time: None,
                    last_archived_at: None,
                    last_activated_at: None,
                    children: vec![],
                    manifest: None,
                });
            }
            if r > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(
                &mut out,
                &SnapshotRepository {
                    name: RepositoryName::parse(name.clone()).unwrap(),
                    images,
                    lifecycle_policy: None,
                    tag_mutability: None,
                },
            )?;
            yaml.push_str(&org_rules(&name));
        }
        out.write_all(b"]}")?;
        std::fs::write(desired.join(format!("account-{a}.yaml")), yaml)?;
    }
    out.write_all(b"]}")?;
    out.flush()
}
