//! Faults, crashes and races, end to end: the real binary against moto through a
//! fault-injecting proxy (`testkit::proxy`). Whatever the network, the registry or
//! another client does, no allowed tag is removed and a later apply converges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{binary, command};
use testkit::moto::{self, Moto, text};
use testkit::proxy::{self, Faults, Outcome, Phase, Proxy, Verdict};

/// Digest -> sorted tags, per repository.
type State = BTreeMap<String, BTreeMap<String, Vec<String>>>;

const REPOS: [&str; 2] = ["team/app", "team/web"];

/// Every `v*` tag is allowed; untagged images are pruned.
const CONFIG: &str = "version: 1\nrepositories:\n  team/app:\n    tags:\n      - \"v*\"\n    untagged: delete\n  team/web:\n    tags:\n      - \"v*\"\n    untagged: delete\n";

fn allowed(tag: &str) -> bool {
    tag.starts_with('v')
}

/// Seeds `n` images into a repository, five kinds in turn: a release with an extra
/// tag (untag), a build (delete by tag), a build with two tags (delete), an untagged
/// leftover (delete by digest), a release (kept). One removal per image.
fn seed_repo(m: &Moto, repo: &str, n: usize) {
    m.create_repository(repo);
    let images: Vec<(String, Vec<String>)> = (0..n)
        .map(|i| {
            let tags = match i % 5 {
                0 => vec![format!("v1.{i}"), format!("rc-{i}")],
                1 => vec![format!("build-{i}")],
                2 => vec![format!("build-{i}"), format!("build-{i}-debug")],
                3 => vec![],
                _ => vec![format!("v2.{i}")],
            };
            (format!("img-{i}"), tags)
        })
        .collect();
    m.push_many(repo, &images);
}

fn reseed(m: &Moto, sizes: [usize; 2]) -> State {
    m.reset();
    for (repo, n) in REPOS.iter().zip(sizes) {
        seed_repo(m, repo, n);
    }
    state(m)
}

fn state(m: &Moto) -> State {
    REPOS.iter().map(|r| (r.to_string(), m.images(r))).collect()
}

/// What the registry must hold once applied: allowed tags only, and only images
/// that carry one.
fn expected(before: &State) -> State {
    before
        .iter()
        .map(|(repo, images)| {
            let kept = images
                .iter()
                .filter_map(|(d, tags)| {
                    let tags: Vec<String> = tags.iter().filter(|t| allowed(t)).cloned().collect();
                    (!tags.is_empty()).then(|| (d.clone(), tags))
                })
                .collect();
            (repo.clone(), kept)
        })
        .collect()
}

/// No allowed tag lost or moved, no image with an allowed tag gone.
fn assert_safe(before: &State, now: &State, context: &str) {
    for (repo, images) in before {
        for (digest, tags) in images {
            for t in tags.iter().filter(|t| allowed(t)) {
                let still = now[repo].get(digest).is_some_and(|n| n.contains(t));
                assert!(
                    still,
                    "{context}: allowed tag {t} of {digest} in {repo} was lost"
                );
            }
        }
    }
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        let d = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(d.path("cfg.yaml"), CONFIG).unwrap();
        d
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn apply_args<'a>(dir: &'a Dir, journal: &'a Path) -> Vec<String> {
    vec![
        "apply".into(),
        s(&dir.path("cfg.yaml")).into(),
        "--auto-approve".into(),
        "--format".into(),
        "json".into(),
        "--journal".into(),
        s(journal).into(),
    ]
}

fn run(endpoint: &str, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    command(endpoint, &args, None).output().unwrap()
}

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}):\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// Applies without faults and checks that the registry now holds exactly the
/// expected state, and that planning again finds nothing to do.
fn converge(m: &Moto, dir: &Dir, before: &State, context: &str) {
    converge_journalled(m, dir, before, context, &dir.path("converge.jsonl"));
}

/// [`converge`], appending to `journal`.
fn converge_journalled(m: &Moto, dir: &Dir, before: &State, context: &str, journal: &Path) {
    let out = run(&m.url, &apply_args(dir, journal));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{context}: a fresh apply converges\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let now = state(m);
    assert_safe(before, &now, context);
    assert_eq!(now, expected(before), "{context}: converged state");
    let out = command(
        &m.url,
        &["plan", s(&dir.path("cfg.yaml")), "--detailed-exitcode"],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{context}: nothing left to do");
}

#[test]
fn throttling_storm_never_loses_an_allowed_tag_and_converges() {
    let m = Moto::start(binary());
    let mut figures = Vec::new();
    for seed in [11_u64, 23, 37, 41, 59] {
        let before = reseed(&m, [150, 100]);
        let dir = Dir::new();
        let p = Proxy::start(
            &m.url,
            Faults {
                throttle: 0.30,
                server_error: 0.05,
                drop: 0.02,
                seed,
                ..Faults::default()
            },
        );
        let mut applies = 0;
        loop {
            applies += 1;
            p.clear();
            let journal = dir.path(&format!("storm-{applies}.jsonl"));
            let out = run(&p.url, &apply_args(&dir, &journal));
            let calls = p.calls();
            let count = |o: Outcome| calls.iter().filter(|c| c.outcome == o).count();
            let throttled = count(Outcome::Throttled);
            let server = count(Outcome::ServerError);
            let dropped = count(Outcome::DroppedBefore) + count(Outcome::DroppedAfter);
            assert!(
                throttled > 0,
                "seed {seed}: the storm throttled nothing: {calls:?}"
            );
            assert_safe(&before, &state(&m), &format!("storm seed {seed}"));
            let code = out.status.code();
            figures.push(format!(
                "seed {seed} apply {applies}: {} requests, {throttled} throttled, {server} HTTP 500, {dropped} dropped, exit {code:?}",
                calls.len()
            ));
            if code == Some(0) {
                let r = report(&out);
                // Every injected fault was retried, and the report counts them.
                assert_eq!(r["retries"]["throttled"], throttled as u64, "{r}");
                assert_eq!(r["retries"]["server_errors"], server as u64, "{r}");
                assert_eq!(
                    r["retries"]["retries"],
                    (throttled + server + dropped) as u64,
                    "every injected fault was retried: {r}"
                );
                assert_eq!(r["report"]["failures"], serde_json::json!([]));
                // Every throttled call held its bucket's ticket: the bucket took the
                // throttling (emptied, its retry charged), and the width of
                // requests in flight, which every account shares, stayed.
                assert!(r["retries"].get("width_lowered_to").is_none(), "{r}");
                break;
            }
            // A call that failed after every retry: exit 1, reported, nothing unsafe.
            assert_eq!(code, Some(1), "{}", text(&out.stderr));
            let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(
                said.contains("ThrottlingException")
                    || said.contains("ServerException")
                    || said.contains("could not reach"),
                "the failure is reported: {said}"
            );
            if let Ok(r) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                assert!(!r["report"]["failures"].as_array().unwrap().is_empty());
                assert!(r["retries"]["retries"].as_u64().unwrap() > 0);
            }
            assert!(
                applies < 2,
                "seed {seed}: a second apply under the storm completes"
            );
        }
        assert_eq!(state(&m), expected(&before), "seed {seed}: converged");
    }
    eprintln!("throttling storm:\n  {}", figures.join("\n  "));
}

/// Where to kill the binary: the `occurrence`th call of `operation`, before it is
/// forwarded (the registry never sees it) or after the registry carried it out
/// (the answer is lost).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct KillPoint {
    operation: String,
    occurrence: usize,
    phase: &'static str,
}

/// Picks 20 distinct kill points, seeded: every point at a BatchDeleteImage call,
/// then others drawn from the rest of the run.
fn kill_points(calls: &[proxy::Call], seed: u64) -> Vec<KillPoint> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut deletes = Vec::new();
    let mut others = Vec::new();
    for c in calls {
        let n = seen.entry(c.operation.as_str()).or_default();
        *n += 1;
        for phase in ["before", "after"] {
            let k = KillPoint {
                operation: c.operation.clone(),
                occurrence: *n,
                phase,
            };
            if c.operation == "BatchDeleteImage" {
                deletes.push(k);
            } else {
                others.push(k);
            }
        }
    }
    // A seeded Fisher-Yates shuffle of the others.
    let mut x = seed;
    for i in (1..others.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        others.swap(i, (x >> 33) as usize % (i + 1));
    }
    let mut points = deletes;
    points.extend(others);
    points.truncate(20);
    points
}

/// Journal lines: each complete line must be a JSON object. The last line may lack
/// its newline: the kill can land inside the write of a batch of lines (a write is
/// cut short by a fatal signal), even right after a line's closing brace. A whole
/// object there is an entry; anything else there is a line cut short, tolerated.
/// Returns (digest, tag) of every entry.
fn journal_entries(path: &Path) -> Vec<(String, Option<String>)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let cut = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let complete = std::str::from_utf8(&bytes[..cut]).expect("the journal is UTF-8");
    // A cut may land inside a character: such a tail is no entry.
    let tail = std::str::from_utf8(&bytes[cut..]).unwrap_or("");
    let entry = |v: serde_json::Value| {
        (
            v["digest"].as_str().unwrap().to_owned(),
            v["tag"].as_str().map(str::to_owned),
        )
    };
    let mut entries: Vec<(String, Option<String>)> =
        complete
            .lines()
            .enumerate()
            .map(|(i, l)| {
                entry(serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("{}:{}: not JSON ({e}): {l}", path.display(), i + 1)
                }))
            })
            .collect();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(tail) {
        entries.push(entry(v));
    }
    // The library reads the same file (restore uses it).
    let read = ecr_reconcile::ops::apply::Journal::read(path).expect("the journal reads back");
    assert_eq!(read.entries.len(), entries.len());
    entries
}

#[test]
fn sigkill_at_twenty_points_loses_nothing_and_a_fresh_apply_converges() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    // A recording run finds the calls an apply of 500 removals makes.
    let before = reseed(&m, [300, 200]);
    let p = Proxy::start(&m.url, Faults::default());
    let out = run(&p.url, &apply_args(&dir, &dir.path("record.jsonl")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = report(&out);
    let batches: u64 = r["report"]["delete_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(batches, 500, "an apply of 500 removals: {r}");
    assert_eq!(state(&m), expected(&before));
    let calls = p.calls();
    // Full batches, never more than ECR's 100 ids: 500 removals in 5 requests (the
    // untags share the deletions' requests), each confirmed first. Requests run
    // concurrently, so their order varies.
    let mut deletes: Vec<usize> = calls
        .iter()
        .filter(|c| c.operation == "BatchDeleteImage")
        .map(|c| c.image_ids)
        .collect();
    deletes.sort_unstable();
    assert_eq!(deletes, [100, 100, 100, 100, 100], "{calls:?}");
    // moto answers nothing for an untagged image deleted by digest (ECR reports it):
    // those are read back afterwards, and a DescribeImages of images now gone fails
    // (HTTP 400). The confirmations are the reads that succeed.
    let mut confirmations: Vec<usize> = calls
        .iter()
        .filter(|c| {
            c.operation == "DescribeImages"
                && c.image_ids > 0
                && c.outcome == Outcome::Forwarded(200)
        })
        .map(|c| c.image_ids)
        .collect();
    confirmations.sort_unstable();
    assert_eq!(
        confirmations, deletes,
        "one confirmation per request, same ids"
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.operation == "BatchGetImage")
            .all(|c| (1..=100).contains(&c.image_ids)),
        "{calls:?}"
    );
    let points = kill_points(&calls, 0x5eed);
    assert_eq!(points.len(), 20, "{calls:?}");
    eprintln!(
        "recording run: {} requests, {batches} removals; kill points: {:?}",
        calls.len(),
        points
            .iter()
            .map(|k| format!("{}#{} {}", k.operation, k.occurrence, k.phase))
            .collect::<Vec<_>>()
    );

    for (i, point) in points.iter().enumerate() {
        let context = format!("kill point {i} ({point:?})");
        let before = reseed(&m, [300, 200]);
        p.clear();
        let pid = Arc::new(AtomicU32::new(0));
        let fired = Arc::new(Mutex::new(false));
        {
            let pid = pid.clone();
            let fired = fired.clone();
            let point = point.clone();
            let count: Mutex<BTreeMap<String, usize>> = Mutex::default();
            let target: Mutex<Option<usize>> = Mutex::default();
            p.set_hook(move |seen, phase| {
                if phase == Phase::Before {
                    let mut count = count.lock().unwrap();
                    let n = count.entry(seen.operation.clone()).or_default();
                    *n += 1;
                    if seen.operation == point.operation && *n == point.occurrence {
                        *target.lock().unwrap() = Some(seen.index);
                    }
                }
                let hit = *target.lock().unwrap() == Some(seen.index)
                    && (phase == Phase::Before) == (point.phase == "before");
                if !hit {
                    return Verdict::Pass;
                }
                let mut p = pid.load(Ordering::SeqCst);
                while p == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                    p = pid.load(Ordering::SeqCst);
                }
                // Marked first: the test wakes as soon as the process dies.
                *fired.lock().unwrap() = true;
                std::process::Command::new("kill")
                    .args(["-KILL", &p.to_string()])
                    .status()
                    .unwrap();
                Verdict::Drop
            });
        }
        let journal = dir.path(&format!("crash-{i}.jsonl"));
        let args = apply_args(&dir, &journal);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Held until the child is reaped: its home folder must outlive it.
        let mut held = command(&p.url, &args, None);
        let child = held
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        pid.store(child.id(), Ordering::SeqCst);
        let out = child.wait_with_output().unwrap();
        let status = out.status;
        p.clear_hook();
        assert!(
            *fired.lock().unwrap(),
            "{context}: the kill point was reached\n{}\n{}\n{:?}",
            text(&out.stdout),
            text(&out.stderr),
            p.calls()
        );
        assert_eq!(status.code(), None, "{context}: killed by a signal");

        // Nothing allowed was lost, and the journal lists every removal made.
        let now = state(&m);
        assert_safe(&before, &now, &context);
        let entries = journal_entries(&journal);
        for (repo, images) in &before {
            for (digest, tags) in images {
                let after = now[repo].get(digest);
                let journalled = |tag: Option<&String>| {
                    entries
                        .iter()
                        .any(|(d, t)| d == digest && (t.as_ref() == tag || t.is_none()))
                };
                if after.is_none() {
                    assert!(
                        entries.iter().any(|(d, _)| d == digest),
                        "{context}: image {digest} in {repo} was deleted without a journal entry"
                    );
                }
                for t in tags {
                    if !after.is_some_and(|a| a.contains(t)) {
                        assert!(
                            journalled(Some(t)),
                            "{context}: tag {t} of {digest} in {repo} was removed without a journal entry"
                        );
                    }
                }
            }
        }
        // The fresh apply appends to the crashed run's journal, as a pipeline that
        // passes the same --journal again does: both runs' entries read back.
        converge_journalled(&m, &dir, &before, &context, &journal);
        let all = journal_entries(&journal);
        assert!(all.len() >= entries.len(), "{context}: {all:?}");
        let removed: BTreeSet<&String> = all.iter().map(|(d, _)| d).collect();
        let converged = state(&m);
        for (repo, images) in &before {
            for digest in images.keys() {
                if !converged[repo].contains_key(digest) {
                    assert!(removed.contains(digest), "{context}: {digest} journalled");
                }
            }
        }
    }
}

#[test]
fn races_with_another_client_lose_nothing_and_are_reported() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.create_repository("team/web");
    let pr1 = m.push_image("team/app", "pr1", &["pr-1", "pr-1-debug"]);
    let both = m.push_image("team/app", "both", &["pr-2", "v2.0"]);
    let leftover = m.push_image("team/app", "leftover", &[]);
    let pr3 = m.push_image("team/app", "pr3", &["pr-3"]);
    let stable = m.push_image("team/app", "stable", &["v1.0", "v1-stable"]);
    let pr5 = m.push_image("team/app", "pr5", &["pr-5"]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());

    // Another client acts when the apply starts its confirming reads (the second
    // DescribeImages of team/app), and again while the first removals are in flight.
    let seeder = Arc::new(moto::Seeder::new(&m.url));
    {
        let seeder = seeder.clone();
        let listings = Mutex::new(0);
        let deleted_once = Mutex::new(false);
        let stable_manifest = moto::image_manifest("team/app", "stable");
        let leftover_manifest = moto::image_manifest("team/app", "leftover");
        let pr3_manifest = moto::image_manifest("team/app", "pr3");
        let pr5_manifest = moto::image_manifest("team/app", "pr5");
        p.set_hook(move |seen, phase| {
            if phase != Phase::Before || seen.repository.as_deref() != Some("team/app") {
                return Verdict::Pass;
            }
            if seen.operation == "DescribeImages" {
                let mut listings = listings.lock().unwrap();
                *listings += 1;
                if *listings == 2 {
                    // An allowed tag moves onto the untagged image planned for
                    // deletion by digest.
                    seeder.put("team/app", &leftover_manifest, Some("v1-stable"));
                    // An allowed tag is added to an image planned for deletion.
                    seeder.put("team/app", &pr3_manifest, Some("v3.0"));
                    // A planned tag moves to another image.
                    seeder.put("team/app", &stable_manifest, Some("pr-1"));
                    // New images are pushed.
                    seeder.put(
                        "team/app",
                        &moto::image_manifest("team/app", "new-tagged"),
                        Some("pr-99"),
                    );
                    seeder.put(
                        "team/app",
                        &moto::image_manifest("team/app", "new-untagged"),
                        None,
                    );
                }
            }
            if seen.operation == "BatchDeleteImage"
                && !std::mem::replace(&mut *deleted_once.lock().unwrap(), true)
            {
                // During the removals: an allowed tag lands on an image whose last
                // tag is being removed; removal by tag leaves it standing.
                seeder.put("team/app", &pr5_manifest, Some("v5.0"));
            }
            Verdict::Pass
        });
    }
    let journal = dir.path("race.jsonl");
    let out = run(&p.url, &apply_args(&dir, &journal));
    p.clear_hook();
    let said = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let r = report(&out);
    let skipped = r["report"]["skipped"].as_array().unwrap();
    let skipped_has = |digest: &str, needle: &str| {
        skipped
            .iter()
            .any(|s| s["digest"] == digest && s["reason"].as_str().unwrap().contains(needle))
    };
    assert!(skipped_has(&leftover, "new tags"), "{r}");
    assert!(skipped_has(&pr3, "new tags"), "{r}");
    assert!(skipped_has(&pr1, "moved"), "{r}");
    for s in skipped {
        let by_tag = s["tag"].is_string();
        let want = if by_tag {
            serde_json::json!({"tag": s["tag"]})
        } else {
            serde_json::json!({"digest": s["digest"]})
        };
        assert_eq!(s["image"], want, "{r}");
        assert_eq!(s["repository_id"]["name"], "team/app", "{r}");
    }

    let images = m.images("team/app");
    let tags = m.tags("team/app");
    assert_eq!(tags["v1-stable"], leftover, "moved allowed tag kept");
    assert_eq!(tags["v1.0"], stable);
    assert_eq!(tags["v2.0"], both);
    assert_eq!(tags["v3.0"], pr3, "added allowed tag kept");
    assert_eq!(tags["v5.0"], pr5, "tag added mid-removal kept");
    assert!(
        tags.contains_key("pr-99"),
        "new image untouched: {images:?}"
    );
    assert_eq!(
        images.values().filter(|t| t.is_empty()).count(),
        1,
        "the new untagged image stays: {images:?}"
    );
    assert!(!tags.contains_key("pr-2"), "the unchanged removal happened");
    // What was skipped stays in the plan: the next apply decides again.
    let replan = command(
        &m.url,
        &["plan", s(&dir.path("cfg.yaml")), "--detailed-exitcode"],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(
        replan.status.code(),
        Some(2),
        "what was skipped is planned again"
    );
}

#[test]
fn two_applies_at_once_lose_nothing_and_both_exit_cleanly() {
    let m = Moto::start(binary());
    let before = reseed(&m, [150, 100]);
    let dir = Dir::new();
    // Latency interleaves the two runs' requests, and the first removal request
    // waits for a second one: each run sends its removals one request at a time, so
    // the second must be the other run's, made from the same confirmed state. Both
    // then remove the same tags and images at once. The wait is bounded only to end a
    // broken run (the second run always gets there: nothing of it is held); a short
    // bound let a second run slowed by a busy machine arrive after the first had gone
    // on alone, and the runs did not overlap.
    let p = Proxy::start(
        &m.url,
        Faults {
            latency: Duration::from_millis(10),
            ..Faults::default()
        },
    );
    // The first removal request is held until a request with the same image ids
    // arrives: that one is the other run's (a run's requests side by side carry
    // different ids), made from the same confirmed state. Counting any second request
    // let one run's two requests in flight open the gate, and that run removed
    // everything before the other confirmed.
    let gate = Arc::new((Mutex::new(None::<(String, u32)>), std::sync::Condvar::new()));
    {
        let gate = gate.clone();
        p.set_hook(move |seen, phase| {
            if phase == Phase::Before && seen.operation == "BatchDeleteImage" {
                let ids = seen.body["imageIds"].to_string();
                let (held, cv) = &*gate;
                let mut state = held.lock().unwrap();
                match &mut *state {
                    None => {
                        *state = Some((ids.clone(), 1));
                        let _ = cv
                            .wait_timeout_while(state, Duration::from_secs(300), |s| {
                                s.as_ref().is_some_and(|(_, n)| *n < 2)
                            })
                            .unwrap();
                    }
                    Some((first, n)) if *first == ids => {
                        *n += 1;
                        cv.notify_all();
                    }
                    Some(_) => {}
                }
            }
            Verdict::Pass
        });
    }
    let spawn = |name: &str| {
        let args = apply_args(&dir, &dir.path(name));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // The command is returned with the child: its home folder must outlive it.
        let mut held = command(&p.url, &args, None);
        let child = held
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        (held, child)
    };
    let (_held_a, a) = spawn("a.jsonl");
    let (_held_b, b) = spawn("b.jsonl");
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    for (name, out) in [("first", &a), ("second", &b)] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} apply\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let now = state(&m);
    assert_safe(&before, &now, "two applies");
    assert_eq!(now, expected(&before));
    let ra = report(&a);
    let rb = report(&b);
    let gone = ra["report"]["already_gone"].as_u64().unwrap()
        + rb["report"]["already_gone"].as_u64().unwrap();
    eprintln!(
        "two applies: {} requests; already gone (done by the other run): {gone}",
        p.calls().len()
    );
    for r in [&ra, &rb] {
        assert!(
            !r["report"]["delete_batches"].as_array().unwrap().is_empty(),
            "both runs sent removals from the same confirmed state: {r}"
        );
    }
    assert!(gone > 0, "the runs overlapped");
}

#[test]
fn dropped_connections_before_and_after_the_registry_are_retried() {
    let m = Moto::start(binary());
    let before = reseed(&m, [150, 100]);
    let dir = Dir::new();
    // A third of all requests lose their connection: half before the registry sees
    // them, half after it carried them out (a removal done, its answer lost).
    let p = Proxy::start(
        &m.url,
        Faults {
            drop: 0.33,
            seed: 7,
            ..Faults::default()
        },
    );
    let out = run(&p.url, &apply_args(&dir, &dir.path("drops.jsonl")));
    let calls = p.calls();
    let before_drops = calls
        .iter()
        .filter(|c| c.outcome == Outcome::DroppedBefore)
        .count();
    let after_drops: Vec<&proxy::Call> = calls
        .iter()
        .filter(|c| c.outcome == Outcome::DroppedAfter)
        .collect();
    assert!(before_drops > 0 && !after_drops.is_empty(), "{calls:?}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(
        r["retries"]["retries"],
        (before_drops + after_drops.len()) as u64,
        "{r}"
    );
    assert_eq!(state(&m), expected(&before));
    // A removal carried out whose answer was lost is found done when retried.
    if after_drops
        .iter()
        .any(|c| c.operation == "BatchDeleteImage")
    {
        assert!(r["report"]["already_gone"].as_u64().unwrap() > 0, "{r}");
    }
    eprintln!(
        "dropped connections: {} requests, {before_drops} dropped before the registry, {} after; report: {}",
        calls.len(),
        after_drops.len(),
        r["report"]
    );
}

#[test]
fn changes_after_the_listing_are_caught_by_the_confirmation_of_each_request() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.create_repository("team/web");
    let leftover = m.push_image("team/app", "leftover", &[]);
    let pr7 = m.push_image("team/app", "pr7", &["pr-7", "pr-7-debug"]);
    let stable = m.push_image("team/app", "stable", &["v1.0"]);
    let pr8 = m.push_image("team/app", "pr8", &["pr-8"]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let seeder = Arc::new(moto::Seeder::new(&m.url));
    {
        let seeder = seeder.clone();
        let listings = Mutex::new(0);
        let leftover_manifest = moto::image_manifest("team/app", "leftover");
        let stable_manifest = moto::image_manifest("team/app", "stable");
        p.set_hook(move |seen, phase| {
            // After the plan's listing, just before the confirmation read of the
            // request that removes them.
            if phase == Phase::Before
                && seen.operation == "DescribeImages"
                && seen.image_ids > 0
                && seen.repository.as_deref() == Some("team/app")
                && {
                    let mut n = listings.lock().unwrap();
                    *n += 1;
                    *n == 1
                }
            {
                // An allowed tag on the untagged image about to be deleted by digest.
                seeder.put("team/app", &leftover_manifest, Some("v9.0"));
                // A tag about to be removed moves to an image that stays.
                seeder.put("team/app", &stable_manifest, Some("pr-7"));
            }
            Verdict::Pass
        });
    }
    let out = run(&p.url, &apply_args(&dir, &dir.path("late.jsonl")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = report(&out);
    let skipped = r["report"]["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["digest"] == leftover.as_str()
            && s["reason"].as_str().unwrap().contains("new tags")),
        "{r}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s["tag"] == "pr-7" && s["reason"].as_str().unwrap().contains("moved")),
        "{r}"
    );
    let tags = m.tags("team/app");
    assert_eq!(
        tags["v9.0"], leftover,
        "the allowed tag and its image are kept"
    );
    assert_eq!(tags["v1.0"], stable);
    assert_eq!(
        tags["pr-7"], stable,
        "the moved tag was not removed from its new image"
    );
    assert!(
        !tags.contains_key("pr-7-debug"),
        "the rest of the plan was applied"
    );
    assert!(!m.images("team/app").contains_key(&pr8));
    assert!(!m.images("team/app").contains_key(&pr7));
}

#[test]
fn removals_that_outlast_the_retries_fail_loudly_and_a_second_apply_finishes() {
    let m = Moto::start(binary());
    let before = reseed(&m, [150, 100]);
    let dir = Dir::new();
    // Every removal request is throttled, and the first apply allows one attempt per
    // call: the first removal call of each repository fails for good.
    let p = Proxy::start(
        &m.url,
        Faults {
            throttle: 1.0,
            operations: vec!["BatchDeleteImage"],
            ..Faults::default()
        },
    );
    let mut args = apply_args(&dir, &dir.path("first.jsonl"));
    args.extend(["--max-attempts".into(), "1".into()]);
    let out = run(&p.url, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = report(&out);
    let failures = r["report"]["failures"].as_array().unwrap();
    let throttled = p
        .calls()
        .iter()
        .filter(|c| c.outcome == Outcome::Throttled)
        .count();
    assert!(throttled > 0);
    // Every failed call is reported, with its code and what to do.
    assert_eq!(failures.len(), throttled, "{r}");
    for f in failures {
        assert_eq!(f["code"], "ThrottlingException", "{f}");
        assert!(f["reason"].as_str().unwrap().contains("apply again"), "{f}");
    }
    assert_eq!(r["retries"]["throttled"], throttled as u64);
    assert_safe(&before, &state(&m), "after the failed apply");
    assert_ne!(state(&m), expected(&before), "something was left to do");
    // The storm eases to the 30% of the storm test; with retries, a second apply
    // finishes.
    assert_eq!(
        failures.len(),
        3,
        "one per request (team/app's two run side by side): {r}"
    );
    p.set_faults(Faults {
        throttle: 0.30,
        seed: 4,
        operations: vec!["BatchDeleteImage"],
        ..Faults::default()
    });
    let second = run(&p.url, &apply_args(&dir, &dir.path("second.jsonl")));
    assert_eq!(
        second.status.code(),
        Some(0),
        "a second apply, with retries, finishes\n{}",
        text(&second.stderr)
    );
    assert_eq!(state(&m), expected(&before));
    eprintln!(
        "outlasting storm: first apply {} throttled removal calls, {} reported failures; second apply exit 0",
        throttled,
        failures.len()
    );
}

/// A hook that runs `f` once, before the first request matching `when`.
fn once_before(
    when: impl Fn(&proxy::Seen) -> bool + Send + Sync + 'static,
    f: impl Fn() -> Verdict + Send + Sync + 'static,
) -> impl Fn(&proxy::Seen, Phase) -> Verdict + Send + Sync + 'static {
    let fired = Mutex::new(false);
    move |seen, phase| {
        if phase == Phase::Before
            && when(seen)
            && !std::mem::replace(&mut *fired.lock().unwrap(), true)
        {
            return f();
        }
        Verdict::Pass
    }
}

#[test]
fn an_attempt_cut_off_by_the_timeout_counts_as_a_retry() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "v1", &["v1.0"]);
    m.push_image("team/app", "b1", &["build-1"]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    // The first confirmation read hangs longer than an attempt may take.
    p.set_hook(once_before(
        |seen| seen.operation == "DescribeImages" && seen.image_ids > 0,
        || {
            std::thread::sleep(Duration::from_secs(3));
            Verdict::Pass
        },
    ));
    let mut args = apply_args(&dir, &dir.path("j.jsonl"));
    args.extend(["--attempt-timeout".into(), "1".into()]);
    let out = run(&p.url, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = report(&out);
    assert_eq!(r["retries"]["retries"], 1, "{r}");
    assert_eq!(r["report"]["images_deleted"], 1, "{r}");
}

#[test]
fn a_signature_of_an_image_that_gained_a_tag_stays() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "v1", &["v1.0"]);
    let build = m.push_image("team/app", "b1", &["build-1"]);
    let signature = format!("{}.sig", build.replace(':', "-"));
    let sig = m.push_image("team/app", "sig", &[&signature]);
    let other = m.push_image("team/app", "b2", &["build-2"]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let seeder = moto::Seeder::new(&m.url);
    let manifest = moto::image_manifest("team/app", "b1");
    // After the plan, before the confirmation read: the build gains an allowed tag.
    p.set_hook(once_before(
        |seen| seen.operation == "DescribeImages" && seen.image_ids > 0,
        move || {
            seeder.put("team/app", &manifest, Some("v9.0"));
            Verdict::Pass
        },
    ));
    let out = run(&p.url, &apply_args(&dir, &dir.path("j.jsonl")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = report(&out);
    let images = m.images("team/app");
    assert!(images.contains_key(&build), "{r}");
    assert_eq!(images.get(&sig), Some(&vec![signature.clone()]), "{r}");
    assert!(!images.contains_key(&other), "the rest is applied: {r}");
    let skipped = r["report"]["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["tag"] == signature.as_str()
            && s["reason"].as_str().unwrap().contains("needs it")),
        "{r}"
    );
}

#[test]
fn a_tag_deleted_with_an_image_by_digest_fails_and_restore_puts_it_back() {
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "v1", &["v1.0"]);
    let leftover = m.push_image("team/app", "leftover", &[]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let seeder = moto::Seeder::new(&m.url);
    let manifest = moto::image_manifest("team/app", "leftover");
    // Between the confirmation and the request: the untagged image gets a tag.
    p.set_hook(once_before(
        |seen| seen.operation == "BatchDeleteImage",
        move || {
            seeder.put("team/app", &manifest, Some("late"));
            Verdict::Pass
        },
    ));
    let journal = dir.path("j.jsonl");
    let out = run(&p.url, &apply_args(&dir, &journal));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = report(&out);
    assert_eq!(
        r["report"]["failures_by_code"]["UnplannedRemoval"], 1,
        "{r}"
    );
    assert_eq!(r["report"]["failures"][0]["id"], "tag late", "{r}");
    // The structured identifiers beside the human strings (report version 2).
    assert_eq!(r["version"], 2, "{r}");
    let failure = &r["report"]["failures"][0];
    assert_eq!(failure["code"], "UnplannedRemoval", "{r}");
    assert_eq!(failure["image"], serde_json::json!({"tag": "late"}), "{r}");
    assert_eq!(failure["repository_id"]["name"], "team/app", "{r}");
    assert!(failure["repository_id"]["account"].is_string(), "{r}");
    assert!(!m.images("team/app").contains_key(&leftover));
    assert!(
        journal_entries(&journal).contains(&(leftover.clone(), Some("late".to_owned()))),
        "{:?}",
        journal_entries(&journal)
    );
    p.clear_hook();
    let out = run(
        &p.url,
        &[
            "restore".into(),
            s(&journal).into(),
            "--auto-approve".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(m.tags("team/app").get("late"), Some(&leftover));
}

#[test]
fn removals_whose_manifest_cannot_be_read_wait_for_an_explicit_flag() {
    let m = Moto::start(binary());
    let before = reseed(&m, [10, 10]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    p.set_hook(|seen, phase| {
        if phase == Phase::Before
            && seen.operation == "BatchGetImage"
            && seen.repository.as_deref() == Some("team/web")
        {
            return Verdict::Answer {
                status: 400,
                kind: "AccessDeniedException",
                message: "not allowed to read manifests",
            };
        }
        Verdict::Pass
    });
    let out = run(&p.url, &apply_args(&dir, &dir.path("j.jsonl")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = report(&out);
    let failures = r["report"]["failures"].as_array().unwrap();
    assert!(!failures.is_empty());
    for f in failures {
        assert_eq!(f["code"], "ManifestNotSaved", "{f}");
        assert!(
            f["reason"].as_str().unwrap().contains("AccessDenied"),
            "{f}"
        );
        assert!(
            f["reason"]
                .as_str()
                .unwrap()
                .contains("--allow-unrestorable"),
            "{f}"
        );
    }
    let now = state(&m);
    assert_eq!(now["team/web"], before["team/web"], "nothing removed there");
    assert_eq!(now["team/app"], expected(&before)["team/app"]);

    let mut args = apply_args(&dir, &dir.path("j2.jsonl"));
    args.push("--allow-unrestorable".into());
    let out = run(&p.url, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(state(&m), expected(&before));
}

#[test]
fn an_unreadable_repository_is_shown_and_apply_does_not_start() {
    let m = Moto::start(binary());
    let before = reseed(&m, [10, 10]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    p.set_hook(|seen, phase| {
        if phase == Phase::Before
            && seen.operation == "DescribeImages"
            && seen.repository.as_deref() == Some("team/web")
        {
            return Verdict::Answer {
                status: 400,
                kind: "AccessDeniedException",
                message: "not allowed to list team/web",
            };
        }
        Verdict::Pass
    });
    let out = run(
        &p.url,
        &[
            "plan".into(),
            s(&dir.path("cfg.yaml")).into(),
            "--format".into(),
            "json".into(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("team/web"),
        "{}",
        text(&out.stderr)
    );
    let plan = report(&out);
    assert_eq!(plan["repositories"][0]["status"], "changes", "{plan}");
    assert_eq!(plan["repositories"][1]["status"], "unreadable", "{plan}");
    assert!(
        plan["repositories"][1]["read_error"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{plan}"
    );
    let out = run(&p.url, &apply_args(&dir, &dir.path("j.jsonl")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("apply does not start"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(p.count("BatchDeleteImage"), 0);
    assert_eq!(state(&m), before);
}

#[test]
fn an_unanswered_removal_is_read_back_and_counted_only_when_gone() {
    // moto answers a delete by digest of an untagged image with no imageIds at all
    // (ECR reports it): apply reads it back, finds it gone, and counts it.
    let m = Moto::start(binary());
    m.create_repository("team/app");
    m.push_image("team/app", "v1", &["v1.0"]);
    let leftover = m.push_image("team/app", "leftover", &[]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let out = run(&p.url, &apply_args(&dir, &dir.path("j.jsonl")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = report(&out);
    assert_eq!(r["report"]["images_deleted"], 1, "{r}");
    assert!(!m.images("team/app").contains_key(&leftover));
    let calls = p.calls();
    let delete = calls
        .iter()
        .position(|c| c.operation == "BatchDeleteImage")
        .expect("a removal request");
    assert!(
        calls[delete + 1..]
            .iter()
            .any(|c| c.operation == "BatchGetImage" && c.image_ids == 1),
        "read back after the request: {calls:?}"
    );

    // The same silence for a removal that did not happen: a failure, not a success.
    let kept = m.push_image("team/app", "leftover-2", &[]);
    p.clear();
    p.set_hook(move |seen, phase| {
        if phase == Phase::Before && seen.operation == "BatchDeleteImage" {
            // Answered as moto answers an untagged image deleted by digest, without
            // deleting it: an empty answer.
            return Verdict::Answer {
                status: 200,
                kind: "",
                message: "",
            };
        }
        Verdict::Pass
    });
    let out = run(&p.url, &apply_args(&dir, &dir.path("j2.jsonl")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = report(&out);
    assert_eq!(r["report"]["failures_by_code"]["Unanswered"], 1, "{r}");
    assert_eq!(r["report"]["images_deleted"], 0, "{r}");
    assert!(m.images("team/app").contains_key(&kept));
}

#[test]
fn a_removal_answered_with_garbage_is_read_back_and_counted() {
    // Each kind of answer that leaves the outcome unknown, given to every attempt of
    // every BatchDeleteImage after the registry carried it out: the removals are made,
    // and the report must say so (read back), not "failed (whole call)".
    let m = Moto::start(binary());
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let html: &'static [u8] =
        b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>";
    let kinds: [(&str, Verdict); 4] = [
        ("a JSON body cut short", Verdict::Cut(9)),
        (
            "an HTML page with 200",
            Verdict::Raw(proxy::RawAnswer {
                status: 200,
                content_type: "text/html",
                body: html,
            }),
        ),
        (
            "an HTML 502 page",
            Verdict::Raw(proxy::RawAnswer {
                status: 502,
                content_type: "text/html",
                body: html,
            }),
        ),
        ("a reset connection", Verdict::Drop),
    ];
    for (kind, verdict) in kinds {
        let before = reseed(&m, [10, 5]);
        p.clear();
        p.set_hook(move |seen, phase| {
            if phase == Phase::After && seen.operation == "BatchDeleteImage" {
                return verdict;
            }
            Verdict::Pass
        });
        let journal = dir.path(&format!("{}.jsonl", kind.replace(' ', "-")));
        let out = run(&p.url, &apply_args(&dir, &journal));
        p.clear_hook();
        let said = format!("{kind}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{said}");
        let r = report(&out);
        assert_eq!(r["report"]["failures"], serde_json::json!([]), "{said}");
        assert_eq!(r["report"]["removed"], 15, "{said}");
        assert_eq!(r["report"]["images_deleted"], 9, "{said}");
        let now = state(&m);
        assert_safe(&before, &now, kind);
        assert_eq!(now, expected(&before), "{kind}");
        assert_eq!(journal_entries(&journal).len(), 15, "{kind}");
        assert!(
            p.calls()
                .iter()
                .any(|c| c.operation == "BatchDeleteImage" && c.outcome.injected()),
            "{kind}: the fault was injected"
        );
    }
}

#[test]
fn a_removal_whose_answer_comes_after_the_attempt_timeout_is_read_back_and_counted() {
    // The registry carries out every BatchDeleteImage, but its answer is held past
    // the attempt timeout: the client gives up after sending, every attempt, and the
    // outcome is unknown until the identifiers are read back.
    let m = Moto::start(binary());
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let before = reseed(&m, [10, 5]);
    p.set_hook(|seen, phase| {
        if phase == Phase::After && seen.operation == "BatchDeleteImage" {
            std::thread::sleep(Duration::from_millis(2_500));
        }
        Verdict::Pass
    });
    let journal = dir.path("late.jsonl");
    let mut args = apply_args(&dir, &journal);
    args.extend(["--attempt-timeout", "1", "--max-attempts", "2"].map(String::from));
    let out = run(&p.url, &args);
    p.clear_hook();
    let said = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let r = report(&out);
    assert_eq!(r["report"]["failures"], serde_json::json!([]), "{said}");
    assert_eq!(r["report"]["removed"], 15, "{said}");
    assert!(
        r["retries"]["retries"].as_u64() >= Some(1),
        "the attempts timed out: {said}"
    );
    let now = state(&m);
    assert_safe(&before, &now, "late answers");
    assert_eq!(now, expected(&before));
    assert_eq!(journal_entries(&journal).len(), 15);
}

/// Sends `signal` (`INT`, `TERM`) to the process `pid`, as CI does on cancel.
fn send_signal(signal: &str, pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {signal} {pid}");
}

/// When the signals of [`cancelled_apply`] are sent.
#[derive(Clone, Copy, Debug)]
enum When {
    /// At the first listing of the plan: nothing is sent yet.
    Planning,
    /// While the first removal request is at the registry.
    InFlight,
    /// Once the first removal request was answered, before its answer is read.
    Answered,
    /// While the first PutImage of a restore is at the registry.
    Restoring,
}

/// What the binary answers to each signal of [`cancelled_apply`], on stderr.
fn acknowledged(said: &str, signal: &str, nth: usize) -> bool {
    let name = if signal == "INT" { "SIGINT" } else { "SIGTERM" };
    let lines = [
        format!("{name}: stopped before anything was sent"),
        format!("{name}: stopping: nothing new is sent"),
        format!("{name}: exiting now."),
    ];
    let seen = lines.iter().filter(|l| said.contains(l.as_str())).count();
    seen >= nth
}

/// Applies 500 removals one request at a time (`--parallelism 1`, with latency), and
/// sends `signals` to the binary at `when`. The request that triggers them waits
/// until the binary has said it received each one (on stderr), so it handles them
/// with that request in flight, however busy the machine.
fn cancelled_apply(
    m: &Moto,
    dir: &Dir,
    when: When,
    signals: &'static [&'static str],
    journal: &Path,
) -> (Output, Vec<proxy::Call>) {
    let mut args = apply_args(dir, journal);
    args.extend(["--parallelism".into(), "1".into()]);
    cancelled_run(m, args, when, signals)
}

/// Runs the binary with `args` and sends it `signals` at `when` (see
/// [`cancelled_apply`]).
fn cancelled_run(
    m: &Moto,
    args: Vec<String>,
    when: When,
    signals: &'static [&'static str],
) -> (Output, Vec<proxy::Call>) {
    let p = Proxy::start(
        &m.url,
        Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
    );
    let pid = Arc::new(AtomicU32::new(0));
    let stderr = Arc::new(Mutex::new(String::new()));
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let pid = pid.clone();
        let stderr = stderr.clone();
        p.set_hook(move |seen, phase| {
            let at = match when {
                When::Planning => phase == Phase::Before && seen.operation == "DescribeImages",
                When::InFlight => phase == Phase::Before && seen.operation == "BatchDeleteImage",
                When::Answered => phase == Phase::After && seen.operation == "BatchDeleteImage",
                When::Restoring => phase == Phase::Before && seen.operation == "PutImage",
            };
            if at && !fired.swap(true, Ordering::SeqCst) {
                while pid.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
                for (i, signal) in signals.iter().enumerate() {
                    send_signal(signal, pid.load(Ordering::SeqCst));
                    // Bounded only so that a binary that ignores signals fails the test
                    // instead of hanging it.
                    for _ in 0..6000 {
                        if acknowledged(&stderr.lock().unwrap(), signal, i + 1) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            Verdict::Pass
        });
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut held = command(&p.url, &args, None);
    let mut child = held
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    pid.store(child.id(), Ordering::SeqCst);
    let mut out_pipe = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut bytes).unwrap();
        bytes
    });
    let mut err_pipe = child.stderr.take().unwrap();
    let collected = stderr.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut err_pipe, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stdout = stdout.join().unwrap();
    let stderr = stderr.lock().unwrap().clone().into_bytes();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        p.calls(),
    )
}

#[test]
fn a_signal_while_planning_stops_before_anything_is_sent() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    let before = reseed(&m, [300, 200]);
    let journal = dir.path("j.jsonl");
    let (out, calls) = cancelled_apply(&m, &dir, When::Planning, &["INT"], &journal);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("SIGINT: stopped before anything was sent: nothing was changed."),
        "{err}"
    );
    assert!(!calls.iter().any(|c| c.operation == "BatchDeleteImage"));
    assert_eq!(state(&m), before);
    assert!(journal_entries(&journal).is_empty());
    converge(&m, &dir, &before, "after a signal while planning");
}

#[test]
fn a_signal_with_a_request_in_flight_finishes_it_reports_and_exits_130_or_143() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    for (when, signal, code, name) in [
        (When::InFlight, "INT", 130, "SIGINT"),
        (When::Answered, "TERM", 143, "SIGTERM"),
    ] {
        let before = reseed(&m, [300, 200]);
        let journal = dir.path(&format!("{name}.jsonl"));
        let signals: &'static [&'static str] = if signal == "INT" { &["INT"] } else { &["TERM"] };
        let (out, calls) = cancelled_apply(&m, &dir, when, signals, &journal);
        let err = text(&out.stderr);
        let context = format!("{when:?}, {name}:\n{err}");
        assert_eq!(out.status.code(), Some(code), "{context}");
        assert!(
            err.contains(&format!(
                "{name}: stopping: nothing new is sent; waiting up to 10 s"
            )),
            "{context}"
        );
        // The request in flight was answered and checked; nothing was sent after it.
        let r = report(&out);
        let removed = r["report"]["removed"].as_u64().unwrap();
        let not_started = r["report"]["not_started"].as_u64().unwrap();
        assert_eq!(r["report"]["failures"], serde_json::json!([]), "{context}");
        assert!(removed > 0 && not_started > 0, "{context}\n{r}");
        assert_eq!(removed + not_started, 500, "{context}\n{r}");
        let deletes = calls
            .iter()
            .filter(|c| c.operation == "BatchDeleteImage")
            .count();
        assert_eq!(deletes, 1, "one request was in flight: {calls:?}");
        // The report names the journal and the way back.
        let journal_shown = journal.display().to_string();
        assert!(
            err.contains(&format!("Cancelled: {removed} removals made, {not_started} not started. The journal {journal_shown} lists every removal sent: `ecr-reconcile restore {journal_shown}` puts them back")),
            "{context}"
        );
        assert_eq!(journal_entries(&journal).len() as u64, removed, "{context}");
        let now = state(&m);
        assert_safe(&before, &now, &context);
        assert_ne!(now, before, "{context}");
        converge(&m, &dir, &before, &context);
    }
}

#[test]
fn a_second_signal_exits_at_once_and_leaves_a_readable_journal() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    let before = reseed(&m, [300, 200]);
    let journal = dir.path("j.jsonl");
    let (out, _) = cancelled_apply(&m, &dir, When::InFlight, &["INT", "INT"], &journal);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("SIGINT: exiting now. The journal"), "{err}");
    assert!(out.stdout.is_empty(), "no report: {}", text(&out.stdout));
    // The journal lists the request that was in flight: it reads, and it is complete.
    let entries = journal_entries(&journal);
    assert!(!entries.is_empty() && entries.len() <= 100, "{entries:?}");
    assert_safe(&before, &state(&m), "a second signal");
    converge(&m, &dir, &before, "after a second signal");
}

#[test]
fn a_signal_during_restore_stops_pushing_reports_and_a_second_restore_finishes() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    let before = reseed(&m, [20, 10]);
    let journal = dir.path("j.jsonl");
    let out = run(&m.url, &apply_args(&dir, &journal));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let restore_args = || -> Vec<String> {
        ["restore", s(&journal), "--auto-approve", "--format", "json"]
            .map(String::from)
            .to_vec()
    };
    let (out, calls) = cancelled_run(&m, restore_args(), When::Restoring, &["INT"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("SIGINT: stopping: nothing new is sent"),
        "{err}"
    );
    let r = report(&out);
    let not_started = r["report"]["not_started"].as_u64().unwrap_or(0);
    assert!(not_started > 0, "{r}");
    assert_eq!(
        calls.iter().filter(|c| c.operation == "PutImage").count(),
        1,
        "only the push in flight: {calls:?}"
    );
    assert!(
        err.contains(&format!(
            "pushes not started. The journal {} is unchanged; run `ecr-reconcile restore {}` again",
            journal.display(),
            journal.display()
        )),
        "{err}"
    );
    // A second restore finishes: the registry is as before the apply.
    let out = run(&m.url, &restore_args());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(state(&m), before);
}

#[test]
fn an_answer_that_cannot_be_read_is_named_for_what_came_back() {
    let m = Moto::start(binary());
    reseed(&m, [5, 5]);
    let dir = Dir::new();
    let p = Proxy::start(&m.url, Faults::default());
    let html: &'static [u8] =
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    for (verdict, said) in [
        (
            Verdict::Raw(proxy::RawAnswer {
                status: 502,
                content_type: "text/html",
                body: html,
            }),
            "DescribeImages of team/app (123456789012/eu-west-1) answered HTTP 502 (text/html): an HTML page: `<html><head><title>502 Bad Gateway",
        ),
        (
            Verdict::Raw(proxy::RawAnswer {
                status: 200,
                content_type: "text/html",
                body: html,
            }),
            "answered HTTP 200 (text/html): an HTML page: `<html>",
        ),
        (
            Verdict::Cut(9),
            "answered HTTP 200 (application/x-amz-json-1.1): a JSON body cut at byte 9: `{\"imageDe`",
        ),
    ] {
        p.set_hook(move |seen, _| {
            if seen.operation == "DescribeImages" && seen.repository.as_deref() == Some("team/app")
            {
                return verdict;
            }
            Verdict::Pass
        });
        let out = command(&p.url, &["plan", s(&dir.path("cfg.yaml"))], None)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.lines().any(|l| l.contains(said)),
            "one line names what came back: {said}\n{err}"
        );
    }
}

#[test]
fn a_restore_whose_answers_are_cut_short_reads_back_and_counts_what_is_back() {
    let m = Moto::start(binary());
    let dir = Dir::new();
    let before = reseed(&m, [10, 5]);
    let journal = dir.path("j.jsonl");
    let out = run(&m.url, &apply_args(&dir, &journal));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Every PutImage is carried out, and its answer cut after 5 bytes.
    let p = Proxy::start(&m.url, Faults::default());
    p.set_hook(|seen, phase| {
        if phase == Phase::After && seen.operation == "PutImage" {
            return Verdict::Cut(5);
        }
        Verdict::Pass
    });
    let args: Vec<String> = ["restore", s(&journal), "--auto-approve", "--format", "json"]
        .map(String::from)
        .to_vec();
    let out = run(&p.url, &args);
    let said = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let r = report(&out);
    assert_eq!(r["report"]["problems"], serde_json::json!([]), "{said}");
    assert_eq!(r["report"]["tags_restored"], 12, "{said}");
    assert!(
        p.calls()
            .iter()
            .any(|c| c.operation == "PutImage" && c.outcome == Outcome::Answered),
        "the answers were cut"
    );
    assert_eq!(state(&m), before);
}
