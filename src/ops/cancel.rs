//! Cancellation of an apply or a restore: a flag the binary sets when the process is
//! asked to stop (SIGINT, SIGTERM), and the protocols check before each request and
//! between waves. A cancelled run sends nothing new; requests already sent are
//! answered, checked and journalled as usual, and the report says what was not
//! started.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// The cancellation flag of one run (cloned handles share it).
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    /// The signal that asked the run to stop (0: none).
    signal: Arc<AtomicI32>,
}

impl Cancel {
    /// A run not cancelled (yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop, because of `signal` (its number, as in `kill -l`).
    pub fn cancel(&self, signal: i32) {
        let _ = self
            .signal
            .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The signal that asked the run to stop, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.signal().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_counts() {
        let c = Cancel::new();
        assert!(!c.is_cancelled());
        let handle = c.clone();
        handle.cancel(15);
        handle.cancel(2);
        assert_eq!(c.signal(), Some(15));
    }
}
