//! Restore records: the push times a restore took from the images it pushed again.
//!
//! ECR gives an image that PutImage creates anew a new `imagePushedAt` (a restore of a
//! deleted image is a push). `keep_latest` ranks images by push time, and `max_age` and
//! `pulled_within` measure from it, so without a record the next plan would rank the
//! restored images newest and remove the real newest builds instead. `restore` writes
//! a record of every image it re-created (`.ecr-reconcile/restored-<UTC time>.json`
//! beside the journals) with the push time the image had before; `plan` and `apply`
//! read every record of that folder and, for an image whose push time falls within
//! the restore that re-created it, plan with its push time from before. An image
//! pushed again later (outside that window) is a new push, and ranks as one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Digest, RepositoryRef};
use crate::registry::ObservedRepository;

/// Where restore records go by default, under the working directory: the folder of
/// the journals.
pub const DEFAULT_DIR: &str = ".ecr-reconcile";

/// The format version of a restore record.
pub const RECORD_VERSION: u32 = 1;

/// How far a re-created image's push time may lie outside its restore's start and
/// end (clocks of the machine and of the registry differ) and still be that restore's
/// push.
const CLOCK_SLACK_MINUTES: i64 = 15;

/// One restore's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRecord {
    /// Format version (1).
    pub version: u32,
    /// When the restore started pushing.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// The images it pushed again, with their push time from before.
    pub images: Vec<RecreatedImage>,
}

/// Why the restore records could not be read. A plan stops: ranking restored images
/// as new pushes could remove what the first plan kept.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RestoredError {
    /// A record could not be read, or is not a restore record.
    #[error(
        "{}: not a readable restore record ({reason}); fix or remove the file (restore writes these to rank restored images by their first push)",
        path.display()
    )]
    #[diagnostic(code(restore::record))]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The window of one re-created image and the push time it had before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    pushed_at: DateTime<Utc>,
}

/// An image a restore pushed again: the registry gave it a new push time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecreatedImage {
    /// The repository.
    #[serde(flatten)]
    pub repository: RepositoryRef,
    /// The image.
    pub digest: Digest,
    /// When it had been pushed before the apply removed it.
    pub pushed_at: DateTime<Utc>,
}

/// Every record of a folder, by repository and image.
#[derive(Clone, Debug, Default)]
pub struct RestoredPushTimes {
    windows: HashMap<RepositoryRef, HashMap<Digest, Vec<Window>>>,
    files: usize,
}

impl RestoredPushTimes {
    /// Reads every `restored-*.json` of `dir` (none when the folder does not exist).
    pub fn load(dir: &Path) -> Result<Self, RestoredError> {
        let mut out = Self::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(RestoredError::Unreadable {
                    path: dir.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("restored-") && n.ends_with(".json"))
            })
            .collect();
        paths.sort();
        for path in paths {
            let unreadable = |reason: String| RestoredError::Unreadable {
                path: path.clone(),
                reason,
            };
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                return Err(unreadable("not a regular file".to_owned()));
            }
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(e.to_string()))?;
            let record: RestoreRecord =
                serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
            if record.version != RECORD_VERSION {
                return Err(unreadable(format!(
                    "format version {}, this build reads {RECORD_VERSION}",
                    record.version
                )));
            }
            out.add(&record);
        }
        Ok(out)
    }

    /// Adds one record.
    pub fn add(&mut self, record: &RestoreRecord) {
        let slack = Duration::minutes(CLOCK_SLACK_MINUTES);
        for image in &record.images {
            self.windows
                .entry(image.repository.clone())
                .or_default()
                .entry(image.digest.clone())
                .or_default()
                .push(Window {
                    from: record.started_at - slack,
                    to: record.finished_at + slack,
                    pushed_at: image.pushed_at,
                });
        }
        self.files += 1;
    }

    /// How many records were read.
    pub fn records(&self) -> usize {
        self.files
    }

    /// The repository as the plan sees it: each image a restore re-created (its push
    /// time within that restore) with the push time it had before; none when no image
    /// of it was re-created.
    pub fn adjust(&self, observed: &ObservedRepository) -> Option<ObservedRepository> {
        let windows = self.windows.get(&observed.reference)?;
        let mut adjusted = observed.clone();
        let mut changed = false;
        for image in &mut adjusted.images {
            let Some(list) = windows.get(&image.digest) else {
                continue;
            };
            if let Some(w) = list.iter().find(|w| {
                w.from <= image.pushed_at
                    && image.pushed_at <= w.to
                    && w.pushed_at < image.pushed_at
            }) {
                image.pushed_at = w.pushed_at;
                changed = true;
            }
        }
        changed.then_some(adjusted)
    }
}

/// Whether a record can be written in `dir` (created if needed): a temporary file
/// is made there and removed.
pub fn check_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tempfile::NamedTempFile::new_in(dir).map(drop)
}

/// Writes `record` as `restored-<UTC time>.json` in `dir` (created if needed), and
/// returns its path.
pub fn write(dir: &Path, record: &RestoreRecord) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp = record.finished_at.format("%Y%m%dT%H%M%S%.3fZ");
    let path = dir.join(format!("restored-{stamp}.json"));
    crate::files::write_json_atomically(&path, record)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ImageDetail;

    fn repo() -> RepositoryRef {
        RepositoryRef::for_tests()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn digest(c: char) -> Digest {
        Digest::parse(format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn image(c: char, pushed: &str) -> ImageDetail {
        ImageDetail::new(digest(c), vec![], at(pushed))
    }

    #[test]
    fn only_the_restore_s_own_push_is_taken_back() {
        let record = RestoreRecord {
            version: RECORD_VERSION,
            started_at: at("2026-12-01T10:00:00Z"),
            finished_at: at("2026-12-01T10:01:00Z"),
            images: ['a', 'b', 'c']
                .into_iter()
                .map(|c| RecreatedImage {
                    repository: repo(),
                    digest: digest(c),
                    pushed_at: at("2026-01-01T00:00:00Z"),
                })
                .collect(),
        };
        let mut times = RestoredPushTimes::default();
        times.add(&record);
        let observed = ObservedRepository::listed(
            repo(),
            vec![
                // Pushed by the restore.
                image('a', "2026-12-01T10:00:30Z"),
                // Pushed again a day later: a new push.
                image('b', "2026-12-02T10:00:00Z"),
                // Never re-created (still there from before).
                image('c', "2025-12-01T00:00:00Z"),
                // Not in the record.
                image('d', "2026-12-01T10:00:30Z"),
            ],
        );
        let adjusted = times.adjust(&observed).expect("one image re-created");
        let pushed: Vec<String> = adjusted
            .images
            .iter()
            .map(|i| i.pushed_at.to_rfc3339())
            .collect();
        assert_eq!(
            pushed,
            [
                "2026-01-01T00:00:00+00:00",
                "2026-12-02T10:00:00+00:00",
                "2025-12-01T00:00:00+00:00",
                "2026-12-01T10:00:30+00:00"
            ]
        );
        let other = ObservedRepository {
            images: vec![image('b', "2026-12-02T10:00:00Z")],
            ..observed
        };
        assert!(times.adjust(&other).is_none());
    }

    #[test]
    fn records_are_written_read_back_and_damage_stops_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RestoredPushTimes::load(&dir.path().join("none"))
                .unwrap()
                .records(),
            0
        );
        let record = RestoreRecord {
            version: RECORD_VERSION,
            started_at: at("2026-12-01T10:00:00Z"),
            finished_at: at("2026-12-01T10:01:00Z"),
            images: vec![RecreatedImage {
                repository: repo(),
                digest: digest('a'),
                pushed_at: at("2026-01-01T00:00:00Z"),
            }],
        };
        let path = write(dir.path(), &record).unwrap();
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("restored-2026")
        );
        std::fs::write(dir.path().join("journal-x.jsonl"), "not a record").unwrap();
        let times = RestoredPushTimes::load(dir.path()).unwrap();
        assert_eq!(times.records(), 1);
        std::fs::write(dir.path().join("restored-bad.json"), "{").unwrap();
        let err = RestoredPushTimes::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("restored-bad.json: not a readable restore record"),
            "{err}"
        );
    }
}
