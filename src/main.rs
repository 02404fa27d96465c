//! The `ecr-reconcile` binary.

fn main() -> std::process::ExitCode {
    ecr_reconcile::cli::run()
}
