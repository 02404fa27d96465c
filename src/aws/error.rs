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
            match (e.code(), e.message().unwrap_or("")) {
                // No AWS error at all: a proxy's or load balancer's page, garbage.
                (None, "") => CallError::Surprising(
                    answer_of(&err).unwrap_or_else(|| "an error answer without a code".into()),
                ),
                (code, message) => CallError::Service {
                    code: code.unwrap_or("Unknown").to_owned(),
                    message: message.to_owned(),
                },
            }
        }
        SdkError::ResponseError(_) => CallError::Surprising(match answer_of(&err) {
            Some(answer) => format!("{answer} ({})", innermost(&err)),
            None => innermost(&err),
        }),
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

/// What came back, when an answer cannot be read: its HTTP status, content type and
/// what the body is, in one line ("HTTP 502 (text/html): an HTML page: <html>...").
fn answer_of<E, R: 'static>(err: &SdkError<E, R>) -> Option<String> {
    let raw = err.raw_response()?;
    let raw =
        (raw as &dyn std::any::Any).downcast_ref::<aws_sdk_ecr::config::http::HttpResponse>()?;
    let content_type = raw
        .headers()
        .get("content-type")
        .unwrap_or("no content type");
    let body = raw.body().bytes().unwrap_or_default();
    Some(format!(
        "HTTP {} ({content_type}): {}",
        raw.status().as_u16(),
        describe_body(body)
    ))
}

/// A body that is not the answer expected, named for what it is, with its first bytes.
pub fn describe_body(body: &[u8]) -> String {
    const SHOWN: usize = 60;
    if body.is_empty() {
        return "an empty body".to_owned();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]);
    let start: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if body.len() > SHOWN { "..." } else { "" };
    let trimmed = text.trim_start().to_ascii_lowercase();
    let what = if trimmed.starts_with("<!doctype html") || trimmed.starts_with("<html") {
        "an HTML page".to_owned()
    } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Err(e) if e.is_eof() => format!("a JSON body cut at byte {}", body.len()),
            Err(e) => format!("a body that is not valid JSON ({e})"),
            Ok(_) => "a JSON body of another shape".to_owned(),
        }
    } else {
        format!("a body that is not JSON ({} bytes)", body.len())
    };
    format!("{what}: `{}{more}`", start.trim())
}

#[cfg(test)]
mod tests {
    use super::describe_body;

    #[test]
    fn garbage_is_named_for_what_it_is() {
        let html = describe_body(b"<html><head><title>502 Bad Gateway</title></head></html>");
        assert!(
            html.starts_with("an HTML page: `<html><head><title>502"),
            "{html}"
        );
        let cut = describe_body(b"{\"imageIds\": [{\"imageDi");
        assert!(
            cut.starts_with("a JSON body cut at byte 23: `{\"imageIds\""),
            "{cut}"
        );
        assert_eq!(describe_body(b""), "an empty body");
        let other = describe_body(&[b'x'; 100]);
        assert!(
            other.starts_with("a body that is not JSON (100 bytes): `xxx"),
            "{other}"
        );
        assert!(other.ends_with("...`"), "{other}");
        assert!(describe_body(b"{]").starts_with("a body that is not valid JSON"));
    }
}
