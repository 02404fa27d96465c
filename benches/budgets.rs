//! Benchmark: the run's budget of calls per account against a registry that
//! throttles each account.
//!
//! `cargo bench --bench budgets` (needs moto: run scripts/test.sh once, or set
//! MOTO_SERVER; boto3 comes with it). `BENCH_ACCOUNTS` accounts (default 20), each
//! reached through its role (moto's STS gives credentials that act in the account of
//! the role's ARN), hold `BENCH_REPOS` repositories in all (default 2,000) of
//! `BENCH_IMAGES` images each (default 50): the shape, 100,000 images, seeded
//! by one request per account to the test kit plugin's SeedRepositories. The test
//! kit's proxy stands in front of moto and enforces a token bucket per account (the
//! access key of each request's signature) and operation: DescribeImages,
//! GetLifecyclePolicy and BatchGetImage at `BENCH_RATE` a second (default 1) with a
//! capacity of `BENCH_BURST` (default 5), answering throttling beyond it. moto
//! answers one request at a time, so the rate is one that it serves for 20 accounts
//! side by side (60 paced calls a second, and the calls without a quota). The release
//! binary's `plan --no-cache` is given the same buckets (`--api-rate OP=RATE,BURST`),
//! of which it spends 90%, and run once.
//!
//! Printed: the wall time of the run; the time the quota allows, that is for each
//! account and paced operation (calls - burst) / rate, the longest of them (the
//! accounts and operations run side by side); their ratio; the run's exit code (a
//! call that fails after its retries stops the plan: exit 0 means none failed); and
//! the requests the proxy refused (each one retried by the SDK) as a share of the
//! calls. Nothing is asserted about time.

use std::collections::BTreeMap;
use std::time::Instant;

use testkit::Binary;
use testkit::moto::{Moto, REGION, text};
use testkit::proxy::{Faults, Outcome, Proxy, Quota};

const PACED: [&str; 3] = ["DescribeImages", "GetLifecyclePolicy", "BatchGetImage"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn account(a: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + a as u64)
}

fn main() {
    let accounts = env_usize("BENCH_ACCOUNTS", 20);
    let repos = env_usize("BENCH_REPOS", 2000);
    let images = env_usize("BENCH_IMAGES", 50);
    let rate = env_usize("BENCH_RATE", 1) as f64;
    let burst = env_usize("BENCH_BURST", 5).max(1) as f64;
    let per_account = repos.div_ceil(accounts);
    let binary = Binary::new(env!("CARGO_BIN_EXE_ecr-reconcile"));
    let m = Moto::start(binary.clone());
    let ids: Vec<String> = (0..accounts).map(account).collect();

    let seeding = Instant::now();
    m.seed_repositories(&ids, "bench/service-", per_account, images);
    let seeded_in = seeding.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("desired");
    std::fs::create_dir_all(&desired).unwrap();
    for id in &ids {
        let mut yaml = format!(
            "version: 1\nregistry:\n  account: \"{id}\"\n  region: {REGION}\n  role: arn:aws:iam::{id}:role/ecr-reconcile\nrepositories:\n"
        );
        for r in 0..per_account {
            yaml.push_str(&format!("  bench/service-{r}:\n    tags: [\"build-4?\"]\n"));
        }
        std::fs::write(desired.join(format!("{id}.yaml")), yaml).unwrap();
    }

    let proxy = Proxy::start(
        &m.url,
        Faults {
            quota: Some(Quota {
                default: (1e6, 1e6),
                operations: PACED.iter().map(|o| (*o, burst, rate)).collect(),
            }),
            ..Faults::default()
        },
    );
    let rates: Vec<String> = PACED
        .iter()
        .map(|o| format!("{o}={rate},{burst}"))
        .collect();
    let mut args = vec![
        "plan".to_owned(),
        desired.to_str().unwrap().to_owned(),
        "--no-cache".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ];
    for r in &rates {
        args.extend(["--api-rate".to_owned(), r.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = binary.command(&proxy.url, &args, None).output().unwrap();
    let wall = started.elapsed().as_secs_f64();

    let calls = proxy.calls();
    // Calls the registry answered, by access key (account) and operation.
    let mut answered: BTreeMap<(String, String), usize> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.outcome.reached_registry()) {
        *answered
            .entry((
                c.access_key.clone().unwrap_or_default(),
                c.operation.clone(),
            ))
            .or_default() += 1;
    }
    let allowed = answered
        .iter()
        .filter(|((_, op), _)| PACED.contains(&op.as_str()))
        .map(|(_, &n)| (n as f64 - burst).max(0.0) / rate)
        .fold(0.0, f64::max);
    let refused = calls
        .iter()
        .filter(|c| c.outcome == Outcome::OverQuota)
        .count();
    let total: usize = answered.values().sum();
    let keys: std::collections::BTreeSet<&String> = answered.keys().map(|(k, _)| k).collect();
    println!(
        "budgets: {accounts} accounts x {per_account} repositories x {images} images ({} images), seeded in {:.1} s",
        accounts * per_account * images,
        seeded_in.as_secs_f64()
    );
    println!(
        "  proxy quota per account: {} at {rate}/s (burst {}); {} access keys seen",
        PACED.join(", "),
        burst,
        keys.len()
    );
    println!(
        "  plan: exit {:?}, wall {wall:.2} s; quota allows {allowed:.2} s; ratio {:.3}",
        out.status.code(),
        wall / allowed.max(f64::EPSILON)
    );
    println!(
        "  calls answered {total}, refused by the proxy {refused} ({:.2}% of calls, each retried)",
        100.0 * refused as f64 / total.max(1) as f64
    );
    if !out.status.success() {
        println!("  stderr: {}", text(&out.stderr));
    }
}
