//! The `ecr-reconcile` binary: parses arguments, calls an operation
//! ([`ecr_reconcile::ops`]), prints the outcome and maps it to an exit code
//! ([`ecr_reconcile::exit`]).

mod args;
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

use args::{ApplyArgs, Cli, Command, PlanArgs, RestoreArgs, SnapshotArgs, ValidateArgs};
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
        Command::Validate(args) => validate(&term, args),
        Command::Show(args) => term
            .check(ops::verify::read_saved_plan(&args.file))
            .and_then(|plan| term.print_plan(&plan, args.format, ReportFormat::Human))
            .map(|()| exit::SUCCESS),
        Command::Schema(args) => {
            print!("{}", schema::json(args.kind));
            Ok(exit::SUCCESS)
        }
    };
    ExitCode::from(code.unwrap_or(exit::ERROR))
}

fn validate(term: &Term, args: &ValidateArgs) -> Result<u8, Reported> {
    let state = term.load_config(&args.paths)?;
    let _ = writeln!(term.stdout(), "{}", render::validated(&state));
    Ok(exit::SUCCESS)
}

fn plan(term: &Term, args: &PlanArgs) -> Result<u8, Reported> {
    let (desired, source) = term.open(&args.planning)?;
    let request = PlanRequest {
        now: args.planning.now,
        allow_empty: args.planning.allow_empty,
        out: args.out.clone(),
    };
    let plan = term.check(ops::plan::plan(&source, &desired, &request))?;
    term.print_plan(&plan, args.format, ReportFormat::Human)?;
    // A repository that could not be read is an error, after the plan of the others.
    let code = if let Some(e) = ops::plan::unreadable(&plan) {
        let _ = term.fail(e);
        exit::ERROR
    } else if args.detailed_exitcode && plan.has_changes() {
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

fn apply(term: &Term, args: &ApplyArgs) -> Result<u8, Reported> {
    let (desired, source) = term.open(&args.planning)?;
    let request = ApplyRequest {
        saved_plan: args.plan.clone(),
        now: args.planning.now,
        allow_empty: args.planning.allow_empty,
        allow_unrestorable: args.allow_unrestorable,
    };
    let prepared = term.check(ops::apply::prepare(&source, &desired, &request))?;
    // The plan, for the person (or the CI log) that approves it.
    term.print_plan(prepared.plan(), Format::Human, args.format)?;
    let guards = Guards {
        max_delete: args.max_delete,
        auto_approve: args.auto_approve,
        interactive: term::interactive(),
    };
    match term.check(prepared.gate(&guards))? {
        Gate::NothingToDo => {
            let _ = writeln!(term.stdout(), "Nothing to apply.");
            return Ok(exit::SUCCESS);
        }
        Gate::Confirm if !term.confirm()? => return Err(term.fail(ApplyError::Cancelled)),
        Gate::Confirm | Gate::Proceed => {}
    }
    let progress = term::Progress::new(prepared.removals());
    let outcome = prepared.execute(args.journal.as_deref(), &progress);
    progress.finish();
    let outcome = term.check(outcome)?;
    term.report(&outcome, args.format, render::apply_report)?;
    Ok(if outcome.report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn restore(term: &Term, args: &RestoreArgs) -> Result<u8, Reported> {
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
    match term.check(prepared.gate(args.auto_approve, term::interactive()))? {
        Gate::Confirm if !term.confirm()? => return Err(term.fail(RestoreError::Cancelled)),
        _ => {}
    }
    let outcome = term.check(prepared.execute())?;
    term.report(&outcome, args.format, |o, out| {
        render::restore_report(&o.report, out)
    })?;
    Ok(if outcome.report.succeeded() {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn snapshot(term: &Term, args: &SnapshotArgs) -> Result<u8, Reported> {
    let desired = term.load_config(&args.paths)?;
    let source = term.check(Source::open(&args.source.spec()))?;
    let snap = term.check(ops::snapshot::snapshot(&source, &desired))?;
    term.written(
        render::json(&snap, &mut std::io::stdout().lock()),
        "cannot write the snapshot",
    )?;
    Ok(exit::SUCCESS)
}
