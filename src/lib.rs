//! ecr-reconcile: plan and apply Amazon ECR image-tag allow-lists kept in YAML files.
//!
//! The pipeline, one module per step: [`config`] (YAML to validated desired state) →
//! [`registry`] (observed state: AWS, snapshot file, in-memory model; beside it
//! [`in_use`] and [`deployed`], what runs and is referenced) → [`plan`] (a pure
//! function) → `ops`, the operations (plan, verify a saved plan, apply under the removal
//! protocol, restore from the journal, snapshot: every decision) → [`render`] (human,
//! JSON, markdown) → the binary, which parses arguments, calls an operation and
//! prints. Library code never prints. Below them all: leaf helpers (`model`, `text`,
//! `files`, `hash`, `exit`) and [`aws`], what every AWS backend shares.

// Output is the binary's: the library returns values and typed outcomes, and the
// binary (src/bin, a crate of its own, outside this lint) decides what to print where.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod aws;
pub mod config;
pub mod deployed;
pub mod exit;
pub mod files;
pub mod hash;
pub mod in_use;
pub mod model;
#[cfg(feature = "aws")]
pub mod ops;
pub mod plan;
pub mod registry;
pub mod render;
#[cfg(feature = "aws")]
pub mod schema;
pub mod text;
