//! Manifest reads from ECR Public's registry over the OCI distribution API: ECR Public
//! has no BatchGetImage, so a manifest (the children of an index, the journal's copy
//! of what is removed) is read with `GET /v2/ALIAS/NAME/manifests/REFERENCE`, with a
//! pull token from `GET /token`.
//!
//! The HTTP client is hyper's, with the rustls connector the AWS SDK already builds:
//! no second TLS stack. Each request is retried like the SDK's standard mode does
//! (throttling, server errors, broken connections; exponential backoff with jitter),
//! one token is kept per repository, and every manifest's bytes are checked against
//! the digest asked for (or the one the registry names).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{RegistryError, ServiceCode, Unreachable};
use crate::model::{Digest, PublicAlias, RepositoryName, media_type};

/// ECR Public's registry, the default of `--public-registry-url`.
pub const DEFAULT_PUBLIC_REGISTRY_URL: &str = "https://public.ecr.aws";

/// The largest manifest read: the OCI distribution specification lets registries
/// refuse manifests over 4 MiB, and no ECR manifest is larger.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A manifest as the registry served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Its digest: sha256 of the bytes, checked.
    pub digest: Digest,
    /// Its media type (`Content-Type`, else the manifest's own `mediaType`).
    pub media_type: String,
    /// The bytes, as text.
    pub text: String,
}

/// What the client does and sees, for the counters of its owner.
pub trait OciEvents: Send + Sync {
    /// A manifest GET is about to be made (once per manifest, retries aside).
    fn manifest_get(&self);
    /// A token GET is about to be made.
    fn token_get(&self);
    /// An attempt starts (the first and every retry).
    fn attempt(&self);
    /// An answer was throttling (HTTP 429).
    fn throttled(&self);
    /// An answer was a server error (HTTP 5xx).
    fn server_error(&self);
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client of one registry's OCI distribution API.
pub struct OciClient {
    base: String,
    http: Result<Client<Https, Empty<Bytes>>, String>,
    tokens: Mutex<HashMap<String, String>>,
    /// Held while a token is asked for: manifest reads in flight at once for one
    /// repository wait for the first one's token instead of each asking.
    asking: tokio::sync::Mutex<()>,
    max_attempts: u32,
    attempt_timeout: Duration,
}

impl std::fmt::Debug for OciClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// An attempt's result: an answer, or a failure worth another attempt.
enum Attempt {
    Answer(StatusCode, http::HeaderMap, Bytes),
    Retry(RegistryError),
    Fatal(RegistryError),
}

impl OciClient {
    /// A client of the registry at `base_url` (`https://public.ecr.aws`, or `http://`
    /// for a local test server); an error when it is not an http(s) URL.
    pub fn new(
        base_url: &str,
        max_attempts: u32,
        attempt_timeout: Duration,
    ) -> Result<Self, String> {
        let base = base_url.trim_end_matches('/').to_owned();
        let host = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', ' '])) {
            return Err(format!(
                "`{base_url}` is not the http(s) URL of a registry (such as https://public.ecr.aws)"
            ));
        }
        // Without root certificates, only the reads fail (as the SDK's calls would):
        // a run that reads no ECR Public manifest is not stopped by it.
        let http = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map(|b| {
                let connector = b.https_or_http().enable_http1().build();
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(connector)
            })
            .map_err(|e| format!("no TLS root certificates: {e}"));
        Ok(Self {
            base,
            http,
            tokens: Mutex::new(HashMap::new()),
            asking: tokio::sync::Mutex::new(()),
            max_attempts: max_attempts.max(1),
            attempt_timeout,
        })
    }

    /// The manifest of `reference` (a tag or a digest) in `ALIAS/NAME`; `None` when
    /// the registry has no such manifest (HTTP 404). `basic`: the credentials of an
    /// authenticated pull (GetAuthorizationToken's `authorizationToken`, which is
    /// `AWS:PASSWORD` in base64) for the token request; none: an anonymous pull.
    pub async fn manifest(
        &self,
        alias: &PublicAlias,
        name: &RepositoryName,
        reference: &str,
        basic: Option<&str>,
        events: &dyn OciEvents,
    ) -> Result<Option<Manifest>, RegistryError> {
        let path = format!("{alias}/{name}");
        let url = format!("{}/v2/{path}/manifests/{reference}", self.base);
        let mut refreshed = false;
        loop {
            let token = self.token(&path, basic, events).await?;
            events.manifest_get();
            let bearer = format!("Bearer {token}");
            let (status, headers, body) = self.get(&url, Some(&bearer), true, events).await?;
            match status {
                StatusCode::OK => {
                    return checked(reference, &headers, body).map(Some);
                }
                StatusCode::NOT_FOUND => return Ok(None),
                // An expired token: one new token, once.
                StatusCode::UNAUTHORIZED if !refreshed => {
                    refreshed = true;
                    self.tokens
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&path);
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(RegistryError::service(
                        ServiceCode::AccessDeniedException,
                        format!(
                            "the public registry refused to serve {path}:{reference} (HTTP {status})"
                        ),
                    ));
                }
                _ => {
                    return Err(RegistryError::Surprising(format!(
                        "the public registry answered HTTP {status} for {path}:{reference}"
                    )));
                }
            }
        }
    }

    /// The pull token of `path` (`ALIAS/NAME`), asked for once and kept.
    async fn token(
        &self,
        path: &str,
        basic: Option<&str>,
        events: &dyn OciEvents,
    ) -> Result<String, RegistryError> {
        let known = || {
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(path)
                .cloned()
        };
        if let Some(t) = known() {
            return Ok(t);
        }
        let _asking = self.asking.lock().await;
        // Another read may have got it while this one waited.
        if let Some(t) = known() {
            return Ok(t);
        }
        events.token_get();
        let url = format!(
            "{}/token?service={}&scope=repository:{path}:pull",
            self.base,
            crate::model::PUBLIC_REGISTRY_HOST
        );
        let authorization = basic.map(|b| format!("Basic {b}"));
        let (status, _, body) = self
            .get(&url, authorization.as_deref(), false, events)
            .await?;
        if status != StatusCode::OK {
            return Err(RegistryError::service(
                ServiceCode::AccessDeniedException,
                format!("the public registry gave no pull token for {path} (HTTP {status})"),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(alias = "access_token")]
            token: String,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Surprising(format!("the public registry's token answer: {e}"))
        })?;
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), answer.token.clone());
        Ok(answer.token)
    }

    /// A GET, retried on throttling, server errors, timeouts and broken connections;
    /// `authorization` is the header's value.
    async fn get(
        &self,
        url: &str,
        authorization: Option<&str>,
        manifest: bool,
        events: &dyn OciEvents,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), RegistryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            events.attempt();
            let failed = match self.attempt(url, authorization, manifest).await {
                Attempt::Answer(status, headers, body) => {
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        events.throttled();
                    } else if status.is_server_error() {
                        events.server_error();
                    } else {
                        return Ok((status, headers, body));
                    }
                    RegistryError::service(
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            ServiceCode::ThrottlingException
                        } else {
                            ServiceCode::ServerException
                        },
                        format!("the public registry answered HTTP {status}"),
                    )
                }
                Attempt::Retry(e) => e,
                Attempt::Fatal(e) => return Err(e),
            };
            if attempt >= self.max_attempts {
                return Err(failed);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    async fn attempt(&self, url: &str, authorization: Option<&str>, manifest: bool) -> Attempt {
        let mut request = Request::get(url).header(
            header::USER_AGENT,
            concat!("ecr-reconcile/", env!("CARGO_PKG_VERSION")),
        );
        if manifest {
            request = request.header(header::ACCEPT, media_type::ALL.join(", "));
        }
        if let Some(a) = authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        let request = match request.body(Empty::new()) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Fatal(RegistryError::Unreachable(Unreachable::Other(
                    e.to_string(),
                )));
            }
        };
        let http = match &self.http {
            Ok(h) => h,
            Err(e) => {
                return Attempt::Fatal(RegistryError::Unreachable(Unreachable::Connect(e.clone())));
            }
        };
        let exchange = async {
            let response = http.request(request).await.map_err(|e| {
                let mut source: &dyn std::error::Error = &e;
                while let Some(next) = source.source() {
                    source = next;
                }
                RegistryError::Unreachable(Unreachable::Connect(format!(
                    "the public registry: {source}"
                )))
            })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_MANIFEST_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    RegistryError::Surprising(format!("the public registry's answer: {e}"))
                })?
                .to_bytes();
            Ok::<_, RegistryError>((parts.status, parts.headers, body))
        };
        match tokio::time::timeout(self.attempt_timeout, exchange).await {
            Ok(Ok((status, headers, body))) => Attempt::Answer(status, headers, body),
            // A host name that does not exist stays so.
            Ok(Err(e @ RegistryError::Unreachable(Unreachable::Connect(_))))
                if crate::aws::is_unknown_host(&e.to_string()) =>
            {
                Attempt::Fatal(e)
            }
            // A broken connection or a body cut short: worth another attempt.
            Ok(Err(e)) => Attempt::Retry(e),
            Err(_) => Attempt::Retry(RegistryError::Unreachable(Unreachable::Timeout)),
        }
    }
}

/// The SDK's standard backoff: up to 2^attempt × 50 ms (at most 20 s), jittered.
fn backoff(attempt: u32) -> Duration {
    let ceiling = (50u64 << attempt.min(9)).min(20_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(ceiling / 2 + nanos % (ceiling / 2 + 1))
}

/// The manifest of an answer, its bytes checked: they hash to the digest asked for
/// (when a digest was asked for) and to the one the registry names
/// (`Docker-Content-Digest`), and are UTF-8 text.
fn checked(
    reference: &str,
    headers: &http::HeaderMap,
    body: Bytes,
) -> Result<Manifest, RegistryError> {
    let computed = crate::hash::sha256(&body);
    let named = headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    for expected in [Some(reference), named].into_iter().flatten() {
        if Digest::parse(expected).is_ok() && expected != computed {
            return Err(RegistryError::Surprising(format!(
                "the public registry served a manifest whose digest is {computed}, not {expected}"
            )));
        }
    }
    let digest = Digest::parse(computed).map_err(|e| RegistryError::Surprising(e.to_string()))?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        RegistryError::Surprising(format!("the manifest {digest} is not UTF-8 text"))
    })?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| media_type::ALL.contains(&v.as_str()))
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()?
                .get("mediaType")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
    Ok(Manifest {
        digest,
        media_type,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_must_hash_to_the_digest_asked_for_and_the_one_named() {
        let body = Bytes::from_static(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#);
        let digest = crate::hash::sha256(&body);
        let mut headers = http::HeaderMap::new();
        let m = checked(&digest, &headers, body.clone()).unwrap();
        assert_eq!(m.digest.as_str(), digest);
        assert_eq!(m.media_type, media_type::OCI_INDEX);
        let other = format!("sha256:{}", "0".repeat(64));
        assert!(checked(&other, &headers, body.clone()).is_err());
        headers.insert("docker-content-digest", other.parse().unwrap());
        assert!(checked("v1", &headers, body.clone()).is_err());
        headers.insert("docker-content-digest", digest.parse().unwrap());
        headers.insert(header::CONTENT_TYPE, media_type::OCI_INDEX.parse().unwrap());
        assert_eq!(
            checked("v1", &headers, body).unwrap().digest.as_str(),
            digest
        );
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) <= Duration::from_millis(100));
        assert!(backoff(30) <= Duration::from_secs(20));
        assert!(backoff(30) >= Duration::from_secs(10));
    }
}
