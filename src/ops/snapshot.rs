//! The `snapshot` operation: the live state of the declared repositories, in the
//! snapshot format.

use super::Source;
use super::run::{self, RunError};
use crate::config::DesiredState;
use crate::registry::snapshot::Snapshot;

/// Reads the declared repositories (missing ones are left out, with a warning).
pub fn snapshot(source: &Source, desired: &DesiredState) -> Result<Snapshot, RunError> {
    let settings = source.settings(source.now(None), false);
    let snap = source.block_on(run::snapshot(&source.backend, desired, &settings))?;
    source.log_calls();
    Ok(snap)
}
