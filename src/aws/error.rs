//! An SDK call's failure in two kinds, "the service said no" and "we could not ask",
//! before each backend puts it in its own terms.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{Unreachable, innermost};

/// Why an SDK call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The service answered with an error.
    Service {
        /// Its code (`Unknown` when it gave none).
        code: String,
        /// Its message (empty when it gave none).
        message: String,
    },
    /// The answer could not be read.
    Surprising(String),
    /// No answer: credentials, connection, timeout.
    Unreachable(Unreachable),
}

/// Puts an SDK error in one of the kinds of [`CallError`].
pub fn classify<E, R>(err: SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            CallError::Service {
                code: e.code().unwrap_or("Unknown").to_owned(),
                message: e.message().unwrap_or("").to_owned(),
            }
        }
        SdkError::ResponseError(_) => CallError::Surprising(innermost(&err)),
        _ => {
            tracing::debug!(error = %DisplayErrorContext(&err), "request failed");
            CallError::Unreachable(unreachable(&err))
        }
    }
}

/// Why a request that got no answer failed, typed: missing or broken credentials, a
/// failed connection, a timeout.
fn unreachable<E, R>(err: &SdkError<E, R>) -> Unreachable
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return match c {
                CredentialsError::CredentialsNotLoaded(_) => Unreachable::NoCredentials,
                _ => Unreachable::Credentials(innermost(c)),
            };
        }
        source = e.source();
    }
    match err {
        SdkError::TimeoutError(_) => Unreachable::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => Unreachable::Timeout,
        SdkError::DispatchFailure(d) if d.is_io() => Unreachable::Connect(innermost(err)),
        _ => Unreachable::Other(innermost(err)),
    }
}
