//! The integration tests: one test binary, one module per area. Shared test support
//! (the moto harness, the fault-injecting proxy, the snapshot generators) is the
//! `testkit` crate (`testkit/`), which the benches use too; [`common`] hands it the
//! binary under test.
//!
//! Run one area with `cargo test --test integration <module>::`, e.g.
//! `cargo test --test integration render::`. Every test shares this process: none may
//! change its current directory or environment, and servers take their own ports.
//! Data lives beside this directory: `tests/fixtures/` (desired-state files),
//! `tests/cmd/` (trycmd cases); insta snapshots in `tests/integration/snapshots/`.

mod common;

mod accounts;
mod apply_protocol;
mod architecture;
mod archive;
mod budgets;
mod cli;
mod diagnostics;
mod docs;
mod e2e;
mod examples;
mod explain;
mod faults;
mod forecast;
mod hostile;
mod import;
mod in_use;
mod in_use_kubernetes;
mod in_use_live;
mod kube_server;
mod lifecycle;
mod messages;
mod parser_robustness;
mod policy_tests;
mod properties;
mod public;
mod public_server;
mod registry_settings;
mod render;
mod restore;
mod secrets;
mod shard;
mod storage;
mod streamed;
