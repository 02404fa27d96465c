//! A run over the declared repositories: resolves where each lives (account and
//! region), observes them concurrently (bounded) and calls the pure plan engine on
//! each; the same reads give the `snapshot` operation its content.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::stream::{self, StreamExt};
use rayon::prelude::*;

use super::registry_settings::Settings;
use crate::model::Prices;
use crate::plan::storage::account;

use crate::config::{
    DesiredRepository, DesiredState, Duplicate, Origin, duplicates_after_resolution,
};
use crate::in_use::InUseSet;
use crate::model::{
    AccountId, PublicAlias, Region, RegistryLocation, RepositoryName, RepositoryRef,
};
use crate::plan::forecast::{self, Forecast, RepositoryForecast};
use crate::plan::{
    PLAN_FORMAT_VERSION, Plan, PlanOptions, RepositoryPlan, Summary, Warning, plan_repository,
    unreadable_repository,
};
use crate::registry::ObservedRepository;
use crate::registry::observe::observe_from;
use crate::registry::{ImagePage, MAX_PAGE_SIZE, PublicRegistryInfo, Registry, RegistryError};

/// What a run needs besides the desired state.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// The region for files that name none (`--region`).
    pub default_region: Option<Region>,
    /// The instant `max_age` is measured from.
    pub now: DateTime<Utc>,
    /// Plan options from the command line.
    pub options: PlanOptions,
    /// How many repositories are read at once.
    pub parallelism: usize,
    /// Shown in the plan: `aws` or `snapshot:<file>`.
    pub source_label: String,
    /// The reader of ECS and Lambda for `in_use` (none when the run reads a snapshot).
    pub live: Option<std::sync::Arc<dyn super::in_use::LiveSources>>,
    /// The reader of Kubernetes clusters for `in_use` (none when the run reads a
    /// snapshot).
    pub clusters: Option<std::sync::Arc<dyn super::in_use::ClusterSources>>,
    /// The push times restores took back (the restore records).
    pub restored: std::sync::Arc<super::restored::RestoredPushTimes>,
    /// `plan --forecast`: the horizon as written, and in seconds.
    pub forecast: Option<(String, u64)>,
}

impl RunSettings {
    /// The settings of an offline run (a snapshot or the in-memory model): files that
    /// name no region in `default_region`, `max_age` measured from `now`, default plan
    /// options, `parallelism` repositories at once, no live in-use sources, no
    /// restore records, no forecast.
    pub fn offline(default_region: Option<Region>, now: DateTime<Utc>, parallelism: usize) -> Self {
        Self {
            default_region,
            now,
            options: PlanOptions::default(),
            parallelism,
            source_label: "test".into(),
            live: None,
            clusters: None,
            restored: Default::default(),
            forecast: None,
        }
    }
}

/// Why a plan could not be made. Nothing is deleted in any of these cases.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    /// A repository's region could not be determined.
    #[error(
        "{origin}: no region for repository `{name}`: set `registry.region` in the file, pass --region or set AWS_REGION"
    )]
    #[diagnostic(code(run::no_region))]
    NoRegion {
        /// The repository.
        name: RepositoryName,
        /// Where it is declared.
        origin: Origin,
    },
    /// A file's ECR Public alias is not one of the caller's public registries (or
    /// belongs to another account than the file names).
    #[error("{origin}: {message}")]
    #[diagnostic(
        code(run::public_alias),
        help(
            "`registry.public` names an alias of the ECR Public registry of the account whose credentials run the tool (DescribeRegistries lists them)"
        )
    )]
    PublicAlias {
        /// Where the repository is declared.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// Two declarations name the same repository once resolved.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    #[diagnostic(code(run::duplicates))]
    Duplicates(Vec<Duplicate>),
    /// An in-use source could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    InUse(#[from] super::in_use::InUseError),
    /// No repository can be read: the credentials are missing or cannot be loaded.
    #[error("{0}")]
    #[diagnostic(code(run::credentials))]
    Credentials(crate::aws::Unreachable),
    /// No declared repository could reach its registry (refused, DNS, timeout): the
    /// endpoint, what was tried, and why it failed.
    #[error("{}", describe_unreachable(.endpoint.as_ref(), .reason))]
    #[diagnostic(code(run::unreachable))]
    Unreachable {
        /// Where the registry was asked, when it is reached over a network.
        endpoint: Option<crate::registry::Endpoint>,
        /// Why there was no answer.
        reason: crate::aws::Unreachable,
    },
    /// The registry failed for a repository.
    #[error("{repository}: {error}")]
    #[diagnostic(code(run::registry))]
    Registry {
        /// The repository concerned (or the region, for account look-ups).
        repository: String,
        /// What the registry said.
        error: RegistryError,
    },
}

/// What a registry that could not be reached was asked, and why it gave no answer,
/// in one line that says what to do.
fn describe_unreachable(
    endpoint: Option<&crate::registry::Endpoint>,
    reason: &crate::aws::Unreachable,
) -> String {
    use crate::aws::Unreachable;
    let Some(e) = endpoint else {
        return reason.to_string();
    };
    let attempts = crate::text::plural(e.max_attempts as usize, "attempt", "attempts");
    match reason {
        Unreachable::Connect(why) if crate::aws::is_unknown_host(why) => format!(
            "could not connect to {}: its host name does not resolve ({why}); not retried, as DNS answered that the name does not exist: check the region, --endpoint-url if given, and the network's DNS and any proxy",
            e.url
        ),
        Unreachable::Connect(why) => format!(
            "could not connect to {} ({why}) in {attempts}: check the network and any proxy, the region, and --endpoint-url if given",
            e.url
        ),
        Unreachable::Timeout => format!(
            "{} did not answer in {attempts} of at most {} s each: check the network and any proxy, then run again",
            e.url,
            e.attempt_timeout.as_secs()
        ),
        other => other.to_string(),
    }
}

/// The run's error for a registry (of `region`, when private) that gave no answer:
/// missing credentials, or one that names what was tried.
fn unreachable_run<R: Registry>(
    registry: &R,
    region: Option<&Region>,
    reason: crate::aws::Unreachable,
) -> RunError {
    use crate::aws::Unreachable;
    match reason {
        Unreachable::NoCredentials | Unreachable::Credentials(_) => RunError::Credentials(reason),
        reason => RunError::Unreachable {
            endpoint: region.and_then(|r| registry.endpoint(r)),
            reason,
        },
    }
}

/// Resolves the account and region of every declared repository.
pub async fn resolve<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    default_region: Option<&Region>,
) -> Result<Vec<RepositoryRef>, RunError> {
    Ok(resolve_with_pages(registry, desired, default_region)
        .await?
        .0)
}

/// First listing pages read while resolving, by repository.
pub type FirstPages = HashMap<RepositoryRef, ImagePage>;

/// Resolves the account and region of every declared repository. The account of a
/// file that names none is the one that answers the first listing of its first
/// repository in that region (`registryId`); that page is returned, to be used by
/// the observation. Only when that listing names no account (an empty or missing
/// repository) is the account asked for (DescribeRegistry).
pub async fn resolve_with_pages<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    default_region: Option<&Region>,
) -> Result<(Vec<RepositoryRef>, FirstPages), RunError> {
    let mut accounts: HashMap<Region, AccountId> = HashMap::new();
    let mut public: Option<Vec<PublicRegistryInfo>> = None;
    let mut pages = FirstPages::new();
    let mut out = Vec::with_capacity(desired.repositories.len());
    for r in &desired.repositories {
        if let Some(alias) = &r.public {
            if public.is_none() {
                public = Some(
                    registry
                        .describe_public_registries()
                        .await
                        .map_err(|error| RunError::Registry {
                            repository: "ECR Public registries (DescribeRegistries)".into(),
                            error,
                        })?,
                );
            }
            let known = public.as_deref().unwrap_or_default();
            let account = public_account(known, alias, r)?;
            out.push(RepositoryRef {
                registry: RegistryLocation::public(account, alias.clone()),
                name: r.name.clone(),
            });
            continue;
        }
        let region = r
            .region
            .clone()
            .or_else(|| default_region.cloned())
            .ok_or_else(|| RunError::NoRegion {
                name: r.name.clone(),
                origin: r.origin.clone(),
            })?;
        let account = match &r.account {
            Some(a) => a.clone(),
            None => match accounts.get(&region) {
                Some(a) => a.clone(),
                None => {
                    let listed = registry
                        .describe_images_of_caller(&region, &r.name, MAX_PAGE_SIZE)
                        .await;
                    let a = match listed {
                        Ok((page, Some(a))) => {
                            let reference = RepositoryRef {
                                registry: RegistryLocation::private(a.clone(), region.clone()),
                                name: r.name.clone(),
                            };
                            pages.insert(reference, page);
                            a
                        }
                        // Nobody answered: asking again for the account would only
                        // wait as long a second time.
                        Err(RegistryError::Unreachable(
                            reason @ (crate::aws::Unreachable::Connect(_)
                            | crate::aws::Unreachable::Timeout
                            | crate::aws::Unreachable::NoCredentials
                            | crate::aws::Unreachable::Credentials(_)),
                        )) => return Err(unreachable_run(registry, Some(&region), reason)),
                        // No image to name the account (or no answer): ask for it.
                        _ => registry.caller_account(&region).await.map_err(|error| {
                            RunError::Registry {
                                repository: format!("default registry in {region}"),
                                error,
                            }
                        })?,
                    };
                    accounts.insert(region.clone(), a.clone());
                    a
                }
            },
        };
        out.push(RepositoryRef {
            registry: RegistryLocation::private(account, region),
            name: r.name.clone(),
        });
    }
    let pairs: Vec<(RepositoryRef, &DesiredRepository)> = out
        .iter()
        .cloned()
        .zip(desired.repositories.iter())
        .collect();
    let dups = duplicates_after_resolution(&pairs);
    if !dups.is_empty() {
        return Err(RunError::Duplicates(dups));
    }
    Ok((out, pages))
}

/// The account of the ECR Public registry `alias` names, among the caller's: it must
/// be one of them, and the account the file names, if any.
fn public_account(
    known: &[PublicRegistryInfo],
    alias: &PublicAlias,
    r: &DesiredRepository,
) -> Result<AccountId, RunError> {
    let owner = known.iter().find(|reg| reg.aliases.contains(alias));
    match (owner, &r.account) {
        (Some(o), Some(a)) if o.account != *a => Err(RunError::PublicAlias {
            origin: r.origin.clone(),
            message: format!(
                "the ECR Public alias `{alias}` belongs to account {}, not to account {a} that the file names",
                o.account
            ),
        }),
        (Some(o), _) => Ok(o.account.clone()),
        (None, _) => {
            let theirs: Vec<String> = known
                .iter()
                .flat_map(|reg| {
                    reg.aliases
                        .iter()
                        .map(|a| format!("`{a}` ({})", reg.account))
                })
                .collect();
            Err(RunError::PublicAlias {
                origin: r.origin.clone(),
                message: format!(
                    "no ECR Public registry of these credentials has the alias `{alias}` (they have {})",
                    if theirs.is_empty() {
                        "none".to_owned()
                    } else {
                        theirs.join(", ")
                    }
                ),
            })
        }
    }
}

/// Observes every repository, at most `parallelism` at a time, in declaration order;
/// the first failure stops it.
pub async fn observe_all<R: Registry>(
    registry: &R,
    targets: &[RepositoryRef],
    parallelism: usize,
) -> Result<Vec<ObservedRepository>, RunError> {
    observe_each(registry, targets, parallelism, &mut FirstPages::new())
        .await
        .into_iter()
        .zip(targets)
        .map(|(o, t)| {
            o.map_err(|error| RunError::Registry {
                repository: t.to_string(),
                error,
            })
        })
        .collect()
}

/// Observes every repository, at most `parallelism` at a time, in declaration order;
/// one that cannot be read does not stop the others.
pub async fn observe_each<R: Registry>(
    registry: &R,
    targets: &[RepositoryRef],
    parallelism: usize,
    first_pages: &mut FirstPages,
) -> Vec<Result<ObservedRepository, RegistryError>> {
    let firsts: Vec<Option<ImagePage>> = targets.iter().map(|t| first_pages.remove(t)).collect();
    if registry.answers_at_once() {
        // Nothing to wait for: the work is CPU (copying and parsing manifests), so
        // it runs on every core, in input order, like the plan engine.
        return targets
            .par_iter()
            .zip(firsts)
            .map(|(t, first)| {
                observe_from(registry, t, first)
                    .now_or_never()
                    .expect("a registry that answers at once is ready when first polled")
            })
            .collect();
    }
    // Each registry (account and region) is its own stream of at most `parallelism`
    // repositories, and the streams run side by side: each account's calls wait for
    // its own budget, so one account's repositories waiting for its tokens never take
    // the slots of another's, and enough repositories of each account are in flight
    // to keep every one of its buckets busy (a repository's calls follow one another).
    // The requests actually in flight stay bounded by the registry's width.
    let mut firsts: Vec<Option<ImagePage>> = firsts;
    let streams = super::order::by_registry(targets)
        .into_iter()
        .map(|indices| {
            let started: Vec<(usize, Option<ImagePage>)> =
                indices.into_iter().map(|i| (i, firsts[i].take())).collect();
            stream::iter(started)
            .map(|(i, first)| async move { (i, observe_from(registry, &targets[i], first).await) })
            .buffer_unordered(parallelism.max(1))
        });
    let read: Vec<(usize, Result<ObservedRepository, RegistryError>)> =
        stream::select_all(streams).collect().await;
    let mut out: Vec<Option<Result<ObservedRepository, RegistryError>>> =
        (0..targets.len()).map(|_| None).collect();
    for (i, r) in read {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every repository is observed once"))
        .collect()
}

/// Plans repositories on all cores: each repository's plan is a pure function, so
/// they are independent. Results are in input order.
pub(crate) fn plan_each(
    desired: &[DesiredRepository],
    observed: &[(RepositoryRef, Result<ObservedRepository, RegistryError>)],
    settings: &RunSettings,
    in_use: &InUseSet,
) -> Vec<(RepositoryPlan, Vec<Warning>)> {
    let plan_one =
        |d: &DesiredRepository, o: &(RepositoryRef, Result<ObservedRepository, RegistryError>)| {
            match &o.1 {
                Ok(read) => {
                    let mut planned = plan_repository(
                        d,
                        // An image a restore re-created ranks by its push from before.
                        settings.restored.adjust(read).as_ref().unwrap_or(read),
                        settings.now,
                        settings.options,
                        in_use.for_repository(&read.reference),
                    );
                    let prices = settings
                        .options
                        .price_per_gb_month
                        .map_or(d.prices, |p| Prices {
                            standard: p,
                            archive: p,
                        });
                    let storage = account(read, &planned.0, &prices, settings.now);
                    planned.0.set_storage(&storage);
                    planned
                        .1
                        .extend(crate::plan::quota::quota_warnings(d, read, &planned.0));
                    planned
                }
                Err(e) => unreadable_repository(d, &o.0, e.to_string()),
            }
        };
    // Rayon's pool has a thread per core; `collect` keeps the input order.
    desired
        .par_iter()
        .zip(observed)
        .map(|(d, o)| plan_one(d, o))
        .collect()
}

/// The forecast of each repository planned: planned again at each instant of the
/// horizon, on all cores, with the same observed state and uses.
fn forecast_each(
    desired: &[DesiredRepository],
    observed: &[(RepositoryRef, Result<ObservedRepository, RegistryError>)],
    planned: &[(RepositoryPlan, Vec<Warning>)],
    settings: &RunSettings,
    in_use: &InUseSet,
    instants: &[DateTime<Utc>],
) -> Vec<Option<RepositoryForecast>> {
    desired
        .par_iter()
        .zip(observed)
        .zip(planned)
        .map(|((d, (_, o)), (base, _))| {
            let read = o.as_ref().ok()?;
            let adjusted = settings.restored.adjust(read);
            let read = adjusted.as_ref().unwrap_or(read);
            let steps = forecast::forecast_repository(
                d,
                read,
                base,
                settings.now,
                instants,
                settings.options,
                in_use.for_repository(&read.reference),
            );
            (!steps.is_empty()).then(|| RepositoryForecast {
                repository: read.reference.clone(),
                steps,
            })
        })
        .collect()
}

/// The fields of the plan of `desired` known before any repository is read (its
/// repositories, warnings and summary empty).
pub(crate) fn plan_head(desired: &DesiredState, settings: &RunSettings) -> Plan {
    assemble(desired, Vec::new(), Summary::default(), settings, None)
}

/// The plan of `desired` but its repositories (given one at a time to the sink of
/// [`plan_streaming`]): `warnings` and `summary` are theirs.
fn assemble(
    desired: &DesiredState,
    warnings: Vec<Warning>,
    summary: Summary,
    settings: &RunSettings,
    forecasts: Option<Vec<RepositoryForecast>>,
) -> Plan {
    let repositories = Vec::new();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: settings.now,
        desired_state_digest: desired.digest.clone(),
        desired_files: desired.fingerprint.clone(),
        source: settings.source_label.clone(),
        repositories,
        warnings,
        summary,
        forecast: settings.forecast.as_ref().zip(forecasts).map(
            |((horizon, seconds), repositories)| Forecast {
                horizon: horizon.clone(),
                until: settings.now
                    + chrono::Duration::seconds(
                        i64::try_from((*seconds).min(forecast::MAX_FORECAST_DAYS * 24 * 60 * 60))
                            .unwrap_or(i64::MAX),
                    ),
                pushes_simulated: false,
                repositories,
            },
        ),
        shard: desired.shard_info().cloned(),
    }
}

/// Reads the in-use sources, then resolves, observes and plans. A source that
/// cannot be read stops the run before the registry is read.
pub async fn make_plan<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    settings: &RunSettings,
) -> Result<Plan, RunError> {
    let in_use = read_in_use(desired, settings).await?;
    make_plan_in_use(registry, desired, settings, &in_use).await
}

/// Reads the in-use sources of `desired`: ECS and Lambda unless a source names its
/// own regions, in the regions of its private repositories: with the run's own
/// credentials for the repositories of no role, and in each account with a role
/// (`registry.role`), through it, in the regions of that account's repositories. A
/// shard reads them for every declared repository, its own or not: what runs there
/// may run an image of its repositories.
pub async fn read_in_use(
    desired: &DesiredState,
    settings: &RunSettings,
) -> Result<InUseSet, RunError> {
    let accounts = live_accounts(desired, settings.default_region.as_ref());
    Ok(super::in_use::read(
        &desired.in_use,
        settings.live.as_deref(),
        settings.clusters.as_deref(),
        &accounts,
    )
    .await?)
}

/// The accounts whose ECS and Lambda are read: that of the run's own credentials when
/// a private repository has no role (or none is declared), then each account with a
/// role, each with the regions of its repositories; then each of `in_use.accounts`
/// (through its role) with its own regions, or else every region of the run's private
/// repositories (the same account named both ways is read once, in both's regions).
fn live_accounts(
    desired: &DesiredState,
    default_region: Option<&Region>,
) -> Vec<super::in_use::LiveAccount> {
    use super::in_use::LiveAccount;
    let role_of = |r: &DesiredRepository| {
        r.account
            .as_ref()
            .filter(|a| desired.roles.iter().any(|role| &role.account == *a))
            .cloned()
    };
    let mut by_account: std::collections::BTreeMap<Option<AccountId>, Vec<Region>> =
        std::collections::BTreeMap::new();
    for r in desired
        .all_repositories()
        .iter()
        .filter(|r| r.public.is_none())
    {
        let regions = by_account.entry(role_of(r)).or_default();
        regions.extend(r.region.clone().or_else(|| default_region.cloned()));
    }
    let mut every_region: Vec<Region> = by_account.values().flatten().cloned().collect();
    if every_region.is_empty() {
        every_region.extend(default_region.cloned());
    }
    if by_account.is_empty() {
        by_account.insert(None, Vec::new());
    }
    for extra in &desired.in_use.accounts {
        let regions = by_account.entry(Some(extra.account.clone())).or_default();
        match &extra.regions {
            Some(own) => regions.extend(own.iter().cloned()),
            None => regions.extend(every_region.iter().cloned()),
        }
    }
    by_account
        .into_iter()
        .map(|(account, mut regions)| {
            regions.sort();
            regions.dedup();
            LiveAccount { account, regions }
        })
        .collect()
}

/// The set-up failure of a run, if any: a repository that could not be read for want
/// of credentials (every other one fails the same way), or a registry that none of
/// them could reach (a network, proxy or endpoint that does not answer). Either is the
/// run's, not a repository's: the run stops with it once.
fn setup_failure(
    observed: &[(RepositoryRef, Result<ObservedRepository, RegistryError>)],
) -> Option<crate::aws::Unreachable> {
    let credentials = observed.iter().find_map(|(_, o)| match o {
        Err(RegistryError::Unreachable(
            reason @ (crate::aws::Unreachable::NoCredentials
            | crate::aws::Unreachable::Credentials(_)),
        )) => Some(reason.clone()),
        _ => None,
    });
    let unreachable = |o: &Result<ObservedRepository, RegistryError>| match o {
        Err(RegistryError::Unreachable(
            reason @ (crate::aws::Unreachable::Connect(_) | crate::aws::Unreachable::Timeout),
        )) => Some(reason.clone()),
        _ => None,
    };
    credentials.or_else(|| {
        let first = unreachable(&observed.first()?.1)?;
        observed
            .iter()
            .all(|(_, o)| unreachable(o).is_some())
            .then_some(first)
    })
}

/// Resolves, observes and plans, keeping the images of `in_use`. Repositories are
/// observed and planned a group at a time, so only one group's observed state is held
/// in memory at once. A repository that cannot be read is planned as unreadable (with
/// its error); the others are planned as usual.
pub async fn make_plan_in_use<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    settings: &RunSettings,
    in_use: &InUseSet,
) -> Result<Plan, RunError> {
    let mut repositories = Vec::with_capacity(desired.repositories.len());
    let mut plan = plan_streaming(registry, desired, settings, in_use, &mut |r| {
        repositories.push(r);
    })
    .await?;
    plan.repositories = repositories;
    Ok(plan)
}

/// As [`make_plan_in_use`], but each repository's plan is given to `sink` as soon as
/// its window is planned, in declaration order, and not kept: the plan returned has no
/// repositories (its warnings, summary and forecast are the whole run's).
///
/// Repositories are read in windows of declaration order, each observed and planned a
/// group at a time. Against a registry on the network a window's groups take every
/// account and region in turn (`order.rs`), so the accounts of a run are read side by
/// side, each on its own budget, rather than the few accounts a group of declaration
/// order would hold; a window's plans are held until it is done, so a window holds
/// about two million images by the repositories read so far, and at most
/// [`super::order::NETWORK_WINDOW`] repositories. A registry that answers at once has no
/// budget to spend: its window is one group, so a run holds one group's observed
/// state and plans at a time.
// Long function: the windows and groups, the registries' settings read beside the
// first group, and the run's end (warnings in order) read best in one place.
pub async fn plan_streaming<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    settings: &RunSettings,
    in_use: &InUseSet,
    sink: &mut dyn FnMut(RepositoryPlan),
) -> Result<Plan, RunError> {
    let (targets, mut first_pages) =
        resolve_with_pages(registry, desired, settings.default_region.as_ref()).await?;
    let group = (settings.parallelism * 8).max(64);
    let mut windows = super::order::Windows::new(group, !registry.answers_at_once());
    let instants = settings
        .forecast
        .as_ref()
        .map(|(_, seconds)| forecast::instants(settings.now, *seconds));
    let mut forecasts = instants.as_ref().map(|_| Vec::new());
    let mut warnings = Vec::new();
    let mut summary = Summary::default();
    // Each repository's place in declaration order, for the order of the warnings.
    let (mut position, mut declared) = (HashMap::with_capacity(targets.len()), 0);
    let mut registries: Option<Settings> = None;
    let mut start = 0;
    while start < targets.len() {
        let end = (start + windows.next()).min(targets.len());
        let (w_targets, w_desired) = (&targets[start..end], &desired.repositories[start..end]);
        start = end;
        let n = w_targets.len();
        let mut planned: Vec<Option<(RepositoryPlan, Vec<Warning>)>> =
            (0..n).map(|_| None).collect();
        let mut w_forecasts: Vec<Option<RepositoryForecast>> = (0..n).map(|_| None).collect();
        for indices in super::order::interleaved(w_targets).chunks(group) {
            let t: Vec<RepositoryRef> = indices.iter().map(|&i| w_targets[i].clone()).collect();
            let d: Vec<DesiredRepository> = indices.iter().map(|&i| w_desired[i].clone()).collect();
            let observe = observe_each(registry, &t, settings.parallelism, &mut first_pages);
            // The registries' settings are read beside the first group's listings.
            let read = match &registries {
                Some(_) => observe.await,
                None => {
                    let (s, read) = futures_util::future::join(
                        Settings::read(registry, &targets, settings.parallelism),
                        observe,
                    )
                    .await;
                    registries = Some(s);
                    read
                }
            };
            let known = registries.as_ref().expect("read with the first group");
            let observed: Vec<_> = t
                .into_iter()
                .zip(read.into_iter().map(|o| {
                    o.map(|mut o| {
                        known.attach(&mut o);
                        o
                    })
                }))
                .collect();
            if let Some(reason) = setup_failure(&observed) {
                let region = observed.first().and_then(|(r, _)| match &r.registry {
                    RegistryLocation::Private { region, .. } => Some(region),
                    RegistryLocation::Public { .. } => None,
                });
                return Err(unreachable_run(registry, region, reason));
            }
            let plans = plan_each(&d, &observed, settings, in_use);
            if let Some(instants) = &instants {
                let made = forecast_each(&d, &observed, &plans, settings, in_use, instants);
                for (f, &i) in made.into_iter().zip(indices) {
                    w_forecasts[i] = f;
                }
            }
            drop(observed);
            for (p, &i) in plans.into_iter().zip(indices) {
                planned[i] = Some(p);
            }
        }
        if let Some(out) = &mut forecasts {
            out.extend(w_forecasts.into_iter().flatten());
        }
        for (p, w) in planned
            .into_iter()
            .map(|p| p.expect("every repository of a window is planned once"))
        {
            summary.add(&p);
            windows.planned(p.images_observed);
            position.insert(p.repository.to_string(), declared);
            declared += 1;
            warnings.extend(w);
            sink(p);
        }
    }
    if let Some(known) = &registries {
        let declared: Vec<_> = targets
            .iter()
            .cloned()
            .zip(desired.repositories.iter())
            .collect();
        warnings.extend(known.warnings(&declared));
    }
    warnings.extend(super::pull_times::check(registry, desired, &targets).await);
    crate::plan::order_warnings(&mut warnings, &position);
    Ok(assemble(desired, warnings, summary, settings, forecasts))
}

#[cfg(test)]
mod tests;
