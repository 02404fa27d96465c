//! A cluster's list calls over kube's client: the kubeconfig read as kubectl reads it
//! (a file named, or `KUBECONFIG`, then `~/.kube/config`), one context's cluster and
//! user with its credentials (a token, a client certificate, an exec plugin such as
//! `aws eks get-token`, run by kube when a call needs a token), kube's retries of
//! throttling and unavailable answers; each list call a raw GET whose JSON the reader
//! parses itself (no typed objects: only images, owners and revisions are read).

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{ClusterApi, KubeError, KubeResource};
use crate::aws::innermost;

/// One cluster, through one context.
pub struct KubeClient {
    client: kube::Client,
    server: String,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl KubeClient {
    /// The client of `context` in `kubeconfig` (none: as kubectl finds it). Nothing is
    /// called yet; a missing context, an unreadable kubeconfig or a cluster without a
    /// server is an error now.
    pub async fn connect(kubeconfig: Option<&Path>, context: &str) -> Result<Self, KubeError> {
        let (read, shown) = match kubeconfig {
            Some(path) => (Kubeconfig::read_from(path), path.display().to_string()),
            None => (
                Kubeconfig::read(),
                "the kubeconfig (KUBECONFIG, else ~/.kube/config)".to_owned(),
            ),
        };
        let config =
            read.map_err(|e| KubeError::Config(format!("cannot read {shown}: {}", one_line(&e))))?;
        if !config.contexts.iter().any(|c| c.name == context) {
            let names: Vec<String> = config
                .contexts
                .iter()
                .map(|c| format!("`{}`", c.name))
                .collect();
            return Err(KubeError::Config(format!(
                "the context `{context}` is not in {shown} ({}): check the name (`kubectl config get-contexts`)",
                if names.is_empty() {
                    "it has no context".to_owned()
                } else {
                    format!("its contexts: {}", names.join(", "))
                }
            )));
        }
        let options = KubeConfigOptions {
            context: Some(context.to_owned()),
            ..KubeConfigOptions::default()
        };
        let setup = |e: &(dyn std::error::Error + 'static)| {
            credentials(e).unwrap_or_else(|| {
                KubeError::Config(format!("context `{context}` of {shown}: {}", one_line(e)))
            })
        };
        let config = kube::Config::from_custom_kubeconfig(config, &options)
            .await
            .map_err(|e| setup(&e))?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| setup(&e))?;
        Ok(Self { client, server })
    }

    fn error(&self, e: kube::Error, resource: KubeResource, namespace: Option<&str>) -> KubeError {
        if let kube::Error::Api(status) = &e {
            return KubeError::Api {
                resource,
                namespace: namespace.map(str::to_owned),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            };
        }
        if let Some(c) = credentials(&e) {
            return c;
        }
        match e {
            kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => KubeError::Surprising {
                resource,
                namespace: namespace.map(str::to_owned),
                why: one_line(&e),
            },
            other => KubeError::Unreachable {
                server: self.server.clone(),
                why: innermost(&other).replace('\n', " "),
            },
        }
    }
}

/// The credentials' failure among `e` and its causes, if one is: an exec plugin
/// that fails says so with what it wrote on its standard error.
fn credentials(e: &(dyn std::error::Error + 'static)) -> Option<KubeError> {
    use kube::client::AuthError;
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(auth) = s.downcast_ref::<AuthError>() {
            let why = match auth {
                AuthError::AuthExecRun { out, .. } => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    format!(
                        "the exec plugin of the kubeconfig's user failed ({}): {}",
                        out.status,
                        stderr.trim().replace(['\n', '\r'], " ")
                    )
                }
                AuthError::AuthExecStart(io) => {
                    format!("the exec plugin of the kubeconfig's user could not be started: {io}")
                }
                other => one_line(other),
            };
            return Some(KubeError::Credentials(why));
        }
        source = s.source();
    }
    None
}

/// `e` and its causes in one line (kube's outer errors only name a layer).
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// `text` as a query value: unreserved characters as they are, the rest
/// percent-encoded (continue tokens are base64, with `=`, `+` and `/`).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ClusterApi for KubeClient {
    async fn list(
        &self,
        resource: KubeResource,
        namespace: Option<&str>,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<String, KubeError> {
        let mut uri = format!("{}?limit={limit}", resource.path(namespace));
        if let Some(token) = continue_token {
            uri.push_str("&continue=");
            uri.push_str(&encode(token));
        }
        let request =
            http::Request::get(uri)
                .body(Vec::new())
                .map_err(|e| KubeError::Surprising {
                    resource,
                    namespace: namespace.map(str::to_owned),
                    why: e.to_string(),
                })?;
        self.client
            .request_text(request)
            .await
            .map_err(|e| self.error(e, resource, namespace))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn continue_tokens_are_percent_encoded() {
        assert_eq!(super::encode("eyJ2Ijo+/x="), "eyJ2Ijo%2B%2Fx%3D");
    }
}
