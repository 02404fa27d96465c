//! Benchmark: plan a generated snapshot of 1,000 repositories x 1,000 images.
//!
//! `cargo bench --bench plan_scale` (sizes: `BENCH_REPOS`, `BENCH_IMAGES`). Reports
//! the time of each phase in-process, then runs the release binary end to end under
//! `/usr/bin/time` for wall time and peak memory (parsing the snapshot included).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ecr_reconcile::config;
use ecr_reconcile::model::Region;
use ecr_reconcile::ops::run::{RunSettings, make_plan};
use ecr_reconcile::registry::snapshot;
use testkit::generator;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and must not
    // spend minutes generating a million images.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let repos = env_usize("BENCH_REPOS", 1000);
    let per_repo = env_usize("BENCH_IMAGES", 1000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let snap_path = dir.join(format!("snapshot-{repos}x{per_repo}.json"));
    let yaml_path = dir.join(format!("desired-{repos}x{per_repo}.yaml"));
    if !snap_path.exists() || !yaml_path.exists() {
        let t = Instant::now();
        let (snap, yaml) = generator::scale_snapshot(repos, per_repo);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&snap_path).unwrap());
        serde_json::to_writer(&mut w, &snap).unwrap();
        w.flush().unwrap();
        std::fs::write(&yaml_path, yaml).unwrap();
        eprintln!("generated {} in {:.1?}", snap_path.display(), t.elapsed());
    }
    let size = std::fs::metadata(&snap_path).unwrap().len();
    println!(
        "plan_scale: {repos} repositories x {per_repo} images ({} images), snapshot {:.0} MiB",
        repos * per_repo,
        size as f64 / (1024.0 * 1024.0)
    );

    // In-process, phase by phase; best of 3.
    let mut best = [f64::MAX; 5];
    let mut actions = 0;
    for _ in 0..3 {
        let t0 = Instant::now();
        let desired = config::load(std::slice::from_ref(&yaml_path)).unwrap();
        let t1 = Instant::now();
        let snap = snapshot::read(&snap_path).unwrap();
        let t2 = Instant::now();
        let now = snap.generated_at.unwrap();
        let registry = snap.into_registry();
        let t3 = Instant::now();
        let settings = RunSettings {
            source_label: "bench".into(),
            ..RunSettings::offline(Some(Region::parse("eu-west-1").unwrap()), now, 8)
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let plan = rt
            .block_on(make_plan(&registry, &desired, &settings))
            .unwrap();
        let t4 = Instant::now();
        actions = plan
            .repositories
            .iter()
            .map(|r| r.actions.len())
            .sum::<usize>();
        let phases = [
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64(),
            (t4 - t0).as_secs_f64(),
        ];
        for (b, p) in best.iter_mut().zip(phases) {
            *b = b.min(p);
        }
        drop(plan);
    }
    println!("  in-process, best of 3:");
    println!("    load desired state      {:>8.3} s", best[0]);
    println!("    parse snapshot          {:>8.3} s", best[1]);
    println!("    build registry model    {:>8.3} s", best[2]);
    println!("    observe + plan          {:>8.3} s", best[3]);
    println!(
        "    total                   {:>8.3} s   ({actions} actions)",
        best[4]
    );

    // The bytes freed, recounted per repository with ordered sets (another algorithm
    // than the plan's hash sets): every repository must agree.
    {
        let desired = config::load(std::slice::from_ref(&yaml_path)).unwrap();
        let snap = snapshot::read(&snap_path).unwrap();
        let settings = RunSettings {
            source_label: "bench".into(),
            ..RunSettings::offline(
                Some(Region::parse("eu-west-1").unwrap()),
                snap.generated_at.unwrap(),
                8,
            )
        };
        let plan = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(make_plan(
                &snap.clone().into_registry(),
                &desired,
                &settings,
            ))
            .unwrap();
        let (mut agree, mut freed, mut reported) = (0, 0u64, 0u64);
        for (r, repo) in plan
            .repositories
            .iter()
            .zip(&snap.registries[0].repositories)
        {
            use std::collections::{BTreeMap, BTreeSet};
            let deleted: BTreeSet<&str> = r
                .actions
                .iter()
                .filter(|a| a.kind == ecr_reconcile::plan::ActionKind::Delete)
                .map(|a| a.digest.as_str())
                .collect();
            // blob -> (size, referenced by a kept image, by a deleted one)
            let mut blobs: BTreeMap<String, (u64, bool, bool)> = BTreeMap::new();
            for img in &repo.images {
                let v: serde_json::Value =
                    serde_json::from_str(img.manifest.as_deref().unwrap()).unwrap();
                let gone = deleted.contains(img.digest.as_str());
                for d in std::iter::once(&v["config"]).chain(v["layers"].as_array().unwrap()) {
                    let e = blobs
                        .entry(d["digest"].as_str().unwrap().to_owned())
                        .or_insert((d["size"].as_u64().unwrap(), false, false));
                    if gone {
                        e.2 = true;
                    } else {
                        e.1 = true;
                    }
                }
            }
            let recount: u64 = blobs.values().filter(|b| b.2 && !b.1).map(|b| b.0).sum();
            agree += usize::from(recount == r.freed_bytes);
            freed += recount;
            reported += r
                .actions
                .iter()
                .filter(|a| a.kind == ecr_reconcile::plan::ActionKind::Delete)
                .filter_map(|a| a.size_bytes)
                .sum::<u64>();
        }
        println!(
            "  bytes freed: {freed} (plan: {}), recount agrees in {agree} of {} repositories; the deletions' reported sizes sum to {reported}",
            plan.summary.freed_bytes,
            plan.repositories.len()
        );
    }

    // The real binary, end to end.
    let exe = env!("CARGO_BIN_EXE_ecr-reconcile");
    for format in ["markdown", "json"] {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%e %M"])
            .arg(exe)
            .args(["plan", "--snapshot"])
            .arg(&snap_path)
            .arg(&yaml_path)
            .args(["--format", format, "--color", "never"])
            .stdout(std::process::Stdio::null())
            .output()
            .expect("/usr/bin/time runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("");
        let mut it = last.split_whitespace();
        let wall: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        let kib: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        println!(
            "  binary `plan --format {format}` (stdout to /dev/null): wall {wall:.2} s, peak RSS {:.0} MiB, exit {}",
            kib / 1024.0,
            out.status.code().unwrap_or(-1)
        );
    }
}
