//! What every AWS backend shares (private ECR, ECR Public, and the ECS and Lambda
//! readers): the SDK's errors put in two kinds ("the service said no", "we could not
//! ask"), the counting of attempts and throttling answers, the width of requests in
//! flight that throttling lowers, one client per region, and one helper that sends a
//! call and one that reads every page of a listing. No backend's own terms live here:
//! each maps [`CallError`] into its own error type.

#[cfg(feature = "aws")]
mod attempts;
pub mod budget;
#[cfg(feature = "aws")]
mod call;
pub mod clock;
#[cfg(feature = "aws")]
mod error;
#[cfg(feature = "aws")]
mod retry;
#[cfg(feature = "aws")]
pub mod session;
pub mod width;

#[cfg(feature = "aws")]
pub use attempts::{AttemptCounter, CountAttempts};
#[cfg(feature = "aws")]
pub use call::{Clients, all_pages, instant, sdk_region, send};
#[cfg(feature = "aws")]
pub use error::{CallError, classify};
#[cfg(feature = "aws")]
pub use retry::{NoRetryForUnknownHost, is_unknown_host};

/// Why a request got no answer from the service, in one line that says what to do.
/// The SDK's full error chain is logged at debug level (`-vv`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// No credential provider had credentials.
    #[error(
        "no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in CI, let the job assume a role"
    )]
    NoCredentials,
    /// A credential provider failed (an expired SSO session, a broken profile…).
    #[error(
        "the AWS credentials could not be loaded ({0}): check the profile (AWS_PROFILE, ~/.aws/config) or log in again (`aws sso login`)"
    )]
    Credentials(String),
    /// The connection failed (refused, DNS, TLS).
    #[error(
        "could not connect to the registry ({0}): check the network and any proxy, the region, and --endpoint-url if given"
    )]
    Connect(String),
    /// No answer in time.
    #[error("the registry did not answer in time: check the network and any proxy, then run again")]
    Timeout,
    /// A registry the snapshot file read instead of AWS does not hold.
    #[error(
        "the snapshot holds no registry {0}: check the file's account and region (or --region), or take a snapshot that includes it (`ecr-reconcile snapshot`)"
    )]
    NotInSnapshot(String),
    /// Anything else.
    #[error("could not reach the registry: {0}")]
    Other(String),
}

/// The message of the innermost cause of `err` (the SDK's outer layers say only
/// "dispatch failure" or "service error").
pub fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}
