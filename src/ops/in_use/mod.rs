//! Reading the in-use sources the desired-state files declare: each once per run,
//! before the registry is read (and again by `apply` just before it removes). A
//! source that cannot be read stops the run with the cause: "could not read it" never
//! means "nothing is in use".

pub mod kubernetes;
pub mod live;

use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;

use crate::config::{EcsSource, InUseSources, KubernetesCluster, LambdaSource, Origin, SourcePath};
use crate::deployed::kubernetes::KubeError;
use crate::deployed::{DeployedError, Deployments, LiveCalls};
use crate::in_use::kubernetes as kubectl;
use crate::in_use::{ImageUse, InUseSet, SourceKind, SourceSyntaxError, UseSite, list, scan};
use crate::model::{AccountId, Region};
use live::LiveRead;

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
    /// ECS or Lambda is declared but the run reads a snapshot file, not AWS.
    #[error(
        "{origin}: `in_use.{kind}` reads the AWS account, and this run reads a snapshot file: it cannot tell what runs"
    )]
    #[diagnostic(
        code(in_use::needs_aws),
        help(
            "run against AWS, or list the images it would find in an `in_use.lists` file for offline runs"
        )
    )]
    NeedsAws {
        /// `ecs` or `lambda`.
        kind: &'static str,
        /// Where it is declared.
        origin: Origin,
    },
    /// A Kubernetes cluster is declared but the run reads a snapshot file.
    #[error(
        "{origin}: `in_use.kubernetes` reads the cluster of context `{context}` live, and this run reads a snapshot file: it cannot tell what runs"
    )]
    #[diagnostic(
        code(in_use::needs_cluster),
        help(
            "run against AWS, or save `kubectl get pods,deploy,rs,sts,ds,job,cronjob -A -o json` to a file and name that file for offline runs"
        )
    )]
    NeedsCluster {
        /// The kubeconfig context.
        context: String,
        /// Where it is declared.
        origin: Origin,
    },
    /// A Kubernetes cluster could not be read.
    #[error("{origin}: cannot read the Kubernetes cluster of context `{context}`: {error}")]
    #[diagnostic(
        code(in_use::kubernetes),
        help(
            "a source that cannot be read stops the run. The reader needs only `list` on pods and replicationcontrollers (core), deployments, replicasets, statefulsets and daemonsets (apps), jobs and cronjobs (batch): the ClusterRole on the in-use sources page"
        )
    )]
    Kubernetes {
        /// The kubeconfig context.
        context: String,
        /// Where it is declared.
        origin: Origin,
        /// Why.
        error: KubeError,
    },
    /// ECS or Lambda could not be read.
    #[error("{origin}: cannot read `in_use.{kind}` in {region}{}: {error}", of_account(account.as_ref()))]
    #[diagnostic(
        code(in_use::live),
        help(
            "a source that cannot be read stops the run. The reader needs ecs:ListClusters, ecs:ListServices, ecs:DescribeServices, ecs:ListTasks, ecs:DescribeTasks, ecs:ListTaskDefinitionFamilies, ecs:ListTaskDefinitions and ecs:DescribeTaskDefinition for ECS; lambda:ListFunctions, lambda:ListVersionsByFunction, lambda:ListAliases and lambda:GetFunction for Lambda"
        )
    )]
    Live {
        /// `ecs` or `lambda`.
        kind: &'static str,
        /// The account read through its role (none: the run's own credentials').
        account: Option<AccountId>,
        /// The region read.
        region: Region,
        /// Where it is declared.
        origin: Origin,
        /// What the service said.
        error: DeployedError,
    },
}

/// Reads ECS and Lambda sources: the run's reader of the AWS account (object-safe, so
/// that the run's settings can hold one). Every [`Deployments`] is one.
pub trait LiveSources: Send + Sync + std::fmt::Debug {
    /// Reads one ECS source of `account` (none: the run's own credentials' account)
    /// in `region`.
    fn ecs<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a EcsSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>>;

    /// Reads one Lambda source of `account` in `region`.
    fn lambda<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a LambdaSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>>;
}

impl<D: Deployments + std::fmt::Debug> LiveSources for D {
    fn ecs<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a EcsSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>> {
        Box::pin(live::read_ecs(self.in_account(account), region, source))
    }

    fn lambda<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a LambdaSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>> {
        Box::pin(live::read_lambda(self.in_account(account), region, source))
    }
}

/// An account whose ECS and Lambda are read, and in which regions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveAccount {
    /// The account, reached through its role; none: the account of the run's own
    /// credentials.
    pub account: Option<AccountId>,
    /// The regions read when a source names none: those of the account's
    /// repositories.
    pub regions: Vec<Region>,
}

/// Reads Kubernetes clusters: the run's reader (object-safe, so that the run's
/// settings can hold one; none on a snapshot run).
pub trait ClusterSources: Send + Sync + std::fmt::Debug {
    /// Reads one cluster.
    fn cluster<'a>(
        &'a self,
        source: &'a KubernetesCluster,
    ) -> BoxFuture<'a, Result<LiveRead, KubeError>>;
}

/// The clusters of a run against AWS, through kube's client (a client per read, so
/// that a re-read before removing asks the exec plugin for a fresh token), with the
/// total of the list calls made.
#[cfg(feature = "aws")]
#[derive(Debug, Default)]
pub struct KubeReader {
    total: std::sync::Mutex<LiveCalls>,
}

#[cfg(feature = "aws")]
impl KubeReader {
    /// Every call made so far.
    pub fn total(&self) -> LiveCalls {
        self.total.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(feature = "aws")]
impl ClusterSources for KubeReader {
    fn cluster<'a>(
        &'a self,
        source: &'a KubernetesCluster,
    ) -> BoxFuture<'a, Result<LiveRead, KubeError>> {
        Box::pin(async move {
            let client = crate::deployed::kubernetes::client::KubeClient::connect(
                source.kubeconfig.as_deref(),
                &source.context,
            )
            .await?;
            let read = kubernetes::read_cluster(&client, source).await?;
            self.total
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&read.calls);
            Ok(read)
        })
    }
}

/// A reader that also keeps the total of the calls it made, for reports that span
/// several reads (`apply` reads the sources, then again before removing).
#[derive(Debug)]
pub struct Counted<L> {
    inner: L,
    total: std::sync::Mutex<LiveCalls>,
}

impl<L: LiveSources> Counted<L> {
    /// Counts the calls of `inner`.
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            total: std::sync::Mutex::new(LiveCalls::default()),
        }
    }

    /// Every call made so far.
    pub fn total(&self) -> LiveCalls {
        self.total.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn add(&self, read: Result<LiveRead, DeployedError>) -> Result<LiveRead, DeployedError> {
        if let Ok(r) = &read {
            self.total
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&r.calls);
        }
        read
    }
}

impl<L: LiveSources> LiveSources for Counted<L> {
    fn ecs<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a EcsSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>> {
        Box::pin(async move { self.add(self.inner.ecs(account, region, source).await) })
    }

    fn lambda<'a>(
        &'a self,
        account: Option<&'a AccountId>,
        region: &'a Region,
        source: &'a LambdaSource,
    ) -> BoxFuture<'a, Result<LiveRead, DeployedError>> {
        Box::pin(async move { self.add(self.inner.lambda(account, region, source).await) })
    }
}

/// Reads every source and returns the images in use. ECS and Lambda are read through
/// `live`, in each of `accounts`: in each source's `regions` or else in the account's
/// (those of its repositories); Kubernetes clusters through `clusters` (neither on a
/// snapshot run).
pub async fn read(
    sources: &InUseSources,
    live: Option<&dyn LiveSources>,
    clusters: Option<&dyn ClusterSources>,
    accounts: &[LiveAccount],
) -> Result<InUseSet, InUseError> {
    let reader = match (sources.clusters.first(), clusters) {
        (Some(cluster), None) => {
            return Err(InUseError::NeedsCluster {
                context: cluster.context.clone(),
                origin: cluster.origin.clone(),
            });
        }
        (None, _) => None,
        (Some(_), reader) => reader,
    };
    let mut uses = read_files(sources)?;
    let mut calls = LiveCalls::default();
    for (cluster, reader) in sources.clusters.iter().filter_map(|c| Some((c, reader?))) {
        let found = reader
            .cluster(cluster)
            .await
            .map_err(|error| InUseError::Kubernetes {
                context: cluster.context.clone(),
                origin: cluster.origin.clone(),
                error,
            })?;
        tracing::info!(
            "in use: {} image references in Kubernetes {}: {}; {} calls: {}",
            found.uses.len(),
            cluster.context,
            found.summary,
            found.calls.total(),
            found.calls
        );
        calls.add(&found.calls);
        uses.extend(found.uses);
    }
    let declared =
        (sources.ecs.iter().map(Live::Ecs)).chain(sources.lambda.iter().map(Live::Lambda));
    for source in declared {
        let (kind, origin, regions) = match source {
            Live::Ecs(s) => ("ecs", &s.origin, &s.regions),
            Live::Lambda(s) => ("lambda", &s.origin, &s.regions),
        };
        let live = live.ok_or_else(|| InUseError::NeedsAws {
            kind,
            origin: origin.clone(),
        })?;
        let each = accounts.iter().flat_map(|a| {
            let regions = regions.as_deref().unwrap_or(&a.regions);
            regions.iter().map(move |r| (a.account.as_ref(), r))
        });
        for (account, region) in each {
            let found = match source {
                Live::Ecs(s) => live.ecs(account, region, s).await,
                Live::Lambda(s) => live.lambda(account, region, s).await,
            }
            .map_err(|error| InUseError::Live {
                kind,
                account: account.cloned(),
                region: region.clone(),
                origin: origin.clone(),
                error,
            })?;
            tracing::info!(
                "in use: {} image references in {} {region}{}: {}; {} calls: {}",
                found.uses.len(),
                if kind == "ecs" { "ECS" } else { "Lambda" },
                of_account(account),
                found.summary,
                found.calls.total(),
                found.calls
            );
            calls.add(&found.calls);
            uses.extend(found.uses.into_iter().map(|mut u| {
                u.site.account = account.map(ToString::to_string);
                u
            }));
        }
    }
    let mut set = InUseSet::from_uses(uses);
    set.calls = calls;
    Ok(set)
}

/// ` of account ACCOUNT`, for an account reached through its role.
fn of_account(account: Option<&AccountId>) -> String {
    account.map_or_else(String::new, |a| format!(" of account {a}"))
}

/// An ECS or Lambda source.
#[derive(Clone, Copy)]
enum Live<'a> {
    Ecs(&'a EcsSource),
    Lambda(&'a LambdaSource),
}

/// Reads the file sources: kubectl JSON, lists and scanned files.
fn read_files(sources: &InUseSources) -> Result<Vec<ImageUse>, InUseError> {
    let mut uses: Vec<ImageUse> = Vec::new();
    for entry in &sources.kubernetes {
        let source = &entry.path;
        let (path, text) = read_file(
            source,
            &normalize(&source.base.join(&source.written)),
            MAX_SOURCE_BYTES,
        )?;
        let (found, skipped) = kubectl::read_file(&text, &path, entry.replicasets_per_deployment)
            .map_err(|e| InUseError::Syntax {
            origin: source.origin.clone(),
            path: path.clone(),
            at: position(e.line, e.column),
            message: e.message,
        })?;
        let skipped: Vec<String> = skipped.iter().map(|(k, n)| format!("{k} {n}")).collect();
        tracing::info!(
            "in use: {} image references in the Kubernetes objects of {path}{}",
            found.len(),
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (skipped, no pod template: {})", skipped.join(", "))
            }
        );
        uses.extend(found);
    }
    read_each(&sources.lists, "the list", list::image_list, &mut uses)?;
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
                        account: None,
                        source: SourceKind::File,
                        file: Some(path.clone()),
                        line: Some(f.line),
                        pod: None,
                        container: None,
                        region: None,
                        cluster: None,
                        resource: None,
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
    Ok(uses)
}

/// Reads each file of `sources` whole and parses it with `parse`.
fn read_each(
    sources: &[SourcePath],
    what: &str,
    parse: fn(&str, &str) -> Result<Vec<ImageUse>, SourceSyntaxError>,
    uses: &mut Vec<ImageUse>,
) -> Result<(), InUseError> {
    for source in sources {
        let (path, text) = read_file(
            source,
            &normalize(&source.base.join(&source.written)),
            MAX_SOURCE_BYTES,
        )?;
        let found = parse(&text, &path).map_err(|e| InUseError::Syntax {
            origin: source.origin.clone(),
            path: path.clone(),
            at: position(e.line, e.column),
            message: e.message,
        })?;
        tracing::info!("in use: {} image references in {what} {path}", found.len());
        uses.extend(found);
    }
    Ok(())
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
