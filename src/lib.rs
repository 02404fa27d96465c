//! ecr-reconcile: plan and apply Amazon ECR image-tag allow-lists kept in YAML files.
//!
//! The pipeline, one module per step: [`config`] (YAML to validated desired state) →
//! [`registry`] (observed state: AWS, snapshot file, in-memory model) → [`plan`] (a pure
//! function) → [`render`] (human, JSON, markdown) and [`apply`] (undone by [`restore`])
//! → `cli`.

pub mod apply;
#[cfg(feature = "aws")]
pub mod cli;
pub mod config;
pub mod exit;
pub mod model;
pub mod plan;
pub mod reconcile;
pub mod registry;
pub mod render;
pub mod restore;
pub mod text;
