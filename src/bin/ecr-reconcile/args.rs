//! The command line's arguments (clap).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use ecr_reconcile::ops::SourceSpec;
use ecr_reconcile::render::{Format, ReportFormat};
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
    /// Check desired-state files offline (no network, no credentials).
    Validate(ValidateArgs),
    /// Render a plan saved with `plan --out`.
    Show(ShowArgs),
    /// Print a JSON Schema: of desired-state files (default), snapshots, plans or journal
    /// lines.
    Schema(SchemaArgs),
}

/// Where the observed state comes from, and how to reach AWS.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Read this snapshot file instead of AWS (`apply` and `restore` write their changes
    /// back to it).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The region for files that name none. Default: against a snapshot of one region,
    /// that region; else AWS_REGION, then the profile's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The AWS profile (default: AWS_PROFILE, then the default credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send ECR calls to this endpoint (the SDK also honours AWS_ENDPOINT_URL_ECR).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// How many repositories are read at once, and (apply) how many requests are in
    /// flight at once over all repositories.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Attempts per AWS call, the first included (throttling and 5xx are retried with
    /// exponential backoff and jitter).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Seconds one AWS attempt may take before it is abandoned and retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub attempt_timeout: u64,
}

/// What `plan` and `apply` plan from: the files, the source, the plan's options.
#[derive(Debug, Args)]
pub struct Planning {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    #[arg(long)]
    pub allow_empty: bool,
    /// Evaluate `max_age` at this instant (RFC 3339). Default: now; with --snapshot,
    /// the snapshot's `generated_at` when it has one; with `apply --plan`, when the
    /// plan was made.
    #[arg(long, value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The files, the source and the plan's options.
    #[command(flatten)]
    pub planning: Planning,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = values::<Format>())]
    pub format: Format,
    /// Also save the plan (JSON) to FILE, for `show` and `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The files, the source and the plan's options.
    #[command(flatten)]
    pub planning: Planning,
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
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `plan --out`.
    pub file: PathBuf,
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
            region: self.region.clone(),
            environment_region: std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            parallelism: usize::from(self.parallelism),
            attempt_timeout: Some(std::time::Duration::from_secs(self.attempt_timeout)),
            max_attempts: self.max_attempts,
        }
    }
}
