//! A name that does not resolve is not retried: DNS has answered that it does not
//! exist, and asking again after a backoff only makes a run with a mistyped region,
//! endpoint or proxy wait seconds for the same answer. A temporary DNS failure
//! ("Temporary failure in name resolution") is retried as usual.

use aws_sdk_ecr::config::interceptors::InterceptorContext;
use aws_sdk_ecr::config::retry::{ClassifyRetry, RetryAction};

use super::innermost;

/// How resolvers on Linux (glibc, musl), macOS and Windows say that a name does not
/// exist (EAI_NONAME, EAI_NODATA), as the error's innermost message.
const UNKNOWN_HOST: &[&str] = &[
    "Name or service not known",
    "No address associated with hostname",
    "nodename nor servname provided",
    "No such host is known",
    "Name does not resolve",
];

/// Whether `message` (an error's innermost message) says that a host name does not
/// exist.
pub fn is_unknown_host(message: &str) -> bool {
    UNKNOWN_HOST.iter().any(|s| message.contains(s))
}

/// The retry classifier every AWS client of the tool has: a connection that failed
/// because the host name does not exist is not retried.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRetryForUnknownHost;

impl ClassifyRetry for NoRetryForUnknownHost {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match error.as_connector_error() {
            Some(c) if c.is_io() && is_unknown_host(&innermost(c)) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "ecr-reconcile: no retry for a host name that does not exist"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecr::config::interceptors::InterceptorContext;
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    fn failed_with(error: ConnectorError) -> InterceptorContext {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        ctx.set_output_or_error(Err(OrchestratorError::connector(error)));
        ctx
    }

    fn io(message: &str) -> ConnectorError {
        ConnectorError::io(Box::new(std::io::Error::other(message.to_owned())))
    }

    #[test]
    fn a_name_that_does_not_exist_is_not_retried() {
        let ctx = failed_with(io(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(
            NoRetryForUnknownHost.classify_retry(&ctx),
            RetryAction::RetryForbidden
        );
    }

    #[test]
    fn a_temporary_dns_failure_or_a_refused_connection_is_left_to_the_retry_policy() {
        for message in [
            "failed to lookup address information: Temporary failure in name resolution",
            "Connection refused (os error 111)",
        ] {
            let ctx = failed_with(io(message));
            assert_eq!(
                NoRetryForUnknownHost.classify_retry(&ctx),
                RetryAction::NoActionIndicated,
                "{message}"
            );
        }
        let timeout = failed_with(ConnectorError::timeout("connect timed out".into()));
        assert_eq!(
            NoRetryForUnknownHost.classify_retry(&timeout),
            RetryAction::NoActionIndicated
        );
    }
}
