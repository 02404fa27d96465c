//! A loopback Amazon ECR Public for end-to-end tests (moto has none). One free port
//! serves both halves of the real service:
//!
//! - the ECR Public API (`api.ecr-public.<region>.amazonaws.com`): AWS JSON 1.1,
//!   `POST /` with `X-Amz-Target: SpencerFrontendService.<Operation>`; any SigV4
//!   signature is accepted, an unsigned request is not. Modelled: DescribeRegistries,
//!   DescribeRepositories, CreateRepository, DescribeImages, DescribeImageTags,
//!   BatchDeleteImage, PutImage, GetAuthorizationToken; anything else is an
//!   `UnknownOperationException`;
//! - the read side of the OCI distribution API (`public.ecr.aws`): bearer tokens from
//!   `GET /token`, and `GET`/`HEAD /v2/ALIAS/NAME/manifests/<digest|tag>`.
//!
//! The registry follows the ECR Public API reference: pages of at most 1000, 1 to 100
//! image ids per request, per-image failures of BatchDeleteImage with the codes of
//! private ECR, removal of an image's last tag deleting the image, children of an
//! index that cannot be deleted while it exists, mutable tags. Layers are not
//! modelled (PutImage does not ask for them), nor catalog data, policies or
//! resource tags.
//!
//! Every request is counted by operation ([`EcrPublic::calls`]), and any operation
//! can be made to fail ([`EcrPublic::fail_next`]).

mod api;
mod model;
mod oci;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

/// The SDK the tests drive this server with, for crates that do not depend on it.
pub use aws_sdk_ecrpublic as sdk;

use crate::moto::{image_manifest, sha256};
use model::{ApiError, OCI_INDEX, Registry};

/// The account [`EcrPublic::start`] answers for.
pub const ACCOUNT: &str = "123456789012";
/// The registry alias [`EcrPublic::start`] has (`public.ecr.aws/ALIAS/NAME`).
pub const ALIAS: &str = "reconcile-test";
/// The region ECR Public's API lives in (and `us-west-2`).
pub const REGION: &str = "us-east-1";
/// The `X-Amz-Target` prefix of ECR Public's operations.
pub const TARGET_PREFIX: &str = "SpencerFrontendService";
/// The `service` of the distribution API's tokens.
pub const SERVICE: &str = "public.ecr.aws";

/// Everything the requests change, behind one lock.
#[derive(Debug, Default)]
struct State {
    registry: Registry,
    /// Operation -> requests answered.
    calls: BTreeMap<String, usize>,
    /// Operation -> the error codes its next requests get, in order.
    faults: HashMap<String, VecDeque<String>>,
    /// Bearer token -> the repositories (`ALIAS/NAME`) it may pull.
    tokens: HashMap<String, BTreeSet<String>>,
    /// Passwords of `AWS` from GetAuthorizationToken.
    passwords: BTreeSet<String>,
    /// Tokens and passwords issued, to make each one new.
    issued: u64,
}

impl State {
    fn count(&mut self, operation: &str) {
        *self.calls.entry(operation.to_owned()).or_default() += 1;
    }

    fn take_fault(&mut self, operation: &str) -> Option<String> {
        self.faults.get_mut(operation)?.pop_front()
    }
}

struct Shared {
    account: String,
    alias: String,
    /// `127.0.0.1:PORT`.
    host: String,
    state: Mutex<State>,
}

/// A running ECR Public, stopped on drop.
pub struct EcrPublic {
    url: String,
    shared: Arc<Shared>,
    _server: crate::serve::Loopback,
}

impl EcrPublic {
    /// Starts a server for account [`ACCOUNT`] with registry alias [`ALIAS`].
    pub fn start() -> EcrPublic {
        EcrPublic::start_with(ACCOUNT, ALIAS)
    }

    /// Starts a server for `account` whose registry has the alias `alias`.
    pub fn start_with(account: &str, alias: &str) -> EcrPublic {
        let bound = crate::serve::bind();
        let host = bound.host.clone();
        let shared = Arc::new(Shared {
            account: account.to_owned(),
            alias: alias.to_owned(),
            host: host.clone(),
            state: Mutex::new(State::default()),
        });
        let state = shared.clone();
        let server = bound.serve("ECR Public server", move |req| {
            let state = state.clone();
            async move { handle(&state, req).await }
        });
        EcrPublic {
            url: format!("http://{host}"),
            shared,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`: the API endpoint (`AWS_ENDPOINT_URL_ECR_PUBLIC`) and
    /// the registry of the distribution API alike.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `127.0.0.1:PORT`, the registry host in image references
    /// (`HOST/ALIAS/NAME@DIGEST`) and in `registryUri`/`repositoryUri`.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// The account the registry belongs to.
    pub fn account(&self) -> &str {
        &self.shared.account
    }

    /// The registry's alias.
    pub fn alias(&self) -> &str {
        &self.shared.alias
    }

    /// A configuration of the SDK for this server: region [`REGION`], test
    /// credentials, and retries that back off for a millisecond (the standard mode's
    /// three attempts).
    pub fn sdk_config(&self) -> sdk::config::Builder {
        sdk::Config::builder()
            .behavior_version(sdk::config::BehaviorVersion::latest())
            .region(sdk::config::Region::new(REGION))
            .endpoint_url(self.url())
            .credentials_provider(sdk::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .retry_config(
                sdk::config::retry::RetryConfig::standard()
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// Creates a repository (it panics if there is one of that name).
    pub fn create_repository(&self, name: &str) {
        let account = self.shared.account.clone();
        self.state()
            .registry
            .create(name, &account)
            .unwrap_or_else(|e| panic!("create_repository {name}: {e:?}"));
    }

    /// The repositories, by name.
    pub fn repositories(&self) -> Vec<String> {
        self.state().registry.repos.keys().cloned().collect()
    }

    /// PutImage of `manifest` under `tag` (none: an untagged push), with the media
    /// type its `mediaType` declares, creating the repository if need be; returns the
    /// digest (sha256 of the bytes). It panics where PutImage fails (the tag already
    /// on this image, the children of an index missing).
    pub fn put(&self, repo: &str, manifest: &str, tag: Option<&str>) -> String {
        let account = self.shared.account.clone();
        let mut state = self.state();
        if !state.registry.repos.contains_key(repo) {
            state.registry.create(repo, &account).unwrap();
        }
        state
            .registry
            .put(repo, &account, manifest, None, tag, None)
            .unwrap_or_else(|e| panic!("put {repo} {tag:?}: {e:?}"))
            .digest
    }

    /// Pushes an image manifest (layers of its own per `seed`, as
    /// [`crate::moto::image_manifest`]) with `tags` (none: untagged); returns its digest.
    pub fn push_image(&self, repo: &str, seed: &str, tags: &[&str]) -> String {
        self.put_tagged(repo, &image_manifest(repo, seed), tags)
    }

    /// Pushes an OCI index of `children` (digests of images in `repo`; amd64, arm64,
    /// then other architectures) with `tags`; returns its digest.
    pub fn push_index(&self, repo: &str, children: &[&str], tags: &[&str]) -> String {
        let manifests: Vec<serde_json::Value> = {
            let state = self.state();
            let images = state.registry.repos.get(repo).map(|r| &r.images);
            children
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let child = images.and_then(|images| images.get(*c));
                    let architecture = ["amd64", "arm64"]
                        .get(i)
                        .map_or_else(|| format!("arch{i}"), |a| (*a).to_owned());
                    serde_json::json!({
                        "mediaType": child.map_or(model::OCI_MANIFEST, |c| c.media_type.as_str()),
                        "digest": c,
                        "size": child.map_or(0, |c| c.manifest.len()),
                        "platform": {"architecture": architecture, "os": "linux"}
                    })
                })
                .collect()
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests
        })
        .to_string();
        self.put_tagged(repo, &manifest, tags)
    }

    /// Pushes a cosign signature of `subject_digest` the way cosign stores it without
    /// OCI referrers: an image manifest tagged `sha256-<hex>.sig`; returns its digest.
    pub fn push_signature(&self, repo: &str, subject_digest: &str) -> String {
        let tag = format!("{}.sig", subject_digest.replacen(':', "-", 1));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": model::OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&format!("{repo}/{subject_digest}/signature-config")),
                "size": 233
            },
            "layers": [{
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": sha256(&format!("{repo}/{subject_digest}/signature")),
                "size": 250,
                "annotations": {
                    "dev.cosignproject.cosign/signature": "MEUCIQDtest"
                }
            }]
        })
        .to_string();
        self.put(repo, &manifest, Some(&tag))
    }

    /// Pushes an untagged OCI 1.1 referrer of `subject_digest` (an SBOM manifest with a
    /// `subject`), as `oras attach` does; returns its digest. ECR Public's
    /// DescribeImages reports no subject: only the manifest says it.
    pub fn push_referrer(&self, repo: &str, subject_digest: &str) -> String {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": model::OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                "size": 2
            },
            "layers": [{
                "mediaType": "application/spdx+json",
                "digest": sha256(&format!("{repo}/{subject_digest}/sbom")),
                "size": 1024
            }],
            "subject": {
                "mediaType": model::OCI_MANIFEST,
                "digest": subject_digest,
                "size": 512
            }
        })
        .to_string();
        self.put(repo, &manifest, None)
    }

    fn put_tagged(&self, repo: &str, manifest: &str, tags: &[&str]) -> String {
        match tags {
            [] => self.put(repo, manifest, None),
            tags => {
                let mut digest = String::new();
                for t in tags {
                    digest = self.put(repo, manifest, Some(t));
                }
                digest
            }
        }
    }

    /// Digest -> sorted tags of every image in `repo` (it panics if there is no such
    /// repository).
    pub fn images(&self, repo: &str) -> BTreeMap<String, Vec<String>> {
        let state = self.state();
        let r = state
            .registry
            .repo(repo, &self.shared.account)
            .unwrap_or_else(|e| panic!("images: {}", e.message));
        r.images.keys().map(|d| (d.clone(), r.tags_of(d))).collect()
    }

    /// Tag -> digest of every tag in `repo` (it panics if there is no such
    /// repository).
    pub fn tags(&self, repo: &str) -> BTreeMap<String, String> {
        let state = self.state();
        let r = state
            .registry
            .repo(repo, &self.shared.account)
            .unwrap_or_else(|e| panic!("tags: {}", e.message));
        r.tags
            .iter()
            .map(|(t, r)| (t.clone(), r.digest.clone()))
            .collect()
    }

    /// The manifest stored for `digest` in `repo`, byte for byte.
    pub fn manifest(&self, repo: &str, digest: &str) -> Option<String> {
        let state = self.state();
        let image = state.registry.repos.get(repo)?.images.get(digest)?;
        Some(image.manifest.clone())
    }

    /// Sets when the image `digest` of `repo` was pushed (for age rules); it panics
    /// if there is no such image.
    pub fn set_pushed_at(&self, repo: &str, digest: &str, at: DateTime<Utc>) {
        let mut state = self.state();
        let image = state
            .registry
            .repos
            .get_mut(repo)
            .and_then(|r| r.images.get_mut(digest))
            .unwrap_or_else(|| panic!("set_pushed_at: no image {digest} in {repo}"));
        image.pushed_at = at.timestamp_millis();
    }

    /// Operation -> requests, every request counted once whatever its answer: API
    /// operations by name (`DescribeImages`; a target of another service by the whole
    /// `X-Amz-Target`), the distribution API's as `GetToken`, `GetManifest` (GET and
    /// HEAD), `ApiVersionCheck` (`/v2/`) and `METHOD /path` for any other.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.state().calls.clone()
    }

    /// Forgets the counted requests.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// Empties the server as a fresh one would be: no repositories, requests,
    /// pending faults, tokens or passwords.
    pub fn reset(&self) {
        *self.state() = State::default();
    }

    /// Answers the next `times` requests of `operation` with the error `code` instead
    /// of carrying them out (queued after any faults already pending for it). An API
    /// operation gets `{"__type": code}` with HTTP 500 for `ServerException`, 503 for
    /// `ServiceUnavailableException`, 400 otherwise (`ThrottlingException` included,
    /// as AWS sends it). `GetManifest`, `GetToken` and `ApiVersionCheck` get the
    /// distribution API's error: `ThrottlingException` or `TOOMANYREQUESTS` is HTTP 429
    /// `TOOMANYREQUESTS`, `ServerException` is HTTP 500 `UNKNOWN`, other codes keep
    /// their name (HTTP 401 `UNAUTHORIZED`, 403 `DENIED`, 404 for the unknown ones,
    /// 400 else).
    pub fn fail_next(&self, operation: &str, code: &str, times: usize) {
        let mut state = self.state();
        let queue = state.faults.entry(operation.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(code.to_owned(), times));
    }
}

/// One request, of either API.
async fn handle(
    shared: &Shared,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(oci::error(400, "UNSUPPORTED", "unreadable request body"));
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(match target {
        Some(target) if parts.method == Method::POST => api_request(shared, &parts, &target, &body),
        _ => oci_request(shared, &parts),
    })
}

fn api_request(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    target: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|o| o.strip_prefix('.'));
    let mut state = shared.state.lock().unwrap();
    state.count(operation.unwrap_or(target));
    let Some(operation) = operation else {
        return api_error(&api::unknown_operation(target));
    };
    if let Some(code) = state.take_fault(operation) {
        return api_error(&ApiError::new(&code, "injected fault"));
    }
    let signed = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    if !signed {
        return api_error(&ApiError::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    }
    let body: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return api_error(&ApiError::new(
                "SerializationException",
                "the request body is not a JSON object",
            ));
        }
    };
    match api::dispatch(shared, &mut state, operation, &body) {
        Ok(v) => Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-requestid", request_id(&state))
            .body(Full::new(Bytes::from(v.to_string())))
            .unwrap(),
        Err(e) => api_error(&e),
    }
}

fn request_id(state: &State) -> String {
    let n: usize = state.calls.values().sum();
    format!("00000000-0000-0000-0000-{n:012}")
}

/// An error of the API, as AWS JSON 1.1 sends it.
fn api_error(e: &ApiError) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": e.code, "message": e.message}).to_string();
    Response::builder()
        .status(api::status_of(&e.code))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-errortype", &e.code)
        .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn oci_request(shared: &Shared, parts: &hyper::http::request::Parts) -> Response<Full<Bytes>> {
    let operation = oci::operation(&parts.method, parts.uri.path());
    let mut state = shared.state.lock().unwrap();
    state.count(&operation);
    if let Some(code) = state.take_fault(&operation) {
        return oci::fault(&code);
    }
    oci::handle(shared, &mut state, parts)
}
