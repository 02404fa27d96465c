//! The command line: parses arguments, runs the pipeline, prints, and maps outcomes
//! to the exit codes of [`crate::exit`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigErrors};
use crate::exit;
use crate::model::Region;
use crate::plan::{PLAN_FORMAT_VERSION, Plan, PlanOptions};
use crate::reconcile::{self, RunSettings};
use crate::registry::snapshot;
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
    /// Check desired-state files offline (no network, no credentials).
    Validate(ValidateArgs),
    /// Render a plan saved with `plan --out`.
    Show(ShowArgs),
    /// Print a JSON Schema: of desired-state files (default), snapshots or plans.
    Schema(SchemaArgs),
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Desired-state files, or directories searched recursively for *.yaml / *.yml.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Read the observed state from this snapshot file instead of AWS.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The region for files that name none.
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
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
    /// How many repositories are read at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
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
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
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

fn plan(ctx: &Ctx, args: &PlanArgs) -> Result<u8, Reported> {
    let desired = ctx.load_config(&args.paths)?;
    let region = args
        .region
        .as_deref()
        .map(|r| Region::parse(r).map_err(|e| ctx.error(format!("--region: {e}"))))
        .transpose()?;
    let Some(snapshot_path) = &args.snapshot else {
        return Err(ctx.error(
            "reading the live registry (AWS) is not available in this version yet; pass \
             --snapshot FILE with a snapshot of the registry (format: schema/snapshot.schema.json)",
        ));
    };
    let started = std::time::Instant::now();
    let snap = snapshot::read(snapshot_path).map_err(|e| ctx.diagnostic(&e))?;
    tracing::info!(elapsed = ?started.elapsed(), "read snapshot {}", snapshot_path.display());
    // A snapshot of a single region answers for files that name no region.
    let default_region = region.or_else(|| {
        let mut regions: Vec<&Region> = snap.registries.iter().map(|r| &r.region).collect();
        regions.dedup();
        (regions.len() == 1).then(|| regions[0].clone())
    });
    // Against a snapshot, `max_age` is measured from when it was taken, so that an
    // offline plan is reproducible; --now overrides.
    let now = args.now.or(snap.generated_at).unwrap_or_else(Utc::now);
    let registry = snap.into_registry();
    let settings = RunSettings {
        default_region,
        now,
        options: PlanOptions {
            allow_empty: args.allow_empty,
        },
        parallelism: usize::from(args.parallelism),
        source: format!("snapshot:{}", snapshot_path.display()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ctx.error(format!("cannot start the async runtime: {e}")))?;
    let mut plan = runtime
        .block_on(reconcile::make_plan(&registry, &desired, &settings))
        .map_err(|e| ctx.error(e))?;
    plan.api_calls = registry.calls();
    tracing::info!(elapsed = ?started.elapsed(), "planned {} repositories", plan.repositories.len());
    tracing::info!(
        describe_images = plan.api_calls.describe_images,
        batch_get_image = plan.api_calls.batch_get_image,
        batch_delete_image = plan.api_calls.batch_delete_image,
        "registry calls"
    );
    if let Some(out) = &args.out {
        save_plan(&plan, out)
            .map_err(|e| ctx.error(format!("cannot save the plan to {}: {e}", out.display())))?;
    }
    ctx.print_plan(&plan, args.format)?;
    tracing::info!(elapsed = ?started.elapsed(), "rendered the plan");
    // A large plan and registry model hold millions of small allocations; the process
    // is about to exit, so let the OS reclaim them instead of freeing one by one.
    let code = if args.detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    };
    std::mem::forget(plan);
    std::mem::forget(registry);
    Ok(code)
}

/// Writes the plan as JSON, atomically: a temporary file in the same directory,
/// then a rename, so a reader never sees half a plan.
pub fn save_plan(plan: &Plan, path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, plan)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a saved plan, refusing other format versions.
pub fn read_plan(path: &Path) -> Result<Plan, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u64>,
    }
    if let Ok(v) = serde_json::from_slice::<Version>(&bytes)
        && v.format_version != Some(u64::from(PLAN_FORMAT_VERSION))
    {
        return Err(format!(
            "{} is not a plan of format version {PLAN_FORMAT_VERSION} (found {})",
            path.display(),
            v.format_version
                .map_or("none".to_owned(), |n| n.to_string())
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a valid plan: {e}", path.display()))
}

fn show(ctx: &Ctx, args: &ShowArgs) -> Result<u8, Reported> {
    let plan = read_plan(&args.file).map_err(|e| ctx.error(e))?;
    ctx.print_plan(&plan, args.format)?;
    Ok(exit::SUCCESS)
}
