//! One document of Kubernetes JSON read into [`Object`]s: only the fields that name
//! images, who owns a ReplicaSet and its revision; everything else is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::PodsError;

/// The kinds this reader tells apart; any other kind with a pod template is
/// [`ObjectKind::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A pod: its spec and the images its containers' statuses resolved.
    Pod,
    /// A Deployment's pod template.
    Deployment,
    /// A ReplicaSet's pod template (with its Deployment, when one owns it).
    ReplicaSet,
    /// A StatefulSet's pod template.
    StatefulSet,
    /// A DaemonSet's pod template.
    DaemonSet,
    /// A Job's pod template.
    Job,
    /// A CronJob's job template (suspended or not).
    CronJob,
    /// A ReplicationController's pod template.
    ReplicationController,
    /// A PodTemplate.
    PodTemplate,
    /// Another kind with a pod template at one of the usual paths.
    Other,
}

impl ObjectKind {
    fn of(kind: &str) -> Self {
        match kind {
            "Pod" => Self::Pod,
            "Deployment" => Self::Deployment,
            "ReplicaSet" => Self::ReplicaSet,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            "ReplicationController" => Self::ReplicationController,
            "PodTemplate" => Self::PodTemplate,
            _ => Self::Other,
        }
    }

    /// The kind as the plan names it, lower case as kubectl's resource names
    /// (`deployment`, `cronjob`); another kind as `written`, lower-cased.
    pub fn noun(self, written: &str) -> String {
        match self {
            Self::Pod => "pod".into(),
            Self::Deployment => "deployment".into(),
            Self::ReplicaSet => "replicaset".into(),
            Self::StatefulSet => "statefulset".into(),
            Self::DaemonSet => "daemonset".into(),
            Self::Job => "job".into(),
            Self::CronJob => "cronjob".into(),
            Self::ReplicationController => "replicationcontroller".into(),
            Self::PodTemplate => "podtemplate".into(),
            Self::Other if written.is_empty() => "object".into(),
            Self::Other => written.to_ascii_lowercase(),
        }
    }
}

/// An image one container of an object names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The container: `NAME`, `NAME (init)` or `NAME (ephemeral)`.
    pub container: String,
    /// The image as written (or, from a pod's status, as resolved: a digest
    /// reference, without the runtime's `docker-pullable://` prefix).
    pub reference: String,
}

/// A pod, or an object with a pod template: what it is and the images it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The kind.
    pub kind: ObjectKind,
    /// The kind as written (`Rollout` for [`ObjectKind::Other`]).
    pub kind_name: String,
    /// The namespace (`default` when none is written).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// For a ReplicaSet: the Deployment that owns it, if one does.
    pub deployment: Option<String>,
    /// For a ReplicaSet: its `deployment.kubernetes.io/revision`.
    pub revision: Option<u64>,
    /// The images of its containers, init and ephemeral containers (a pod's also as
    /// its statuses resolved them), in that order.
    pub images: Vec<Image>,
}

/// What one document holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The pods and the objects with a pod template, in order.
    pub objects: Vec<Object>,
    /// How many objects of each kind were read (`Pod 3`, `Deployment 1`).
    pub read: BTreeMap<String, u64>,
    /// How many objects of each kind without a pod template were skipped (`Service
    /// 2`; `(no kind)` for an object that names none).
    pub skipped: BTreeMap<String, u64>,
    /// A list page's `metadata.continue`: the token of the next page, if any.
    pub next: Option<String>,
    /// A list's `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawObject {
    kind: Option<String>,
    #[serde(default)]
    metadata: RawMeta,
    #[serde(default)]
    spec: RawSpec,
    #[serde(default)]
    status: RawStatus,
    /// A PodTemplate's template.
    template: Option<RawTemplate>,
    /// A list's items.
    items: Option<Vec<RawObject>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    annotations: Option<RawAnnotations>,
    #[serde(default)]
    owner_references: Vec<RawOwner>,
    #[serde(rename = "continue")]
    next: Option<String>,
    resource_version: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawAnnotations {
    #[serde(rename = "deployment.kubernetes.io/revision")]
    revision: Option<String>,
}

#[derive(Deserialize)]
struct RawOwner {
    kind: Option<String>,
    name: Option<String>,
    controller: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    #[serde(default)]
    containers: Vec<RawContainer>,
    #[serde(default)]
    init_containers: Vec<RawContainer>,
    #[serde(default)]
    ephemeral_containers: Vec<RawContainer>,
    template: Option<RawTemplate>,
    job_template: Option<RawJobTemplate>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPodSpec {
    #[serde(default)]
    containers: Vec<RawContainer>,
    #[serde(default)]
    init_containers: Vec<RawContainer>,
    #[serde(default)]
    ephemeral_containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
struct RawTemplate {
    #[serde(default)]
    spec: RawPodSpec,
}

#[derive(Deserialize)]
struct RawJobTemplate {
    #[serde(default)]
    spec: RawJobSpec,
}

#[derive(Default, Deserialize)]
struct RawJobSpec {
    template: Option<RawTemplate>,
}

#[derive(Deserialize)]
struct RawContainer {
    name: Option<String>,
    image: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(default)]
    container_statuses: Vec<RawContainerStatus>,
    #[serde(default)]
    init_container_statuses: Vec<RawContainerStatus>,
    #[serde(default)]
    ephemeral_container_statuses: Vec<RawContainerStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainerStatus {
    name: Option<String>,
    image: Option<String>,
    #[serde(rename = "imageID")]
    image_id: Option<String>,
}

/// The container runtimes' prefixes of `imageID`.
const RUNTIME_PREFIXES: [&str; 3] = ["docker-pullable://", "docker://", "containerd://"];

pub(super) fn parse(text: &str, item_kind: Option<&str>) -> Result<Page, PodsError> {
    let mut doc: RawObject = serde_json::from_str(text).map_err(|e| PodsError {
        line: u32::try_from(e.line()).ok().filter(|&l| l > 0),
        column: u32::try_from(e.column()).ok().filter(|&c| c > 0),
        message: format!("not kubectl JSON: {e}"),
    })?;
    let mut page = Page {
        next: doc.metadata.next.take().filter(|t| !t.is_empty()),
        resource_version: doc.metadata.resource_version.take(),
        ..Page::default()
    };
    // The API server leaves `kind` out of a list's items: `DeploymentList` says it.
    let list_kind = doc
        .kind
        .as_deref()
        .and_then(|k| k.strip_suffix("List"))
        .filter(|k| !k.is_empty())
        .or(item_kind)
        .map(str::to_owned);
    let items = match (doc.items.take(), doc.kind.as_deref()) {
        (Some(items), _) => items,
        (None, Some(kind)) if !kind.ends_with("List") => vec![doc],
        (None, kind) => {
            return Err(PodsError {
                line: None,
                column: None,
                message: format!(
                    "not the output of `kubectl get … -o json`: no `items`{}",
                    kind.map(|k| format!(" (kind `{k}`)")).unwrap_or_default()
                ),
            });
        }
    };
    page.objects.reserve(items.len());
    for mut item in items {
        if item.kind.is_none() {
            item.kind.clone_from(&list_kind);
        }
        let written = item.kind.clone().unwrap_or_default();
        match object(item) {
            Some(o) => {
                *page.read.entry(written).or_default() += 1;
                page.objects.push(o);
            }
            None => {
                let kind = if written.is_empty() {
                    "(no kind)".to_owned()
                } else {
                    written
                };
                *page.skipped.entry(kind).or_default() += 1;
            }
        }
    }
    Ok(page)
}

/// The object `raw` is, if it is a pod or has a pod template.
fn object(raw: RawObject) -> Option<Object> {
    let written = raw.kind.unwrap_or_default();
    let templates: Vec<RawPodSpec> = [
        raw.spec.template.map(|t| t.spec),
        raw.spec
            .job_template
            .and_then(|j| j.spec.template)
            .map(|t| t.spec),
        raw.template.map(|t| t.spec),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kind = match ObjectKind::of(&written) {
        // An item without a kind is a pod when it has containers and no template.
        ObjectKind::Other if written.is_empty() && templates.is_empty() => {
            if raw.spec.containers.is_empty() {
                return None;
            }
            ObjectKind::Pod
        }
        ObjectKind::Pod => ObjectKind::Pod,
        _ if templates.is_empty() => return None,
        kind => kind,
    };
    let mut images = Vec::new();
    if kind == ObjectKind::Pod {
        containers(
            [
                &raw.spec.containers,
                &raw.spec.init_containers,
                &raw.spec.ephemeral_containers,
            ],
            &mut images,
        );
        statuses(&raw.status, &mut images);
    }
    for t in &templates {
        containers(
            [&t.containers, &t.init_containers, &t.ephemeral_containers],
            &mut images,
        );
    }
    let meta = raw.metadata;
    let (deployment, revision) = if kind == ObjectKind::ReplicaSet {
        let owner = meta
            .owner_references
            .iter()
            .filter(|o| o.kind.as_deref() == Some("Deployment"))
            .max_by_key(|o| o.controller.unwrap_or(false))
            .and_then(|o| o.name.clone());
        let revision = meta
            .annotations
            .and_then(|a| a.revision)
            .and_then(|r| r.trim().parse().ok());
        (owner, revision)
    } else {
        (None, None)
    };
    Some(Object {
        kind,
        kind_name: written,
        namespace: meta.namespace.unwrap_or_else(|| "default".to_owned()),
        name: meta.name.unwrap_or_else(|| "?".to_owned()),
        deployment,
        revision,
        images,
    })
}

/// The images of `[containers, init containers, ephemeral containers]`.
fn containers(lists: [&Vec<RawContainer>; 3], out: &mut Vec<Image>) {
    for (list, role) in lists.into_iter().zip(["", " (init)", " (ephemeral)"]) {
        for c in list {
            if let Some(image) = &c.image {
                out.push(Image {
                    container: format!("{}{role}", c.name.as_deref().unwrap_or("?")),
                    reference: image.clone(),
                });
            }
        }
    }
}

fn statuses(status: &RawStatus, out: &mut Vec<Image>) {
    let all = [
        (&status.container_statuses, ""),
        (&status.init_container_statuses, " (init)"),
        (&status.ephemeral_container_statuses, " (ephemeral)"),
    ];
    for (list, role) in all {
        for s in list {
            let container = format!("{}{role}", s.name.as_deref().unwrap_or("?"));
            if let Some(image) = &s.image {
                out.push(Image {
                    container: container.clone(),
                    reference: image.clone(),
                });
            }
            if let Some(id) = &s.image_id {
                let id = RUNTIME_PREFIXES
                    .iter()
                    .find_map(|p| id.strip_prefix(p))
                    .unwrap_or(id);
                out.push(Image {
                    container,
                    reference: id.to_owned(),
                });
            }
        }
    }
}
