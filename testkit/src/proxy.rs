//! A fault-injecting HTTP proxy for end-to-end tests: it stands between the binary
//! and moto on a free loopback port and can answer a chosen fraction of requests with
//! ECR throttling (HTTP 400, `ThrottlingException`), HTTP 500, or a dropped
//! connection (before or after the request reached the registry), add latency, run a
//! test's hook before and after forwarding (to change the registry mid-run, or to
//! kill the client), and record every call.
//!
//! Fault decisions are seeded and keyed by the request's shape (operation,
//! repository, number of image ids, and how many requests of that shape came
//! before), not by arrival order or body bytes, so a run with the same seed draws the
//! same faults even when requests to several repositories interleave differently or
//! the ids in a request come in another order.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What to inject. Fractions apply to every request of the listed operations (all
/// operations when `operations` is empty).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fraction answered with HTTP 400 `ThrottlingException`.
    pub throttle: f64,
    /// Fraction answered with HTTP 500.
    pub server_error: f64,
    /// Fraction whose connection is dropped without an answer (half of them before
    /// the request reaches the registry, half after it was carried out there).
    pub drop: f64,
    /// Added to every request before it is forwarded.
    pub latency: Duration,
    /// The seed of every draw.
    pub seed: u64,
    /// Operations to inject faults into (`BatchDeleteImage`, ...); empty: all.
    pub operations: Vec<&'static str>,
    /// A token bucket per account and operation, as AWS throttles: a request that
    /// finds its bucket empty is answered with HTTP 400 `ThrottlingException`, never
    /// forwarded. None: no quota.
    pub quota: Option<Quota>,
}

/// The quotas the proxy enforces. The account is told by the request's credentials
/// (the access key of its `Authorization` header): a run holds one role session,
/// and so one access key, per account.
#[derive(Clone, Debug, Default)]
pub struct Quota {
    /// The bucket of operations not in `operations`: capacity, then refill per
    /// second.
    pub default: (f64, f64),
    /// Buckets of their own: operation, capacity, refill per second.
    pub operations: Vec<(&'static str, f64, f64)>,
}

impl Quota {
    fn of(&self, operation: &str) -> (f64, f64) {
        self.operations
            .iter()
            .find(|(o, _, _)| *o == operation)
            .map_or(self.default, |&(_, c, r)| (c, r))
    }
}

/// What happened to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Forwarded; the registry answered with this HTTP status.
    Forwarded(u16),
    /// Answered with an injected throttle; never forwarded.
    Throttled,
    /// Answered with an injected HTTP 500; never forwarded.
    ServerError,
    /// Connection dropped before forwarding: the registry never saw it.
    DroppedBefore,
    /// Forwarded and carried out, then the connection dropped: the client never saw
    /// the answer.
    DroppedAfter,
    /// Answered by a test's hook.
    Answered,
    /// Answered with a throttle because the account's bucket of the operation was
    /// empty ([`Faults::quota`]); never forwarded.
    OverQuota,
}

impl Outcome {
    /// True when the registry carried the request out.
    pub fn reached_registry(self) -> bool {
        matches!(self, Outcome::Forwarded(_) | Outcome::DroppedAfter)
    }

    /// True for an injected throttle, server error or dropped connection (the
    /// faults the client is expected to retry).
    pub fn retryable_fault(self) -> bool {
        matches!(
            self,
            Outcome::Throttled
                | Outcome::OverQuota
                | Outcome::ServerError
                | Outcome::DroppedBefore
                | Outcome::DroppedAfter
        )
    }

    /// True for an injected fault.
    pub fn injected(self) -> bool {
        !matches!(self, Outcome::Forwarded(_))
    }
}

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Call {
    /// Arrival order, from 0.
    pub index: usize,
    /// The operation, from `X-Amz-Target` (`DescribeImages`, `BatchDeleteImage`, ...).
    pub operation: String,
    /// The repository named in the body, if any.
    pub repository: Option<String>,
    /// How many `imageIds` the body carries.
    pub image_ids: usize,
    /// What happened.
    pub outcome: Outcome,
    /// The `X-Amz-Security-Token` header (temporary credentials), if sent.
    pub session_token: Option<String>,
    /// The access key of the request's signature, if signed.
    pub access_key: Option<String>,
}

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the request is forwarded.
    Before,
    /// After the registry answered, before the answer is passed on.
    After,
}

/// A hook's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on as planned.
    Pass,
    /// Drop the connection now (before: never forwarded; after: answer lost).
    Drop,
    /// Answer with this AWS JSON error instead of forwarding (or instead of the
    /// registry's answer).
    Answer {
        /// HTTP status.
        status: u16,
        /// The error's `__type`.
        kind: &'static str,
        /// Its message.
        message: &'static str,
    },
    /// Answer with these bytes (an HTML error page of a load balancer, garbage).
    Raw(RawAnswer),
    /// After forwarding: pass on only the first N bytes of the registry's answer
    /// (with a length that matches them): a JSON body cut short.
    Cut(usize),
}

/// A hook's answer of any bytes (see [`Verdict::Raw`], [`Verdict::Cut`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static [u8],
}

/// What a hook sees.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Arrival order, from 0.
    pub index: usize,
    /// The operation.
    pub operation: String,
    /// The repository named in the body, if any.
    pub repository: Option<String>,
    /// How many `imageIds` the body carries.
    pub image_ids: usize,
    /// The request body, as JSON.
    pub body: serde_json::Value,
}

/// Hooks run concurrently, one call per request and phase, without a lock held.
type Hook = Arc<dyn Fn(&Seen, Phase) -> Verdict + Send + Sync>;

struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<Call>>,
    seen: Mutex<HashMap<u64, u64>>,
    hook: Mutex<Option<Hook>>,
    /// The quota's buckets by access key and operation: tokens, and when.
    buckets: Mutex<HashMap<(String, String), (f64, std::time::Instant)>>,
}

/// A running proxy, stopped on drop.
pub struct Proxy {
    /// The URL to give the binary as `--endpoint-url`.
    pub url: String,
    shared: Arc<Shared>,
    _server: crate::serve::Loopback,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://IP:PORT");
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(faults),
            calls: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
            hook: Mutex::new(None),
            buckets: Mutex::new(HashMap::new()),
        });
        let bound = crate::serve::bind();
        let url = format!("http://{}", bound.host);
        let state = shared.clone();
        let server = bound.serve("proxy", move |req| handle(state.clone(), req));
        Proxy {
            url,
            shared,
            _server: server,
        }
    }

    /// Every request so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Forgets the recorded calls.
    pub fn clear(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
        self.shared.seen.lock().unwrap().clear();
        self.shared.buckets.lock().unwrap().clear();
    }

    /// Runs `hook` before and after every request (on a thread of its own, so it may
    /// block, for example to change the registry with a client of its own).
    pub fn set_hook(&self, hook: impl Fn(&Seen, Phase) -> Verdict + Send + Sync + 'static) {
        *self.shared.hook.lock().unwrap() = Some(Arc::new(hook));
    }

    /// Removes the hook.
    pub fn clear_hook(&self) {
        *self.shared.hook.lock().unwrap() = None;
    }

    /// Requests refused because their account's bucket was empty, by access key.
    pub fn over_quota(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for c in self.calls() {
            if c.outcome == Outcome::OverQuota {
                *out.entry(c.access_key.unwrap_or_default()).or_default() += 1;
            }
        }
        out
    }

    /// Calls of one operation.
    pub fn count(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }
}

/// The access key of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`).
fn access_key(headers: &hyper::HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

/// splitmix64: a small, well-mixed deterministic generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

async fn run_hook(state: &Shared, seen: &Seen, phase: Phase) -> Verdict {
    let Some(hook) = state.hook.lock().unwrap().clone() else {
        return Verdict::Pass;
    };
    let seen = seen.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread: the hook may block, or drive a runtime of its own.
    std::thread::spawn(move || {
        let _ = tx.send(hook(&seen, phase));
    });
    rx.await.unwrap_or(Verdict::Pass)
}

/// The injected answer: ECR's throttling error or a server error, as JSON 1.1.
fn error_response(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": kind, "message": message}).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// The error that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault-injecting proxy")
    }
}
impl std::error::Error for Dropped {}

async fn handle(
    state: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path()));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let image_ids = json["imageIds"].as_array().map_or(0, Vec::len);
    let access_key = access_key(&parts.headers);
    let repository = json["repositoryName"].as_str().map(str::to_owned);

    let index;
    let seen = {
        let mut calls = state.calls.lock().unwrap();
        index = calls.len();
        // Placeholder, completed below.
        calls.push(Call {
            index,
            operation: operation.clone(),
            repository: repository.clone(),
            image_ids,
            outcome: Outcome::DroppedBefore,
            session_token: parts
                .headers
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            access_key: access_key.clone(),
        });
        Seen {
            index,
            operation: operation.clone(),
            repository,
            image_ids,
            body: json,
        }
    };
    let record = |outcome: Outcome| state.calls.lock().unwrap()[index].outcome = outcome;

    let faults = state.faults.lock().unwrap().clone();
    // The draw: keyed by the request and how often this very request was seen.
    // Not the body itself: the order of ids in it, and the images' push times, may
    // differ from one run to the next.
    let key = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        operation.hash(&mut h);
        seen.repository.hash(&mut h);
        image_ids.hash(&mut h);
        h.finish()
    };
    let occurrence = {
        let mut seen = state.seen.lock().unwrap();
        let n = seen.entry(key).or_default();
        *n += 1;
        *n
    };
    let draw = mix(faults.seed ^ mix(key ^ mix(occurrence)));
    let p = unit(draw);
    let applies = faults.operations.is_empty() || faults.operations.contains(&operation.as_str());
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if let Some(quota) = &faults.quota {
        let (capacity, per_second) = quota.of(&operation);
        let key = (access_key.clone().unwrap_or_default(), operation.clone());
        let now = std::time::Instant::now();
        let granted = {
            let mut buckets = state.buckets.lock().unwrap();
            let (tokens, at) = buckets.entry(key).or_insert((capacity, now));
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
            *at = now;
            let granted = *tokens >= 1.0;
            if granted {
                *tokens -= 1.0;
            }
            granted
        };
        if !granted {
            record(Outcome::OverQuota);
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ));
        }
    }
    if applies {
        let mut edge = faults.throttle;
        if p < edge {
            record(Outcome::Throttled);
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ));
        }
        edge += faults.server_error;
        if p < edge {
            record(Outcome::ServerError);
            return Ok(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServerException",
                "injected server error",
            ));
        }
        edge += faults.drop;
        if p < edge && mix(draw) & 1 == 0 {
            record(Outcome::DroppedBefore);
            return Err(Dropped);
        }
    }
    // In the drop band and not dropped above: dropped after forwarding.
    let dropped_band = faults.throttle + faults.server_error;
    let drop_after = applies && p >= dropped_band && p < dropped_band + faults.drop;

    match run_hook(&state, &seen, Phase::Before).await {
        Verdict::Pass => {}
        Verdict::Drop => {
            record(Outcome::DroppedBefore);
            return Err(Dropped);
        }
        Verdict::Answer {
            status,
            kind,
            message,
        } => {
            record(Outcome::Answered);
            let status = StatusCode::from_u16(status).unwrap();
            return Ok(error_response(status, kind, message));
        }
        Verdict::Raw(raw) => {
            record(Outcome::Answered);
            return Ok(raw_response(raw));
        }
        Verdict::Cut(_) => {}
    }

    let response = forward(state.upstream, parts, body).await.map_err(|e| {
        eprintln!("proxy: cannot forward {operation}: {e}");
        Dropped
    })?;
    let status = response.status().as_u16();
    if drop_after {
        record(Outcome::DroppedAfter);
        return Err(Dropped);
    }
    match run_hook(&state, &seen, Phase::After).await {
        Verdict::Pass => {
            record(Outcome::Forwarded(status));
            Ok(response)
        }
        Verdict::Drop => {
            record(Outcome::DroppedAfter);
            Err(Dropped)
        }
        Verdict::Answer {
            status,
            kind,
            message,
        } => {
            record(Outcome::Answered);
            let status = StatusCode::from_u16(status).unwrap();
            Ok(error_response(status, kind, message))
        }
        Verdict::Raw(raw) => {
            record(Outcome::Answered);
            Ok(raw_response(raw))
        }
        Verdict::Cut(n) => {
            record(Outcome::Answered);
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|_| Dropped)?.to_bytes();
            let cut = Full::new(bytes.slice(..n.min(bytes.len())));
            Ok(Response::from_parts(parts, cut))
        }
    }
}

fn raw_response(raw: RawAnswer) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(raw.status).unwrap())
        .header("content-type", raw.content_type)
        .body(Full::new(Bytes::from_static(raw.body)))
        .unwrap()
}

async fn forward(
    upstream: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(parts.method).uri(
        parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.to_string()),
    );
    for (name, value) in &parts.headers {
        if name != "connection" && name != "transfer-encoding" {
            req = req.header(name, value);
        }
    }
    let response = sender.send_request(req.body(Full::new(body))?).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut out = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if name != "connection" && name != "transfer-encoding" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    Ok(out.body(Full::new(body))?)
}
