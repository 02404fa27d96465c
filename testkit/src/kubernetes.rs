//! A loopback Kubernetes API server for end-to-end tests of the live in-use reader:
//! plain HTTP on a free port, driven by the real client through a generated
//! kubeconfig ([`KubeApi::kubeconfig`]).
//!
//! It serves the list endpoints of pods, replication controllers (`/api/v1`),
//! deployments, replica sets, stateful sets, daemon sets (`/apis/apps/v1`), jobs and
//! cron jobs (`/apis/batch/v1`), cluster-wide or under `/namespaces/NS/`, as the
//! Kubernetes API reference documents them:
//!
//! - `limit` and `continue`: a list is a consistent snapshot at the resource version
//!   of its first page; `metadata.continue` names the rest, and
//!   `metadata.remainingItemCount` counts it. A continue token that expired
//!   ([`KubeApi::expire_continues`]) is answered 410 Gone with reason `Expired`;
//! - `resourceVersion`: every change bumps the server's version; lists carry it, and
//!   a `resourceVersion` beside `continue` is a 400, as the API server answers;
//! - bearer tokens: a request without one of the accepted tokens is a 401;
//! - RBAC per namespace ([`KubeApi::forbid`]): a list in a forbidden namespace, and a
//!   cluster-wide list (which needs every namespace), is a 403 whose message names the
//!   verb, the resource and the namespace (or the cluster scope), as the API server
//!   words it;
//! - list items carry no `kind` or `apiVersion` (the list's `kind` says it), as the
//!   API server sends them.
//!
//! Every request is counted by path ([`KubeApi::calls`]); a hook can change the
//! cluster after the N-th list call ([`KubeApi::after_lists`]), to model a rollout
//! while another run reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

/// The bearer token [`KubeApi::start`] accepts.
pub const TOKEN: &str = "reconcile-test-token";

/// A resource served: `(plural, API prefix, kind)`.
pub type Resource = (&'static str, &'static str, &'static str);

/// The resources served.
pub const RESOURCES: [Resource; 8] = [
    ("pods", "/api/v1", "Pod"),
    ("replicationcontrollers", "/api/v1", "ReplicationController"),
    ("deployments", "/apis/apps/v1", "Deployment"),
    ("replicasets", "/apis/apps/v1", "ReplicaSet"),
    ("statefulsets", "/apis/apps/v1", "StatefulSet"),
    ("daemonsets", "/apis/apps/v1", "DaemonSet"),
    ("jobs", "/apis/batch/v1", "Job"),
    ("cronjobs", "/apis/batch/v1", "CronJob"),
];

type Hook = Box<dyn FnOnce(&mut Cluster) + Send>;

/// The objects of the cluster and what the server remembers of its lists.
#[derive(Default)]
pub struct Cluster {
    /// Plural -> `(namespace, name)` -> the object (without `kind`).
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    /// The cluster's resource version, bumped by every change.
    version: u64,
    /// Continue token -> the rest of a list: the snapshot and where it resumes.
    continues: HashMap<String, Continue>,
    issued: u64,
    /// Continue requests that will get a 410 (`u64::MAX`: all of them).
    expire: u64,
    /// Namespaces whose lists are forbidden.
    forbidden: BTreeSet<String>,
    /// Bearer tokens accepted.
    tokens: BTreeSet<String>,
    /// Path (`/apis/apps/v1/deployments`) -> requests.
    calls: BTreeMap<String, usize>,
    lists: usize,
    hooks: Vec<(usize, Hook)>,
}

struct Continue {
    items: Arc<Vec<Value>>,
    at: usize,
    version: u64,
    kind: &'static str,
}

impl Cluster {
    /// Adds or replaces `object` (`metadata.namespace` and `metadata.name` set) of
    /// the resource `plural`; bumps the version.
    pub fn put(&mut self, plural: &str, mut object: Value) {
        assert!(
            RESOURCES.iter().any(|r| r.0 == plural),
            "not a resource served: {plural}"
        );
        self.version += 1;
        let meta = object["metadata"].as_object_mut().expect("metadata");
        meta.insert("resourceVersion".into(), json!(self.version.to_string()));
        let ns = meta["namespace"].as_str().expect("a namespace").to_owned();
        let name = meta["name"].as_str().expect("a name").to_owned();
        object.as_object_mut().unwrap().remove("kind");
        self.objects
            .entry(plural.to_owned())
            .or_default()
            .insert((ns, name), object);
    }

    /// Removes an object; bumps the version.
    pub fn remove(&mut self, plural: &str, namespace: &str, name: &str) {
        self.version += 1;
        if let Some(m) = self.objects.get_mut(plural) {
            m.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }

    /// Rolls Deployment `namespace/name` out to `image`, as the Deployment controller
    /// does: the template changes, and a new ReplicaSet `NAME-HASH` with the next
    /// revision takes over (the older ones scale to zero and stay, for rollbacks).
    pub fn rollout(&mut self, namespace: &str, name: &str, image: &str) {
        let revision = self
            .objects
            .get("replicasets")
            .map(|m| {
                m.values()
                    .filter(|rs| {
                        owner(rs) == Some(name) && rs["metadata"]["namespace"] == namespace
                    })
                    .filter_map(|rs| {
                        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                            .as_str()?
                            .parse::<u64>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
            + 1;
        let olds: Vec<Value> = self
            .objects
            .get("replicasets")
            .map(|m| {
                m.values()
                    .filter(|rs| {
                        owner(rs) == Some(name) && rs["metadata"]["namespace"] == namespace
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for mut old in olds {
            old["spec"]["replicas"] = json!(0);
            self.put("replicasets", old);
        }
        self.put("deployments", deployment(namespace, name, 1, image));
        let rs = replicaset(
            namespace,
            &format!("{name}-r{revision}"),
            name,
            revision,
            1,
            image,
        );
        self.put("replicasets", rs);
    }
}

fn owner(rs: &Value) -> Option<&str> {
    rs["metadata"]["ownerReferences"][0]["name"].as_str()
}

/// A running API server, stopped on drop.
pub struct KubeApi {
    url: String,
    cluster: Arc<Mutex<Cluster>>,
    _server: crate::serve::Loopback,
}

impl KubeApi {
    /// Starts an empty cluster that accepts [`TOKEN`].
    pub fn start() -> KubeApi {
        let bound = crate::serve::bind();
        let url = format!("http://{}", bound.host);
        let cluster = Arc::new(Mutex::new(Cluster::default()));
        cluster.lock().unwrap().tokens.insert(TOKEN.to_owned());
        let state = cluster.clone();
        let server = bound.serve("Kubernetes API server", move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, &req)) }
        });
        KubeApi {
            url,
            cluster,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cluster, to change it.
    pub fn cluster(&self) -> std::sync::MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap()
    }

    /// Adds or replaces an object (see [`Cluster::put`]).
    pub fn put(&self, plural: &str, object: Value) {
        self.cluster().put(plural, object);
    }

    /// Also accepts `token`.
    pub fn accept_token(&self, token: &str) {
        self.cluster().tokens.insert(token.to_owned());
    }

    /// Lists in `namespace` (and so cluster-wide lists) are forbidden from now on.
    pub fn forbid(&self, namespace: &str) {
        self.cluster().forbidden.insert(namespace.to_owned());
    }

    /// The next `n` requests with a continue token get 410 Gone (`u64::MAX`: every
    /// one, a list that never completes).
    pub fn expire_continues(&self, n: u64) {
        self.cluster().expire = n;
    }

    /// Runs `change` on the cluster right after the `n`-th list call is answered
    /// (counted from the start).
    pub fn after_lists(&self, n: usize, change: impl FnOnce(&mut Cluster) + Send + 'static) {
        self.cluster().hooks.push((n, Box::new(change)));
    }

    /// Requests by path (`/api/v1/pods`, `/api/v1/namespaces/shop/pods`), failed
    /// ones included.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.cluster().calls.clone()
    }

    /// A kubeconfig whose context `context` reaches this server with `user` (YAML of
    /// the `users[].user` mapping, such as `token: ...` or an `exec:` block).
    pub fn kubeconfig_with(&self, context: &str, user: &str) -> String {
        let user: String = user.lines().map(|l| format!("      {l}\n")).collect();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: loopback\n    cluster:\n      server: {url}\ncontexts:\n  - name: {context}\n    context:\n      cluster: loopback\n      user: tester\ncurrent-context: {context}\nusers:\n  - name: tester\n    user:\n{user}",
            url = self.url
        )
    }

    /// A kubeconfig whose context `context` reaches this server with [`TOKEN`].
    pub fn kubeconfig(&self, context: &str) -> String {
        self.kubeconfig_with(context, &format!("token: {TOKEN}"))
    }

    /// Writes [`KubeApi::kubeconfig`] to `dir/kubeconfig`; returns the path.
    pub fn write_kubeconfig(&self, dir: &Path, context: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.kubeconfig(context)).unwrap();
        path
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    respond(code, &body)
}

fn respond(code: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The namespace (none: cluster-wide) and the resource of a list path, if it is one.
fn route(path: &str) -> Option<(Option<&str>, &'static Resource)> {
    RESOURCES.iter().find_map(|r| {
        let rest = path.strip_prefix(r.1)?;
        if rest == format!("/{}", r.0) {
            return Some((None, r));
        }
        let rest = rest.strip_prefix("/namespaces/")?;
        let (ns, plural) = rest.split_once('/')?;
        (plural == r.0 && !ns.is_empty()).then_some((Some(ns), r))
    })
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3D", "=").replace("%2F", "/")))
        .collect()
}

fn handle(state: &Mutex<Cluster>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut cluster = state.lock().unwrap();
    let path = req.uri().path().to_owned();
    *cluster.calls.entry(path.clone()).or_default() += 1;
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| cluster.tokens.contains(t)) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let Some((namespace, &(plural, _, kind))) = route(&path) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    if req.method() != Method::GET {
        return status(405, "MethodNotAllowed", "only list calls are served");
    }
    let group = match RESOURCES.iter().find(|r| r.0 == plural).unwrap().1 {
        "/api/v1" => "",
        "/apis/apps/v1" => "apps",
        _ => "batch",
    };
    let forbidden = match namespace {
        Some(ns) => cluster
            .forbidden
            .contains(ns)
            .then(|| format!("in the namespace \"{ns}\"")),
        None => (!cluster.forbidden.is_empty()).then(|| "at the cluster scope".to_owned()),
    };
    if let Some(scope) = forbidden {
        return status(
            403,
            "Forbidden",
            &format!(
                "{plural} is forbidden: User \"system:serviceaccount:ci:ecr-reconcile\" cannot list resource \"{plural}\" in API group \"{group}\" {scope}"
            ),
        );
    }
    let q = query(req);
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(0)) => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return status(400, "BadRequest", "limit: not a number"),
    };
    let answer = list(&mut cluster, namespace, plural, kind, limit, &q);
    cluster.lists += 1;
    let done = cluster.lists;
    let due: Vec<Hook> = {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut cluster.hooks)
            .into_iter()
            .partition(|(n, _)| *n <= done);
        cluster.hooks = later;
        now.into_iter().map(|(_, h)| h).collect()
    };
    for hook in due {
        hook(&mut cluster);
    }
    answer
}

fn list(
    cluster: &mut Cluster,
    namespace: Option<&str>,
    plural: &str,
    kind: &'static str,
    limit: Option<usize>,
    q: &HashMap<String, String>,
) -> Response<Full<Bytes>> {
    let token = q.get("continue").filter(|t| !t.is_empty());
    let (items, at, version, kind) = match token {
        Some(_) if q.get("resourceVersion").is_some_and(|v| !v.is_empty()) => {
            return status(
                400,
                "BadRequest",
                "specifying resource version is not allowed when using continue",
            );
        }
        Some(t) => {
            if cluster.expire > 0 {
                cluster.expire = cluster
                    .expire
                    .saturating_sub(u64::from(cluster.expire != u64::MAX));
                cluster.continues.remove(t);
                return status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                );
            }
            let Some(c) = cluster.continues.remove(t) else {
                return status(400, "BadRequest", "continue key is not valid");
            };
            (c.items, c.at, c.version, c.kind)
        }
        None => {
            let items: Vec<Value> = cluster
                .objects
                .get(plural)
                .map(|m| {
                    m.iter()
                        .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                        .map(|(_, o)| o.clone())
                        .collect()
                })
                .unwrap_or_default();
            (Arc::new(items), 0, cluster.version, kind)
        }
    };
    let end = limit.map_or(items.len(), |l| (at + l).min(items.len()));
    let mut metadata = json!({ "resourceVersion": version.to_string() });
    if end < items.len() {
        cluster.issued += 1;
        let t = format!("c{}v{version}", cluster.issued);
        metadata["continue"] = json!(t);
        metadata["remainingItemCount"] = json!(items.len() - end);
        cluster.continues.insert(
            t,
            Continue {
                items: items.clone(),
                at: end,
                version,
                kind,
            },
        );
    }
    let group_version = match RESOURCES.iter().find(|r| r.0 == plural).unwrap().1 {
        "/api/v1" => "v1",
        "/apis/apps/v1" => "apps/v1",
        _ => "batch/v1",
    };
    respond(
        200,
        &json!({
            "kind": format!("{kind}List"),
            "apiVersion": group_version,
            "metadata": metadata,
            "items": &items[at..end],
        }),
    )
}

/// The pod template of one container `main` running `image`.
fn template(image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "main", "image": image}]}
    })
}

/// A running pod whose container `main` runs `image`, resolved to `digest` when given
/// (as `status.containerStatuses[].imageID`).
pub fn pod(namespace: &str, name: &str, image: &str, digest: Option<&str>) -> Value {
    let mut status = json!({"phase": "Running", "containerStatuses": []});
    if let Some(d) = digest {
        let repo = image.split('@').next().unwrap();
        let repo = match repo.rfind(':') {
            Some(i) if i > repo.rfind('/').unwrap_or(0) => &repo[..i],
            _ => repo,
        };
        status["containerStatuses"] = json!([{
            "name": "main", "image": image, "imageID": format!("docker-pullable://{repo}@{d}"),
            "ready": true, "restartCount": 0
        }]);
    }
    json!({
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}")},
        "spec": {"containers": [{"name": "main", "image": image}]},
        "status": status
    })
}

/// A Deployment at `replicas` whose template runs `image`.
pub fn deployment(namespace: &str, name: &str, replicas: u32, image: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "revisionHistoryLimit": 10, "template": template(image)}
    })
}

/// A ReplicaSet of Deployment `deployment` at `revision`, running `image`.
pub fn replicaset(
    namespace: &str,
    name: &str,
    deployment: &str,
    revision: u64,
    replicas: u32,
    image: &str,
) -> Value {
    json!({
        "metadata": {
            "name": name, "namespace": namespace,
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "controller": true, "uid": "u"}]
        },
        "spec": {"replicas": replicas, "template": template(image)}
    })
}

/// A CronJob (suspended or not) whose job template runs `image`.
pub fn cronjob(namespace: &str, name: &str, image: &str, suspend: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedule": "0 3 * * *", "suspend": suspend,
            "jobTemplate": {"spec": {"template": template(image)}}
        }
    })
}

/// An object of a kind with a `spec.template` (StatefulSet, DaemonSet, Job,
/// ReplicationController) running `image`.
pub fn with_template(namespace: &str, name: &str, image: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": template(image)}
    })
}
