//! Desired-state files: discovery, parsing and validation into domain types.
//!
//! Parse, then validate: each file becomes a positioned YAML tree ([`yaml`]); each of
//! its mappings is read into the type of [`raw`] that describes it ([`at`]), and
//! [`validate`] turns those into [`DesiredRepository`] values while collecting every
//! problem (with file, line and column) instead of stopping at the first.

pub mod at;
pub mod diagnostic;
pub mod in_use;
pub mod raw;
pub mod report;
mod roles;
pub mod shard;
mod validate;
mod walk;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use diagnostic::{Code, ConfigDiagnostic, ConfigErrors, SharedSource};
pub use in_use::{
    EcsSource, InUseAccount, InUseSources, KubernetesCluster, KubernetesFile, LambdaSource,
    Selection, SourcePath,
};
pub use validate::parse_duration;

use crate::model::{AccountId, PublicAlias, Region, RepositoryName, Tag};

/// The largest desired-state file read, in bytes. Real files are a few kilobytes; the
/// limit keeps hostile input from exhausting memory.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A place in a desired-state file, carried into the plan so that warnings point at
/// the line that declared something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// The file, as given on the command line (or found under a directory).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What happens to untagged images that no kept image needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UntaggedPolicy {
    /// Keep them (the default).
    #[default]
    Keep,
    /// Delete them.
    Delete,
}

/// What removing an image means: deleting it, or moving it to ECR's archive storage
/// class (reversible: it can be reactivated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Removal {
    /// Delete it (the default).
    #[default]
    Delete,
    /// Archive it (UpdateImageStorageClass to `ARCHIVE`).
    Archive,
}

/// How an allow-list entry selects tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Exactly this tag.
    Exact(Tag),
    /// A glob with `*` and `?`.
    Glob(String),
}

impl Matcher {
    /// True when `tag` is selected.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            Matcher::Exact(t) => t.as_str() == tag,
            Matcher::Glob(g) => wildmatch::WildMatch::new(g).matches(tag),
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        match self {
            Matcher::Exact(t) => t.as_str(),
            Matcher::Glob(g) => g,
        }
    }
}

/// One allow-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowEntry {
    /// Which tags it selects.
    pub matcher: Matcher,
    /// Written as a rule (a mapping with `pattern:`) rather than a plain string.
    pub is_rule: bool,
    /// Only the N most recently pushed matching tags stay allowed.
    pub keep_latest: Option<u32>,
    /// Only tags on images pushed within this many seconds stay allowed.
    pub max_age_seconds: Option<u64>,
    /// Tags on images pulled (or, never pulled, pushed) within this many seconds stay
    /// allowed too: with `keep_latest` or `max_age`, another way to stay; alone, the
    /// rule's only limit.
    pub pulled_within_seconds: Option<u64>,
    /// A rule's `then`: what removing an image whose matching tags it does not allow
    /// means (over the repository's `removal`).
    pub then: Option<Removal>,
    /// Where the entry was written.
    pub origin: Origin,
}

/// The validated desired state of one repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRepository {
    /// The repository name.
    pub name: RepositoryName,
    /// The account, when the file names one.
    pub account: Option<AccountId>,
    /// The region, when the file names one (never with `public`).
    pub region: Option<Region>,
    /// The ECR Public alias, when the file declares `registry: { public: ALIAS }`: the
    /// repository is an ECR Public repository of that registry, and `region` is none.
    pub public: Option<PublicAlias>,
    /// The allow-list.
    pub allow: Vec<AllowEntry>,
    /// The policy for untagged images.
    pub untagged: UntaggedPolicy,
    /// Whether a plan may delete every image of the repository.
    pub allow_empty: bool,
    /// The storage prices of its registry (the file's `pricing`, else ECR's published
    /// prices).
    pub prices: crate::model::Prices,
    /// `max_delete`: limits on one plan's deletions, which apply enforces.
    pub max_delete: Option<crate::model::DeleteLimit>,
    /// `removal`: what removing an image means, unless a rule's `then` says otherwise.
    pub removal: Removal,
    /// `delete_archived_after`: archived images are deleted once archived this many
    /// seconds.
    pub delete_archived_after_seconds: Option<u64>,
    /// Where the repository was declared (its key).
    pub origin: Origin,
}

/// All desired-state files of a run, validated.
#[derive(Clone, Debug)]
pub struct DesiredState {
    /// The files read, in order, as shown.
    pub files: Vec<String>,
    /// Every declared repository, in file order.
    pub repositories: Vec<DesiredRepository>,
    /// Each file by its path relative to the folder that holds them all, with the
    /// SHA-256 of its content, sorted by path: the same files however the paths were
    /// spelled (`desired/`, `./desired`, an absolute path, or `.` inside it).
    pub fingerprint: Vec<FileFingerprint>,
    /// SHA-256 over the fingerprint: a saved plan is only applied to the desired state
    /// it was made from.
    pub digest: String,
    /// Files and folders that directory search skipped on purpose, and why.
    pub excluded: Vec<Excluded>,
    /// YAML files that directory search found but that are not desired-state files
    /// (no top-level `version` or `repositories`): skipped, and said so in one note.
    pub not_desired: NotDesired,
    /// The in-use sources of every file.
    pub in_use: InUseSources,
    /// The role of each account that a file names one for (`registry.role`), by
    /// account.
    pub roles: Vec<crate::model::AccountRole>,
    /// With `--shard K/N`: the shard, and every declared repository (see
    /// [`DesiredState::all_repositories`]).
    pub shard: Option<Box<shard::Sharded>>,
}

/// The name of the file, at the top of a searched directory, that lists what the
/// search skips (one pattern per line, `#` comments).
pub const IGNORE_FILE: &str = ".ecr-reconcile-ignore";

/// What directory search skips: `--exclude` patterns and the patterns of each
/// searched directory's [`IGNORE_FILE`].
///
/// A pattern is matched against paths relative to the directory searched (`/`
/// separated): with a `/` inside, against the whole path (`charts/*`, `*` crosses
/// folders); without, against every file and folder name on the way
/// (`docker-compose*.yml`, `node_modules`). A trailing `/` matches folders only. A
/// file named on the command line is always read.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    /// The `--exclude` patterns.
    pub patterns: Vec<String>,
}

/// A file or folder that directory search skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excluded {
    /// Its path, as shown.
    pub path: String,
    /// The pattern that matched, and where it comes from (`--exclude`, or the ignore
    /// file's `path:line`).
    pub by: String,
}

/// YAML files found by directory search whose top level has neither `version` nor
/// `repositories`: workflows, charts, `action.yml`. They are skipped, not errors; a
/// file named on the command line is always read strictly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotDesired {
    /// The directories searched, as given.
    pub under: Vec<String>,
    /// The files skipped, as shown, sorted.
    pub files: Vec<String>,
}

impl NotDesired {
    /// How many file names a message shows before "and N more".
    const SHOWN: usize = 3;

    /// One sentence: how many, under which directories, and the first few names.
    pub fn summary(&self) -> String {
        let shown: Vec<&str> = self
            .files
            .iter()
            .take(Self::SHOWN)
            .map(String::as_str)
            .collect();
        let more = self.files.len().saturating_sub(Self::SHOWN);
        let names = if more == 0 {
            shown.join(", ")
        } else {
            format!("{}, and {more} more", shown.join(", "))
        };
        let (count, verb, what) = if self.files.len() == 1 {
            ("1 YAML file".to_owned(), "does", "a desired-state file")
        } else {
            (
                format!("{} YAML files", self.files.len()),
                "do",
                "desired-state files",
            )
        };
        format!(
            "{count} found under {} {verb} not look like {what} (no `version` or `repositories`), skipped: {names}",
            self.under.join(", ")
        )
    }

    /// What to do instead.
    pub const HELP: &'static str = "name the folder of your desired state (`ecr-reconcile plan desired/`), or list the other files in .ecr-reconcile-ignore or with --exclude";
}

/// Whether a file that directory search found is a desired-state file: its top level
/// is a mapping with a `version` or `repositories` key. Text that does not parse as
/// one YAML document counts when a line starts with either key, so that a broken
/// desired-state file is still reported as an error rather than skipped.
fn looks_like_desired_state(bytes: &[u8]) -> bool {
    const KEYS: [&str; 2] = ["version", "repositories"];
    let text = String::from_utf8_lossy(bytes);
    match yaml::parse(&text) {
        Ok(node) => match node.value {
            yaml::Value::Map(entries) => entries.iter().any(
                |(k, _)| matches!(&k.value, yaml::Value::Str(s) if KEYS.contains(&s.as_str())),
            ),
            _ => false,
        },
        Err(_) => text.lines().any(|line| {
            KEYS.iter().any(|k| {
                line.strip_prefix(k)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
        }),
    }
}

/// How the name of a test file of `ecr-reconcile test` ends: the search for
/// desired-state files skips them (they sit beside the files they test).
pub const TEST_FILE_SUFFIXES: [&str; 2] = [".test.yaml", ".test.yml"];

/// One pattern, compiled, with where it comes from.
struct Pattern {
    glob: wildmatch::WildMatch,
    whole_path: bool,
    folders_only: bool,
    text: String,
    origin: String,
}

impl Pattern {
    fn new(text: &str, origin: String) -> Option<Pattern> {
        let trimmed = text.trim();
        let body = trimmed.trim_start_matches("./").trim_start_matches('/');
        let folders_only = body.ends_with('/');
        let body = body.trim_end_matches('/');
        if body.is_empty() {
            return None;
        }
        Some(Pattern {
            glob: wildmatch::WildMatch::new(body),
            whole_path: body.contains('/'),
            folders_only,
            text: trimmed.to_owned(),
            origin,
        })
    }

    /// Whether the entry at `rel` (relative to the searched directory) is excluded.
    fn matches(&self, rel: &str, name: &str, is_dir: bool) -> bool {
        if self.folders_only && !is_dir {
            return false;
        }
        if self.whole_path {
            self.glob.matches(rel)
        } else {
            self.glob.matches(name)
        }
    }
}

/// The patterns that apply under `dir`: `--exclude`'s, then its ignore file's.
fn patterns_for(dir: &Path, exclusions: &Exclusions) -> Result<Vec<Pattern>, ConfigDiagnostic> {
    let mut out: Vec<Pattern> = exclusions
        .patterns
        .iter()
        .filter_map(|p| Pattern::new(p, "--exclude".to_owned()))
        .collect();
    let file = dir.join(IGNORE_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            for (i, line) in text.lines().enumerate() {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                out.extend(Pattern::new(line, format!("{}:{}", file.display(), i + 1)));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            let shown = file.display().to_string();
            return Err(ConfigDiagnostic::general(
                Code::Io,
                Some(&shown),
                format!("cannot read {shown}: {e}"),
            ));
        }
    }
    Ok(out)
}

/// One desired-state file, as a saved plan remembers it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileFingerprint {
    /// The path relative to the folder that holds every file of the run (`/`
    /// separated).
    pub path: String,
    /// SHA-256 of the content.
    pub digest: String,
}

/// How two desired states differ, file by file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FingerprintDiff {
    /// Files only in the new state.
    pub added: Vec<String>,
    /// Files only in the old state.
    pub removed: Vec<String>,
    /// Files in both, with other content.
    pub changed: Vec<String>,
}

impl FingerprintDiff {
    /// Compares the files of `before` with those of `after`.
    pub fn of(before: &[FileFingerprint], after: &[FileFingerprint]) -> Self {
        let mut diff = Self::default();
        for a in after {
            match before.iter().find(|b| b.path == a.path) {
                None => diff.added.push(a.path.clone()),
                Some(b) if b.digest != a.digest => diff.changed.push(a.path.clone()),
                Some(_) => {}
            }
        }
        for b in before {
            if !after.iter().any(|a| a.path == b.path) {
                diff.removed.push(b.path.clone());
            }
        }
        diff
    }
}

impl std::fmt::Display for FingerprintDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (what, files) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !files.is_empty() {
                parts.push(format!("{what}: {}", files.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

/// The fingerprint's digest.
fn fingerprint_digest(fingerprint: &[FileFingerprint]) -> String {
    let mut hasher = crate::hash::Hasher::new();
    for f in fingerprint {
        hasher
            .update((f.path.len() as u64).to_le_bytes())
            .update(f.path.as_bytes())
            .update(f.digest.as_bytes());
    }
    hasher.finish()
}

/// Each file's path relative to the deepest folder that holds them all, `/`
/// separated; the path as given when it cannot be resolved.
fn relative_paths(files: &[PathBuf]) -> Vec<String> {
    let absolute: Option<Vec<PathBuf>> = files
        .iter()
        .map(|f| std::fs::canonicalize(f).ok())
        .collect();
    let Some(absolute) = absolute else {
        return files.iter().map(|f| f.display().to_string()).collect();
    };
    let mut base: PathBuf = absolute
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    while !absolute.iter().all(|f| f.starts_with(&base)) {
        if !base.pop() {
            break;
        }
    }
    absolute
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&base).unwrap_or(f);
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// What [`discover`] found.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// The files, in order: those named on the command line, and those found under
    /// each directory (sorted by path).
    pub files: Vec<Found>,
    /// What exclusions skipped.
    pub excluded: Vec<Excluded>,
    /// The directories searched, as given.
    pub searched: Vec<String>,
}

/// One YAML file found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Found {
    /// Its path.
    pub path: PathBuf,
    /// Found by directory search (else named on the command line): such a file is
    /// skipped when it is not a desired-state file at all.
    pub searched: bool,
}

/// Finds the YAML files under `paths`: files as given, directories searched
/// recursively for `*.yaml` / `*.yml`, hidden folders skipped, sorted by path.
/// What `exclusions` (and each directory's ignore file) match is skipped and listed.
pub fn discover(paths: &[PathBuf], exclusions: &Exclusions) -> Result<Discovered, ConfigErrors> {
    let mut out = Discovered::default();
    let mut errors = ConfigErrors::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                out.searched.push(path.display().to_string());
                let patterns = match patterns_for(path, exclusions) {
                    Ok(p) => p,
                    Err(d) => {
                        errors.diagnostics.push(d);
                        continue;
                    }
                };
                let mut found = Vec::new();
                let mut walker = walk::Walker::new(
                    &patterns,
                    &mut found,
                    &mut out.excluded,
                    &mut errors.diagnostics,
                );
                if let Err(e) = walker.search(path) {
                    errors.diagnostics.push(ConfigDiagnostic::general(
                        Code::Io,
                        Some(&path.display().to_string()),
                        format!("cannot read directory {}: {e}", path.display()),
                    ));
                }
                found.sort();
                out.files.extend(found.into_iter().map(|path| Found {
                    path,
                    searched: true,
                }));
            }
            Ok(_) => out.files.push(Found {
                path: path.clone(),
                searched: false,
            }),
            Err(e) => errors.diagnostics.push(ConfigDiagnostic::general(
                Code::Io,
                Some(&path.display().to_string()),
                format!("cannot read {}: {e}", path.display()),
            )),
        }
    }
    // A file both named and found under a directory is read as named: strictly.
    let named: std::collections::HashSet<PathBuf> = out
        .files
        .iter()
        .filter(|f| !f.searched)
        .map(|f| f.path.clone())
        .collect();
    let mut seen = std::collections::HashSet::new();
    out.files
        .retain(|f| (!f.searched || !named.contains(&f.path)) && seen.insert(f.path.clone()));
    if out.files.is_empty() && errors.diagnostics.is_empty() {
        errors
            .diagnostics
            .push(no_files(paths, &out.excluded, None));
    }
    if errors.diagnostics.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// No desired-state file under `paths`: nothing, or only files that are not desired
/// state. Never "no changes" over nothing.
fn no_files(
    paths: &[PathBuf],
    excluded: &[Excluded],
    not_desired: Option<&NotDesired>,
) -> ConfigDiagnostic {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let skipped = if excluded.is_empty() {
        String::new()
    } else {
        format!(" ({} excluded)", excluded.len())
    };
    let (found, help) = match not_desired {
        Some(n) if !n.files.is_empty() => (format!(": {}", n.summary()), NotDesired::HELP),
        _ => (
            String::new(),
            "pass the files or the directories that hold them",
        ),
    };
    ConfigDiagnostic::general(
        Code::NoFiles,
        None,
        format!(
            "no desired-state files (*.yaml, *.yml) under {}{skipped}{found}",
            shown.join(", ")
        ),
    )
    .with_help(help)
}

/// Reads and validates every desired-state file under `paths`.
pub fn load(paths: &[PathBuf]) -> Result<DesiredState, ConfigErrors> {
    load_excluding(paths, &Exclusions::default())
}

/// Reads and validates the desired-state files under `paths`, skipping in directory
/// search what `exclusions` (and each directory's ignore file) match.
pub fn load_excluding(
    paths: &[PathBuf],
    exclusions: &Exclusions,
) -> Result<DesiredState, ConfigErrors> {
    let discovered = discover(paths, exclusions)?;
    let mut excluded = discovered.excluded;
    let mut not_desired = NotDesired {
        under: discovered.searched,
        files: Vec::new(),
    };
    let mut read = Vec::with_capacity(discovered.files.len());
    let mut errors = ConfigErrors::default();
    for found in discovered.files {
        match read_limited(&found.path) {
            Ok(bytes) if found.searched && !looks_like_desired_state(&bytes) => {
                not_desired.files.push(found.path.display().to_string());
            }
            Ok(bytes) => read.push((found.path, bytes)),
            Err(d) => errors.diagnostics.push(d),
        }
    }
    not_desired.files.sort();
    if read.is_empty() && errors.diagnostics.is_empty() {
        errors
            .diagnostics
            .push(no_files(paths, &excluded, Some(&not_desired)));
        return Err(errors);
    }
    let files: Vec<PathBuf> = read.iter().map(|(p, _)| p.clone()).collect();
    let inputs = read
        .into_iter()
        .zip(relative_paths(&files))
        .map(|((path, bytes), identity)| (path.display().to_string(), identity, bytes))
        .collect();
    match load_inputs(inputs) {
        Ok(mut state) if errors.diagnostics.is_empty() => {
            excluded.sort_by(|a, b| a.path.cmp(&b.path));
            state.excluded = excluded;
            state.not_desired = not_desired;
            Ok(state)
        }
        Ok(_) => Err(errors),
        Err(more) => {
            errors.diagnostics.extend(more.diagnostics);
            Err(errors)
        }
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>, ConfigDiagnostic> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io_err = |e: std::io::Error| {
        ConfigDiagnostic::general(Code::Io, Some(&shown), format!("cannot read {shown}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ConfigDiagnostic::general(
            Code::TooLarge,
            Some(&shown),
            format!(
                "{shown} is larger than {} MiB; a desired-state file is expected to be small",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// Validates desired-state files given as (shown name, content) pairs. Every problem in
/// every file is reported, plus repositories declared more than once across files.
/// The shown names are the files' identities in the fingerprint.
pub fn load_sources(inputs: Vec<(String, Vec<u8>)>) -> Result<DesiredState, ConfigErrors> {
    load_inputs(
        inputs
            .into_iter()
            .map(|(name, bytes)| (name.clone(), name, bytes))
            .collect(),
    )
}

/// Validates (shown name, identity in the fingerprint, content) triples.
fn load_inputs(inputs: Vec<(String, String, Vec<u8>)>) -> Result<DesiredState, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut repositories = Vec::new();
    let mut files = Vec::new();
    let mut fingerprint = Vec::with_capacity(inputs.len());
    let mut declared: Vec<(validate::Declared, SharedSource)> = Vec::new();
    let mut in_use = InUseSources::default();
    let mut role_decls = Vec::new();
    for (name, identity, bytes) in inputs {
        fingerprint.push(FileFingerprint {
            path: identity,
            digest: crate::hash::sha256(&bytes),
        });
        files.push(name.clone());
        let file = validate::validate_file(&name, bytes);
        declared.extend(file.declared.into_iter().map(|d| (d, file.source.clone())));
        role_decls.extend(file.roles.into_iter().map(|r| (r, file.source.clone())));
        if file.diagnostics.is_empty() {
            repositories.extend(file.repositories);
            in_use.extend(file.in_use);
        } else {
            errors.diagnostics.extend(file.diagnostics);
        }
    }
    // Declarations of files with other problems count too: every problem in one run.
    check_duplicates(&declared, &mut errors);
    let roles = roles::check_roles(&role_decls, &mut errors);
    if errors.diagnostics.is_empty() {
        fingerprint.sort();
        Ok(DesiredState {
            files,
            repositories,
            digest: fingerprint_digest(&fingerprint),
            fingerprint,
            excluded: Vec::new(),
            not_desired: NotDesired::default(),
            in_use,
            roles,
            shard: None,
        })
    } else {
        Err(errors)
    }
}

/// A repository declared twice, found once accounts and regions are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// The repository.
    pub name: RepositoryName,
    /// The first declaration.
    pub first: Origin,
    /// The second.
    pub second: Origin,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "repository `{}` is declared twice once accounts and regions are resolved: at {} and at {}",
            self.name, self.first, self.second
        )
    }
}

/// The same (account, region, name) declared twice is an error at both places. Accounts
/// and regions that a file leaves out compare equal here; after they are resolved
/// against flags and the registry, [`duplicates_after_resolution`] checks again.
fn check_duplicates(declared: &[(validate::Declared, SharedSource)], errors: &mut ConfigErrors) {
    type Key<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);
    let mut first: HashMap<Key<'_>, usize> = HashMap::new();
    for (i, (d, _)) in declared.iter().enumerate() {
        let key = (
            d.account.as_ref().map(AccountId::as_str),
            d.region.as_ref().map(Region::as_str),
            d.public.as_ref().map(PublicAlias::as_str),
            d.name.as_str(),
        );
        if let Some(&j) = first.get(&key) {
            errors
                .diagnostics
                .push(duplicate_diagnostic(&declared[j], &declared[i]));
        } else {
            first.insert(key, i);
        }
    }
}

fn span_of(origin: &Origin, source: &SharedSource, len: usize) -> yaml::Span {
    let index = crate::text::LineIndex::new(source.text());
    yaml::Span {
        offset: index.offset(origin.line.into(), origin.column.into()),
        len,
        line: origin.line,
        column: origin.column,
    }
}

fn duplicate_diagnostic(
    (first, first_src): &(validate::Declared, SharedSource),
    (second, second_src): &(validate::Declared, SharedSource),
) -> ConfigDiagnostic {
    let len = second.name.as_str().len();
    ConfigDiagnostic::at(
        Code::DuplicateRepository,
        second_src,
        span_of(&second.origin, second_src, len),
        format!(
            "repository `{}` is declared twice (first at {})",
            second.name, first.origin
        ),
        "declared again here",
    )
    .with_help("declare each repository once, in one file")
    .with_related(ConfigDiagnostic::at(
        Code::DuplicateRepository,
        first_src,
        span_of(&first.origin, first_src, first.name.as_str().len()),
        format!("repository `{}` is first declared here", first.name),
        "first declared here",
    ))
}

/// After accounts and regions are resolved, two declarations may turn out to name
/// the same repository (one file names the account, the other leaves it out). Returns
/// a message for each such pair.
pub fn duplicates_after_resolution<K: Eq + std::hash::Hash>(
    repos: &[(K, &DesiredRepository)],
) -> Vec<Duplicate> {
    let mut first: HashMap<&K, &DesiredRepository> = HashMap::new();
    let mut out = Vec::new();
    for (key, r) in repos {
        if let Some(prev) = first.get(key) {
            out.push(Duplicate {
                name: r.name.clone(),
                first: prev.origin.clone(),
                second: r.origin.clone(),
            });
        } else {
            first.insert(key, r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_state_files_are_told_from_other_yaml() {
        for desired in [
            "version: 1\n",
            "repositories: {}\n",
            "# a comment\nversion: 1\nrepositories:\n  a/b: {tagz: [v1]}\n",
            // Broken, but desired state: an error later, never skipped.
            "version: 1\nrepositories: [\n",
            "repositories :\n  - [\n",
        ] {
            assert!(looks_like_desired_state(desired.as_bytes()), "{desired}");
        }
        for other in [
            "",
            "on: push\njobs: {}\n",
            "replicas: 2\n",
            "- a\n- b\n",
            "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Service\n",
            "image: {{ .Values.image }}\n  versions: [\n",
            "metadata:\n  version: 3\n",
        ] {
            assert!(!looks_like_desired_state(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn the_note_names_a_few_files_and_counts_the_rest() {
        let mut skipped = NotDesired {
            under: vec![".".to_owned()],
            files: vec!["./action.yml".to_owned()],
        };
        assert_eq!(
            skipped.summary(),
            "1 YAML file found under . does not look like a desired-state file (no `version` or `repositories`), skipped: ./action.yml"
        );
        skipped.files = (0..6).map(|i| format!("f{i}.yml")).collect();
        assert!(
            skipped
                .summary()
                .ends_with("do not look like desired-state files (no `version` or `repositories`), skipped: f0.yml, f1.yml, f2.yml, and 3 more"),
            "{}",
            skipped.summary()
        );
    }
}
