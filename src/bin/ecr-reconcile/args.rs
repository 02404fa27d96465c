//! The command line's arguments (clap).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use ecr_reconcile::config::shard::{Shard, ShardBy};
use ecr_reconcile::ops::SourceSpec;
use ecr_reconcile::ops::import::ImportStyle;
use ecr_reconcile::render::{Format, ReportFormat, ValidateFormat};
use ecr_reconcile::schema::SchemaKind;
use strum::{EnumMessage, IntoEnumIterator};

/// A value parser for one of the library's enums, with each value's documentation
/// as its help.
fn values<T>() -> impl TypedValueParser<Value = T>
where
    T: IntoEnumIterator + EnumMessage + Into<&'static str> + std::str::FromStr,
    T: Clone + Send + Sync + 'static,
{
    let possible = T::iter().map(|v| {
        let help = v
            .get_documentation()
            .unwrap_or_default()
            .trim_end_matches('.');
        PossibleValue::new(v.into()).help(help)
    });
    PossibleValuesParser::new(possible).map(|s| {
        s.parse::<T>()
            .unwrap_or_else(|_| unreachable!("a listed value"))
    })
}

/// Plan and apply Amazon ECR image-tag allow-lists kept in YAML files.
#[derive(Debug, Parser)]
#[command(name = "ecr-reconcile", version, about, long_about = None)]
pub struct Cli {
    /// When to color output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[command(flatten)]
    pub color: colorchoice_clap::Color,
    /// More detail on stderr: -v for registry calls, -vv for debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would be removed: reads the registry, diffs it against the files.
    Plan(PlanArgs),
    /// Remove what the plan says, after confirmation, under the safe removal protocol.
    Apply(ApplyArgs),
    /// Put back what an apply removed, from its journal: re-tag images that exist,
    /// push deleted ones again from their saved manifests.
    #[command(mut_arg("region", |a| a.help(
        "The region of the AWS configuration (else AWS_REGION, then the profile's); each \
         journal line names its repository's own region"
    )))]
    Restore(RestoreArgs),
    /// Write the observed state of the declared repositories as a snapshot (JSON).
    Snapshot(SnapshotArgs),
    /// Write desired-state YAML for repositories that exist: every current tag
    /// (`--style exact`), or rules inferred from the tag families (`--style infer`).
    Import(ImportArgs),
    /// Check desired-state files offline (no network, no credentials).
    Validate(ValidateArgs),
    /// Run the test files (`*.test.yaml`) of the desired state: each case plans a
    /// registry state written in it (or a snapshot) at an instant, offline, and checks
    /// the outcome per repository. Exit 1 when a case fails.
    Test(TestArgs),
    /// Explain what the plan does with one image, and why: every allow-list entry,
    /// in-use source, index and referrer that touched it, in order, and the verdict.
    Explain(ExplainArgs),
    /// Render a plan saved with `plan --out`.
    Show(ShowArgs),
    /// Print a JSON Schema: of desired-state files (default), snapshots, plans or journal
    /// lines.
    Schema(SchemaArgs),
    /// Print a shell completion script (for example, bash: `source <(ecr-reconcile
    /// completions bash)`).
    Completions(CompletionsArgs),
    /// Print the manual page (roff): of the tool, or of one command; `--dir` writes
    /// them all (`ecr-reconcile.1`, `ecr-reconcile-plan.1`, ...).
    Man(ManArgs),
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (default: the tool's own page).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
    /// Write every page into DIR instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The desired-state files a command reads.
#[derive(Debug, Args, Clone)]
pub struct DesiredFiles {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml
    /// (skipping hidden folders, `--exclude` and the directory's `.ecr-reconcile-ignore`;
    /// YAML found there without `version` or `repositories` is skipped with a note).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Skip what PATTERN matches when searching a directory (repeatable): with a `/`,
    /// the path relative to the directory (`charts/*`); without, any file or folder name
    /// (`docker-compose*.yml`); a trailing `/` for folders only. Skipped files are listed
    /// by `validate` and at -v.
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
}

/// Where the observed state comes from, and how to reach AWS.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Read this snapshot file instead of AWS (`apply` and `restore` write their changes
    /// back to it, in place, unless --snapshot-out names another file).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// With --snapshot: `apply` and `restore` write the changed snapshot to FILE and
    /// leave the --snapshot file as it was.
    #[arg(long, value_name = "FILE", requires = "snapshot")]
    pub snapshot_out: Option<PathBuf>,
    /// The region for files that name none. Default: against a snapshot of one region,
    /// that region; else AWS_REGION, then the profile's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The AWS profile (default: AWS_PROFILE, then the default credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send private ECR's calls to this endpoint (the SDK also honours
    /// AWS_ENDPOINT_URL_ECR). Not ECR Public's, nor the ECS and Lambda calls of
    /// `in_use` (AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL_LAMBDA).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Send ECR Public's API calls to this endpoint (the SDK also honours
    /// AWS_ENDPOINT_URL_ECR_PUBLIC). ECR Public's API is called in us-east-1 whatever
    /// --region says; --endpoint-url does not apply to it.
    #[arg(long, value_name = "URL")]
    pub public_endpoint_url: Option<String>,
    /// Read the manifests of ECR Public repositories from this registry (OCI
    /// distribution API: `/token` and `/v2/ALIAS/NAME/manifests/DIGEST`).
    #[arg(long, value_name = "URL", default_value = "https://public.ecr.aws")]
    pub public_registry_url: String,
    /// How many repositories of each account and region are read at once (the
    /// accounts side by side), and how many requests are in flight at once over all
    /// repositories.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Attempts per AWS call, the first included (throttling and 5xx are retried with
    /// exponential backoff and jitter).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// The sustained rate of an AWS API's quota, in calls per second, instead of the
    /// default (repeatable; e.g. `DescribeImages=20`, `ecs:DescribeServices=10`).
    /// Every call of the run, over all repositories, takes a token from one budget per
    /// account, region and quota; APIs that share a quota share its rate.
    #[arg(long = "api-rate", value_name = "API=RATE[,BURST]")]
    pub api_rates: Vec<ecr_reconcile::aws::budget::ApiRate>,
    /// Keep the manifests read from ECR in DIR: a digest names its manifest for good, so
    /// each is read once. Default: $XDG_CACHE_HOME/ecr-reconcile, else
    /// ~/.cache/ecr-reconcile. Not used with --snapshot.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Use no manifest cache: read every manifest from ECR, write none.
    #[arg(long)]
    pub no_cache: bool,
    /// Seconds one AWS attempt may take before it is abandoned and retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub attempt_timeout: u64,
}

/// What `plan` and `apply` plan from: the files, the source, the plan's options.
#[derive(Debug, Args)]
pub struct Planning {
    /// The desired-state files.
    #[command(flatten)]
    pub files: DesiredFiles,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    #[arg(long)]
    pub allow_empty: bool,
    /// Evaluate `max_age` at this instant (RFC 3339). Default: now; with --snapshot,
    /// the snapshot's `generated_at` when it has one; with `apply --plan`, when the
    /// plan was made.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub now: Option<DateTime<Utc>>,
    /// Fail (exit 1, before any removal) when a repository's ECR lifecycle policy would
    /// expire or archive an image the plan keeps, or cannot be read.
    #[arg(long)]
    pub fail_on_lifecycle_conflict: bool,
    /// The storage price in US dollars per GB-month for the savings the plan shows,
    /// for every repository and storage class (negotiated rates, other regions).
    /// Default: the files' `pricing`, else ECR's published prices.
    #[arg(long, value_name = "USD", value_parser = price)]
    pub price_per_gb_month: Option<ecr_reconcile::model::Price>,
}

fn price(text: &str) -> Result<ecr_reconcile::model::Price, String> {
    let usd: f64 = text
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("`{text}` is not a number of dollars, such as 0.10"))?;
    ecr_reconcile::model::Price::per_gb_month(usd)
}

/// `--shard K/N` and `--shard-by`: one of N disjoint parts of the declared
/// repositories, for a matrix of N jobs.
#[derive(Debug, Args)]
pub struct Sharding {
    /// Plan only shard K of N (K from 1) of the declared repositories; the N shards'
    /// plans together (`show` of all of them) are the plan of the whole. Every shard
    /// reads every in-use source.
    #[arg(long, value_name = "K/N", value_parser = shard)]
    pub shard: Option<(u32, u32)>,
    /// How --shard divides the repositories: `account` keeps an account's repositories
    /// together (largest accounts first, each to the least loaded shard), `repository`
    /// deals them out one by one (for one account too big for one job).
    #[arg(long, value_name = "BY", default_value = "account", requires = "shard", value_parser = PossibleValuesParser::new(["account", "repository"]).map(|s| s.parse::<ShardBy>().expect("a possible value")))]
    pub shard_by: ShardBy,
}

impl Sharding {
    /// The shard asked for, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard.map(|(index, count)| Shard {
            index,
            count,
            by: self.shard_by,
        })
    }
}

fn shard(text: &str) -> Result<(u32, u32), String> {
    Shard::parse(text, ShardBy::default()).map(|s| (s.index, s.count))
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The files, the source and the plan's options.
    #[command(flatten)]
    pub planning: Planning,
    /// The shard to plan.
    #[command(flatten)]
    pub sharding: Sharding,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = values::<Format>())]
    pub format: Format,
    /// Also save the plan (JSON) to FILE, for `show` and `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the storage report instead of the plan: the largest repositories, what
    /// untagged images store, the biggest savings (markdown with `--format markdown`;
    /// `--format json` prints the plan document, which holds every figure).
    #[arg(long)]
    pub report: bool,
    /// Exit 0 when the registry matches the desired state, 2 when it does not (changes
    /// to apply, or a repository refused or not found), 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also list what the same files would remove at each day boundary up to
    /// DURATION from now (`7d`, `36h`, `2w`; at most 366 days), as `max_age` and
    /// `pulled_within` expire. No push is simulated: `keep_latest` counts the images
    /// there now.
    #[arg(long, value_name = "DURATION", value_parser = horizon)]
    pub forecast: Option<(String, u64)>,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The files, the source and the plan's options.
    #[command(flatten)]
    pub planning: Planning,
    /// The shard to apply (with --plan: the shard the plan was made for).
    #[command(flatten)]
    pub sharding: Sharding,
    /// Apply this saved plan (from `plan --out`) instead of planning afresh; refused
    /// when stale.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Refuse, before deleting anything, a run that would delete more than N images.
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
    /// Refuse, before deleting anything, a run that would free more than SIZE: bytes,
    /// or a number and a unit (`500MiB`, `2GiB`; `KB`, `MB`, `GB` are powers of 1000).
    #[arg(long, value_name = "SIZE", value_parser = ecr_reconcile::model::parse_size)]
    pub max_delete_bytes: Option<u64>,
    /// The journal file (JSON lines) of everything removed; an existing file is
    /// appended to. Default: a new .ecr-reconcile/journal-<UTC time>.jsonl under the
    /// working directory.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Also remove images and tags whose manifest could not be read for the journal
    /// (restore cannot put them back). Default: such removals are not made, and are
    /// reported as failures (ManifestNotSaved).
    #[arg(long)]
    pub allow_unrestorable: bool,
    /// Once the reactivations are made, wait until ECR has made every reactivated
    /// image active (pullable) again, reading their status every 15 seconds and saying
    /// how many are; exit 1 if some are still ACTIVATING after --wait-timeout. Not with
    /// --snapshot (nothing completes a reactivation offline).
    #[arg(long, conflicts_with = "snapshot")]
    pub wait: bool,
    /// How long --wait waits at most (`30m`, `1h`, `90s`).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = wait_timeout, requires = "wait")]
    pub wait_timeout: std::time::Duration,
    /// Format of the final report (the plan is printed as text before it).
    #[arg(long, default_value = "human", value_parser = values::<ReportFormat>())]
    pub format: ReportFormat,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The journal an apply wrote (`.ecr-reconcile/journal-*.jsonl`, or `--journal`).
    pub journal: PathBuf,
    /// Restore only this repository (by name; repeat for several). Default: every
    /// repository in the journal.
    #[arg(long = "repository", value_name = "NAME")]
    pub repositories: Vec<String>,
    /// Where the registry is.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Format of the final report (the restore plan is printed as text before it).
    #[arg(long, default_value = "human", value_parser = values::<ReportFormat>())]
    pub format: ReportFormat,
}

/// Arguments of `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The desired-state files.
    #[command(flatten)]
    pub files: DesiredFiles,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Repository-name globs (`*` and `?`, e.g. `payments/*`). Default: every
    /// repository of the registry.
    #[arg(value_name = "REPOSITORY_GLOB")]
    pub patterns: Vec<String>,
    /// `exact`: every current tag, so the next plan has nothing to do; `infer`: tag
    /// families as rules, each with why, and what the policy would remove.
    #[arg(long, default_value = "exact", value_parser = values::<ImportStyle>())]
    pub style: ImportStyle,
    /// The account whose repositories are imported (default: the caller's).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Import the repositories of the caller's ECR Public registry with this alias
    /// (`public.ecr.aws/ALIAS`) instead of private ECR's.
    #[arg(long, value_name = "ALIAS")]
    pub public: Option<String>,
    /// `infer`: images of a version family (`v1.4.3`) that keep their tags.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub keep_versions: u32,
    /// `infer`: images of a pull-request or branch build family (`pr-812`,
    /// `main-a358be6`) that keep their tags.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub keep_builds: u32,
    /// `infer`: the age past which builds lose their tags (a duration: `30d`, `2w`).
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub build_max_age: String,
    /// Where the output's `$schema` line points (write the schema there with
    /// `ecr-reconcile schema`).
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        default_value = "./ecr-reconcile.schema.json"
    )]
    pub schema: String,
    /// Write the YAML to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Evaluate `max_age` at this instant (RFC 3339), for the summary of `infer`.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub now: Option<DateTime<Utc>>,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The desired-state files.
    #[command(flatten)]
    pub files: DesiredFiles,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = values::<ValidateFormat>())]
    pub format: ValidateFormat,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The image: REPOSITORY:TAG, REPOSITORY@DIGEST, or REPOSITORY (its `latest`).
    #[arg(value_name = "REPOSITORY[:TAG|@DIGEST]", value_parser = image_query)]
    pub image: ecr_reconcile::ops::explain::ImageQuery,
    /// The files, the source and the plan's options.
    #[command(flatten)]
    pub planning: Planning,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = values::<ReportFormat>())]
    pub format: ReportFormat,
}

fn image_query(text: &str) -> Result<ecr_reconcile::ops::explain::ImageQuery, String> {
    ecr_reconcile::ops::explain::ImageQuery::parse(text)
}

/// Arguments of `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files, or directories searched recursively for *.test.yaml / *.test.yml
    /// (skipping hidden folders).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also write the outcome as JUnit XML to FILE (a test suite per test file).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `plan --out`; or the plans of every shard of one plan
    /// (`plan --shard K/N --out`), shown as one plan of the whole.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = values::<Format>())]
    pub format: Format,
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(long, default_value = "config", value_parser = values::<SchemaKind>())]
    pub kind: SchemaKind,
}

impl SourceArgs {
    /// The source as the operations take it.
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            snapshot: self.snapshot.clone(),
            snapshot_out: self.snapshot_out.clone(),
            region: self.region.clone(),
            environment_region: std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            public_endpoint_url: self.public_endpoint_url.clone(),
            public_registry_url: Some(self.public_registry_url.clone()),
            parallelism: usize::from(self.parallelism),
            attempt_timeout: Some(std::time::Duration::from_secs(self.attempt_timeout)),
            max_attempts: self.max_attempts,
            cache_dir: if self.no_cache {
                None
            } else {
                self.cache_dir.clone().or_else(default_cache_dir)
            },
            restore_records: Some(PathBuf::from(ecr_reconcile::ops::restored::DEFAULT_DIR)),
            // The desired state's, set once it is loaded.
            roles: Vec::new(),
            // Set by the commands that never write the snapshot back.
            on_demand: false,
            api_rates: self.api_rates.clone(),
        }
    }
}

/// The user's cache folder for this tool, as the XDG base directory specification
/// has it: `$XDG_CACHE_HOME/ecr-reconcile` when that is an absolute path, else
/// `$HOME/.cache/ecr-reconcile` (on Windows, `%LOCALAPPDATA%\ecr-reconcile`). None
/// when none of these is set: then there is no cache.
fn default_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(xdg.join("ecr-reconcile"));
    }
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|d| d.join("ecr-reconcile"));
    }
    var("HOME").map(|home| home.join(".cache").join("ecr-reconcile"))
}

/// An instant as `--now` takes it: RFC 3339, with the example the message gives.
fn instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            "expected an RFC 3339 instant, such as 2026-11-20T12:00:00Z or 2026-11-20T13:00:00+01:00".to_owned()
        })
}

/// A forecast horizon as `--forecast` takes it: a duration of the desired-state
/// files' form, at most [`MAX_FORECAST_DAYS`](ecr_reconcile::plan::forecast::MAX_FORECAST_DAYS).
fn wait_timeout(text: &str) -> Result<std::time::Duration, String> {
    let seconds = ecr_reconcile::config::parse_duration(text)?;
    if seconds == 0 {
        return Err("expected a duration longer than zero, such as 30m".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

fn horizon(text: &str) -> Result<(String, u64), String> {
    use ecr_reconcile::plan::forecast::MAX_FORECAST_DAYS;
    let seconds = ecr_reconcile::config::parse_duration(text)?;
    if seconds == 0 {
        return Err("expected a duration longer than zero, such as 7d".to_owned());
    }
    if seconds > MAX_FORECAST_DAYS * 24 * 60 * 60 {
        return Err(format!(
            "at most {MAX_FORECAST_DAYS} days: each day of the forecast plans every repository again"
        ));
    }
    Ok((text.to_owned(), seconds))
}
