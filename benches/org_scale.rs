//! Benchmark: plan an organisation's snapshot, 200 accounts x 500 repositories x 200
//! images (20 million images), and measure the release binary's wall time and peak
//! memory.
//!
//! `cargo bench --bench org_scale` (sizes: `ORG_ACCOUNTS`, `ORG_REPOS`, `ORG_IMAGES`;
//! `ORG_KEEP=1` keeps the generated files; `ORG_OUT=0` skips the run with `--out`;
//! `ORG_FORMATS=human,markdown,report,github` adds runs of those outputs).
//! The snapshot is generated streaming, its images without manifests (sizes only:
//! with manifests 20 million images would take about 18 GB), with a desired-state
//! file per account. Then runs, under `/usr/bin/time -v`, `plan --snapshot S DIR
//! --format json` (stdout to /dev/null) and the same with `--out plan.json`. Without
//! `--bench` (`cargo test --benches`) it does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::generator::{OrgShape, org_snapshot};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Wall time (s) and peak RSS (KiB) from `/usr/bin/time -v`'s report.
fn measured(stderr: &str) -> (String, f64) {
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(name)
                    .map(str::trim)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let kib = field("Maximum resident set size (kbytes):")
        .parse()
        .unwrap_or(f64::NAN);
    (field("Elapsed (wall clock) time (h:mm:ss or m:ss):"), kib)
}

fn run(label: &str, snapshot: &Path, desired: &Path, extra: &[&str]) {
    run_in(label, snapshot, desired, &["--format", "json"], extra, &[]);
}

/// Runs the plan with `format` and `extra` arguments, and `envs`.
fn run_in(
    label: &str,
    snapshot: &Path,
    desired: &Path,
    format: &[&str],
    extra: &[&str],
    envs: &[(&str, &Path)],
) {
    let exe = env!("CARGO_BIN_EXE_ecr-reconcile");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(exe)
        .args(["plan", "--snapshot"])
        .arg(snapshot)
        .arg(desired)
        .args(format)
        .args(extra)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .output()
        .expect("/usr/bin/time runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (wall, kib) = measured(&stderr);
    println!(
        "  {label}: wall {wall}, max RSS {:.0} MiB, exit {}",
        kib / 1024.0,
        out.status.code().unwrap_or(-1)
    );
    if !matches!(out.status.code(), Some(0 | 2)) {
        eprintln!("{stderr}");
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and must not
    // spend minutes writing gigabytes.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let shape = OrgShape {
        accounts: env_usize("ORG_ACCOUNTS", 200),
        repositories: env_usize("ORG_REPOS", 500),
        images: env_usize("ORG_IMAGES", 200),
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/bench-data/org-{}x{}x{}",
        shape.accounts, shape.repositories, shape.images
    ));
    let snapshot = dir.join("snapshot.json");
    let desired = dir.join("desired");
    if !snapshot.exists() {
        let t = Instant::now();
        std::fs::create_dir_all(&dir).unwrap();
        org_snapshot(shape, &snapshot, &desired).unwrap();
        eprintln!("generated {} in {:.1?}", snapshot.display(), t.elapsed());
    }
    let size = std::fs::metadata(&snapshot).unwrap().len();
    println!(
        "org_scale: {} accounts x {} repositories x {} images ({} images, no manifests), snapshot {:.0} MiB",
        shape.accounts,
        shape.repositories,
        shape.images,
        shape.accounts * shape.repositories * shape.images,
        size as f64 / (1024.0 * 1024.0)
    );
    run("plan --format json >/dev/null", &snapshot, &desired, &[]);
    // `ORG_FORMATS=human,markdown,report,github`: the other outputs, each fed the plan
    // a repository at a time; `github` is the JSON plan under GitHub Actions (warning
    // annotations, the markdown plan appended to a step summary).
    let formats = std::env::var("ORG_FORMATS").unwrap_or_default();
    for format in formats.split(',').filter(|f| !f.is_empty()) {
        let summary = dir.join("step-summary.md");
        match format {
            "human" | "markdown" => run_in(
                &format!("plan --format {format} >/dev/null"),
                &snapshot,
                &desired,
                &["--format", format],
                &[],
                &[],
            ),
            "report" => run_in(
                "plan --report --format human >/dev/null",
                &snapshot,
                &desired,
                &["--format", "human"],
                &["--report"],
                &[],
            ),
            "github" => {
                let yes = Path::new("true");
                run_in(
                    "GITHUB_ACTIONS=true plan --format json >/dev/null (step summary)",
                    &snapshot,
                    &desired,
                    &["--format", "json"],
                    &[],
                    &[
                        ("GITHUB_ACTIONS", yes),
                        ("GITHUB_STEP_SUMMARY", &summary),
                        ("GITHUB_WORKSPACE", &dir),
                    ],
                );
                let written = std::fs::metadata(&summary).map_or(0, |m| m.len());
                println!("    step summary: {written} bytes");
                let _ = std::fs::remove_file(&summary);
            }
            other => panic!("ORG_FORMATS: unknown {other:?} (human, markdown, report, github)"),
        }
    }
    // The saved plan takes about twice the stdout document on disk while it is
    // written (the document and the canonical repositories): `ORG_OUT=0` skips it.
    if std::env::var("ORG_OUT").as_deref() != Ok("0") {
        let saved = dir.join("plan.json");
        let saved_arg = saved.to_string_lossy().into_owned();
        run(
            "plan --format json --out plan.json >/dev/null",
            &snapshot,
            &desired,
            &["--out", &saved_arg],
        );
        let _ = std::fs::remove_file(&saved);
    }
    if std::env::var_os("ORG_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
