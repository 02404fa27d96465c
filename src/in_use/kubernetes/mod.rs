//! Kubernetes objects as kubectl prints them (`kubectl get pods,deploy,rs,sts,ds,job,cronjob
//! -A -o json`) and as the API server lists them: the images of every pod and of every
//! pod template (`spec.template.spec`, `spec.jobTemplate.spec.template.spec`, a
//! `PodTemplate`'s `template.spec`), containers, init containers and ephemeral
//! containers, and the digests the kubelet resolved (`status.*ContainerStatuses[].imageID`).
//!
//! Reading is in two steps, so that files and live clusters share them: [`parse`] reads
//! one document (a `List`, one object, or one page of a list call) into [`Object`]s,
//! and [`uses`] turns the objects of a whole source into image uses, keeping of the
//! ReplicaSets a Deployment owns (its rollback history) all, or the newest N by their
//! `deployment.kubernetes.io/revision`.

mod object;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

pub use object::{Image, Object, ObjectKind, Page};

use super::reference::{ReferenceError, parse_reference};
use super::{ImageUse, SourceKind, SourceSyntaxError, UseSite};

/// Why a kubectl JSON file cannot be read.
pub type PodsError = SourceSyntaxError;

/// The annotation that numbers a Deployment's ReplicaSets (the newest is the
/// highest; `kubectl rollout undo` goes back to an older one).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// Reads one document: the JSON of `kubectl get … -o json` (a `List`, or a single
/// object), or one page of an API list call (`PodList`, `DeploymentList`, …).
pub fn parse(text: &str) -> Result<Page, PodsError> {
    object::parse(text, None)
}

/// Reads one page of a list call of objects of `kind` (`Deployment`): items without
/// a `kind`, as the API server sends them, are of the list's kind (`DeploymentList`),
/// else of `kind`.
pub fn parse_list(text: &str, kind: &str) -> Result<Page, PodsError> {
    object::parse(text, Some(kind))
}

/// Where a source's objects come from: a file (as shown) or a cluster (its context).
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    /// A file of kubectl JSON.
    File(&'a str),
    /// A cluster, by the kubeconfig context it is read through.
    Cluster(&'a str),
}

/// What to do with an ECR image that ECR would refuse to pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Stop: the file is wrong (what a file source does).
    Error,
    /// Log it and leave it out: nothing can run it (what a live cluster does).
    Skip,
}

/// The image uses of `objects`, all of one source at `place`. Of the ReplicaSets a
/// Deployment owns, all are kept, or with `replicasets_per_deployment` the newest N
/// by revision (ties: by name). Images of other registries are left out; an image
/// that names an ECR registry but is malformed is an error or skipped, as `malformed`
/// says.
pub fn uses(
    objects: &[Object],
    place: Place<'_>,
    replicasets_per_deployment: Option<u32>,
    malformed: Malformed,
) -> Result<Vec<ImageUse>, PodsError> {
    let dropped = older_replicasets(objects, replicasets_per_deployment);
    let mut out = Vec::new();
    for (n, object) in objects.iter().enumerate() {
        if dropped.get(&n).copied().unwrap_or(false) {
            continue;
        }
        let (resource, pod) = describe(object);
        let base = UseSite {
            account: None,
            source: SourceKind::Kubernetes,
            file: match place {
                Place::File(f) => Some(f.to_owned()),
                Place::Cluster(_) => None,
            },
            line: None,
            pod,
            container: None,
            region: None,
            cluster: match place {
                Place::File(_) => None,
                Place::Cluster(c) => Some(c.to_owned()),
            },
            resource,
            reference: String::new(),
        };
        // The same image twice in one object (a container's spec and its status) is
        // one use; the objects are many, so only this object's uses are compared.
        let start = out.len();
        for image in &object.images {
            add(&mut out, start, image, &base, malformed)?;
        }
    }
    Ok(out)
}

/// A ReplicaSet of a Deployment: its revision, name and index among the objects.
type Revision<'a> = (u64, &'a str, usize);

/// The ReplicaSets of Deployments that `newest` (`replicasets_per_deployment`) leaves
/// out, by index among `objects` (true: left out).
fn older_replicasets(objects: &[Object], newest: Option<u32>) -> HashMap<usize, bool> {
    let Some(newest) = newest else {
        return HashMap::new();
    };
    let mut by_deployment: BTreeMap<(&str, &str), Vec<Revision<'_>>> = BTreeMap::new();
    for (n, o) in objects.iter().enumerate() {
        if let (ObjectKind::ReplicaSet, Some(d)) = (o.kind, o.deployment.as_deref()) {
            by_deployment
                .entry((o.namespace.as_str(), d))
                .or_default()
                .push((o.revision.unwrap_or(0), o.name.as_str(), n));
        }
    }
    let mut out = HashMap::new();
    for sets in by_deployment.values_mut() {
        // Newest first; the same revision twice (it should not happen) by name.
        sets.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        for (rank, (_, _, n)) in sets.iter().enumerate() {
            out.insert(*n, rank >= newest as usize);
        }
    }
    out
}

/// What runs the images of `object`, as the plan says it: `(resource, pod)`. A pod is
/// named by the `pod` field (`NAMESPACE/NAME`), everything else by `resource`
/// (`deployment payments/api`; a Deployment's ReplicaSet as `deployment payments/api,
/// ReplicaSet api-7d9f (revision 12)`).
fn describe(object: &Object) -> (Option<String>, Option<String>) {
    let full = format!("{}/{}", object.namespace, object.name);
    match (object.kind, object.deployment.as_deref()) {
        (ObjectKind::Pod, _) => (None, Some(full)),
        (ObjectKind::ReplicaSet, Some(deployment)) => {
            let revision = object
                .revision
                .map(|r| format!(" (revision {r})"))
                .unwrap_or_default();
            (
                Some(format!(
                    "deployment {}/{deployment}, ReplicaSet {}{revision}",
                    object.namespace, object.name
                )),
                None,
            )
        }
        (kind, _) => (
            Some(format!("{} {full}", kind.noun(&object.kind_name))),
            None,
        ),
    }
}

fn add(
    out: &mut Vec<ImageUse>,
    start: usize,
    image: &Image,
    base: &UseSite,
    malformed: Malformed,
) -> Result<(), PodsError> {
    let text = image.reference.as_str();
    if text.is_empty() {
        return Ok(());
    }
    match parse_reference(text) {
        Ok(parsed) => {
            let site = UseSite {
                container: Some(image.container.clone()),
                reference: text.to_owned(),
                ..base.clone()
            };
            if !out[start..]
                .iter()
                .any(|u| u.image == parsed && u.site == site)
            {
                out.push(ImageUse {
                    image: parsed,
                    site,
                });
            }
            Ok(())
        }
        Err(ReferenceError::NotEcr) => Ok(()),
        Err(ReferenceError::Invalid(why)) => {
            let at = match (&base.pod, &base.resource) {
                (Some(pod), _) => format!("pod {pod}"),
                (None, Some(r)) => r.clone(),
                (None, None) => String::new(),
            };
            match malformed {
                Malformed::Error => Err(PodsError {
                    line: None,
                    column: None,
                    message: format!("{at}, container {}: image `{text}`: {why}", image.container),
                }),
                Malformed::Skip => {
                    tracing::warn!(
                        "in use: {at}, container {}: image `{text}` is not a valid ECR reference ({why}): left out",
                        image.container
                    );
                    Ok(())
                }
            }
        }
    }
}

/// Every ECR image the objects of the kubectl JSON `text` name, each with its object
/// and container, and how many objects of each kind without a pod template were
/// skipped. `file` is the file as shown. See [`parse`] and [`uses`].
pub fn read_file(
    text: &str,
    file: &str,
    replicasets_per_deployment: Option<u32>,
) -> Result<(Vec<ImageUse>, BTreeMap<String, u64>), PodsError> {
    let page = parse(text)?;
    let found = uses(
        &page.objects,
        Place::File(file),
        replicasets_per_deployment,
        Malformed::Error,
    )?;
    Ok((found, page.skipped))
}

/// The images of the pods and pod templates of `text` (see [`read_file`]), all
/// ReplicaSets kept.
pub fn pods(text: &str, file: &str) -> Result<Vec<ImageUse>, PodsError> {
    read_file(text, file, None).map(|(uses, _)| uses)
}
