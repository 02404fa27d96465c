//! Reading the in-use sources the desired-state files declare: each file once per
//! run, before the registry is read. A source that cannot be read stops the run with
//! the cause: "could not read it" never means "nothing is in use".

use std::path::{Path, PathBuf};

use crate::config::{InUseSources, Origin, SourcePath};
use crate::in_use::{ImageUse, InUseSet, SourceKind, UseSite, kubernetes, list, scan};

/// The largest kubectl JSON or list file read.
pub const MAX_SOURCE_BYTES: u64 = 512 * 1024 * 1024;

/// The largest file a glob of `in_use.files` may match.
pub const MAX_SCANNED_BYTES: u64 = 16 * 1024 * 1024;

/// The most files one glob of `in_use.files` may match.
pub const MAX_SCANNED_FILES: usize = 20_000;

/// Why the in-use sources could not be read. Nothing is removed in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InUseError {
    /// A file could not be read.
    #[error("{origin}: cannot read the in-use source {path}: {source}")]
    #[diagnostic(
        code(in_use::io),
        help(
            "a source that cannot be read stops the run: fix the path (relative to the desired-state file's folder) or produce the file first"
        )
    )]
    Read {
        /// Where the source is declared.
        origin: Origin,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what the source expects.
    #[error("{origin}: the in-use source {path}{at} cannot be read: {message}")]
    #[diagnostic(code(in_use::syntax))]
    Syntax {
        /// Where the source is declared.
        origin: Origin,
        /// The file.
        path: String,
        /// `:line:column` in the file, when known.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A file is too large.
    #[error("{origin}: the in-use source {path} is larger than {limit} MiB")]
    #[diagnostic(
        code(in_use::too_large),
        help("narrow the glob or the file to what names deployed images")
    )]
    TooLarge {
        /// Where the source is declared.
        origin: Origin,
        /// The file.
        path: String,
        /// The limit, in MiB.
        limit: u64,
    },
    /// A glob of `in_use.files` matches no file, or too many.
    #[error("{origin}: the glob `{glob}` {problem}")]
    #[diagnostic(
        code(in_use::glob),
        help(
            "a glob that finds nothing keeps nothing: fix it (relative to the desired-state file's folder) or remove it"
        )
    )]
    Glob {
        /// Where the glob is declared.
        origin: Origin,
        /// The glob as written.
        glob: String,
        /// What is wrong.
        problem: String,
    },
    /// A source this version cannot read yet.
    #[error(
        "{origin}: the in-use source `{kind}` is not supported yet: this version cannot tell what it would keep, so it plans nothing"
    )]
    #[diagnostic(
        code(in_use::not_supported),
        help(
            "remove `in_use.{kind}` for now, and list the images it would find in an `in_use.lists` file"
        )
    )]
    NotSupported {
        /// `ecs` or `lambda`.
        kind: &'static str,
        /// Where it is declared.
        origin: Origin,
    },
}

/// Reads every source and returns the images in use.
pub fn read(sources: &InUseSources) -> Result<InUseSet, InUseError> {
    if let Some(ecs) = sources.ecs.first() {
        return Err(InUseError::NotSupported {
            kind: "ecs",
            origin: ecs.origin.clone(),
        });
    }
    if let Some(lambda) = sources.lambda.first() {
        return Err(InUseError::NotSupported {
            kind: "lambda",
            origin: lambda.origin.clone(),
        });
    }
    let mut uses: Vec<ImageUse> = Vec::new();
    for source in &sources.kubernetes {
        let (path, text) = read_file(
            source,
            &normalize(&source.base.join(&source.written)),
            MAX_SOURCE_BYTES,
        )?;
        let found = kubernetes::pods(&text, &path).map_err(|e| InUseError::Syntax {
            origin: source.origin.clone(),
            path: path.clone(),
            at: position(e.line, e.column),
            message: e.message,
        })?;
        tracing::info!(
            "in use: {} image references in the pods of {path}",
            found.len()
        );
        uses.extend(found);
    }
    for source in &sources.lists {
        let (path, text) = read_file(
            source,
            &normalize(&source.base.join(&source.written)),
            MAX_SOURCE_BYTES,
        )?;
        let found = list::image_list(&text, &path).map_err(|e| InUseError::Syntax {
            origin: source.origin.clone(),
            path: path.clone(),
            at: position(e.line, e.column),
            message: e.message,
        })?;
        tracing::info!(
            "in use: {} image references in the list {path}",
            found.len()
        );
        uses.extend(found);
    }
    for source in &sources.files {
        let files = expand(source)?;
        let mut hits = 0;
        for file in &files {
            let (path, text) = read_file(source, file, MAX_SCANNED_BYTES)?;
            for f in scan(&text) {
                hits += 1;
                uses.push(ImageUse {
                    image: f.image,
                    site: UseSite {
                        source: SourceKind::File,
                        file: path.clone(),
                        line: Some(f.line),
                        pod: None,
                        container: None,
                        reference: f.text,
                    },
                });
            }
        }
        tracing::info!(
            "in use: {hits} image references in {} files matched by `{}`",
            files.len(),
            source.written
        );
    }
    Ok(InUseSet::from_uses(uses))
}

/// `deploy/../pods.json` as `pods.json`: paths are shown as a reader would write
/// them. Lexical only (`..` after a symbolic link is kept as written).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Reads `file` as text (bytes that are not UTF-8 become U+FFFD: references are ASCII),
/// refusing more than `limit` bytes. Returns the path as shown and the text.
fn read_file(source: &SourcePath, file: &Path, limit: u64) -> Result<(String, String), InUseError> {
    use std::io::Read;
    let shown = file.display().to_string();
    let io = |e: std::io::Error| InUseError::Read {
        origin: source.origin.clone(),
        path: shown.clone(),
        source: e,
    };
    let handle = std::fs::File::open(file).map_err(io)?;
    let mut bytes = Vec::new();
    handle.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(InUseError::TooLarge {
            origin: source.origin.clone(),
            path: shown,
            limit: limit / (1024 * 1024),
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok((shown, text))
}

/// The files a glob of `in_use.files` matches, sorted. The components before the
/// first with `*`, `?` or `[` name the folder searched (recursively, folders whose
/// name starts with `.` skipped); the rest is matched against paths relative to it,
/// `*` crossing folders, and `**/` matching no folder too. A glob without wildcards
/// names one file.
pub fn expand(source: &SourcePath) -> Result<Vec<PathBuf>, InUseError> {
    let pattern = source.written.trim_start_matches("./");
    let parts: Vec<&str> = pattern.split('/').collect();
    let literal = parts
        .iter()
        .take_while(|p| !p.contains(['*', '?', '[']))
        .count();
    if literal == parts.len() {
        return Ok(vec![normalize(&source.base.join(pattern))]);
    }
    let root = normalize(&if literal == 0 {
        source.base.clone()
    } else {
        source.base.join(parts[..literal].join("/"))
    });
    let rest = parts[literal..].join("/");
    let globs = [
        wildmatch::WildMatch::new(&rest),
        wildmatch::WildMatch::new(&rest.replace("**/", "")),
    ];
    let glob_error = |problem: String| InUseError::Glob {
        origin: source.origin.clone(),
        glob: source.written.clone(),
        problem,
    };
    let mut found = Vec::new();
    walk(&root, "", &globs, &mut found)
        .map_err(|e| glob_error(format!("cannot be searched: {}: {e}", root.display())))?;
    if found.is_empty() {
        return Err(glob_error(format!(
            "matches no file under {}",
            root.display()
        )));
    }
    if found.len() > MAX_SCANNED_FILES {
        return Err(glob_error(format!(
            "matches {} files, more than {MAX_SCANNED_FILES}: narrow it",
            found.len()
        )));
    }
    found.sort();
    Ok(found)
}

fn walk(
    dir: &Path,
    rel: &str,
    globs: &[wildmatch::WildMatch; 2],
    found: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !name.starts_with('.') {
                walk(&entry.path(), &path, globs, found)?;
            }
        } else if (kind.is_file() || (kind.is_symlink() && entry.path().is_file()))
            && globs.iter().any(|g| g.matches(&path))
        {
            found.push(entry.path());
            if found.len() > MAX_SCANNED_FILES {
                return Ok(());
            }
        }
    }
    Ok(())
}
