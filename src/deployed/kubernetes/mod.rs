//! What runs on a Kubernetes cluster, read through [`ClusterApi`]: one method, one
//! list call (a page of one resource, cluster-wide or in one namespace), answered with
//! the API server's JSON. Paging, restarts and what the objects say are the in-use
//! reader's (`ops::in_use::kubernetes`); the kube implementation is [`client::KubeClient`].

#[cfg(feature = "aws")]
pub mod client;

use std::future::Future;

/// The most objects one list call asks for.
pub const LIST_PAGE: u32 = 500;

/// A resource listed: every kind whose objects run images or hold a pod template.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::Display,
    strum::EnumIter,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[strum(serialize_all = "lowercase")]
pub enum KubeResource {
    /// `pods` (core).
    Pods,
    /// `deployments` (apps).
    Deployments,
    /// `replicasets` (apps).
    ReplicaSets,
    /// `statefulsets` (apps).
    StatefulSets,
    /// `daemonsets` (apps).
    DaemonSets,
    /// `jobs` (batch).
    Jobs,
    /// `cronjobs` (batch).
    CronJobs,
    /// `replicationcontrollers` (core).
    ReplicationControllers,
}

impl KubeResource {
    /// The resource's name in the API (`deployments`).
    pub fn plural(self) -> &'static str {
        self.into()
    }

    /// The kind of its objects (`Deployment`).
    pub fn kind(self) -> &'static str {
        match self {
            Self::Pods => "Pod",
            Self::Deployments => "Deployment",
            Self::ReplicaSets => "ReplicaSet",
            Self::StatefulSets => "StatefulSet",
            Self::DaemonSets => "DaemonSet",
            Self::Jobs => "Job",
            Self::CronJobs => "CronJob",
            Self::ReplicationControllers => "ReplicationController",
        }
    }

    /// Its API group, as RBAC names it (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Self::Pods | Self::ReplicationControllers => "",
            Self::Deployments | Self::ReplicaSets | Self::StatefulSets | Self::DaemonSets => "apps",
            Self::Jobs | Self::CronJobs => "batch",
        }
    }

    /// The path of its list call, cluster-wide or in `namespace`.
    pub fn path(self, namespace: Option<&str>) -> String {
        let prefix = match self.group() {
            "" => "/api/v1".to_owned(),
            group => format!("/apis/{group}/v1"),
        };
        match namespace {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{}", self.plural()),
            None => format!("{prefix}/{}", self.plural()),
        }
    }
}

/// Why a cluster could not be read. Nothing is removed in any of these cases.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be read, or does not have the context.
    #[error("{0}")]
    Config(String),
    /// The credentials could not be had (an exec plugin such as `aws eks get-token`
    /// failed, a token file is missing).
    #[error("the credentials of the context could not be had: {0}")]
    Credentials(String),
    /// The API server could not be reached.
    #[error(
        "could not reach the API server {server} ({why}): check the network, any proxy and the kubeconfig's `server`"
    )]
    Unreachable {
        /// The server's URL.
        server: String,
        /// Why.
        why: String,
    },
    /// The API server answered a list call with an error.
    #[error("{}", describe_api(*resource, namespace.as_deref(), *code, reason, message))]
    Api {
        /// The resource listed.
        resource: KubeResource,
        /// The namespace listed (none: cluster-wide).
        namespace: Option<String>,
        /// The HTTP status.
        code: u16,
        /// The Status `reason` (`Forbidden`, `Expired`, …).
        reason: String,
        /// The server's message.
        message: String,
    },
    /// A list whose continue token kept expiring (410 Gone) each time it restarted.
    #[error(
        "list {resource} {}: the list did not complete: its continue token expired {restarts} times in a row (410 Gone); the cluster changes faster than it is read: run again",
        scope(namespace.as_deref())
    )]
    NeverCompletes {
        /// The resource listed.
        resource: KubeResource,
        /// The namespace listed (none: cluster-wide).
        namespace: Option<String>,
        /// How many times the list was started.
        restarts: u32,
    },
    /// The answer was not what the API reference describes.
    #[error("list {resource} {}: the answer is not a list: {why}", scope(namespace.as_deref()))]
    Surprising {
        /// The resource listed.
        resource: KubeResource,
        /// The namespace listed (none: cluster-wide).
        namespace: Option<String>,
        /// What is wrong.
        why: String,
    },
}

impl KubeError {
    /// True for a 410 Gone: the list's continue token expired, start it again.
    pub fn is_expired(&self) -> bool {
        matches!(self, KubeError::Api { code: 410, .. })
    }
}

fn scope(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in all namespaces".to_owned(),
    }
}

fn describe_api(
    resource: KubeResource,
    namespace: Option<&str>,
    code: u16,
    reason: &str,
    message: &str,
) -> String {
    let call = format!("list {resource} {}", scope(namespace));
    let message = message.replace('\n', " ");
    match code {
        401 => format!(
            "{call}: 401 Unauthorized: the API server refused the credentials of the context: log in again (for EKS, check that `aws eks get-token` works with the kubeconfig's profile)"
        ),
        403 => {
            let rbac = if resource.group().is_empty() {
                String::new()
            } else {
                format!(" of API group {}", resource.group())
            };
            format!(
                "{call}: 403 Forbidden: the user may not list {resource}{rbac} {}: grant `list` on it (see the ClusterRole in the documentation); the server says: {message}",
                scope(namespace)
            )
        }
        _ => format!("{call}: HTTP {code} {reason}: {message}"),
    }
}

/// A Kubernetes cluster's list calls.
pub trait ClusterApi: Send + Sync {
    /// One page of the list of `resource`, cluster-wide or in `namespace`: at most
    /// `limit` objects, after `continue_token`; the API server's JSON.
    fn list(
        &self,
        resource: KubeResource,
        namespace: Option<&str>,
        limit: u32,
        continue_token: Option<&str>,
    ) -> impl Future<Output = Result<String, KubeError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn paths_of_every_resource() {
        let paths: Vec<String> = KubeResource::iter().map(|r| r.path(None)).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/pods",
                "/apis/apps/v1/deployments",
                "/apis/apps/v1/replicasets",
                "/apis/apps/v1/statefulsets",
                "/apis/apps/v1/daemonsets",
                "/apis/batch/v1/jobs",
                "/apis/batch/v1/cronjobs",
                "/api/v1/replicationcontrollers",
            ]
        );
        assert_eq!(
            KubeResource::CronJobs.path(Some("batch")),
            "/apis/batch/v1/namespaces/batch/cronjobs"
        );
        assert_eq!("replicasets".parse(), Ok(KubeResource::ReplicaSets));
    }

    #[test]
    fn a_403_names_the_verb_the_resource_and_the_namespace() {
        let e = KubeError::Api {
            resource: KubeResource::Deployments,
            namespace: Some("payments".into()),
            code: 403,
            reason: "Forbidden".into(),
            message: "deployments is forbidden: User \"x\" cannot list resource".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "list deployments in namespace payments: 403 Forbidden: the user may not list deployments of API group apps in namespace payments"
            ),
            "{text}"
        );
        assert!(!e.is_expired());
    }
}
