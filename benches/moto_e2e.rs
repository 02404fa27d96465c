//! Benchmark: wall time of `plan` and `apply` against moto for 20 repositories x 100
//! images (half of them to delete), with the release binary.
//!
//! `cargo bench --bench moto_e2e` (needs moto: run scripts/test.sh once, or set
//! MOTO_SERVER).

use std::time::Instant;

use testkit::Binary;
use testkit::moto::{Moto, text};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let repos = 20;
    let per_repo = 100;
    let m = Moto::start(Binary::new(env!("CARGO_BIN_EXE_ecr-reconcile")));
    let seeding = Instant::now();
    let mut yaml = String::from("version: 1\nrepositories:\n");
    for r in 0..repos {
        let name = format!("bench/service-{r}");
        m.create_repository(&name);
        for i in 0..per_repo {
            let tag = if i % 2 == 0 {
                format!("v1.{i}")
            } else {
                format!("pr-{i}")
            };
            m.push_image(&name, &format!("{r}-{i}"), &[&tag]);
        }
        yaml.push_str(&format!("  {name}:\n    tags: [\"v1.*\"]\n"));
    }
    println!(
        "moto_e2e: {repos} repositories x {per_repo} images, seeded in {:.1?}",
        seeding.elapsed()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bench.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let cfg = cfg.to_str().unwrap();

    let t = Instant::now();
    let out = m.run(&["plan", cfg, "--format", "json"]);
    let plan_time = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "  plan:  {:>7.2?}  ({} images to delete; calls {})",
        plan_time, plan["summary"]["images_to_delete"], plan["api_calls"]
    );

    let t = Instant::now();
    let out = m.run_in(
        &["apply", cfg, "--auto-approve", "--format", "json"],
        Some(dir.path()),
    );
    let apply_time = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "  apply: {:>7.2?}  ({} images deleted; calls {})",
        apply_time, report["report"]["images_deleted"], report["api_calls"]
    );

    let t = Instant::now();
    let out = m.run(&["plan", cfg, "--detailed-exitcode"]);
    println!(
        "  plan again: {:>7.2?}  exit {}",
        t.elapsed(),
        out.status.code().unwrap_or(-1)
    );
}
