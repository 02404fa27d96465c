//! The journal: a JSON-lines file of every tag and image an apply removes, with its
//! manifest, written and flushed to disk before the request that removes it, so a
//! crash never loses the record of a removal and removed tags can be restored.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Digest, RepositoryRef, Tag};
use crate::plan::{Action, ActionKind};
use crate::registry::ImageId;

/// The journal format version.
pub const JOURNAL_VERSION: u32 = 1;

/// One removal, as recorded before it is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    /// Format version (1).
    pub version: u32,
    /// When the apply that wrote the entry started (the same for all its entries).
    pub time: DateTime<Utc>,
    /// The repository.
    pub repository: RepositoryRef,
    /// `untag` (the image stays) or `delete`.
    pub kind: ActionKind,
    /// The tag removed, when removed by tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// The image's digest.
    pub digest: Digest,
    /// Every tag the image had when planned.
    pub image_tags: Vec<Tag>,
    /// When the image was pushed.
    pub pushed_at: DateTime<Utc>,
    /// The image's size as the registry reported it (`imageSizeInBytes`), when known:
    /// an offline restore gives it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The manifest media type, from BatchGetImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// The raw manifest, from BatchGetImage: what a restore pushes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// What a journal entry records: one removal, planned or not.
#[derive(Clone, Debug)]
pub struct Removal<'a> {
    /// `untag` (the image stays) or `delete`.
    pub kind: ActionKind,
    /// The tag removed, when removed by tag.
    pub tag: Option<&'a Tag>,
    /// The image's digest.
    pub digest: &'a Digest,
    /// Every tag the image had when planned (sorted by [`JournalEntry::new`]).
    pub image_tags: Vec<Tag>,
    /// When the image was pushed.
    pub pushed_at: DateTime<Utc>,
    /// The image's size, when the registry reported it.
    pub size_bytes: Option<u64>,
}

impl<'a> Removal<'a> {
    /// The removal of `id` (of `action`'s image), as planned.
    pub fn planned(action: &'a Action, id: &'a ImageId, digest: &'a Digest) -> Self {
        Self {
            kind: action.kind,
            tag: match id {
                ImageId::Tag(t) => Some(t),
                ImageId::Digest(_) => None,
            },
            digest,
            image_tags: action
                .tags
                .iter()
                .chain(&action.kept_tags)
                .cloned()
                .collect(),
            pushed_at: action.pushed_at,
            size_bytes: action.size_bytes,
        }
    }
}

impl JournalEntry {
    /// The entry for `removal` in `repository`, with its confirmed manifest, written
    /// at `time`.
    pub fn new(
        repository: &RepositoryRef,
        removal: Removal<'_>,
        manifest: Option<(String, String)>,
        time: DateTime<Utc>,
    ) -> Self {
        let Removal {
            kind,
            tag,
            digest,
            mut image_tags,
            pushed_at,
            size_bytes,
        } = removal;
        image_tags.sort();
        // Only a manifest that hashes to the digest can be pushed back as this image
        // (a snapshot file without the image's `manifest` returns a stand-in).
        let (manifest_media_type, manifest) = match manifest {
            Some((mt, m)) if digest.mismatch(m.as_bytes()).is_none() => (Some(mt), Some(m)),
            _ => (None, None),
        };
        Self {
            version: JOURNAL_VERSION,
            time,
            repository: repository.clone(),
            kind,
            tag: tag.cloned(),
            digest: digest.clone(),
            image_tags,
            pushed_at,
            size_bytes,
            manifest_media_type,
            manifest,
        }
    }
}

/// An open journal file, appended to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (creating it if needed) the journal at `path`, appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        // The file's name must survive a power loss too: flush its directory entry.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends entries, one JSON object per line, and flushes them to disk.
    pub fn append(&mut self, entries: &[JournalEntry]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(entries.len() * 512);
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    /// Reads every entry of a journal file. A last line cut short (no newline, not
    /// JSON) is a crash while it was written: the request it announced was never
    /// sent, so it is left out and reported in `truncated_tail`. Any other bad line
    /// is an error, with its file:line:column.
    pub fn read(path: &Path) -> Result<JournalContents, JournalError> {
        let bytes = std::fs::read(path).map_err(|source| JournalError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut contents = JournalContents::default();
        let mut lines = bytes.split(|b| *b == b'\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let last = lines.peek().is_none();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<JournalEntry>(line) {
                Ok(entry) => contents.entries.push(entry),
                // Only a last line without its newline can be half-written.
                Err(e) if last && e.is_eof() => contents.truncated_tail = true,
                Err(e) => {
                    return Err(JournalError::Damaged {
                        path: path.to_owned(),
                        line: i + 1,
                        column: e.column(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(contents)
    }
}

/// Why a journal cannot be read back.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(journal::io))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line (not a last line cut short) is not a journal entry.
    #[error("{}:{line}:{column}: not a journal entry: {message}", path.display())]
    #[diagnostic(code(journal::damaged))]
    Damaged {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
}

/// What a journal file holds.
#[derive(Debug, Default)]
pub struct JournalContents {
    /// The entries, in the order they were written.
    pub entries: Vec<JournalEntry>,
    /// True when the last line was cut short by a crash while it was written.
    pub truncated_tail: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, Region, RegistryLocation, RepositoryName};

    fn entry(tag: &str) -> JournalEntry {
        JournalEntry {
            version: JOURNAL_VERSION,
            time: Utc::now(),
            repository: RepositoryRef {
                registry: RegistryLocation::private(
                    AccountId::parse("123456789012").unwrap(),
                    Region::parse("eu-west-1").unwrap(),
                ),
                name: RepositoryName::parse("team/app").unwrap(),
            },
            kind: ActionKind::Delete,
            tag: Some(Tag::parse(tag).unwrap()),
            digest: Digest::parse(format!("sha256:{}", "a".repeat(64))).unwrap(),
            image_tags: vec![],
            pushed_at: Utc::now(),
            size_bytes: None,
            manifest_media_type: None,
            manifest: None,
        }
    }

    #[test]
    fn appends_read_back_and_a_cut_last_line_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&[entry("a"), entry("b")]).unwrap();
        j.append(&[entry("c")]).unwrap();
        let read = Journal::read(&path).unwrap();
        assert_eq!(read.entries.len(), 3);
        assert!(!read.truncated_tail);

        // A crash in the middle of writing the next line.
        let mut bytes = std::fs::read(&path).unwrap();
        let line = serde_json::to_vec(&entry("d")).unwrap();
        bytes.extend_from_slice(&line[..line.len() / 2]);
        std::fs::write(&path, &bytes).unwrap();
        let read = Journal::read(&path).unwrap();
        assert_eq!(read.entries.len(), 3);
        assert!(read.truncated_tail);

        // Damage anywhere else is an error with file:line:column.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"kind\"", "\"kimd\"", 1)).unwrap();
        let err = Journal::read(&path).unwrap_err();
        assert!(err.to_string().contains("journal.jsonl:1:"), "{err}");
    }
}
