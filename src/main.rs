//! The `ecr-reconcile` binary.

// Planning allocates many small strings (tags, digests); mimalloc makes that markedly
// faster than the system allocator (see benches/plan_scale.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ecr_reconcile::cli::run()
}
