//! The command line: parses arguments, runs the pipeline, prints, and maps outcomes
//! to the exit codes of [`crate::exit`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::apply::{ApplyReport, Journal};
use crate::config::{self, ConfigErrors};
use crate::exit;
use crate::model::Region;
use crate::plan::stale;
use crate::plan::{Plan, PlanOptions};
use crate::reconcile::{self, RunSettings};
use crate::registry::CallCounts;
use crate::registry::RetryCounts;
use crate::registry::aws::{AwsRegistry, AwsSettings};
use crate::registry::backend::Backend;
use crate::registry::snapshot::{self, Snapshot};
use crate::render::{self, Format};

/// Plan and apply Amazon ECR image-tag allow-lists kept in YAML files.
#[derive(Debug, Parser)]
#[command(name = "ecr-reconcile", version, about, long_about = None)]
pub struct Cli {
    /// When to color output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// More detail on stderr: -v for registry calls, -vv for debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// When to color output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    fn choice(self) -> anstream::ColorChoice {
        match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        }
    }
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
    Restore(RestoreArgs),
    /// Write the observed state of the declared repositories as a snapshot (JSON).
    Snapshot(SnapshotArgs),
    /// Check desired-state files offline (no network, no credentials).
    Validate(ValidateArgs),
    /// Render a plan saved with `plan --out`.
    Show(ShowArgs),
    /// Print a JSON Schema: of desired-state files (default), snapshots or plans.
    Schema(SchemaArgs),
}

/// Where the observed state comes from, and how to reach AWS.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// Read (and, for `apply`, write) this snapshot file instead of AWS.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The region for files that name none (else AWS_REGION, then the profile's).
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// The AWS profile (default: AWS_PROFILE, then the default credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send ECR calls to this endpoint (the SDK also honours AWS_ENDPOINT_URL_ECR).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// How many repositories are read at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Attempts per AWS call, the first included (throttling and 5xx are retried with
    /// exponential backoff and jitter).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also save the plan (JSON) to FILE, for `show` and `apply --plan`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    #[arg(long)]
    pub allow_empty: bool,
    /// Evaluate `max_age` at this instant (RFC 3339). Default: now; with --snapshot,
    /// the snapshot's `generated_at` when it has one.
    #[arg(long, value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// Formats of the apply report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Text.
    Human,
    /// JSON: the report, API calls and retries.
    Json,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Where the observed state comes from.
    #[command(flatten)]
    pub source: SourceArgs,
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
    /// The journal file (JSON lines) of everything removed. Default:
    /// .ecr-reconcile/journal-<UTC time>.jsonl under the working directory.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Format of the final report (the plan is printed as text before it).
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Lift the guard that refuses a plan deleting every image of a repository.
    #[arg(long)]
    pub allow_empty: bool,
    /// Evaluate `max_age` at this instant (RFC 3339), as for `plan`.
    #[arg(long, value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
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
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
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
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Which schema `schema` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// Desired-state files.
    Config,
    /// Snapshot files.
    Snapshot,
    /// Plan documents (`--format json`, `--out`).
    Plan,
    /// One line of an apply's journal.
    Journal,
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(long, value_enum, default_value_t = SchemaKind::Config)]
    pub kind: SchemaKind,
}

/// The JSON Schema of `kind`, pretty-printed with a final newline.
pub fn schema_json(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Config => schemars::schema_for!(config::raw::RawFile),
        SchemaKind::Snapshot => schemars::schema_for!(snapshot::Snapshot),
        SchemaKind::Plan => schemars::schema_for!(Plan),
        SchemaKind::Journal => schemars::schema_for!(crate::apply::JournalEntry),
    };
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    s.push('\n');
    s
}

/// Renders configuration diagnostics as miette reports (with file:line:col).
pub fn render_config_errors(errors: &ConfigErrors, color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in &errors.diagnostics {
        let _ = handler.render_report(&mut out, d);
        out.push('\n');
    }
    out.push_str(&format!("error: {errors}\n"));
    out
}

/// An error already explained to the user.
struct Reported;

struct Ctx {
    color: ColorWhen,
}

impl Ctx {
    fn stderr_color(&self) -> bool {
        match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
            }
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Reported {
        let mut err = anstream::AutoStream::new(std::io::stderr(), self.color.choice());
        let red = anstyle::AnsiColor::Red.on_default().bold();
        let _ = writeln!(err, "{red}error{red:#}: {message}");
        Reported
    }

    fn diagnostic(&self, d: &dyn miette::Diagnostic) -> Reported {
        let theme = if self.stderr_color() {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        let _ = miette::GraphicalReportHandler::new_themed(theme).render_report(&mut out, d);
        eprint!("{out}");
        Reported
    }

    fn stdout(&self) -> anstream::AutoStream<std::io::Stdout> {
        anstream::AutoStream::new(std::io::stdout(), self.color.choice())
    }

    /// Prints the plan before an apply: to stdout, or to stderr when stdout carries
    /// the JSON report.
    fn print_plan_to_stderr_if_json(
        &self,
        plan: &Plan,
        report: ReportFormat,
    ) -> Result<(), Reported> {
        if report == ReportFormat::Human {
            return self.print_plan(plan, Format::Human);
        }
        let mut err = anstream::AutoStream::new(std::io::stderr(), self.color.choice());
        render::render(plan, Format::Human, &mut err)
            .map_err(|e| self.error(format!("cannot write the plan: {e}")))
    }

    /// Renders a plan to stdout, buffered; only human output goes through the
    /// color-stripping stream (JSON and markdown carry no styles).
    fn print_plan(&self, plan: &Plan, format: Format) -> Result<(), Reported> {
        let stdout = std::io::stdout();
        let lock = stdout.lock();
        let result = if format == Format::Human {
            let choice = match self.color.choice() {
                anstream::ColorChoice::Auto => anstream::AutoStream::choice(&lock),
                other => other,
            };
            let mut out =
                std::io::BufWriter::with_capacity(1 << 16, anstream::AutoStream::new(lock, choice));
            render::render(plan, format, &mut out).and_then(|()| out.flush())
        } else {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, lock);
            render::render(plan, format, &mut out).and_then(|()| out.flush())
        };
        match result {
            // A reader that stops early (`| head`) is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(self.error(format!("cannot write the plan: {e}"))),
            Ok(()) => Ok(()),
        }
    }

    /// Asks on the terminal before `what` changes the registry; refuses without one.
    fn confirm(&self, what: &str, cancelled: &str) -> Result<(), Reported> {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(self.error(format!(
                "{what} needs confirmation, and there is no terminal to ask on; pass --auto-approve \
                 (after reviewing the plan) to {what} without asking"
            )));
        }
        eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| self.error(format!("cannot read the answer: {e}")))?;
        if answer.trim() != "yes" {
            return Err(self.error(cancelled));
        }
        Ok(())
    }

    fn load_config(&self, paths: &[PathBuf]) -> Result<config::DesiredState, Reported> {
        config::load(paths).map_err(|e| {
            eprint!("{}", render_config_errors(&e, self.stderr_color()));
            Reported
        })
    }
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx { color: cli.color };
    init_tracing(cli.verbose, ctx.stderr_color());
    let code = match &cli.command {
        Command::Plan(args) => plan(&ctx, args),
        Command::Apply(args) => apply(&ctx, args),
        Command::Restore(args) => restore(&ctx, args),
        Command::Snapshot(args) => snapshot_cmd(&ctx, args),
        Command::Validate(args) => validate(&ctx, args),
        Command::Show(args) => show(&ctx, args),
        Command::Schema(args) => {
            print!("{}", schema_json(args.kind));
            Ok(exit::SUCCESS)
        }
    };
    ExitCode::from(code.unwrap_or(exit::ERROR))
}

fn init_tracing(verbose: u8, color: bool) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // The SDK's own logs only with -vv: its warnings are not the user's business.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(if verbose >= 2 {
            level
        } else {
            tracing::Level::ERROR
        })
        .with_target("ecr_reconcile", level);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(color)
                .with_target(false)
                .without_time(),
        )
        .try_init();
}

fn validate(ctx: &Ctx, args: &ValidateArgs) -> Result<u8, Reported> {
    let state = ctx.load_config(&args.paths)?;
    let _ = writeln!(
        ctx.stdout(),
        "{} valid: {} declaring {}.",
        if state.files.len() == 1 {
            "The file is"
        } else {
            "All files are"
        },
        plural(state.files.len(), "file", "files"),
        plural(state.repositories.len(), "repository", "repositories"),
    );
    Ok(exit::SUCCESS)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The registry a run reads (and applies to): a snapshot file or AWS.
struct Source {
    backend: Backend,
    default_region: Option<Region>,
    now: DateTime<Utc>,
    runtime: tokio::runtime::Runtime,
}

impl Ctx {
    /// Opens the registry named by the flags. Nothing is called yet.
    fn open_source(
        &self,
        args: &SourceArgs,
        now: Option<DateTime<Utc>>,
    ) -> Result<Source, Reported> {
        let region = args
            .region
            .as_deref()
            .map(|r| Region::parse(r).map_err(|e| self.error(format!("--region: {e}"))))
            .transpose()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| self.error(format!("cannot start the async runtime: {e}")))?;
        match &args.snapshot {
            Some(path) => {
                let started = std::time::Instant::now();
                let snap = snapshot::read(path).map_err(|e| self.diagnostic(&e))?;
                tracing::info!(elapsed = ?started.elapsed(), "read snapshot {}", path.display());
                // A snapshot of a single region answers for files that name no region.
                let default_region = region.or_else(|| {
                    let mut regions: Vec<&Region> =
                        snap.registries.iter().map(|r| &r.region).collect();
                    regions.dedup();
                    (regions.len() == 1).then(|| regions[0].clone())
                });
                // Against a snapshot, `max_age` is measured from when it was taken, so
                // an offline plan is reproducible; --now overrides.
                let now = now.or(snap.generated_at).unwrap_or_else(Utc::now);
                let generated_at = snap.generated_at;
                Ok(Source {
                    backend: Backend::Snapshot {
                        registry: snap.into_registry(),
                        path: path.clone(),
                        generated_at,
                    },
                    default_region,
                    now,
                    runtime,
                })
            }
            None => {
                let settings = AwsSettings {
                    profile: args.profile.clone(),
                    endpoint_url: args.endpoint_url.clone(),
                    max_attempts: args.max_attempts,
                    region: region.clone(),
                };
                let aws = runtime.block_on(AwsRegistry::new(&settings));
                let default_region = region.or_else(|| aws.configured_region());
                Ok(Source {
                    backend: Backend::Aws(Box::new(aws)),
                    default_region,
                    now: now.unwrap_or_else(Utc::now),
                    runtime,
                })
            }
        }
    }
}

impl Source {
    /// After changes to a snapshot's registry: writes the snapshot file back,
    /// atomically (a no-op against AWS).
    fn write_back(&self, ctx: &Ctx) -> Result<(), Reported> {
        if let Backend::Snapshot {
            registry,
            path,
            generated_at,
        } = &self.backend
        {
            let snap = Snapshot::from_registry(registry, *generated_at);
            write_atomically(path, |w| {
                serde_json::to_writer_pretty(w, &snap).map_err(std::io::Error::from)
            })
            .map_err(|e| {
                ctx.error(format!(
                    "cannot rewrite the snapshot {}: {e}",
                    path.display()
                ))
            })?;
        }
        Ok(())
    }

    fn settings(&self, args: &SourceArgs, allow_empty: bool) -> RunSettings {
        RunSettings {
            default_region: self.default_region.clone(),
            now: self.now,
            options: PlanOptions { allow_empty },
            parallelism: usize::from(args.parallelism),
            source: self.backend.source(),
        }
    }

    fn make_plan(
        &self,
        ctx: &Ctx,
        desired: &config::DesiredState,
        settings: &RunSettings,
    ) -> Result<Plan, Reported> {
        let mut plan = self
            .runtime
            .block_on(reconcile::make_plan(&self.backend, desired, settings))
            .map_err(|e| ctx.error(e))?;
        plan.api_calls = self.backend.calls();
        Ok(plan)
    }
}

fn log_calls(backend: &Backend) {
    let c = backend.calls();
    let r = backend.retries();
    tracing::info!(
        describe_images = c.describe_images,
        batch_get_image = c.batch_get_image,
        batch_delete_image = c.batch_delete_image,
        other = c.other,
        retries = r.retries,
        throttled = r.throttled,
        "registry calls"
    );
}

fn plan(ctx: &Ctx, args: &PlanArgs) -> Result<u8, Reported> {
    let desired = ctx.load_config(&args.paths)?;
    let started = std::time::Instant::now();
    let source = ctx.open_source(&args.source, args.now)?;
    let settings = source.settings(&args.source, args.allow_empty);
    let plan = source.make_plan(ctx, &desired, &settings)?;
    tracing::info!(elapsed = ?started.elapsed(), "planned {} repositories", plan.repositories.len());
    log_calls(&source.backend);
    if let Some(out) = &args.out {
        save_plan(&plan, out)
            .map_err(|e| ctx.error(format!("cannot save the plan to {}: {e}", out.display())))?;
    }
    ctx.print_plan(&plan, args.format)?;
    tracing::info!(elapsed = ?started.elapsed(), "rendered the plan");
    let code = if args.detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    // A large plan and registry model hold millions of small allocations; the process
    // is about to exit, so let the OS reclaim them instead of freeing one by one.
    std::mem::forget(plan);
    std::mem::forget(source);
    Ok(code)
}

/// Everything `apply --format json` prints.
#[derive(serde::Serialize)]
struct ApplyOutput<'a> {
    report: &'a ApplyReport,
    api_calls: CallCounts,
    retries: RetryCounts,
    journal: String,
}

fn apply(ctx: &Ctx, args: &ApplyArgs) -> Result<u8, Reported> {
    let desired = ctx.load_config(&args.paths)?;
    let saved = args
        .plan
        .as_ref()
        .map(|p| read_plan(p).map_err(|e| ctx.error(e)))
        .transpose()?;
    if let Some(saved) = &saved
        && saved.desired_state_digest != desired.digest
    {
        return Err(ctx.error(
            "the saved plan was made from other desired-state files than these (their content \
             differs); make a new plan",
        ));
    }
    let source = ctx.open_source(
        &args.source,
        args.now.or(saved.as_ref().map(|p| p.created_at)),
    )?;
    let settings = source.settings(&args.source, args.allow_empty);
    let plan = match saved {
        Some(saved) => {
            let problems = source
                .runtime
                .block_on(stale::check(&source.backend, &desired, &saved, &settings))
                .map_err(|e| ctx.error(e))?;
            if !problems.is_empty() {
                let mut msg = String::from(
                    "Saved plan is stale: the registry changed since it was made; nothing was applied.\n",
                );
                for p in &problems {
                    msg.push_str(p);
                    msg.push('\n');
                }
                msg.push_str("Make a new plan.");
                return Err(ctx.error(msg));
            }
            saved
        }
        None => source.make_plan(ctx, &desired, &settings)?,
    };
    // The plan, for the person (or the CI log) that approves it.
    ctx.print_plan_to_stderr_if_json(&plan, args.format)?;
    if !plan.has_changes() || crate::apply::planned_ids(&plan) == 0 {
        let _ = writeln!(ctx.stdout(), "Nothing to apply.");
        return Ok(exit::SUCCESS);
    }
    let deletions = crate::apply::planned_deletions(&plan);
    if let Some(max) = args.max_delete
        && deletions > max
    {
        return Err(ctx.error(format!(
            "the plan deletes {deletions} images, more than --max-delete {max}; nothing was applied"
        )));
    }
    if !args.auto_approve {
        ctx.confirm("apply", "Apply cancelled; nothing was removed.")?;
    }
    let journal_path = args.journal.clone().unwrap_or_else(|| {
        PathBuf::from(".ecr-reconcile").join(format!(
            "journal-{}.jsonl",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        ))
    });
    let mut journal = Journal::open(&journal_path).map_err(|e| {
        ctx.error(format!(
            "cannot open the journal {}: {e}",
            journal_path.display()
        ))
    })?;
    let progress = ProgressDisplay::new(crate::apply::planned_ids(&plan));
    let result = source.runtime.block_on(crate::apply::apply_plan(
        &source.backend,
        &plan,
        &mut journal,
        &progress,
    ));
    progress.finish();
    let report = result.map_err(|e| {
        ctx.error(format!(
            "{e}; what was removed before is in the journal {}",
            journal_path.display()
        ))
    })?;
    source.write_back(ctx)?;
    log_calls(&source.backend);
    let output = ApplyOutput {
        report: &report,
        api_calls: source.backend.calls(),
        retries: source.backend.retries(),
        journal: journal_path.display().to_string(),
    };
    let mut out = ctx.stdout();
    let written = match args.format {
        ReportFormat::Json => serde_json::to_writer_pretty(&mut out, &output)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        ReportFormat::Human => write_report(&mut out, &output),
    };
    written.map_err(|e| ctx.error(format!("cannot write the report: {e}")))?;
    Ok(if report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn write_report(out: &mut dyn Write, o: &ApplyOutput<'_>) -> std::io::Result<()> {
    let r = o.report;
    writeln!(out)?;
    writeln!(
        out,
        "Apply {}: {} tags removed ({} untagged from images that stay), {} images deleted, {} already gone, {} skipped, {} failed.",
        if r.succeeded() {
            "complete"
        } else {
            "finished with failures"
        },
        r.tags_removed,
        r.untagged,
        r.images_deleted,
        r.already_gone,
        r.skipped.len(),
        r.failures.len()
    )?;
    for s in &r.skipped {
        let what = s.tag.as_ref().map_or_else(
            || s.digest.short(),
            |t| format!("tag {t} on {}", s.digest.short()),
        );
        writeln!(out, "  skipped {} in {}: {}", what, s.repository, s.reason)?;
    }
    for (code, n) in &r.failures_by_code {
        writeln!(out, "  failed: {n} x {code}")?;
    }
    for f in &r.failures {
        writeln!(
            out,
            "  failed {} in {}: {} ({})",
            f.id, f.repository, f.code, f.reason
        )?;
    }
    writeln!(
        out,
        "API calls: DescribeImages {}, BatchGetImage {}, BatchDeleteImage {}, other {}; retries {} ({} throttled, {} server errors).",
        o.api_calls.describe_images,
        o.api_calls.batch_get_image,
        o.api_calls.batch_delete_image,
        o.api_calls.other,
        o.retries.retries,
        o.retries.throttled,
        o.retries.server_errors
    )?;
    writeln!(out, "Journal: {}", o.journal)
}

/// Progress on stderr: a bar on a terminal, a line per batch otherwise.
struct ProgressDisplay {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl ProgressDisplay {
    fn new(total: usize) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} removals {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            total,
            done: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl crate::apply::Progress for ProgressDisplay {
    fn advance(&self, n: usize) {
        if n == 0 {
            return;
        }
        let done = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        match &self.bar {
            Some(b) => b.set_position(done as u64),
            None => eprintln!("removed {done}/{} identifiers", self.total),
        }
    }
}

/// Everything `restore --format json` prints.
#[derive(serde::Serialize)]
struct RestoreOutput<'a> {
    plan: &'a crate::restore::RestorePlan,
    report: &'a crate::restore::RestoreReport,
    api_calls: CallCounts,
    retries: RetryCounts,
}

fn restore(ctx: &Ctx, args: &RestoreArgs) -> Result<u8, Reported> {
    let journal = Journal::read(&args.journal).map_err(|e| ctx.error(e))?;
    if journal.truncated_tail {
        eprintln!(
            "warning: the last line of {} was cut short (a crash while it was written); the removal it announced was never requested",
            args.journal.display()
        );
    }
    for name in &args.repositories {
        if !journal
            .entries
            .iter()
            .any(|e| e.repository.name.as_str() == name)
        {
            return Err(ctx.error(format!(
                "--repository {name}: the journal {} records no removal in that repository",
                args.journal.display()
            )));
        }
    }
    let entries = crate::restore::select(&journal.entries, &args.repositories);
    let source = ctx.open_source(&args.source, None)?;
    let plan = source
        .runtime
        .block_on(crate::restore::plan(&source.backend, &entries))
        .map_err(|(repo, e)| ctx.error(format!("{repo}: {e}; nothing was restored")))?;
    let shown = args.journal.display().to_string();
    let printed = if args.format == ReportFormat::Human {
        render::restore_plan(&plan, &shown, &mut ctx.stdout())
    } else {
        let mut err = anstream::AutoStream::new(std::io::stderr(), ctx.color.choice());
        render::restore_plan(&plan, &shown, &mut err)
    };
    printed.map_err(|e| ctx.error(format!("cannot write the plan: {e}")))?;
    if plan.has_work() && !args.auto_approve {
        ctx.confirm("restore", "Restore cancelled; nothing was pushed.")?;
    }
    // With nothing to push this only collects the plan's problems.
    let report = source
        .runtime
        .block_on(crate::restore::execute(&source.backend, &plan));
    if plan.has_work() {
        source.write_back(ctx)?;
    }
    log_calls(&source.backend);
    let mut out = ctx.stdout();
    let written = match args.format {
        ReportFormat::Json => serde_json::to_writer_pretty(
            &mut out,
            &RestoreOutput {
                plan: &plan,
                report: &report,
                api_calls: source.backend.calls(),
                retries: source.backend.retries(),
            },
        )
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out)),
        ReportFormat::Human => render::restore_report(&report, &mut out),
    };
    written.map_err(|e| ctx.error(format!("cannot write the report: {e}")))?;
    Ok(if report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn snapshot_cmd(ctx: &Ctx, args: &SnapshotArgs) -> Result<u8, Reported> {
    let desired = ctx.load_config(&args.paths)?;
    let source = ctx.open_source(&args.source, None)?;
    let settings = source.settings(&args.source, false);
    let snap = source
        .runtime
        .block_on(reconcile::snapshot(&source.backend, &desired, &settings))
        .map_err(|e| ctx.error(e))?;
    log_calls(&source.backend);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &snap)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush())
        .map_err(|e| ctx.error(format!("cannot write the snapshot: {e}")))?;
    Ok(exit::SUCCESS)
}

/// Writes the plan as JSON with its checksum, atomically: a temporary file in the
/// same directory, then a rename, so a reader never sees half a plan.
pub fn save_plan(plan: &Plan, path: &Path) -> std::io::Result<()> {
    let document = crate::plan::saved::seal(plan);
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(w, &document).map_err(std::io::Error::from)
    })
}

/// Writes a file atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the target.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.write_all(b"\n")?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a saved plan, refusing other format versions and any edit (checksum).
pub fn read_plan(path: &Path) -> Result<Plan, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::plan::saved::unseal(&bytes).map_err(|e| match e {
        crate::plan::saved::SavedPlanError::Syntax { line, column, .. } => {
            format!("{}:{line}:{column}: the saved plan {e}", path.display())
        }
        e => format!("the saved plan {} {e}", path.display()),
    })
}

fn show(ctx: &Ctx, args: &ShowArgs) -> Result<u8, Reported> {
    let plan = read_plan(&args.file).map_err(|e| ctx.error(e))?;
    ctx.print_plan(&plan, args.format)?;
    Ok(exit::SUCCESS)
}
