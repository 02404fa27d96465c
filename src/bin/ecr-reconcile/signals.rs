//! SIGINT and SIGTERM during `apply` and `restore` (GitHub Actions sends SIGINT, then
//! SIGTERM 7.5 s later, then kills). Before anything is sent, a signal ends the run at
//! once: nothing was removed or restored. Once removals (or restores) have begun, the
//! first signal sets the run's [`Cancel`] flag: nothing new is sent, the requests in
//! flight are answered, checked and journalled, and the report is printed; the run
//! then exits 130 (SIGINT) or 143 (SIGTERM). The answers are waited for at most
//! [`GRACE`]; a second signal exits at once. The journal is written and flushed
//! before each request, so it is complete whenever the process ends.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ecr_reconcile::exit;
use ecr_reconcile::ops::cancel::Cancel;

/// How long a cancelled run waits for the answers of the requests in flight.
pub const GRACE: Duration = Duration::from_secs(10);

/// What the signal thread shares with the command that runs.
pub struct Signals {
    cancel: Cancel,
    /// What the run is doing once it sends changes: the journal and its verb, for the
    /// messages (none: nothing is sent yet, a signal ends the run at once).
    sending: Mutex<Option<Sending>>,
    /// Held while the report is printed: the grace timer does not cut it short.
    reporting: Mutex<()>,
    signalled: AtomicBool,
}

#[derive(Clone)]
struct Sending {
    journal: String,
    restore: bool,
}

static SIGNALS: OnceLock<Signals> = OnceLock::new();

fn name(signal: i32) -> &'static str {
    match signal {
        15 => "SIGTERM",
        _ => "SIGINT",
    }
}

/// Listens for SIGINT and SIGTERM from now on (once per process): the handlers are in
/// place when this returns.
pub fn install() -> &'static Signals {
    SIGNALS.get_or_init(|| {
        listen();
        Signals {
            cancel: Cancel::new(),
            sending: Mutex::new(None),
            reporting: Mutex::new(()),
            signalled: AtomicBool::new(false),
        }
    })
}

fn listen() {
    use futures_util::future::{Either, select};
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let streams = {
        let _inside = runtime.enter();
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    let (Ok(mut int), Ok(mut term)) = streams else {
        return;
    };
    std::thread::spawn(move || {
        runtime.block_on(async {
            loop {
                let number = match select(Box::pin(int.recv()), Box::pin(term.recv())).await {
                    Either::Left(_) => 2,
                    Either::Right(_) => 15,
                };
                // The first signal may come before `install` has returned.
                let signals = loop {
                    if let Some(s) = SIGNALS.get() {
                        break s;
                    }
                    std::thread::yield_now();
                };
                signals.on_signal(number);
            }
        });
    });
}

impl Signals {
    /// The run's cancellation flag.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// From now on the run sends changes journalled to `journal`: a signal stops it
    /// gracefully.
    pub fn sending(&self, journal: &Path, restore: bool) {
        let mut s = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        *s = Some(Sending {
            journal: journal.display().to_string(),
            restore,
        });
    }

    /// Held while the report is printed (the caller keeps it until the process ends).
    pub fn reporting(&self) -> std::sync::MutexGuard<'_, ()> {
        self.reporting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_signal(&'static self, number: i32) {
        let sending = self
            .sending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut err = std::io::stderr().lock();
        let Some(sending) = sending else {
            let _ = writeln!(
                err,
                "\n{}: stopped before anything was sent: nothing was changed.",
                name(number)
            );
            std::process::exit(exit::of_signal(number).into());
        };
        if self.signalled.swap(true, Ordering::SeqCst) {
            let _ = writeln!(err, "\n{}: exiting now. {}", name(number), after(&sending));
            std::process::exit(exit::of_signal(number).into());
        }
        self.cancel.cancel(number);
        let _ = writeln!(
            err,
            "\n{}: stopping: nothing new is sent; waiting up to {} s for the answers of the requests in flight, then the report (a second signal exits at once).",
            name(number),
            GRACE.as_secs()
        );
        drop(err);
        std::thread::spawn(move || {
            std::thread::sleep(GRACE);
            let _report = self.reporting();
            let _ = writeln!(
                std::io::stderr(),
                "{}: no answer within {} s; exiting without the report. {}",
                name(number),
                GRACE.as_secs(),
                after(&sending)
            );
            std::process::exit(exit::of_signal(number).into());
        });
    }
}

/// What to do after a cancelled run: where its journal is, and the commands.
pub fn after_cancel(journal: &str, restore: bool) -> String {
    after(&Sending {
        journal: journal.to_owned(),
        restore,
    })
}

fn after(s: &Sending) -> String {
    if s.restore {
        format!(
            "The journal {} is unchanged; run `ecr-reconcile restore {}` again to finish the restore.",
            s.journal, s.journal
        )
    } else {
        format!(
            "The journal {} lists every removal sent: `ecr-reconcile restore {}` puts them back; applying again finishes the job.",
            s.journal, s.journal
        )
    }
}
