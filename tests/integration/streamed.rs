//! `plan` and `plan --out` written as the repositories are planned: the JSON bytes
//! equal those of the plan collected and then serialized, the saved plan reads back
//! with a valid checksum, and every other format fed a repository at a time is the
//! text of the collected plan.

use std::path::{Path, PathBuf};

use ecr_reconcile::config::shard::{Shard, ShardBy};
use ecr_reconcile::config::{self, DesiredState};
use ecr_reconcile::ops::plan::PlanRequest;
use ecr_reconcile::ops::{self, Source, SourceSpec};
use ecr_reconcile::render::{self, Format};
use testkit::generator::{OrgShape, org_snapshot};

const EXAMPLE_SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshot.json");
const EXAMPLE_DESIRED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/desired");

fn source(snapshot: &Path) -> Source {
    Source::open(&SourceSpec {
        snapshot: Some(snapshot.to_owned()),
        parallelism: 2,
        ..SourceSpec::default()
    })
    .unwrap()
}

/// A source whose snapshot's images are read from the file as each repository is
/// read, as `plan --format json` opens it.
fn on_demand(snapshot: &Path) -> Source {
    Source::open(&SourceSpec {
        snapshot: Some(snapshot.to_owned()),
        parallelism: 2,
        on_demand: true,
        ..SourceSpec::default()
    })
    .unwrap()
}

/// A renderer of a collected plan.
type Renderer = fn(&ecr_reconcile::plan::Plan, &mut dyn std::io::Write) -> std::io::Result<()>;

fn request(out: PathBuf, forecast: Option<(&str, u64)>) -> PlanRequest {
    PlanRequest {
        now: Some("2026-11-21T00:00:00Z".parse().unwrap()),
        allow_empty: false,
        out: Some(out),
        forecast: forecast.map(|(h, s)| (h.to_owned(), s)),
    }
}

/// Plans `desired` both ways, each against a source of its own (so the counted calls
/// agree), and checks the stdout documents and the saved plans are equal, byte for
/// byte, and the streamed saved plan reads back as the collected plan. Returns the
/// number of repositories planned.
fn same_both_ways(snapshot: &Path, desired: &DesiredState, forecast: Option<(&str, u64)>) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let collected_out = dir.path().join("collected.json");
    let collected = ops::plan::plan(
        &source(snapshot),
        desired,
        &request(collected_out.clone(), forecast),
    )
    .unwrap();
    let mut expected = Vec::new();
    ecr_reconcile::render::json(&collected, &mut expected).unwrap();

    let streamed_out = dir.path().join("streamed.json");
    let mut written = Vec::new();
    // Every other format, fed a repository at a time as the plan is made.
    // Spools of 1 KiB, so that the text of the larger plans goes through files.
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); 6];
    let [
        human,
        markdown,
        report,
        report_md,
        human_small,
        markdown_small,
    ] = &mut texts[..]
    else {
        unreachable!()
    };
    let mut writers: [Box<dyn render::PlanWriter>; 6] = [
        render::plan_writer(Format::Human, false, human).unwrap(),
        render::plan_writer(Format::Markdown, false, markdown).unwrap(),
        render::plan_writer(Format::Human, true, report).unwrap(),
        render::plan_writer(Format::Markdown, true, report_md).unwrap(),
        Box::new(render::HumanWriter::with_spool_limit(human_small, 1 << 10)),
        Box::new(render::MarkdownWriter::with_spool_limit(
            markdown_small,
            1 << 10,
        )),
    ];
    let streamed = ops::streamed::plan(
        &on_demand(snapshot),
        desired,
        &request(streamed_out.clone(), forecast),
        Some(&mut written),
        &mut |r| writers.iter_mut().try_for_each(|w| w.repository(r)),
    )
    .unwrap();
    for w in &mut writers {
        w.finish(&streamed.outcome.plan).unwrap();
    }
    drop(writers);
    same_text(
        "stdout",
        &String::from_utf8(written).unwrap(),
        &String::from_utf8(expected).unwrap(),
    );
    let plan = &collected.plan;
    let collected_texts: [Renderer; 6] = [
        render::human,
        render::markdown,
        render::storage_report,
        render::storage_report_markdown,
        render::human,
        render::markdown,
    ];
    for ((text, collect), what) in texts.iter().zip(collected_texts).zip([
        "human",
        "markdown",
        "report",
        "markdown report",
        "human, spooled to files",
        "markdown, spooled to files",
    ]) {
        let mut expected = Vec::new();
        collect(plan, &mut expected).unwrap();
        same_text(
            what,
            &String::from_utf8(text.clone()).unwrap(),
            &String::from_utf8(expected).unwrap(),
        );
    }
    same_text(
        "saved plan",
        &std::fs::read_to_string(&streamed_out).unwrap(),
        &std::fs::read_to_string(&collected_out).unwrap(),
    );
    let read = ops::verify::read_saved(&streamed_out).unwrap();
    assert_eq!(read.plan, collected.plan);
    assert_eq!(streamed.outcome.plan.summary, collected.plan.summary);
    assert_eq!(streamed.outcome.plan.warnings, collected.plan.warnings);
    assert!(streamed.outcome.plan.repositories.is_empty());
    assert_eq!(
        streamed.unreadable.len(),
        collected.plan.unreadable().count()
    );
    collected.plan.repositories.len()
}

/// Fails where `streamed` first differs from `collected`, with the lines around.
fn same_text(what: &str, streamed: &str, collected: &str) {
    if streamed == collected {
        return;
    }
    let at = streamed
        .bytes()
        .zip(collected.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(streamed.len().min(collected.len()));
    let around =
        |t: &str| t[at.saturating_sub(200).min(t.len())..(at + 200).min(t.len())].to_owned();
    panic!(
        "{what} differs at byte {at} (lengths {} and {}):\n--- streamed\n{}\n--- collected\n{}",
        streamed.len(),
        collected.len(),
        around(streamed),
        around(collected)
    );
}

#[test]
fn the_streamed_example_plan_is_the_collected_one_byte_for_byte() {
    let desired = config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap();
    let planned = same_both_ways(Path::new(EXAMPLE_SNAPSHOT), &desired, None);
    assert!(planned > 1);
    same_both_ways(
        Path::new(EXAMPLE_SNAPSHOT),
        &desired,
        Some(("30d", 30 * 24 * 3600)),
    );
}

#[test]
fn a_streamed_plan_of_several_accounts_and_of_each_shard_is_the_collected_one() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let desired_dir = dir.path().join("desired");
    // More repositories than one group of the run (64): several groups are streamed;
    // more than the on-demand model holds at once (4 groups): some images are dropped
    // and read again.
    let shape = OrgShape {
        accounts: 3,
        repositories: 100,
        images: 12,
    };
    org_snapshot(shape, &snapshot, &desired_dir).unwrap();
    let desired = config::load(&[desired_dir]).unwrap();
    assert_eq!(same_both_ways(&snapshot, &desired, None), 300);
    let mut shards = 0;
    for k in 1..=2 {
        let shard = Shard {
            index: k,
            count: 2,
            by: ShardBy::Account,
        };
        shards += same_both_ways(&snapshot, &desired.clone().shard(shard), None);
    }
    assert_eq!(shards, 300, "the shards together plan every repository");
}

#[test]
fn a_streamed_plan_of_no_repository_is_the_collected_one() {
    // The only repository of the org snapshot's account 0 lands in the other shard.
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot.json");
    let desired_dir = dir.path().join("desired");
    let shape = OrgShape {
        accounts: 2,
        repositories: 1,
        images: 5,
    };
    org_snapshot(shape, &snapshot, &desired_dir).unwrap();
    let desired = config::load(&[desired_dir]).unwrap();
    let empty = (1..=4)
        .map(|k| {
            desired.clone().shard(Shard {
                index: k,
                count: 4,
                by: ShardBy::Account,
            })
        })
        .find(|d| d.repositories.is_empty())
        .expect("a shard of 4 over 2 accounts has no repository");
    assert_eq!(same_both_ways(&snapshot, &empty, None), 0);
}

/// A reader that has gone (`| head`).
struct Gone;

impl std::io::Write for Gone {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_reader_that_stops_early_does_not_stop_the_saved_plan() {
    let desired = config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (streamed_out, collected_out) = (dir.path().join("s.json"), dir.path().join("c.json"));
    let snapshot = Path::new(EXAMPLE_SNAPSHOT);
    ops::streamed::plan(
        &source(snapshot),
        &desired,
        &request(streamed_out.clone(), None),
        Some(&mut Gone),
        &mut |_| Ok(()),
    )
    .unwrap();
    ops::plan::plan(
        &source(snapshot),
        &desired,
        &request(collected_out.clone(), None),
    )
    .unwrap();
    same_text(
        "saved plan",
        &std::fs::read_to_string(&streamed_out).unwrap(),
        &std::fs::read_to_string(&collected_out).unwrap(),
    );
    // Only the saved plan is left in the folder: the temporary files are gone.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn a_saved_plan_into_a_missing_folder_is_refused_before_anything_is_written() {
    let desired = config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    let e = ops::streamed::plan(
        &source(Path::new(EXAMPLE_SNAPSHOT)),
        &desired,
        &request(dir.path().join("no/such/plan.json"), None),
        Some(&mut written),
        &mut |_| Ok(()),
    )
    .unwrap_err();
    let ops::streamed::StreamError::Plan(e) = e else {
        panic!("{e:?}")
    };
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(written.is_empty());
}

/// Every repository's listing and manifests, read in `order` (indices into the
/// snapshot's repositories), as text.
fn read_all(
    registry: &ecr_reconcile::registry::memory::InMemoryRegistry,
    repositories: &[ecr_reconcile::model::RepositoryRef],
    order: &[usize],
) -> Vec<String> {
    use ecr_reconcile::registry::{ImageId, Registry};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    order
        .iter()
        .map(|&i| {
            let repo = &repositories[i];
            rt.block_on(async {
                let page = registry.describe_images(repo, None, 1000).await.unwrap();
                let ids: Vec<ImageId> = page
                    .images
                    .iter()
                    .map(|d| ImageId::Digest(d.digest.clone()))
                    .collect();
                let mut got = Vec::new();
                // BatchGetImage takes at most 100 ids.
                for ids in ids.chunks(100) {
                    got.push(registry.batch_get_image(repo, ids).await.unwrap());
                }
                format!("{repo}: {page:?} {got:?}")
            })
        })
        .collect()
}

#[test]
fn the_on_demand_snapshot_reads_as_the_whole_file_whatever_the_order() {
    use ecr_reconcile::registry::snapshot;
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.json");
    let shape = OrgShape {
        accounts: 2,
        repositories: 3,
        images: 7,
    };
    org_snapshot(shape, &org, &dir.path().join("desired")).unwrap();
    for path in [Path::new(EXAMPLE_SNAPSHOT), org.as_path()] {
        let whole = snapshot::read(path).unwrap();
        let repositories: Vec<_> = whole
            .registries
            .iter()
            .flat_map(|r| {
                let location = r.location().unwrap();
                r.repositories
                    .iter()
                    .map(move |repo| ecr_reconcile::model::RepositoryRef {
                        registry: location.clone(),
                        name: repo.name.clone(),
                    })
            })
            .collect();
        let n = repositories.len();
        assert!(n > 2, "{}", path.display());
        // Forwards, backwards, and each one twice in a row and again after others.
        let order: Vec<usize> = (0..n)
            .chain((0..n).rev())
            .chain((0..n).flat_map(|i| [i, i]))
            .collect();
        let expected = read_all(&whole.into_registry(), &repositories, &order);
        let indexed = snapshot::read_indexed(path)
            .unwrap()
            .expect("the common form");
        assert!(
            indexed
                .snapshot
                .registries
                .iter()
                .flat_map(|r| &r.repositories)
                .all(|r| r.images.is_empty()),
            "no image is held"
        );
        for keep in [1, 2, n] {
            let registry = snapshot::read_indexed(path)
                .unwrap()
                .expect("the common form")
                .into_registry(path, keep)
                .unwrap();
            let read = read_all(&registry, &repositories, &order);
            assert_eq!(read, expected, "{} keeping {keep}", path.display());
            assert_eq!(registry.calls(), {
                let whole = snapshot::read(path).unwrap().into_registry();
                read_all(&whole, &repositories, &order);
                whole.calls()
            });
        }
    }
}

#[test]
fn a_snapshot_with_an_error_is_not_read_on_demand_and_says_where_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    let text = std::fs::read_to_string(EXAMPLE_SNAPSHOT).unwrap();
    // A digest that is not one, deep in the file.
    let bad = text.replacen("\"digest\": \"sha256:", "\"digest\": \"sha257:", 1);
    assert_ne!(bad, text);
    std::fs::write(&path, bad).unwrap();
    assert!(
        ecr_reconcile::registry::snapshot::read_indexed(&path)
            .unwrap()
            .is_none()
    );
    let open = |on_demand: bool| {
        Source::open(&SourceSpec {
            snapshot: Some(path.clone()),
            on_demand,
            ..SourceSpec::default()
        })
        .expect_err("refused")
        .to_string()
    };
    assert_eq!(open(true), open(false));
}
