//! Benchmark: how fast `apply` removes what it should, and with how many calls.
//!
//! `cargo bench --bench apply_speed` (needs moto: run scripts/test.sh once, or set
//! MOTO_SERVER; boto3 comes with it). Two parts:
//!
//! 1. 40 repositories x 50 images, 25 deletions and 5 untags per repository, against
//!    moto behind the test kit's proxy, which adds a latency to every request (25 ms
//!    and 100 ms): the release binary's `apply` (it plans first) side by side with a
//!    plain sequential boto3 script that lists each repository (describe_images,
//!    paginated) and deletes the tags that are not allowed, by tag, 100 per call.
//!    Runs interleave (tool, script, tool, ...), on a freshly seeded registry each;
//!    medians are printed, with the tool's calls against their lower bound (the
//!    plan's reads plus ceil(removals / 100) BatchDeleteImage per repository).
//!    moto serves one request at a time, which caps any client's speed-up near 3x at
//!    25 ms.
//! 2. One repository of 10,000 images with 9,000 removals, on the in-memory registry
//!    behind a wrapper that answers every call after 25 ms and serves calls
//!    concurrently: the apply with the default width against the same apply sending
//!    one request at a time.
//!
//! Rounds: `BENCH_ROUNDS` (default 3). Figures are printed; nothing is asserted about
//! time.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ecr_reconcile::config::load_sources;
use ecr_reconcile::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag, media_type,
};
use ecr_reconcile::ops::apply::{ApplyOptions, Journal, Quiet, apply_plan_with};
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::registry::memory::{InMemoryRegistry, StoredImage};
use ecr_reconcile::registry::{
    BatchDeleteResult, BatchGetResult, ImageDetail, ImageId, ImagePage, PutManifest, Registry,
    RegistryError,
};
use testkit::Binary;
use testkit::moto::{self, Moto, text};
use testkit::proxy::{Faults, Proxy};

const REPOS: usize = 40;
const IMAGES: usize = 50;
const DELETIONS: usize = 25;
const UNTAGS: usize = 5;

/// The sequential boto3 script the tool is measured against.
const SCRIPT: &str = r#"
import fnmatch, sys
import boto3

endpoint, pattern, *repos = sys.argv[1:]
ecr = boto3.client(
    "ecr", endpoint_url=endpoint, region_name="eu-west-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
)
calls = 0
for repo in repos:
    remove = []
    for page in ecr.get_paginator("describe_images").paginate(repositoryName=repo):
        calls += 1
        for image in page["imageDetails"]:
            remove += [t for t in image.get("imageTags", []) if not fnmatch.fnmatchcase(t, pattern)]
    for i in range(0, len(remove), 100):
        ecr.batch_delete_image(
            repositoryName=repo, imageIds=[{"imageTag": t} for t in remove[i:i + 100]]
        )
        calls += 1
print(calls)
"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn repo_name(r: usize) -> String {
    format!("bench/service-{r}")
}

/// Per repository: 20 releases kept, 5 releases with an extra tag (untagged), 25
/// builds (deleted).
fn seed(m: &Moto) {
    m.reset();
    for r in 0..REPOS {
        let name = repo_name(r);
        m.create_repository(&name);
        let images: Vec<(String, Vec<String>)> = (0..IMAGES)
            .map(|i| {
                let tags = if i < DELETIONS {
                    vec![format!("pr-{i}")]
                } else if i < DELETIONS + UNTAGS {
                    vec![format!("v1.{i}"), format!("rc-{i}")]
                } else {
                    vec![format!("v1.{i}")]
                };
                (format!("{r}-{i}"), tags)
            })
            .collect();
        m.push_many(&name, &images);
    }
}

struct ToolRun {
    time: Duration,
    calls: BTreeMap<String, usize>,
}

fn moto_part(rounds: usize) {
    let binary = Binary::new(env!("CARGO_BIN_EXE_ecr-reconcile"));
    let python = moto::python().expect("the Python moto is installed for (with boto3)");
    let m = Moto::start(binary.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("version: 1\nrepositories:\n");
    for r in 0..REPOS {
        yaml.push_str(&format!("  {}:\n    tags: [\"v1.*\"]\n", repo_name(r)));
    }
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let script = dir.path().join("prune.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let repos: Vec<String> = (0..REPOS).map(repo_name).collect();
    let removals = DELETIONS + UNTAGS;
    let lower_deletes = REPOS * removals.div_ceil(100);
    let lower_bound = REPOS + lower_deletes;
    println!(
        "apply_speed (moto): {REPOS} repositories x {IMAGES} images, {DELETIONS} deletions and {UNTAGS} untags each; {rounds} interleaved rounds"
    );
    for latency_ms in [25u64, 100] {
        let p = Proxy::start(
            &m.url,
            Faults {
                latency: Duration::from_millis(latency_ms),
                ..Faults::default()
            },
        );
        let mut tool: Vec<ToolRun> = Vec::new();
        let mut script_times = Vec::new();
        let mut script_calls = 0;
        for _ in 0..rounds {
            seed(&m);
            p.clear();
            let t = Instant::now();
            let out = binary
                .command(
                    &p.url,
                    &[
                        "apply",
                        cfg.to_str().unwrap(),
                        "--auto-approve",
                        "--format",
                        "json",
                    ],
                    Some(dir.path()),
                )
                .output()
                .unwrap();
            let time = t.elapsed();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                report["report"]["tags_removed"],
                REPOS * removals,
                "{report}"
            );
            let mut calls = BTreeMap::new();
            for c in p.calls() {
                *calls.entry(c.operation).or_insert(0) += 1;
            }
            tool.push(ToolRun { time, calls });

            seed(&m);
            let t = Instant::now();
            let out = Command::new(&python)
                .arg(&script)
                .arg(&p.url)
                .arg("v1.*")
                .args(&repos)
                .output()
                .unwrap();
            script_times.push(t.elapsed());
            assert!(out.status.success(), "{}", text(&out.stderr));
            script_calls = text(&out.stdout).trim().parse().unwrap();
            let left: usize = repos.iter().map(|r| m.tags(r).len()).sum();
            assert_eq!(left, REPOS * (IMAGES - DELETIONS), "the script did its job");
        }
        let mut tool_times: Vec<Duration> = tool.iter().map(|r| r.time).collect();
        let tool_median = median(&mut tool_times);
        let script_median = median(&mut script_times);
        let calls = &tool.last().unwrap().calls;
        let total: usize = calls.values().sum();
        let deletes = calls.get("BatchDeleteImage").copied().unwrap_or(0);
        println!(
            "  {latency_ms:>3} ms per request: apply {:>6.2?} (median; runs {:.2?}), boto3 script {:>6.2?} ({} calls): {:.1}x faster",
            tool_median,
            tool_times,
            script_median,
            script_calls,
            script_median.as_secs_f64() / tool_median.as_secs_f64()
        );
        println!(
            "      apply calls {total} = {:.2}x the lower bound {lower_bound} (plan reads {REPOS} + BatchDeleteImage {lower_deletes}); BatchDeleteImage {deletes} (lower bound {lower_deletes}); by operation {calls:?}",
            total as f64 / lower_bound as f64
        );
    }
}

/// The in-memory model behind a wrapper that answers each call after a delay, and
/// serves calls concurrently (as ECR does).
struct Latency {
    inner: InMemoryRegistry,
    delay: Duration,
}

impl Registry for Latency {
    async fn caller_account(&self, region: &Region) -> Result<AccountId, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.caller_account(region).await
    }
    async fn describe_public_registries(
        &self,
    ) -> Result<Vec<ecr_reconcile::registry::PublicRegistryInfo>, RegistryError> {
        self.inner.describe_public_registries().await
    }

    async fn describe_repositories(
        &self,
        registry: &ecr_reconcile::model::RegistryLocation,
        next_token: Option<&str>,
    ) -> Result<ecr_reconcile::registry::RepositoryPage, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.describe_repositories(registry, next_token).await
    }
    async fn describe_images(
        &self,
        r: &RepositoryRef,
        t: Option<&str>,
        m: u32,
    ) -> Result<ImagePage, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.describe_images(r, t, m).await
    }
    async fn describe_images_by_id(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<Vec<ImageDetail>, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.describe_images_by_id(r, ids).await
    }
    async fn batch_get_image(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchGetResult, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.batch_get_image(r, ids).await
    }
    async fn batch_delete_image(
        &self,
        r: &RepositoryRef,
        ids: &[ImageId],
    ) -> Result<BatchDeleteResult, RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.batch_delete_image(r, ids).await
    }
    async fn put_image(
        &self,
        r: &RepositoryRef,
        m: &PutManifest<'_>,
        t: Option<&Tag>,
    ) -> Result<(), RegistryError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put_image(r, m, t).await
    }
}

fn large_repository() -> (InMemoryRegistry, RepositoryRef) {
    let repo = RepositoryRef {
        registry: RegistryLocation::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-1").unwrap(),
        ),
        name: RepositoryName::parse("bench/large").unwrap(),
    };
    let mut reg = InMemoryRegistry::new();
    reg.set_caller_account(
        repo.registry
            .region()
            .expect("a private repository")
            .clone(),
        repo.registry.account().clone(),
    );
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let images = (0..10_000u32).map(|n| {
        let tag = if n < 9_000 {
            format!("pr-{n}")
        } else {
            format!("v1.{n}")
        };
        // The digest is the manifest's hash, as in ECR, so the journal saves it.
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"sha256:{n:064x}"}}}}"#,
            media_type::OCI_MANIFEST
        );
        StoredImage::new(
            ImageDetail {
                digest: Digest::parse(ecr_reconcile::hash::sha256(manifest.as_bytes())).unwrap(),
                tags: vec![Tag::parse(tag).unwrap()],
                pushed_at: base + chrono::Duration::seconds(n.into()),
                manifest_media_type: Some(media_type::OCI_MANIFEST.into()),
                artifact_media_type: None,
                size_bytes: Some(1000),
                subject: None,
                status: None,
                last_recorded_pull_time: None,
                last_archived_at: None,
                last_activated_at: None,
            },
            Vec::new(),
        )
        .with_manifest(manifest)
    });
    reg.load_images(&repo, images);
    (reg, repo)
}

fn in_memory_part() {
    let delay = Duration::from_millis(25);
    let desired = load_sources(vec![(
        "large.yaml".into(),
        b"version: 1\nrepositories:\n  bench/large:\n    tags: [\"v1.*\"]\n".to_vec(),
    )])
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "apply_speed (in-memory, {} ms per call, calls served concurrently): 1 repository x 10,000 images, 9,000 removals",
        delay.as_millis()
    );
    let mut results = Vec::new();
    for (label, parallelism) in [
        ("default width", ApplyOptions::default().parallelism),
        ("one request at a time", 1),
    ] {
        let (reg, _) = large_repository();
        let reg = Latency { inner: reg, delay };
        let settings = RunSettings {
            source_label: "bench".into(),
            ..RunSettings::offline(
                Some(Region::parse("eu-west-1").unwrap()),
                Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
                parallelism,
            )
        };
        let plan = rt.block_on(make_plan(&reg, &desired, &settings)).unwrap();
        let before = reg.inner.calls();
        let path = dir.path().join(format!("journal-{parallelism}.jsonl"));
        let mut journal = Journal::open(&path).unwrap();
        let options = ApplyOptions {
            parallelism,
            ..ApplyOptions::default()
        };
        let t = Instant::now();
        let report = rt
            .block_on(apply_plan_with(&reg, &plan, &mut journal, &Quiet, options))
            .unwrap();
        let time = t.elapsed();
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(report.images_deleted, 9_000);
        let after = reg.inner.calls();
        println!(
            "  {label:<22} (width {parallelism:>2}): apply {time:>7.2?}; calls DescribeImages {}, BatchGetImage {}, BatchDeleteImage {}",
            after.describe_images - before.describe_images,
            after.batch_get_image - before.batch_get_image,
            after.batch_delete_image - before.batch_delete_image,
        );
        results.push(time);
    }
    println!(
        "  speed-up: {:.1}x",
        results[1].as_secs_f64() / results[0].as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds = env_usize("BENCH_ROUNDS", 3).max(1);
    in_memory_part();
    if std::env::var_os("BENCH_SKIP_MOTO").is_none() {
        moto_part(rounds);
    }
}
