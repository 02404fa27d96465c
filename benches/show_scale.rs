//! Benchmark: read saved plans of an organisation as `show` reads them, streaming
//! (`ops::show::open` + `for_each`), and, for comparison, whole
//! (`ops::verify::read_saved`, then `ops::shard::merge` for shards); wall time and
//! peak memory of each.
//!
//! `cargo bench --bench show_scale` (sizes as `org_scale`: `ORG_ACCOUNTS`, default
//! 20, `ORG_REPOS`, `ORG_IMAGES`; `SHOW_SHARDS`, default 4; `SHOW_WHOLE=0` skips the
//! reading whole; `ORG_KEEP=1` keeps the generated files). Generates the snapshot,
//! saves its plan with the release binary (`plan --out`, and `plan --shard K/N --out`
//! for each K), then measures each reading in a process of its own (this binary run
//! again), its peak RSS read from `/proc/self/status` (`VmHWM`). Without `--bench`
//! (`cargo test --benches`) it does nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ecr_reconcile::ops;
use testkit::generator::{OrgShape, org_snapshot};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's peak resident set, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The measurement in this process: `how` (`stream` or `whole`) of `files`.
fn measure(how: &str, files: &[PathBuf]) {
    let t = Instant::now();
    let shown: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| (f.display().to_string(), f.clone()))
        .collect();
    let (repositories, images) = if how == "stream" {
        let opened = ops::show::open(&shown).expect("the saved plans open");
        let mut counts = (0, 0);
        opened
            .for_each(&mut |r| {
                counts.0 += 1;
                counts.1 += r.images_observed;
                Ok(())
            })
            .expect("every repository is read");
        counts
    } else {
        let mut plans: Vec<_> = shown
            .iter()
            .map(|(s, p)| (s.clone(), ops::verify::read_saved(p).expect("reads")))
            .collect();
        let outcome = if plans.len() == 1 {
            plans.pop().expect("one").1
        } else {
            ops::shard::merge(plans).expect("the shards merge")
        };
        let r = &outcome.plan.repositories;
        (r.len(), r.iter().map(|r| r.images_observed).sum())
    };
    println!(
        "  {how} {} file(s): {repositories} repositories, {images} images, wall {:.1} s, peak RSS {:.0} MiB",
        files.len(),
        t.elapsed().as_secs_f64(),
        peak_mib()
    );
}

/// `plan --snapshot S DIR --format json --out OUT` and `extra`, with the release binary.
fn save(snapshot: &Path, desired: &Path, out: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_ecr-reconcile"))
        .args(["plan", "--snapshot"])
        .arg(snapshot)
        .arg(desired)
        .args(["--format", "json", "--out"])
        .arg(out)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the binary runs");
    assert!(matches!(status.code(), Some(0 | 2)), "plan: {status}");
}

/// Runs [`measure`] in a process of its own (its peak memory is its own).
fn in_child(how: &str, files: &[PathBuf]) {
    let status = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--bench", "--measure", how])
        .args(files)
        .status()
        .expect("runs");
    assert!(status.success(), "{how}: {status}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--measure") {
        let files: Vec<PathBuf> = args[at + 2..].iter().map(PathBuf::from).collect();
        measure(&args[at + 1], &files);
        return;
    }
    let shape = OrgShape {
        accounts: env_usize("ORG_ACCOUNTS", 20),
        repositories: env_usize("ORG_REPOS", 500),
        images: env_usize("ORG_IMAGES", 200),
    };
    let shards = env_usize("SHOW_SHARDS", 4);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/bench-data/show-{}x{}x{}",
        shape.accounts, shape.repositories, shape.images
    ));
    let (snapshot, desired) = (dir.join("snapshot.json"), dir.join("desired"));
    if !snapshot.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        org_snapshot(shape, &snapshot, &desired).unwrap();
    }
    let whole = dir.join("plan.json");
    let t = Instant::now();
    save(&snapshot, &desired, &whole, &[]);
    let parts: Vec<PathBuf> = (1..=shards)
        .map(|k| {
            let part = dir.join(format!("plan-{k}-of-{shards}.json"));
            save(
                &snapshot,
                &desired,
                &part,
                &["--shard", &format!("{k}/{shards}")],
            );
            part
        })
        .collect();
    let mib = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1048576.0;
    println!(
        "show_scale: {} accounts x {} repositories x {} images, saved plan {:.0} MiB, {shards} shards {:.0} MiB (saved in {:.0?})",
        shape.accounts,
        shape.repositories,
        shape.images,
        mib(&whole),
        parts.iter().map(|p| mib(p)).sum::<f64>(),
        t.elapsed()
    );
    let one = std::slice::from_ref(&whole);
    in_child("stream", one);
    in_child("stream", &parts);
    if std::env::var("SHOW_WHOLE").as_deref() != Ok("0") {
        in_child("whole", one);
        in_child("whole", &parts);
    }
    if std::env::var_os("ORG_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
