//! Where the observed state comes from: a snapshot file (through the in-memory model)
//! or AWS, chosen once per run, and what follows from the choice (the default region,
//! the instant `max_age` is measured from, writing a snapshot back after changes).

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::restored::{RestoredError, RestoredPushTimes};
use super::run::RunSettings;
use crate::model::Region;
use crate::plan::PlanOptions;
use crate::registry::CallCounts;
use crate::registry::RetryCounts;
use crate::registry::aws::{AwsRegistry, AwsSettings};
use crate::registry::backend::Backend;
use crate::registry::cache::{Cached, ManifestCache};
use crate::registry::snapshot::{self, Snapshot, SnapshotError};

/// What the command line says about the source.
#[derive(Clone, Debug, Default)]
pub struct SourceSpec {
    /// A snapshot file to read (and, for apply and restore, write back) instead of AWS.
    pub snapshot: Option<PathBuf>,
    /// Where apply and restore write the changed snapshot; none: back to `snapshot`.
    pub snapshot_out: Option<PathBuf>,
    /// The region for files that name none (`--region`).
    pub region: Option<String>,
    /// The environment's region (`AWS_REGION`): against a snapshot, used after the
    /// snapshot's own single region; against AWS, the SDK reads it itself.
    pub environment_region: Option<String>,
    /// The AWS profile.
    pub profile: Option<String>,
    /// An endpoint to send ECR calls to.
    pub endpoint_url: Option<String>,
    /// An endpoint to send ECR Public's API calls to (`--public-endpoint-url`).
    pub public_endpoint_url: Option<String>,
    /// ECR Public's registry, for manifest reads (`--public-registry-url`); none:
    /// `https://public.ecr.aws`.
    pub public_registry_url: Option<String>,
    /// How many repositories are read, and apply requests sent, at once.
    pub parallelism: usize,
    /// Attempts per AWS call, the first included.
    pub max_attempts: u32,
    /// The folder of the manifest cache (against AWS); none: no cache.
    pub cache_dir: Option<PathBuf>,
    /// How long one AWS attempt may take (default 30 s).
    pub attempt_timeout: Option<std::time::Duration>,
    /// The folder of restore records to read (`.ecr-reconcile`, where journals go):
    /// plans rank the images a restore re-created by their push time from before.
    /// None: none are read.
    pub restore_records: Option<PathBuf>,
    /// The role of each account that the desired state names one for
    /// (`registry.role`): against AWS, each is assumed once when the source opens.
    pub roles: Vec<crate::model::AccountRole>,
    /// Read a snapshot's images from the file only when a repository is read, holding
    /// a few groups of repositories at once (`plan --format json`, which never writes
    /// the snapshot back). A file that is not of the common form is read whole.
    pub on_demand: bool,
    /// Rates of API quotas instead of the defaults (`--api-rate`).
    pub api_rates: Vec<crate::aws::budget::ApiRate>,
}

/// Why the source could not be opened or written back.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    /// `--region` is not a region name.
    #[error("--region: {0}")]
    #[diagnostic(code(source::region))]
    Region(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    #[diagnostic(code(source::runtime))]
    Runtime(std::io::Error),
    /// The snapshot file could not be read or is not a valid snapshot.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A restore record could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Restored(#[from] RestoredError),
    /// `--profile` names a profile that no AWS configuration file has.
    #[error(
        "profile `{name}` not found in {}: check the name (`aws configure list-profiles`), or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE",
        files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" or ")
    )]
    #[diagnostic(code(source::profile))]
    ProfileNotFound {
        /// The profile asked for.
        name: String,
        /// The files looked in.
        files: Vec<PathBuf>,
    },
    /// `--public-registry-url` is not the http(s) URL of a registry.
    #[error("--public-registry-url: {0}")]
    #[diagnostic(code(source::public_registry_url))]
    PublicRegistryUrl(String),
    /// A role of `registry.role` could not be assumed: nothing about any account was
    /// read.
    #[error("{0}")]
    #[diagnostic(
        code(source::assume_role),
        help(
            "the role's trust policy must let the run's own principal call sts:AssumeRole (with the `external_id` it asks for, if any); see the multi-account set-up in the README"
        )
    )]
    AssumeRole(#[from] crate::aws::session::AssumeRoleError),
    /// The snapshot file could not be rewritten after changes.
    #[error("cannot rewrite the snapshot {}: {source}", path.display())]
    #[diagnostic(code(source::write_back))]
    WriteBack {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The reader of ECS and Lambda of an AWS run, counting its calls.
type LiveReader = super::in_use::Counted<crate::deployed::aws::AwsDeployments>;

/// The registry a run reads (and applies to), with the runtime that drives it.
#[derive(Debug)]
pub struct Source {
    pub(crate) backend: Backend,
    default_region: Option<Region>,
    parallelism: usize,
    runtime: tokio::runtime::Runtime,
    /// ECS and Lambda of the account, for `in_use` (AWS runs only).
    live: Option<std::sync::Arc<LiveReader>>,
    /// Kubernetes clusters, for `in_use` (AWS runs only).
    clusters: Option<std::sync::Arc<super::in_use::KubeReader>>,
    /// The push times restores took (from the restore records).
    restored: std::sync::Arc<RestoredPushTimes>,
    /// Where a changed snapshot is written (`--snapshot-out`, else the snapshot).
    snapshot_out: Option<PathBuf>,
    /// `--price-per-gb-month`, for the plans' savings.
    price: Option<crate::model::Price>,
}

impl Source {
    /// Opens the registry `spec` names. Nothing is called yet (a snapshot is read).
    pub fn open(spec: &SourceSpec) -> Result<Self, SourceError> {
        let region = spec
            .region
            .as_deref()
            .map(|r| Region::parse(r).map_err(|e| SourceError::Region(e.to_string())))
            .transpose()?;
        let restored = match &spec.restore_records {
            Some(dir) => RestoredPushTimes::load(dir)?,
            None => RestoredPushTimes::default(),
        };
        if restored.records() > 0 {
            tracing::info!("read {} restore record(s)", restored.records());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(SourceError::Runtime)?;
        let (backend, default_region, live) = match &spec.snapshot {
            Some(path) => {
                let started = std::time::Instant::now();
                let indexed = match spec.on_demand {
                    true => snapshot::read_indexed(path)?,
                    false => None,
                };
                // A snapshot of a single region answers for files that name no region,
                // before the environment's region: the snapshot is what is read.
                let default_of = |snap: &snapshot::Snapshot| {
                    region.clone().or(single_region(snap)).or_else(|| {
                        let env = spec.environment_region.as_deref()?;
                        Region::parse(env).ok()
                    })
                };
                let on_demand = indexed.is_some();
                let (default_region, generated_at, registry) = match indexed {
                    Some(i) => {
                        let (default_region, at) =
                            (default_of(&i.snapshot), i.snapshot.generated_at);
                        // Groups of (parallelism x 8, at least 64) are read and planned
                        // at a time: four of them are held.
                        let keep = 4 * (spec.parallelism * 8).max(64);
                        let registry = i.into_registry(path, keep).map_err(|e| {
                            snapshot::SnapshotError::Io {
                                path: path.display().to_string(),
                                message: e.to_string(),
                            }
                        })?;
                        (default_region, at, registry)
                    }
                    None => {
                        let snap = snapshot::read(path)?;
                        (default_of(&snap), snap.generated_at, snap.into_registry())
                    }
                };
                tracing::info!(elapsed = ?started.elapsed(), on_demand, "read snapshot {}", path.display());
                let backend = Backend::Snapshot {
                    registry: Box::new(registry),
                    path: path.clone(),
                    generated_at,
                };
                (backend, default_region, None)
            }
            None => {
                let settings = AwsSettings {
                    profile: spec.profile.clone(),
                    endpoint_url: spec.endpoint_url.clone(),
                    max_attempts: spec.max_attempts,
                    attempt_timeout: spec
                        .attempt_timeout
                        .unwrap_or(crate::registry::aws::DEFAULT_ATTEMPT_TIMEOUT),
                    max_in_flight: spec.parallelism.max(1),
                    api_rates: spec.api_rates.clone(),
                    region: region.clone(),
                    public_endpoint_url: spec.public_endpoint_url.clone(),
                    public_registry_url: spec.public_registry_url.clone().unwrap_or_else(|| {
                        crate::registry::oci::DEFAULT_PUBLIC_REGISTRY_URL.to_owned()
                    }),
                };
                if let Some(name) = &spec.profile {
                    check_profile(name)?;
                }
                let mut aws = runtime
                    .block_on(AwsRegistry::new(&settings))
                    .map_err(SourceError::PublicRegistryUrl)?;
                runtime.block_on(aws.assume_roles(&spec.roles))?;
                let default_region = region.or_else(|| aws.configured_region());
                let cache = spec.cache_dir.clone().map(ManifestCache::new);
                if let Some(c) = &cache {
                    tracing::debug!("manifest cache in {}", c.dir().display());
                }
                let live = std::sync::Arc::new(super::in_use::Counted::new(
                    crate::deployed::aws::AwsDeployments::new(aws.sdk_config().clone())
                        .with_budgets(aws.budgets())
                        .with_accounts(aws.account_configs()),
                ));
                (
                    Backend::Aws(Box::new(Cached::new(aws, cache))),
                    default_region,
                    Some(live),
                )
            }
        };
        Ok(Self {
            backend,
            default_region,
            parallelism: spec.parallelism.max(1),
            runtime,
            clusters: live.as_ref().map(|_| std::sync::Arc::default()),
            live,
            restored: std::sync::Arc::new(restored),
            snapshot_out: spec.snapshot_out.clone(),
            price: None,
        })
    }

    /// A source over `snapshot`, held in memory (`path` names it in the plan), with
    /// no restore records: what `test` plans against. Nothing opens AWS.
    pub fn offline(snapshot: Snapshot, path: PathBuf) -> Result<Self, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SourceError::Runtime)?;
        let default_region = single_region(&snapshot);
        let generated_at = snapshot.generated_at;
        Ok(Self {
            backend: Backend::Snapshot {
                registry: Box::new(snapshot.into_registry()),
                path,
                generated_at,
            },
            default_region,
            parallelism: 1,
            runtime,
            live: None,
            clusters: None,
            restored: std::sync::Arc::new(RestoredPushTimes::default()),
            snapshot_out: None,
            price: None,
        })
    }

    /// The same source, planning savings at `price` per GB-month
    /// (`--price-per-gb-month`) when given.
    pub fn with_price(mut self, price: Option<crate::model::Price>) -> Self {
        self.price = price;
        self
    }

    /// The instant `max_age` is measured from: `explicit` (`--now`, or a saved plan's
    /// creation); against a snapshot, when it was taken, so an offline plan is
    /// reproducible; else now.
    pub fn now(&self, explicit: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let taken = match &self.backend {
            Backend::Snapshot { generated_at, .. } => *generated_at,
            Backend::Aws(_) => None,
        };
        explicit.or(taken).unwrap_or_else(Utc::now)
    }

    /// The settings of a run at `now`.
    pub(crate) fn settings(&self, now: DateTime<Utc>, allow_empty: bool) -> RunSettings {
        RunSettings {
            default_region: self.default_region.clone(),
            now,
            options: PlanOptions {
                allow_empty,
                price_per_gb_month: self.price,
            },
            parallelism: self.parallelism,
            source_label: self.backend.label(),
            live: self
                .live
                .clone()
                .map(|l| l as std::sync::Arc<dyn super::in_use::LiveSources>),
            clusters: self
                .clusters
                .clone()
                .map(|c| c as std::sync::Arc<dyn super::in_use::ClusterSources>),
            restored: self.restored.clone(),
            forecast: None,
        }
    }

    /// The ECS, Lambda and Kubernetes calls made so far to read `in_use` sources.
    pub fn live_calls(&self) -> crate::deployed::LiveCalls {
        let mut calls = self.live.as_ref().map(|l| l.total()).unwrap_or_default();
        if let Some(c) = &self.clusters {
            calls.add(&c.total());
        }
        calls
    }

    /// How many repositories are read, and requests sent, at once (`--parallelism`).
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Runs `future` to completion on the source's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Calls made so far, by operation.
    pub fn calls(&self) -> CallCounts {
        self.backend.calls()
    }

    /// Retries and throttling so far.
    pub fn retries(&self) -> RetryCounts {
        self.backend.retries()
    }

    /// Logs the calls made so far (`-v`).
    pub(crate) fn log_calls(&self) {
        let c = self.calls();
        let r = self.retries();
        tracing::info!(
            describe_images = c.describe_images,
            batch_get_image = c.batch_get_image,
            batch_delete_image = c.batch_delete_image,
            other = c.other,
            public_describe_images = c.ecr_public.describe_images,
            public_batch_delete_image = c.ecr_public.batch_delete_image,
            public_put_image = c.ecr_public.put_image,
            public_manifest_gets = c.ecr_public.manifest_gets,
            public_token_gets = c.ecr_public.token_gets,
            public_other = c.ecr_public.other,
            retries = r.retries,
            throttled = r.throttled,
            api_wait_ms = r.api_wait_ms,
            "registry calls"
        );
    }

    /// After changes to a snapshot's registry: writes the snapshot file back,
    /// atomically (a no-op against AWS).
    /// The file an offline apply or restore writes its changes to: the snapshot
    /// itself (in place), or `--snapshot-out`; none against AWS.
    pub fn snapshot_target(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Snapshot { path, .. } => Some(self.snapshot_out.as_deref().unwrap_or(path)),
            Backend::Aws(_) => None,
        }
    }

    pub(crate) fn write_back(&self) -> Result<(), SourceError> {
        if let (
            Backend::Snapshot {
                registry,
                generated_at,
                ..
            },
            Some(path),
        ) = (&self.backend, self.snapshot_target())
        {
            let snap = Snapshot::from_registry(registry, *generated_at);
            crate::files::write_json_atomically(path, &snap).map_err(|source| {
                SourceError::WriteBack {
                    path: path.to_owned(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// The region of a snapshot that holds a single one.
fn single_region(snap: &Snapshot) -> Option<Region> {
    let mut regions: Vec<&Region> = snap
        .registries
        .iter()
        .filter_map(|r| r.region.as_ref())
        .collect();
    regions.dedup();
    (regions.len() == 1).then(|| regions[0].clone())
}

/// The AWS configuration files, as the SDK finds them: `AWS_CONFIG_FILE` (default
/// `~/.aws/config`) and `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`).
fn aws_config_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    [
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A named profile must exist in one of the files: otherwise the SDK falls through to
/// the next credential provider and reports what that one said (instance metadata),
/// which names no profile at all.
fn check_profile(name: &str) -> Result<(), SourceError> {
    let files = aws_config_files();
    let found = files
        .iter()
        .any(|f| std::fs::read_to_string(f).is_ok_and(|text| profile_in(&text, name)));
    if found {
        Ok(())
    } else {
        Err(SourceError::ProfileNotFound {
            name: name.to_owned(),
            files,
        })
    }
}

/// Whether an INI text of the AWS configuration has a section for profile `name`:
/// `[name]` (credentials file, and `default` in the config file) or `[profile name]`.
fn profile_in(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
            return false;
        };
        let section = section.trim();
        section == name
            || section
                .strip_prefix("profile")
                .is_some_and(|rest| rest.starts_with(char::is_whitespace) && rest.trim() == name)
    })
}

#[cfg(test)]
mod profile_tests {
    use super::profile_in;

    #[test]
    fn profiles_are_found_as_the_sdk_names_them() {
        let config =
            "[default]\nregion = eu-west-1\n[profile ci]\nrole_arn = x\n[sso-session corp]\n";
        assert!(profile_in(config, "default"));
        assert!(profile_in(config, "ci"));
        assert!(!profile_in(config, "corp"));
        assert!(!profile_in(config, "nope"));
        assert!(profile_in("[nope]\naws_access_key_id = x\n", "nope"));
        assert!(!profile_in("[profilenope]\n", "nope"));
    }
}
