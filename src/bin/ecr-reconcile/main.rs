//! The `ecr-reconcile` binary: parses arguments, calls an operation
//! ([`ecr_reconcile::ops`]), prints the outcome and maps it to an exit code
//! ([`ecr_reconcile::exit`]).

mod args;
mod signals;
mod term;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ecr_reconcile::ops::apply::{ApplyError, ApplyRequest, Gate, Guards};
use ecr_reconcile::ops::plan::PlanRequest;
use ecr_reconcile::ops::restore::{RestoreError, RestoreRequest};
use ecr_reconcile::ops::{self, Source};
use ecr_reconcile::render::{self, Format, ReportFormat};
use ecr_reconcile::{exit, schema};

use args::{
    ApplyArgs, Cli, Command, ExplainArgs, ImportArgs, PlanArgs, RestoreArgs, SnapshotArgs,
    TestArgs, ValidateArgs,
};
use term::{Reported, Term};

// Planning allocates many small strings (tags, digests); mimalloc makes that markedly
// faster than the system allocator (see benches/plan_scale.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // clap exits 2 on a usage error, the code `--detailed-exitcode` gives "changes":
    // every error exits 1 here (help and version 0).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::SUCCESS
            });
        }
    };
    cli.color.write_global();
    let term = Term;
    term::init_tracing(cli.verbose, term.stderr_color());
    let code = match &cli.command {
        Command::Plan(args) => plan(&term, args),
        Command::Apply(args) => apply(&term, args),
        Command::Restore(args) => restore(&term, args),
        Command::Snapshot(args) => snapshot(&term, args),
        Command::Import(args) => import(&term, args),
        Command::Validate(args) => validate(&term, args),
        Command::Test(args) => test(&term, args),
        Command::Explain(args) => explain(&term, args),
        Command::Show(args) => show(&term, args),
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "ecr-reconcile", &mut script);
            term.print_bytes(&script, "cannot write the completions")
                .map(|()| exit::SUCCESS)
        }
        Command::Man(args) => man(&term, args),
        Command::Schema(args) => term
            .print_bytes(
                schema::json(args.kind).as_bytes(),
                "cannot write the schema",
            )
            .map(|()| exit::SUCCESS),
    };
    ExitCode::from(code.unwrap_or(exit::ERROR))
}

/// The manual pages: the tool's, with its exit codes and environment, and one per
/// command (`ecr-reconcile-plan(1)`, as the tool's page refers to them).
fn man_pages() -> Vec<(String, Vec<u8>)> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = Vec::new();
    let mut main = Vec::new();
    let page = clap_mangen::Man::new(cmd.clone());
    // Infallible: writing to a Vec.
    let _ = page.render(&mut main);
    main.extend_from_slice(MAN_EXTRA.as_bytes());
    pages.push(("ecr-reconcile".to_owned(), main));
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        let sub = sub
            .clone()
            .name(format!("ecr-reconcile-{name}"))
            .bin_name(format!("ecr-reconcile {name}"));
        let mut text = Vec::new();
        let _ = clap_mangen::Man::new(sub).render(&mut text);
        pages.push((format!("ecr-reconcile-{name}"), text));
    }
    pages
}

/// Sections of the tool's page that clap does not know.
const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
0
Success (also B\-\-helpR and B\-\-versionR); with B\-\-detailed\-exitcodeR: nothing to do.
.TP
1
Any error: usage, desired\-state files, the registry, a refused guard, a failed removal or restore.
.TP
2
Only with B\-\-detailed\-exitcodeR: the registry does not match the desired state (changes to apply, or a repository refused or not found).
.TP
130, 143
BapplyR or BrestoreR stopped by SIGINT (130) or SIGTERM (143): nothing new was sent after the signal; what was sent was checked, journalled and reported.
.SH ENVIRONMENT
.TP
AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
The AWS SDK's configuration and credentials.
.TP
AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL
Another ECR endpoint (as B\-\-endpoint\-urlR).
.TP
NO_COLOR, CLICOLOR_FORCE
No color; color even off a terminal.
.TP
GITHUB_ACTIONS, GITHUB_STEP_SUMMARY
In GitHub Actions: diagnostics and warnings also as workflow commands; the markdown plan appended to the step summary.
.SH FILES
.TP
\&.ecr\-reconcile/journal\-*.jsonl
The journal of each apply, for Becr\-reconcile restoreR.
.TP
\&.ecr\-reconcile\-ignore
Patterns that directory search skips.
"#;

fn man(term: &Term, args: &args::ManArgs) -> Result<u8, Reported> {
    let pages = man_pages();
    if let Some(dir) = &args.dir {
        term.written(std::fs::create_dir_all(dir), "cannot create the folder")?;
        for (name, text) in &pages {
            let path = dir.join(format!("{name}.1"));
            term.written(
                ecr_reconcile::files::write_atomically(&path, |w| w.write_all(text)),
                "cannot write the manual page",
            )?;
        }
        return Ok(exit::SUCCESS);
    }
    let wanted = args.command.as_ref().map_or_else(
        || "ecr-reconcile".to_owned(),
        |c| format!("ecr-reconcile-{c}"),
    );
    let Some((_, text)) = pages.iter().find(|(name, _)| *name == wanted) else {
        let known: Vec<&str> = pages
            .iter()
            .skip(1)
            .map(|(n, _)| n.trim_start_matches("ecr-reconcile-"))
            .collect();
        eprintln!(
            "error: no command `{}`; the commands are {}",
            args.command.as_deref().unwrap_or_default(),
            known.join(", ")
        );
        return Err(Reported);
    };
    term.print_bytes(text, "cannot write the manual page")
        .map(|()| exit::SUCCESS)
}

fn validate(term: &Term, args: &ValidateArgs) -> Result<u8, Reported> {
    if args.format == render::ValidateFormat::Json {
        let loaded = ecr_reconcile::config::load_excluding(
            &args.files.paths,
            &term::exclusions(&args.files),
        );
        let report = ecr_reconcile::config::report::ValidationReport::new(&loaded);
        term.written(
            render::json(&report, &mut std::io::stdout().lock()),
            "cannot write the report",
        )?;
        return Ok(if report.valid {
            exit::SUCCESS
        } else {
            exit::ERROR
        });
    }
    let state = term.load_config(&args.files)?;
    let _ = writeln!(term.stdout(), "{}", render::validated(&state));
    Ok(exit::SUCCESS)
}

fn explain(term: &Term, args: &ExplainArgs) -> Result<u8, Reported> {
    let (desired, source) = term.open(&args.planning)?;
    let request = ops::explain::ExplainRequest {
        query: args.image.clone(),
        now: args.planning.now,
        allow_empty: args.planning.allow_empty,
    };
    let explained = term.check(ops::explain::explain(&source, &desired, &request))?;
    let asked = args.image.to_string();
    term.report(&explained, args.format, |e, out| {
        render::explanation(e, &asked, out)
    })?;
    Ok(exit::SUCCESS)
}

fn test(term: &Term, args: &TestArgs) -> Result<u8, Reported> {
    let outcome = match ops::test::run(&args.paths) {
        Ok(o) => o,
        Err(ops::test::TestError::Desired { file, errors }) => {
            eprintln!("error: {file}: the desired state it tests is not valid:");
            eprint!("{}", render::config_errors(&errors, term.stderr_color()));
            return Err(Reported);
        }
        Err(e) => return Err(term.fail(e)),
    };
    term.written(
        render::test_report(&outcome, &mut term.stdout()),
        "cannot write the report",
    )?;
    term.github_test(&outcome);
    if let Some(path) = &args.junit {
        term.written(
            ecr_reconcile::files::write_atomically(path, |w| {
                w.write_all(render::junit(&outcome).as_bytes())
            }),
            "cannot write the JUnit report",
        )?;
    }
    Ok(if outcome.failed() == 0 {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn plan(term: &Term, args: &PlanArgs) -> Result<u8, Reported> {
    // The plan is written as the repositories are planned, in every format, the whole
    // plan never held, and a snapshot's images are read as each repository is.
    let (desired, source) = term.open_with(&args.planning, true)?;
    let desired = sharded(desired, &args.sharding);
    let request = PlanRequest {
        now: args.planning.now,
        allow_empty: args.planning.allow_empty,
        out: args.out.clone(),
        forecast: args.forecast.clone(),
    };
    let code = plan_streamed(term, args, &desired, &source, &request);
    // The registry model holds millions of small allocations; the process is about to
    // exit, so let the OS reclaim them instead of freeing one by one.
    std::mem::forget(source);
    code
}

/// `plan`, streamed: JSON goes to stdout as it is made; the other formats, and the
/// step summary under GitHub Actions, are fed a repository at a time and written at
/// the end.
fn plan_streamed(
    term: &Term,
    args: &PlanArgs,
    desired: &ecr_reconcile::config::DesiredState,
    source: &ecr_reconcile::ops::Source,
    request: &PlanRequest,
) -> Result<u8, Reported> {
    use ops::streamed::StreamError;
    let report = args.report && args.format != Format::Json;
    let mut stdout = term.plan_stdout(args.format);
    let (json, mut writer) = match args.format {
        Format::Json => (Some(&mut stdout as &mut dyn Write), None),
        format => (None, render::plan_writer(format, report, &mut stdout)),
    };
    let mut summary = term.step_summary();
    let mut summary_writer = summary
        .as_mut()
        .and_then(|s| render::plan_writer(Format::Markdown, args.report, &mut s.head));
    let mut each = |r: &ecr_reconcile::plan::RepositoryPlan| {
        // Two writers of their own lifetimes (one borrows stdout, one the summary).
        if let Some(w) = &mut writer {
            w.repository(r)?;
        }
        if let Some(w) = &mut summary_writer {
            w.repository(r)?;
        }
        Ok(())
    };
    let streamed = match ops::streamed::plan(source, desired, request, json, &mut each) {
        Ok(s) => s,
        Err(StreamError::Plan(e)) => return Err(term.fail(e)),
        Err(StreamError::Write(e)) => {
            return term
                .written(Err(e), "cannot write the plan")
                .map(|()| exit::ERROR);
        }
    };
    let plan = &streamed.outcome.plan;
    // The writers borrow stdout and the step summary: each is done before those are.
    let finished = writer.as_mut().map_or(Ok(()), |w| w.finish(plan));
    drop(writer);
    term.plan_written(finished.and_then(|()| stdout.flush()))?;
    drop(stdout);
    if report {
        term.plan_written(render::warnings(&plan.warnings, &mut term.stderr()))?;
    }
    term.github_annotations(plan);
    let fed = summary_writer.as_mut().map(|w| w.finish(plan));
    drop(summary_writer);
    if let (Some(Ok(())), Some(summary)) = (fed, summary) {
        summary.append();
    }
    Ok(plan_exit(term, args, plan, streamed.unreadable_error()))
}

/// The exit code of a plan made: a repository that could not be read (`unreadable`)
/// is an error, after the plan of the others; so is a lifecycle conflict under
/// `--fail-on-lifecycle-conflict`; then changes under `--detailed-exitcode`.
fn plan_exit(
    term: &Term,
    args: &PlanArgs,
    plan: &ecr_reconcile::plan::Plan,
    unreadable: Option<ops::plan::PlanError>,
) -> u8 {
    let conflicts = args
        .planning
        .fail_on_lifecycle_conflict
        .then(|| ops::plan::lifecycle_conflicts(plan))
        .flatten();
    if let Some(e) = unreadable.or(conflicts) {
        let _ = term.fail(e);
        exit::ERROR
    } else if args.detailed_exitcode && plan.drifted() {
        exit::CHANGES
    } else {
        exit::SUCCESS
    }
}

/// The desired state, narrowed to the shard asked for.
fn sharded(
    desired: ecr_reconcile::config::DesiredState,
    sharding: &args::Sharding,
) -> ecr_reconcile::config::DesiredState {
    match sharding.shard() {
        Some(shard) => desired.shard(shard),
        None => desired,
    }
}

/// `show`: one saved plan, or the plans of every shard of one plan as the whole, read
/// and written a repository at a time (checked whole before anything is written).
fn show(term: &Term, args: &args::ShowArgs) -> Result<u8, Reported> {
    let files: Vec<(String, std::path::PathBuf)> = args
        .files
        .iter()
        .map(|f| (f.display().to_string(), f.clone()))
        .collect();
    let opened = term.check(ops::show::open(&files))?;
    let outcome = opened.outcome().clone();
    let mut stdout = term.plan_stdout(args.format);
    let mut writer: Box<dyn render::PlanWriter + '_> = match args.format {
        Format::Json => match render::JsonWriter::new(&outcome, &mut stdout) {
            Ok(w) => Box::new(w),
            Err(e) => return term.plan_written(Err(e)).map(|()| exit::SUCCESS),
        },
        format => render::plan_writer(format, false, &mut stdout).expect("a writer"),
    };
    match opened.for_each(&mut |r| writer.repository(&r)) {
        Ok(()) => {}
        Err(ops::show::ShowError::Output(e)) => {
            return term.plan_written(Err(e)).map(|()| exit::SUCCESS);
        }
        Err(e) => return Err(term.fail(e)),
    }
    let finished = writer.finish(&outcome.plan);
    drop(writer);
    term.plan_written(finished.and_then(|()| stdout.flush()))?;
    Ok(exit::SUCCESS)
}

fn apply(term: &Term, args: &ApplyArgs) -> Result<u8, Reported> {
    let signals = signals::install();
    let (desired, source) = term.open(&args.planning)?;
    let desired = sharded(desired, &args.sharding);
    let request = ApplyRequest {
        saved_plan: args.plan.clone(),
        now: args.planning.now,
        allow_empty: args.planning.allow_empty,
        allow_unrestorable: args.allow_unrestorable,
        wait: args.wait.then_some(ops::apply::WaitSettings {
            timeout: args.wait_timeout,
            interval: ops::apply::WAIT_INTERVAL,
        }),
    };
    let prepared = term.check(ops::apply::prepare(&source, &desired, &request))?;
    // The plan, for the person (or the CI log) that approves it.
    term.print_plan(prepared.plan(), Format::Human, args.format)?;
    term.github_plan(prepared.plan(), false);
    if args.planning.fail_on_lifecycle_conflict
        && let Some(e) = ops::plan::lifecycle_conflicts(prepared.plan())
    {
        return Err(term.fail(e));
    }
    let guards = Guards {
        max_delete: args.max_delete,
        max_delete_bytes: args.max_delete_bytes,
        auto_approve: args.auto_approve,
        interactive: term::interactive(),
    };
    let gate = term.check(prepared.gate(&guards))?;
    if gate == Gate::NothingToDo {
        let _ = writeln!(term.stdout(), "Nothing to apply.");
        return Ok(exit::SUCCESS);
    }
    snapshot_notice(&args.planning.source, &source);
    if gate == Gate::Confirm && !term.confirm()? {
        return Err(term.fail(ApplyError::Cancelled));
    }
    let journal = args
        .journal
        .clone()
        .unwrap_or_else(|| ops::apply::default_journal(chrono::Utc::now()));
    signals.sending(&journal, false);
    let progress = term::Progress::new(prepared.removals());
    let outcome = prepared.execute_cancellable(Some(&journal), &progress, signals.cancel());
    progress.finish();
    // Held until the process ends: the grace timer never cuts the report short.
    std::mem::forget(signals.reporting());
    let outcome = term.check(outcome)?;
    term.report(&outcome, args.format, render::apply_report)?;
    snapshot_written(&source);
    if let Some(signal) = signals.cancel().signal() {
        eprintln!(
            "Cancelled: {} removals made, {} not started. {}",
            outcome.report.removed,
            outcome.report.not_started,
            signals::after_cancel(&outcome.journal, false)
        );
        return Ok(exit::of_signal(signal));
    }
    Ok(if outcome.report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

/// Before an offline apply or restore changes anything: which file it rewrites.
fn snapshot_notice(args: &args::SourceArgs, source: &Source) {
    if let Some(target) = source.snapshot_target() {
        if args.snapshot_out.is_some() {
            eprintln!(
                "Offline: the changes are written to {}; the snapshot read stays as it is.",
                target.display()
            );
        } else {
            eprintln!(
                "Offline: the snapshot file {} is rewritten in place with the changes (--snapshot-out FILE writes them to another file).",
                target.display()
            );
        }
    }
}

/// After an offline apply or restore: the file that now holds the registry.
fn snapshot_written(source: &Source) {
    if let Some(target) = source.snapshot_target() {
        eprintln!("Snapshot written: {}.", target.display());
    }
}

fn restore(term: &Term, args: &RestoreArgs) -> Result<u8, Reported> {
    let signals = signals::install();
    let source = term.check(Source::open(&args.source.spec()))?;
    let request = RestoreRequest {
        journal: args.journal.clone(),
        repositories: args.repositories.clone(),
    };
    let prepared = term.check(ops::restore::prepare(&source, &request))?;
    if prepared.truncated_tail() {
        eprintln!(
            "warning: the last line of {} was cut short (a crash while it was written); the removal it announced was never requested",
            args.journal.display()
        );
    }
    let shown = args.journal.display().to_string();
    let printed = match args.format {
        ReportFormat::Human => render::restore_plan(prepared.plan(), &shown, &mut term.stdout()),
        ReportFormat::Json => render::restore_plan(prepared.plan(), &shown, &mut term.stderr()),
    };
    term.written(printed, "cannot write the plan")?;
    let gate = term.check(prepared.gate(args.auto_approve, term::interactive()))?;
    let changes = prepared.plan().has_work();
    if changes {
        snapshot_notice(&args.source, &source);
    }
    if gate == Gate::Confirm && !term.confirm()? {
        return Err(term.fail(RestoreError::Cancelled));
    }
    signals.sending(&args.journal, true);
    let outcome = prepared.execute_cancellable(signals.cancel());
    // Held until the process ends: the grace timer never cuts the report short.
    std::mem::forget(signals.reporting());
    let outcome = term.check(outcome)?;
    term.report(&outcome, args.format, |o, out| {
        render::restore_report(&o.report, o.record.as_deref(), out)
    })?;
    if changes {
        snapshot_written(&source);
    }
    if let Some(signal) = signals.cancel().signal() {
        eprintln!(
            "Cancelled: {} tags put back, {} images pushed again, {} pushes not started. {}",
            outcome.report.tags_restored,
            outcome.report.images_recreated,
            outcome.report.not_started,
            signals::after_cancel(&args.journal.display().to_string(), true)
        );
        return Ok(exit::of_signal(signal));
    }
    Ok(if outcome.report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn import(term: &Term, args: &ImportArgs) -> Result<u8, Reported> {
    let account = match &args.account {
        Some(a) => Some(
            term.check(
                ecr_reconcile::model::AccountId::parse(a.clone())
                    .map_err(|e| term::Usage(format!("--account: {e}"))),
            )?,
        ),
        None => None,
    };
    let public = match &args.public {
        Some(a) => Some(
            term.check(
                ecr_reconcile::model::PublicAlias::parse(a.clone())
                    .map_err(|e| term::Usage(format!("--public: {e}"))),
            )?,
        ),
        None => None,
    };
    let source = term.check(Source::open(&args.source.spec()))?;
    let request = ops::import::ImportRequest {
        patterns: args.patterns.clone(),
        style: args.style,
        account,
        public,
        keep_versions: args.keep_versions,
        keep_builds: args.keep_builds,
        build_max_age: args.build_max_age.clone(),
        schema: args.schema.clone(),
        now: args.now,
    };
    let outcome = term.check(ops::import::import(&source, &request))?;
    match &args.out {
        Some(path) => term.written(
            ecr_reconcile::files::write_atomically(path, |w| w.write_all(outcome.yaml.as_bytes())),
            "cannot write the imported desired state",
        )?,
        None => term.written(
            std::io::stdout().write_all(outcome.yaml.as_bytes()),
            "cannot write the imported desired state",
        )?,
    }
    let _ = write!(term.stderr(), "{}", render::imported(&outcome));
    Ok(exit::SUCCESS)
}

fn snapshot(term: &Term, args: &SnapshotArgs) -> Result<u8, Reported> {
    let desired = term.load_config(&args.files)?;
    let mut spec = args.source.spec();
    spec.roles = desired.roles.clone();
    let source = term.check(Source::open(&spec))?;
    let (snap, warnings) = term.check(ops::snapshot::snapshot(&source, &desired))?;
    term.written(
        render::warnings(&warnings, &mut term.stderr()),
        "cannot write the warnings",
    )?;
    term.written(
        render::json(&snap, &mut std::io::stdout().lock()),
        "cannot write the snapshot",
    )?;
    Ok(exit::SUCCESS)
}
