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
            let _ = writeln!(self.stderr(), "{red}error{red:#}: {e}");
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
                Reported
            })?;
        for x in &state.excluded {
            tracing::info!("skipped {}: excluded by {}", x.path, x.by);
        }
        Ok(state)
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
        let desired = self.load_config(&args.files)?;
        let source = self.check(ecr_reconcile::ops::Source::open(&args.source.spec()))?;
        Ok((desired, source))
    }

    /// Renders a plan to stdout, buffered; only human output goes through the
    /// color-stripping stream (JSON and markdown carry no styles). With a JSON report
    /// to follow on stdout, the human plan goes to stderr.
    pub fn print_plan(
        &self,
        plan: &Plan,
        format: Format,
        report: ReportFormat,
    ) -> Result<(), Reported> {
        let result = match (report, format) {
            (ReportFormat::Json, _) => render::render(plan, Format::Human, &mut self.stderr()),
            (_, Format::Human) => {
                let lock = std::io::stdout().lock();
                let choice = AutoStream::choice(&lock);
                let mut out =
                    std::io::BufWriter::with_capacity(1 << 16, AutoStream::new(lock, choice));
                render::render(plan, format, &mut out).and_then(|()| out.flush())
            }
            // JSON and markdown carry no styles: no stripping stream.
            _ => render::render(plan, format, &mut std::io::stdout().lock()),
        };
        match result {
            // A reader that stops early (`| head`) is not an error.
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
        result.map_err(|e| self.fail(Io(what, e)))
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

/// An I/O error while writing output.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{0}: {1}")]
struct Io(&'static str, std::io::Error);

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
            None => eprintln!("removed {done}/{} identifiers", self.total),
        }
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
