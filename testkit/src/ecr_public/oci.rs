//! The read side of the OCI distribution API, as `public.ecr.aws` serves it:
//! anonymous bearer tokens from `/token` (or for `AWS` and a password from
//! GetAuthorizationToken, sent as basic credentials), scoped to the repositories they
//! were asked for, and manifests by digest or tag under `/v2/ALIAS/NAME/manifests/`.

use std::collections::BTreeSet;

use bytes::Bytes;
use http_body_util::Full;
use hyper::http::request::Parts;
use hyper::{Method, Response};
use serde_json::json;

use super::{SERVICE, Shared, State};

/// The operation a request of the distribution API is counted as.
pub(super) fn operation(method: &Method, path: &str) -> String {
    match path {
        "/token" => "GetToken".to_owned(),
        "/v2/" | "/v2" => "ApiVersionCheck".to_owned(),
        p if p.starts_with("/v2/") && p.contains("/manifests/") => "GetManifest".to_owned(),
        p => format!("{method} {p}"),
    }
}

/// An answer with an OCI error body, `{"errors": [{"code", "message"}]}`.
pub(super) fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// An injected fault named like an API error (`ThrottlingException`,
/// `ServerException`) or an OCI one (`TOOMANYREQUESTS`, ...), in the distribution
/// API's terms.
pub(super) fn fault(code: &str) -> Response<Full<Bytes>> {
    let (status, code) = match code {
        "ThrottlingException" | "TOOMANYREQUESTS" => (429, "TOOMANYREQUESTS"),
        "ServerException" | "UNKNOWN" => (500, "UNKNOWN"),
        "UNAUTHORIZED" => (401, "UNAUTHORIZED"),
        "DENIED" => (403, "DENIED"),
        c @ ("NAME_UNKNOWN" | "MANIFEST_UNKNOWN") => (404, c),
        c => (400, c),
    };
    error(status, code, "injected fault")
}

/// Answers a request of the distribution API (the operation already counted).
pub(super) fn handle(shared: &Shared, state: &mut State, parts: &Parts) -> Response<Full<Bytes>> {
    let path = parts.uri.path();
    let base = match parts.headers.get("host").and_then(|h| h.to_str().ok()) {
        // Behind a proxy, the realm is the proxy's.
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", shared.host),
    };
    let bearer = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.tokens.get(t.trim()));
    let unauthorized = |scope: Option<&str>| {
        let mut challenge = format!("Bearer realm=\"{base}/token\",service=\"{SERVICE}\"");
        if let Some(s) = scope {
            challenge.push_str(&format!(",scope=\"{s}\""));
        }
        let mut response = error(401, "UNAUTHORIZED", "authentication required");
        response
            .headers_mut()
            .insert("www-authenticate", challenge.parse().unwrap());
        response
    };
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return error(405, "UNSUPPORTED", "this server only reads");
    }
    if path == "/token" {
        return token(state, parts);
    }
    if path == "/v2/" || path == "/v2" {
        return match bearer {
            Some(_) => json_response("{}"),
            None => unauthorized(None),
        };
    }
    let Some((name, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.rsplit_once("/manifests/"))
    else {
        return error(404, "UNSUPPORTED", "not served by this test server");
    };
    let scope = format!("repository:{name}:pull");
    if !bearer.is_some_and(|granted| granted.contains(name)) {
        return unauthorized(Some(&scope));
    }
    let repo = name
        .split_once('/')
        .filter(|(alias, _)| *alias == shared.alias)
        .and_then(|(_, repo)| state.registry.repos.get(repo));
    let Some(repo) = repo else {
        return error(404, "NAME_UNKNOWN", "repository name not known to registry");
    };
    let digest = if reference.contains(':') {
        Some(reference.to_owned())
    } else {
        repo.tags.get(reference).map(|r| r.digest.clone())
    };
    let Some((digest, image)) = digest.and_then(|d| repo.images.get(&d).map(|i| (d, i))) else {
        return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
    };
    if !accepts(parts, &image.media_type) {
        return error(
            404,
            "MANIFEST_UNKNOWN",
            &format!(
                "manifest of media type {} not in the request's Accept",
                image.media_type
            ),
        );
    }
    let body = if parts.method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(image.manifest.clone())
    };
    Response::builder()
        .status(200)
        .header("content-type", &image.media_type)
        .header("content-length", image.manifest.len())
        .header("docker-content-digest", digest)
        .body(Full::new(body))
        .unwrap()
}

/// True when the request accepts `media_type`: no `Accept`, `*/*`, or the type listed
/// (the registry does not convert between manifest formats).
fn accepts(parts: &Parts, media_type: &str) -> bool {
    let mut listed = parts
        .headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .peekable();
    listed.peek().is_none() || listed.any(|t| t == "*/*" || t == media_type)
}

fn json_response(body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// `GET /token?scope=repository:ALIAS/NAME:pull&service=public.ecr.aws`: a token for
/// pulling the repositories in its scopes, anonymous or for `AWS` and a password from
/// GetAuthorizationToken (any other basic credentials are refused).
fn token(state: &mut State, parts: &Parts) -> Response<Full<Bytes>> {
    use base64::Engine as _;
    let basic = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if let Some(credentials) = basic {
        let user_password = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let known = user_password
            .as_deref()
            .and_then(|up| up.strip_prefix("AWS:"))
            .is_some_and(|p| state.passwords.contains(p));
        if !known {
            return error(401, "UNAUTHORIZED", "invalid basic credentials");
        }
    }
    let mut granted = BTreeSet::new();
    for (key, value) in query(parts.uri.query().unwrap_or("")) {
        if key == "service" && value != SERVICE {
            return error(400, "UNSUPPORTED", &format!("unknown service {value}"));
        }
        if key != "scope" {
            continue;
        }
        // repository:NAME:ACTIONS, several scopes separated by spaces.
        for scope in value.split(' ') {
            if let Some((name, actions)) = scope
                .strip_prefix("repository:")
                .and_then(|s| s.rsplit_once(':'))
                && actions.split(',').any(|a| a == "pull")
            {
                granted.insert(name.to_owned());
            }
        }
    }
    state.issued += 1;
    let token = crate::moto::sha256(&format!("token {}", state.issued))
        .trim_start_matches("sha256:")
        .to_owned();
    state.tokens.insert(token.clone(), granted);
    json_response(&json!({ "token": token }).to_string())
}

/// The pairs of a query string, percent-decoded (`+` as a space).
fn query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
