//! The `snapshot` operation: the live state of the declared repositories, in the
//! snapshot format.

use super::Source;
use super::run::{self, RunError};
use crate::config::DesiredState;
use crate::plan::Warning;
use crate::registry::snapshot::Snapshot;

/// Reads the declared repositories; those that do not exist are left out, each with a
/// warning (`plan::repository-not-found`, at its declaration).
pub fn snapshot(
    source: &Source,
    desired: &DesiredState,
) -> Result<(Snapshot, Vec<Warning>), RunError> {
    let settings = source.settings(source.now(None), false);
    let taken = source.block_on(run::snapshot(&source.backend, desired, &settings))?;
    source.log_calls();
    Ok(taken)
}
