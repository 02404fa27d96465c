//! The operations: every decision between the parsed command line and the registry.
//! Each returns a typed outcome or a typed error (a [`miette::Diagnostic`]); none
//! prints. The binary parses arguments, calls one of these and renders the result.

pub mod apply;
pub mod cancel;
pub mod explain;
pub mod import;
pub mod in_use;
pub mod journal;
pub mod order;
pub mod pace;
pub mod plan;
pub mod pull_times;
pub mod registry_settings;
pub mod report;
pub mod restore;
pub mod restored;
pub mod run;
pub mod shard;
pub mod show;
pub mod snapshot;
pub mod source;
pub mod streamed;
pub mod test;
pub mod verify;

pub use source::{Source, SourceError, SourceSpec};

#[cfg(test)]
mod tests;
