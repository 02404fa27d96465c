use std::path::PathBuf;

use super::*;
use crate::config::shard::{Shard, ShardBy, ShardInfo};
use crate::config::{self, DesiredState};
use crate::ops::plan::{self, PlanRequest};
use crate::ops::verify::read_saved;
use crate::ops::{Source, SourceSpec};
use crate::plan::Summary;

const EXAMPLE_SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshot.json");
const EXAMPLE_DESIRED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/desired");

fn desired() -> DesiredState {
    config::load(&[PathBuf::from(EXAMPLE_DESIRED)]).unwrap()
}

fn plan_of(desired: &DesiredState) -> PlanOutcome {
    let source = Source::open(&SourceSpec {
        snapshot: Some(PathBuf::from(EXAMPLE_SNAPSHOT)),
        parallelism: 4,
        ..SourceSpec::default()
    })
    .unwrap();
    let request = PlanRequest {
        now: Some("2026-05-01T00:00:00Z".parse().unwrap()),
        ..PlanRequest::default()
    };
    plan::plan(&source, desired, &request).unwrap()
}

/// `outcome` saved (as `plan --out` seals it) in `dir` as `name`.
fn save(dir: &tempfile::TempDir, name: &str, outcome: &PlanOutcome) -> (String, PathBuf) {
    let path = dir.path().join(name);
    let text = serde_json::to_string_pretty(&saved::seal(outcome)).unwrap();
    std::fs::write(&path, text).unwrap();
    (name.to_owned(), path)
}

/// What `open` and `for_each` give: the outcome and every repository, in order.
fn streamed(files: &[(String, PathBuf)]) -> Result<PlanOutcome, ShowError> {
    let opened = open(files)?;
    let mut outcome = opened.outcome().clone();
    assert!(outcome.plan.repositories.is_empty());
    let mut repositories = Vec::new();
    opened.for_each(&mut |r| {
        repositories.push(r);
        Ok(())
    })?;
    outcome.plan.repositories = repositories;
    Ok(outcome)
}

/// What `show` read until now: every file whole, then merged.
fn collected(files: &[(String, PathBuf)]) -> PlanOutcome {
    let plans: Vec<_> = files
        .iter()
        .map(|(shown, path)| (shown.clone(), read_saved(path).unwrap()))
        .collect();
    if plans.len() == 1 {
        return plans.into_iter().next().unwrap().1;
    }
    shard::merge(plans).unwrap()
}

fn json(outcome: &PlanOutcome) -> serde_json::Value {
    serde_json::to_value(outcome).unwrap()
}

fn shard_files(dir: &tempfile::TempDir, count: u32, by: ShardBy) -> Vec<(String, PathBuf)> {
    let mut files: Vec<_> = (1..=count)
        .map(|index| {
            let part = plan_of(&desired().shard(Shard { index, count, by }));
            save(dir, &format!("{by}-{index}-of-{count}.json"), &part)
        })
        .collect();
    files.reverse(); // any order
    files
}

#[test]
fn one_saved_plan_is_read_streaming_as_it_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let whole = plan_of(&desired());
    assert!(whole.plan.repositories.len() >= 4, "several repositories");
    let files = [save(&dir, "plan.json", &whole)];
    let read = streamed(&files).unwrap();
    assert_eq!(json(&read), json(&collected(&files)));
    assert_eq!(read.plan.repositories, whole.plan.repositories);
}

#[test]
fn the_shards_plans_are_read_streaming_as_merge_puts_them_together() {
    let dir = tempfile::tempdir().unwrap();
    let whole = plan_of(&desired());
    for by in [ShardBy::Account, ShardBy::Repository] {
        for count in 2..=4 {
            let files = shard_files(&dir, count, by);
            let read = streamed(&files).unwrap();
            assert_eq!(json(&read), json(&collected(&files)), "{by} {count}");
            assert_eq!(
                read.plan.repositories, whole.plan.repositories,
                "{by} {count}"
            );
            assert!(read.plan.shard.is_none());
        }
    }
}

/// A plan of `total` repositories (the example's, renamed `r0`, `r1`...) and its 3
/// shards' plans, positions interleaved irregularly.
fn many(total: usize) -> (PlanOutcome, Vec<PlanOutcome>) {
    let mut whole = plan_of(&desired());
    let base = std::mem::take(&mut whole.plan.repositories);
    whole.plan.repositories = (0..total)
        .map(|i| {
            let mut r = serde_json::to_value(&base[i % base.len()]).unwrap();
            r["repository"]["name"] = format!("r{i}").into();
            serde_json::from_value(r).unwrap()
        })
        .collect();
    whole.plan.summary = Summary::of(&whole.plan.repositories);
    let parts = (1..=3u32)
        .map(|index| {
            let positions: Vec<usize> = (0..total)
                .filter(|p| (p * p + p / 2) % 3 == index as usize - 1)
                .collect();
            let mut part = whole.clone();
            part.plan.repositories = positions
                .iter()
                .map(|&p| whole.plan.repositories[p].clone())
                .collect();
            part.plan.summary = Summary::of(&part.plan.repositories);
            part.plan.shard = Some(ShardInfo {
                index,
                count: 3,
                by: ShardBy::Repository,
                repositories_total: total,
                positions,
            });
            part
        })
        .collect();
    (whole, parts)
}

#[test]
fn many_repositories_interleaved_across_three_shards_come_back_in_declaration_order() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = many(200);
    let runs = |part: &PlanOutcome| {
        let positions = &part.plan.shard.as_ref().unwrap().positions;
        positions.windows(2).filter(|w| w[1] != w[0] + 1).count()
    };
    assert!(parts.iter().all(|p| runs(p) > 20), "interleaved");
    let mut files: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| save(&dir, &format!("part-{i}.json"), p))
        .collect();
    files.swap(0, 2);
    let read = streamed(&files).unwrap();
    assert_eq!(read.plan.repositories, whole.plan.repositories);
    assert_eq!(json(&read), json(&collected(&files)));
    assert_eq!(read.plan.summary, whole.plan.summary);
}

#[test]
fn a_shard_whose_positions_are_not_increasing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut parts) = many(12);
    let info = parts[1].plan.shard.as_mut().unwrap();
    info.positions.swap(0, 1);
    let files: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| save(&dir, &format!("part-{i}.json"), p))
        .collect();
    assert!(matches!(
        streamed(&files),
        Err(ShowError::Merge(MergeError::Positions { file, total: 12 })) if file == "part-1.json"
    ));
}

/// The error `open` gives for a file holding `text`, and the one `read_saved` gives.
fn refusals(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, text).unwrap();
    let files = [("plan.json".to_owned(), path.clone())];
    let streaming = open(&files).err().expect("refused").to_string();
    let whole = read_saved(&path).unwrap_err().to_string();
    (streaming, whole)
}

fn sealed() -> serde_json::Value {
    saved::seal(&plan_of(&desired()))
}

#[test]
fn an_edited_repository_is_refused_before_any_is_given() {
    let mut document = sealed();
    document["repositories"][1]["repository"]["name"] = "edited".into();
    let (streaming, whole) = refusals(&document.to_string());
    assert!(
        streaming.contains("was changed after it was saved"),
        "{streaming}"
    );
    assert_eq!(streaming, whole);
    // Another field edited.
    let mut document = sealed();
    document["source"] = "aws".into();
    let (streaming, whole) = refusals(&document.to_string());
    assert!(
        streaming.contains("was changed after it was saved"),
        "{streaming}"
    );
    assert_eq!(streaming, whole);
}

#[test]
fn a_file_that_is_not_a_sealed_plan_is_refused_as_read_saved_refuses_it() {
    let mut version = sealed();
    version["format_version"] = 1.into();
    let mut unsealed = sealed();
    unsealed.as_object_mut().unwrap().remove("checksum");
    let pretty = serde_json::to_string_pretty(&sealed()).unwrap();
    let broken = pretty.replacen("\"status\"", "\"status\" 1", 1);
    let cases = [
        (version.to_string(), "incompatible version"),
        (unsealed.to_string(), "carries no checksum"),
        (broken, "not a saved plan"),
        (String::new(), "not a saved plan"),
        ("[1, 2]".to_owned(), "incompatible version"),
        (
            format!(
                r#"{{"format_version": {}, "repositories": 3}}"#,
                crate::plan::PLAN_FORMAT_VERSION
            ),
            "carries no checksum",
        ),
    ];
    for (text, says) in cases {
        let (streaming, whole) = refusals(&text);
        assert!(streaming.contains(says), "{streaming}");
        assert_eq!(streaming, whole);
    }
    let (streaming, _) = refusals(&pretty.replacen("\"status\"", "\"status\" 1", 1));
    assert!(
        streaming.contains("plan.json:"),
        "file:line:col: {streaming}"
    );
}

#[test]
fn a_repository_of_the_wrong_shape_is_refused_before_any_is_given() {
    let mut document = saved::seal(&plan_of(&desired()));
    document["repositories"][2]["status"] = "gone".into();
    document.as_object_mut().unwrap().remove("checksum");
    let resealed = saved::seal(&document);
    let (streaming, _) = refusals(&resealed.to_string());
    assert!(streaming.contains("is not a valid plan"), "{streaming}");
}

#[test]
fn only_every_shard_of_one_plan_once_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let files = shard_files(&dir, 3, ShardBy::Repository);
    let merged = |files: &[(String, PathBuf)]| {
        let plans = files
            .iter()
            .map(|(s, p)| (s.clone(), read_saved(p).unwrap()))
            .collect();
        shard::merge(plans).unwrap_err()
    };
    let same = |files: &[(String, PathBuf)]| match streamed(files) {
        Err(ShowError::Merge(e)) => assert_eq!(e, merged(files)),
        other => panic!("not refused as merge refuses: {:?}", other.map(|_| ())),
    };
    same(&files[..2]); // missing
    let mut twice = files.clone();
    twice[0] = ("again.json".into(), files[1].1.clone());
    same(&twice);
    let mut mixed = files.clone();
    mixed[1] = shard_files(&dir, 2, ShardBy::Repository).remove(0);
    same(&mixed);
    let mut whole = files.clone();
    whole.push(save(&dir, "whole.json", &plan_of(&desired())));
    same(&whole);
}

#[test]
fn a_failing_writer_stops_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let files = [save(&dir, "plan.json", &plan_of(&desired()))];
    let mut given = 0;
    let result = open(&files).unwrap().for_each(&mut |_| {
        given += 1;
        Err(io::Error::other("closed"))
    });
    assert!(matches!(result, Err(ShowError::Output(_))));
    assert_eq!(given, 1);
}
