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
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        end_the_last_line(&mut file)?;
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
    /// sent, so it is left out and reported in `truncated_tail`. A last line that is
    /// a whole entry without its newline (a crash between the two) counts. Any other bad line
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

/// Makes a journal that a crash left without a final newline safe to append to, so
/// the next entry starts a line of its own: a whole entry gets its newline, and a
/// line cut short (the request it announced was never sent) is cut off. Any other
/// last line is damage and is refused: appending after it would hide it.
fn end_the_last_line(file: &mut File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // The last line, read back from the end a block at a time.
    let mut tail: Vec<u8> = Vec::new();
    let mut at = len;
    let start = loop {
        let from = at.saturating_sub(64 * 1024);
        let mut block = vec![0; usize::try_from(at - from).expect("a block fits")];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        let newline = tail[..usize::try_from(at - from).expect("a block fits")]
            .iter()
            .rposition(|b| *b == b'\n');
        if let Some(i) = newline {
            let start = from + i as u64 + 1;
            tail.drain(..=i);
            break start;
        }
        if from == 0 {
            break 0;
        }
        at = from;
    };
    if tail.is_empty() || tail.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<JournalEntry>(&tail) {
        Ok(_) => file.write_all(b"\n")?,
        Err(e) if e.is_eof() => file.set_len(start)?,
        Err(e) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("its last line is not a journal entry: {e}"),
            ));
        }
    }
    file.sync_data()
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

    fn tags(read: &JournalContents) -> Vec<&str> {
        read.entries
            .iter()
            .map(|e| e.tag.as_ref().map_or("", Tag::as_str))
            .collect()
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

        // A crash after the line but before its newline: the entry is whole, so it
        // counts (a removal it announced may have been sent).
        let mut whole = std::fs::read(&path).unwrap();
        whole.truncate(whole.len() - line.len() / 2);
        whole.extend_from_slice(&line);
        std::fs::write(&path, &whole).unwrap();
        let read = Journal::read(&path).unwrap();
        assert_eq!(read.entries.len(), 4);
        assert!(!read.truncated_tail);
        std::fs::write(&path, &bytes).unwrap();

        // An apply that reopens the journal after either crash appends whole lines:
        // the cut line is gone, the whole entry kept.
        let mut j = Journal::open(&path).unwrap();
        j.append(&[entry("e")]).unwrap();
        drop(j);
        let read = Journal::read(&path).unwrap();
        assert_eq!(tags(&read), ["a", "b", "c", "e"]);
        assert!(!read.truncated_tail);
        std::fs::write(&path, &whole).unwrap();
        let mut j = Journal::open(&path).unwrap();
        j.append(&[entry("e")]).unwrap();
        drop(j);
        assert_eq!(
            tags(&Journal::read(&path).unwrap()),
            ["a", "b", "c", "d", "e"]
        );
        // A last line that is neither is refused, not appended after.
        let mut damaged = std::fs::read(&path).unwrap();
        damaged.extend_from_slice(b"{\"version\":1}");
        std::fs::write(&path, &damaged).unwrap();
        let Err(err) = Journal::open(&path) else {
            panic!("refused")
        };
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), damaged, "left as it was");
        std::fs::write(&path, &bytes).unwrap();

        // An entry longer than the blocks the end is read back in.
        let mut long = entry("f");
        long.manifest = Some("m".repeat(300 * 1024));
        let long = serde_json::to_vec(&long).unwrap();
        for cut in [long.len() / 2, long.len()] {
            let mut crashed = bytes.clone();
            crashed.truncate(crashed.len() - line.len() / 2);
            crashed.extend_from_slice(&long[..cut]);
            std::fs::write(&path, &crashed).unwrap();
            let mut j = Journal::open(&path).unwrap();
            j.append(&[entry("e")]).unwrap();
            drop(j);
            let kept: &[&str] = if cut == long.len() {
                &["a", "b", "c", "f", "e"]
            } else {
                &["a", "b", "c", "e"]
            };
            assert_eq!(tags(&Journal::read(&path).unwrap()), kept);
        }
        std::fs::write(&path, &bytes).unwrap();

        // Damage anywhere else is an error with file:line:column.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"kind\"", "\"kimd\"", 1)).unwrap();
        let err = Journal::read(&path).unwrap_err();
        assert!(err.to_string().contains("journal.jsonl:1:"), "{err}");
    }
}
