//! Directory search for desired-state files: what is read, what is excluded, and
//! what is refused. Nothing found is dropped without a word: a `*.yaml` that is not a
//! regular file (a FIFO, a socket, a device) is an error with its path, and symlinked
//! folders are followed, each folder searched once (a link back to a folder already
//! searched, a loop among them, is an error naming both paths).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Code, ConfigDiagnostic, Excluded, Pattern};

/// Directory search under one path argument.
pub(super) struct Walker<'a> {
    pub(super) patterns: &'a [Pattern],
    pub(super) files: &'a mut Vec<PathBuf>,
    pub(super) excluded: &'a mut Vec<Excluded>,
    /// What cannot be read as desired state although it is named like it, and loops.
    pub(super) problems: &'a mut Vec<ConfigDiagnostic>,
    /// Each folder searched so far, by its resolved path, with the path it was found at.
    searched: HashMap<PathBuf, PathBuf>,
}

/// What a directory entry is, symlinks resolved.
enum Kind {
    Folder,
    File,
    /// Named `*.yaml` but neither a file nor a folder: what it is instead.
    Other(&'static str),
    /// A symlink that leads nowhere.
    Dangling(std::io::Error),
}

fn kind_of(path: &Path, kind: std::fs::FileType) -> Kind {
    let kind = if kind.is_symlink() {
        match std::fs::metadata(path) {
            Ok(meta) => meta.file_type(),
            Err(e) => return Kind::Dangling(e),
        }
    } else {
        kind
    };
    if kind.is_dir() {
        Kind::Folder
    } else if kind.is_file() {
        Kind::File
    } else {
        Kind::Other(special(kind))
    }
}

#[cfg(unix)]
fn special(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn special(_: std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// A desired-state file by its name: `*.yaml` or `*.yml`, but not a test file of
/// `test` (`*.test.yaml`, `*.test.yml`).
fn is_yaml(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !super::TEST_FILE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

impl<'a> Walker<'a> {
    pub(super) fn new(
        patterns: &'a [Pattern],
        files: &'a mut Vec<PathBuf>,
        excluded: &'a mut Vec<Excluded>,
        problems: &'a mut Vec<ConfigDiagnostic>,
    ) -> Self {
        Walker {
            patterns,
            files,
            excluded,
            problems,
            searched: HashMap::new(),
        }
    }

    /// Searches the path argument `top`, a directory.
    pub(super) fn search(&mut self, top: &Path) -> std::io::Result<()> {
        self.searched
            .insert(std::fs::canonicalize(top)?, top.to_path_buf());
        self.walk(top, "")
    }

    /// Searches `dir`, which is at `rel` (`/` separated, empty at the top) under the
    /// path argument.
    fn walk(&mut self, dir: &Path, rel: &str) -> std::io::Result<()> {
        let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
        // Sorted, so that of two paths to one folder the same one is searched each run.
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let kind = kind_of(&path, entry.file_type()?);
            let wanted = match kind {
                Kind::Folder => !name.starts_with('.'),
                _ => is_yaml(&name),
            };
            if !wanted {
                continue;
            }
            let is_dir = matches!(kind, Kind::Folder);
            let at = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            if let Some(p) = self.patterns.iter().find(|p| p.matches(&at, &name, is_dir)) {
                self.excluded.push(Excluded {
                    path: path.display().to_string(),
                    by: format!("`{}` ({})", p.text, p.origin),
                });
                continue;
            }
            match kind {
                Kind::Folder => self.folder(&path, &at)?,
                Kind::File => self.files.push(path),
                Kind::Other(what) => self.refuse(Code::NotAFile, &path, format!(
                    "{what}, not a regular file: not read as desired state (remove or rename it, or exclude it)"
                )),
                Kind::Dangling(e) => self.refuse(Code::Io, &path, format!(
                    "cannot read {}: a symlink to nothing ({e})",
                    path.display()
                )),
            }
        }
        Ok(())
    }

    /// Searches a folder found at `path` unless it (reached through a symlink) was
    /// searched already.
    fn folder(&mut self, path: &Path, at: &str) -> std::io::Result<()> {
        let resolved = std::fs::canonicalize(path)?;
        if let Some(first) = self.searched.get(&resolved) {
            let message = format!(
                "a symlink to the folder already searched as {}: each folder is searched once (remove the link, or exclude one of the two)",
                first.display()
            );
            self.refuse(Code::SymlinkLoop, path, message);
            return Ok(());
        }
        self.searched.insert(resolved, path.to_path_buf());
        self.walk(path, at)
    }

    fn refuse(&mut self, code: Code, path: &Path, message: String) {
        self.problems.push(ConfigDiagnostic::general(
            code,
            Some(&path.display().to_string()),
            message,
        ));
    }
}
