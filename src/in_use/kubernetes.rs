//! The pods of `kubectl get pods -A -o json`: the images of their containers, init
//! containers and ephemeral containers, as the spec names them and as the kubelet
//! resolved them (`status.*ContainerStatuses[].imageID`, a digest).

use serde::Deserialize;

use super::reference::{ReferenceError, parse_reference};
use super::{ImageUse, SourceKind, UseSite};

/// Why a kubectl JSON file cannot be read as pods.
pub type PodsError = super::SourceSyntaxError;

#[derive(Deserialize)]
struct List {
    kind: Option<String>,
    items: Option<Vec<Item>>,
    #[serde(flatten)]
    single: Item,
}

#[derive(Default, Deserialize)]
struct Item {
    kind: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Default, Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    ephemeral_containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    name: Option<String>,
    image: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    init_container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    ephemeral_container_statuses: Vec<ContainerStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStatus {
    name: Option<String>,
    image: Option<String>,
    #[serde(rename = "imageID")]
    image_id: Option<String>,
}

/// The container runtimes' prefixes of `imageID`.
const RUNTIME_PREFIXES: [&str; 3] = ["docker-pullable://", "docker://", "containerd://"];

/// Every ECR image the pods in `text` (the JSON of `kubectl get pods -o json`, a
/// `List` of pods or one `Pod`) name, each with its pod and container. `file` is the
/// file as shown. Images of other registries are not ECR's and are left out; an item
/// that is not a pod is an error (another `kubectl get` would say nothing of pods),
/// and so is an image that names an ECR registry but is malformed.
pub fn pods(text: &str, file: &str) -> Result<Vec<ImageUse>, PodsError> {
    let list: List = serde_json::from_str(text).map_err(|e| PodsError {
        line: u32::try_from(e.line()).ok().filter(|&l| l > 0),
        column: u32::try_from(e.column()).ok().filter(|&c| c > 0),
        message: format!("not kubectl JSON: {e}"),
    })?;
    let items = match (list.items, list.kind.as_deref()) {
        (Some(items), _) => items,
        (None, Some("Pod")) => vec![list.single],
        (None, kind) => {
            return Err(PodsError {
                line: None,
                column: None,
                message: format!(
                    "not the output of `kubectl get pods -A -o json`: no `items`{}",
                    kind.map(|k| format!(" (kind `{k}`)")).unwrap_or_default()
                ),
            });
        }
    };
    let mut out = Vec::new();
    for (n, pod) in items.into_iter().enumerate() {
        if let Some(kind) = pod.kind.as_deref()
            && kind != "Pod"
        {
            return Err(PodsError {
                line: None,
                column: None,
                message: format!(
                    "item {n} is a {kind}, not a Pod: give the output of `kubectl get pods -A -o json`"
                ),
            });
        }
        let name = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or("?")
        );
        let spec = [
            (&pod.spec.containers, ""),
            (&pod.spec.init_containers, " (init)"),
            (&pod.spec.ephemeral_containers, " (ephemeral)"),
        ];
        for (containers, role) in spec {
            for c in containers {
                let container = format!("{}{role}", c.name.as_deref().unwrap_or("?"));
                add(&mut out, c.image.as_deref(), file, &name, &container)?;
            }
        }
        let status = [
            (&pod.status.container_statuses, ""),
            (&pod.status.init_container_statuses, " (init)"),
            (&pod.status.ephemeral_container_statuses, " (ephemeral)"),
        ];
        for (statuses, role) in status {
            for s in statuses {
                let container = format!("{}{role}", s.name.as_deref().unwrap_or("?"));
                add(&mut out, s.image.as_deref(), file, &name, &container)?;
                let id = s.image_id.as_deref().map(|id| {
                    RUNTIME_PREFIXES
                        .iter()
                        .find_map(|p| id.strip_prefix(p))
                        .unwrap_or(id)
                });
                add(&mut out, id, file, &name, &container)?;
            }
        }
    }
    Ok(out)
}

fn add(
    out: &mut Vec<ImageUse>,
    image: Option<&str>,
    file: &str,
    pod: &str,
    container: &str,
) -> Result<(), PodsError> {
    let Some(text) = image.filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    match parse_reference(text) {
        Ok(image) => {
            let site = UseSite {
                source: SourceKind::Kubernetes,
                file: Some(file.to_owned()),
                line: None,
                pod: Some(pod.to_owned()),
                container: Some(container.to_owned()),
                region: None,
                resource: None,
                reference: text.to_owned(),
            };
            if !out.iter().any(|u| u.image == image && u.site == site) {
                out.push(ImageUse { image, site });
            }
            Ok(())
        }
        Err(ReferenceError::NotEcr) => Ok(()),
        Err(ReferenceError::Invalid(why)) => Err(PodsError {
            line: None,
            column: None,
            message: format!("pod {pod}, container {container}: image `{text}`: {why}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn pod(extra_status: &str) -> String {
        format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[{{"kind":"Pod",
              "metadata":{{"name":"web-1","namespace":"shop"}},
              "spec":{{"containers":[{{"name":"app","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:v3"}},
                                    {{"name":"proxy","image":"envoyproxy/envoy:v1.30"}}],
                      "initContainers":[{{"name":"migrate","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/migrate:v3"}}],
                      "ephemeralContainers":[{{"name":"debug","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/tools/debug"}}]}},
              "status":{{"containerStatuses":[{{"name":"app","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:v3",
                  "imageID":"docker-pullable://123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@sha256:{HEX}"}}{extra_status}]}}}}]}}"#
        )
    }

    #[test]
    fn containers_init_ephemeral_and_resolved_digests() {
        let uses = pods(&pod(""), "pods.json").unwrap();
        let got: Vec<(String, Option<String>, Option<String>, String)> = uses
            .iter()
            .map(|u| {
                (
                    u.image.repository.name.to_string(),
                    u.image.tag.as_ref().map(ToString::to_string),
                    u.image.digest.as_ref().map(|d| d.hex()[..4].to_owned()),
                    u.site.to_string(),
                )
            })
            .collect();
        let s = |a: &str, t: Option<&str>, d: Option<&str>, site: &str| {
            (
                a.to_owned(),
                t.map(str::to_owned),
                d.map(str::to_owned),
                site.to_owned(),
            )
        };
        assert_eq!(
            got,
            [
                s(
                    "shop/web",
                    Some("v3"),
                    None,
                    "pod shop/web-1 container app (pods.json)"
                ),
                s(
                    "shop/migrate",
                    Some("v3"),
                    None,
                    "pod shop/web-1 container migrate (init) (pods.json)"
                ),
                s(
                    "tools/debug",
                    Some("latest"),
                    None,
                    "pod shop/web-1 container debug (ephemeral) (pods.json)"
                ),
                s(
                    "shop/web",
                    None,
                    Some("0123"),
                    "pod shop/web-1 container app (pods.json)"
                ),
            ]
        );
    }

    #[test]
    fn what_is_not_a_pod_list_is_an_error() {
        for text in [
            "",
            "{",
            "[]",
            r#"{"kind":"Deployment","metadata":{"name":"x"}}"#,
            r#"{"kind":"List","items":[{"kind":"Deployment"}]}"#,
            r#"{"kind":"List","items":{}}"#,
        ] {
            assert!(pods(text, "f").is_err(), "{text}");
        }
        let e = pods("{\n  \"items\": [,]\n}", "f").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            pods(r#"{"kind":"List","items":[]}"#, "f")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_malformed_ecr_image_in_a_pod_is_an_error() {
        let bad = pod(
            r#",{"name":"x","imageID":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/Bad@sha256:1"}"#,
        );
        let e = pods(&bad, "f").unwrap_err();
        assert!(
            e.message.contains("pod shop/web-1, container x"),
            "{}",
            e.message
        );
        // A runtime image id without a repository is not a reference.
        let ok = pod(&format!(r#",{{"name":"x","imageID":"sha256:{HEX}"}}"#));
        assert_eq!(pods(&ok, "f").unwrap().len(), 4);
    }
}
