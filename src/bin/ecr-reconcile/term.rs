//! Everything the binary writes to the terminal: errors, plans, reports, the
//! confirmation prompt, progress and logs.

use std::io::{IsTerminal, Write};

use anstream::{AutoStream, ColorChoice};

use ecr_reconcile::plan::Plan;
use ecr_reconcile::render::{self, Format, ReportFormat};

/// An error already shown to the user.
pub struct Reported;

/// The terminal; colors follow `--color` (written to the global choice), NO_COLOR
/// and CLICOLOR_FORCE.
pub struct Term;

impl Term {
    pub fn stderr_color(&self) -> bool {
        AutoStream::choice(&std::io::stderr()) != ColorChoice::Never
    }

    pub fn stdout(&self) -> AutoStream<std::io::Stdout> {
        anstream::stdout()
    }

    pub fn stderr(&self) -> AutoStream<std::io::Stderr> {
        anstream::stderr()
    }

    /// Shows an error: as a report of the file it concerns (a snapshot's, with the
    /// excerpt it points at), else as one `error:` line.
    pub fn fail(&self, e: impl miette::Diagnostic) -> Reported {
        let of_a_file = e
            .code()
            .is_some_and(|c| c.to_string().starts_with("snapshot::"));
        if of_a_file || e.labels().is_some() {
            eprint!("{}", render::diagnostic(&e, self.stderr_color(), 80));
        } else {
            let red = anstyle::AnsiColor::Red.on_default().bold();
            // A problem of an in-use source is a problem of the file that declares it
            // (the message starts at its line): named by its code, as the problems of
            // desired-state files are.
            match innermost_code(&e) {
                Some(code) if code.starts_with("in_use::") => {
                    let _ = writeln!(self.stderr(), "{red}error[{code}]{red:#}: {e}");
                }
                _ => {
                    let _ = writeln!(self.stderr(), "{red}error{red:#}: {e}");
                }
            }
        }
        Reported
    }

    /// The value, or the error shown.
    pub fn check<T, E: miette::Diagnostic>(&self, r: Result<T, E>) -> Result<T, Reported> {
        r.map_err(|e| self.fail(e))
    }

    pub fn load_config(
        &self,
        files: &crate::args::DesiredFiles,
    ) -> Result<ecr_reconcile::config::DesiredState, Reported> {
        let state = ecr_reconcile::config::load_excluding(&files.paths, &exclusions(files))
            .map_err(|e| {
                eprint!("{}", render::config_errors(&e, self.stderr_color()));
                if let Some(gh) = GitHub::detect() {
                    eprint!(
                        "{}",
                        render::github::config_annotations(&e, &|f| gh.path(f))
                    );
                }
                Reported
            })?;
        for x in &state.excluded {
            tracing::info!("skipped {}: excluded by {}", x.path, x.by);
        }
        if let Some(note) = render::not_desired(&state.not_desired) {
            let _ = writeln!(self.stderr(), "{note}");
        }
        Ok(state)
    }

    /// In GitHub Actions: the plan's warnings as annotations, and the markdown plan
    /// appended to the step summary (bounded by GitHub's limit). Best effort: a
    /// summary that cannot be written is a warning, not a failed plan.
    pub fn github_plan(&self, plan: &Plan, report: bool) {
        let Some(mut summary) = self.step_summary() else {
            self.github_annotations(plan);
            return;
        };
        let fed = render::plan_writer(Format::Markdown, report, &mut summary.head)
            .expect("markdown has a writer")
            .write_plan(plan);
        self.github_annotations(plan);
        if fed.is_ok() {
            summary.append();
        }
    }

    /// In GitHub Actions: a warning annotation per plan warning.
    pub fn github_annotations(&self, plan: &Plan) {
        if let Some(gh) = GitHub::detect() {
            eprint!(
                "{}",
                render::github::plan_annotations(plan, &|f| gh.path(f))
            );
        }
    }

    /// In GitHub Actions with a step summary: the room left in it, to be filled with
    /// the plan's markdown and then appended.
    pub fn step_summary(&self) -> Option<StepSummary> {
        let path = GitHub::detect()?.step_summary?;
        let used = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
        let room = render::github::STEP_SUMMARY_LIMIT.saturating_sub(used);
        Some(StepSummary {
            // One byte more than the room: a text that does not fit is seen to be cut.
            head: render::spool::Head::new(room.saturating_add(1)),
            room,
            path,
        })
    }

    /// In GitHub Actions: an annotation per failed case of `test`, at its line.
    pub fn github_test(&self, outcome: &ecr_reconcile::ops::test::TestOutcome) {
        if let Some(gh) = GitHub::detect() {
            eprint!(
                "{}",
                render::github::test_annotations(outcome, &|f| gh.path(f))
            );
        }
    }

    /// The desired state and the source a planning command names.
    pub fn open(
        &self,
        args: &crate::args::Planning,
    ) -> Result<
        (
            ecr_reconcile::config::DesiredState,
            ecr_reconcile::ops::Source,
        ),
        Reported,
    > {
        self.open_with(args, false)
    }

    /// [`Self::open`]; with `on_demand`, a snapshot's images are read from the file
    /// as each repository is read (for a plan written as it is made).
    pub fn open_with(
        &self,
        args: &crate::args::Planning,
        on_demand: bool,
    ) -> Result<
        (
            ecr_reconcile::config::DesiredState,
            ecr_reconcile::ops::Source,
        ),
        Reported,
    > {
        let desired = self.load_config(&args.files)?;
        let mut spec = args.source.spec();
        spec.roles = desired.roles.clone();
        spec.on_demand = on_demand;
        let source = self
            .check(ecr_reconcile::ops::Source::open(&spec))?
            .with_price(args.price_per_gb_month);
        Ok((desired, source))
    }

    /// Renders a plan to stdout, buffered; only human output goes through the
    /// color-stripping stream (JSON and markdown carry no styles). With a JSON report
    /// to follow on stdout, the human plan goes to stderr.
    pub fn print_plan<D>(
        &self,
        plan: &D,
        format: Format,
        report: ReportFormat,
    ) -> Result<(), Reported>
    where
        D: serde::Serialize + std::borrow::Borrow<Plan>,
    {
        let result = match report {
            ReportFormat::Json => render::render(plan, Format::Human, &mut self.stderr()),
            ReportFormat::Human => {
                let mut out = self.plan_stdout(format);
                render::render(plan, format, &mut out).and_then(|()| out.flush())
            }
        };
        self.plan_written(result)
    }

    /// Stdout for a plan in `format`, buffered: human text through a stream that
    /// strips its styles when color is off.
    pub fn plan_stdout(&self, format: Format) -> Box<dyn Write> {
        let lock = std::io::stdout().lock();
        match format {
            Format::Human => {
                let choice = AutoStream::choice(&lock);
                Box::new(std::io::BufWriter::with_capacity(
                    1 << 16,
                    AutoStream::new(lock, choice),
                ))
            }
            // JSON and markdown carry no styles: no stripping stream.
            _ => Box::new(std::io::BufWriter::with_capacity(1 << 16, lock)),
        }
    }

    /// Shows a failed write of the plan; a reader that stops early (`| head`) is not
    /// an error.
    pub fn plan_written(&self, result: std::io::Result<()>) -> Result<(), Reported> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => self.written(other, "cannot write the plan"),
        }
    }

    /// Writes a report: as JSON, or as text by `human`.
    pub fn report<T: serde::Serialize>(
        &self,
        value: &T,
        format: ReportFormat,
        human: impl FnOnce(&T, &mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Reported> {
        let written = match format {
            ReportFormat::Json => render::json(value, &mut std::io::stdout().lock()),
            ReportFormat::Human => human(value, &mut self.stdout()),
        };
        self.written(written, "cannot write the report")
    }

    /// Shows a failed write, as `what: error`.
    pub fn written(&self, result: std::io::Result<()>, what: &'static str) -> Result<(), Reported> {
        match result {
            // A reader that stops early (`| head`) is not an error, for any command.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| self.fail(Io(what, e))),
        }
    }

    /// Writes `bytes` to stdout (a reader that stops early is not an error).
    pub fn print_bytes(&self, bytes: &[u8], what: &'static str) -> Result<(), Reported> {
        let mut out = std::io::stdout().lock();
        self.written(out.write_all(bytes).and_then(|()| out.flush()), what)
    }

    /// Asks on the terminal before the registry changes: true on "yes".
    pub fn confirm(&self) -> Result<bool, Reported> {
        eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| self.fail(Io("cannot read the answer", e)))?;
        Ok(answer.trim() == "yes")
    }
}

/// True when there is a terminal to ask on.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// A flag whose value the parser cannot check (exit 1, like every usage error).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}")]
pub struct Usage(pub String);

/// An I/O error while writing output.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}: {1}")]
struct Io(&'static str, std::io::Error);

/// The GitHub Actions environment, when the binary runs in a workflow
/// (`GITHUB_ACTIONS=true`).
/// The plan's markdown for the step summary (`GITHUB_STEP_SUMMARY`), being written:
/// only what fits in its room is held.
pub struct StepSummary {
    /// Where the markdown is written.
    pub head: render::spool::Head,
    room: usize,
    path: std::path::PathBuf,
}

impl StepSummary {
    /// Appends the markdown, cut to the room left with a note when it does not fit.
    pub fn append(self) {
        let kept = self.head.into_kept();
        let markdown = String::from_utf8_lossy(&kept);
        let text = render::github::bounded_summary(&markdown, self.room);
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(
                "cannot append the plan to the step summary {}: {e}",
                self.path.display()
            );
        }
    }
}

struct GitHub {
    /// The repository's checkout: annotations name files relative to it.
    workspace: Option<std::path::PathBuf>,
    /// The step summary file.
    step_summary: Option<std::path::PathBuf>,
}

impl GitHub {
    fn detect() -> Option<GitHub> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let path = |var| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        };
        Some(GitHub {
            workspace: path("GITHUB_WORKSPACE").and_then(|w| std::fs::canonicalize(w).ok()),
            step_summary: path("GITHUB_STEP_SUMMARY"),
        })
    }

    /// `file` (as shown) relative to the workspace, `/`-separated, as GitHub names
    /// files in a pull request; as shown when it is outside or unknown.
    fn path(&self, file: &str) -> String {
        self.workspace
            .as_ref()
            .and_then(|w| {
                let abs = std::fs::canonicalize(file).ok()?;
                let rel = abs.strip_prefix(w).ok()?;
                Some(rel.to_string_lossy().replace('\\', "/"))
            })
            .unwrap_or_else(|| file.to_owned())
    }
}

/// What `--exclude` asks directory search to skip.
pub fn exclusions(files: &crate::args::DesiredFiles) -> ecr_reconcile::config::Exclusions {
    ecr_reconcile::config::Exclusions {
        patterns: files.exclude.clone(),
    }
}

/// Progress on stderr: a bar on a terminal, a line per batch otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style =
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} removals {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            indicatif::ProgressBar::new(total as u64).with_style(style)
        });
        let done = Default::default();
        Self { bar, total, done }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl ecr_reconcile::ops::apply::Progress for Progress {
    fn advance(&self, n: usize) {
        if n == 0 {
            return;
        }
        let done = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        match &self.bar {
            Some(b) => b.set_position(done as u64),
            None => eprintln!("removals: {done}/{} settled", self.total),
        }
    }

    fn waiting(&self, active: usize, total: usize) {
        eprintln!("reactivations: {active}/{total} active again");
    }
}

/// Logs on stderr: warnings; -v the registry calls; -vv debug, the SDK's included.
pub fn init_tracing(verbose: u8, color: bool) {
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = [Level::WARN, Level::INFO, Level::DEBUG][usize::from(verbose.min(2))];
    // The SDK's own logs only with -vv: its warnings are not the user's business.
    let others = if verbose >= 2 { level } else { Level::ERROR };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(others)
        .with_target("ecr_reconcile", level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

/// The code of the innermost diagnostic of `e` that has one (an operation's error
/// wraps the cause's, which says more).
fn innermost_code(e: &dyn miette::Diagnostic) -> Option<String> {
    let mut code = e.code().map(|c| c.to_string());
    let mut next = e.diagnostic_source();
    while let Some(d) = next {
        if let Some(c) = d.code() {
            code = Some(c.to_string());
        }
        next = d.diagnostic_source();
    }
    code
}
