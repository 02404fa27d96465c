//! Validation of `in_use.kubernetes`: each entry a file of kubectl JSON (a path, or a
//! mapping with `file`) or a cluster read live (a mapping with `context`).

use super::super::in_use::{
    KubernetesCluster, KubernetesFile, MAX_REPLICASETS_PER_DEPLOYMENT, Selection,
};
use super::super::raw::{RawKubernetesCluster, RawKubernetesFile};
use super::super::yaml::{Node, Value};
use super::Code;
use super::Cx;

const WHAT: &str = "`in_use.kubernetes`";

impl<'n> Cx<'n> {
    /// `in_use.kubernetes`: its files and its clusters.
    pub(super) fn kubernetes(
        &mut self,
        node: &'n Node,
    ) -> (Vec<KubernetesFile>, Vec<KubernetesCluster>) {
        let (mut files, mut clusters) = (Vec::new(), Vec::new());
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, WHAT, "a list of files and clusters");
            return (files, clusters);
        };
        for item in items {
            match &item.value {
                Value::Str(text) => {
                    files.extend(
                        self.path(item, text, WHAT, false)
                            .map(|path| KubernetesFile {
                                path,
                                replicasets_per_deployment: None,
                            }),
                    )
                }
                Value::Map(entries) if entries.iter().any(|(k, _)| is_key(k, "file")) => {
                    files.extend(self.kubernetes_file(item));
                }
                Value::Map(_) => clusters.extend(self.cluster(item)),
                _ => self.wrong_type(
                    item,
                    &format!("an entry of {WHAT}"),
                    "a path (a file of kubectl JSON) or a mapping with `context` (a cluster)",
                ),
            }
        }
        (files, clusters)
    }

    fn kubernetes_file(&mut self, item: &'n Node) -> Option<KubernetesFile> {
        let raw = self.read::<RawKubernetesFile>(item, "a file entry of `in_use.kubernetes`")?;
        let (_, v) = self.get(&raw.file)?;
        let path = match &v.value {
            Value::Str(text) => self.path(v, text, WHAT, false),
            _ => {
                self.wrong_type(v, "`file`", "a path (a string)");
                None
            }
        };
        let newest = self.replicasets(self.value(&raw.replicasets_per_deployment))?;
        Some(KubernetesFile {
            path: path?,
            replicasets_per_deployment: newest,
        })
    }

    fn cluster(&mut self, item: &'n Node) -> Option<KubernetesCluster> {
        let raw = self.read::<RawKubernetesCluster>(item, "a cluster of `in_use.kubernetes`")?;
        let before = self.diags.len();
        let context = match self.get(&raw.context).map(|(_, v)| v) {
            None => {
                self.error(
                    Code::MissingKey,
                    item.span,
                    "a cluster of `in_use.kubernetes` needs a `context`",
                    "cluster starts here",
                )
                .help = Some(
                    "name the kubeconfig context to read (`kubectl config get-contexts`), or write the path of a file of kubectl JSON instead".into(),
                );
                None
            }
            Some(v) => match &v.value {
                Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
                Value::Str(_) => {
                    self.error(Code::InvalidSelector, v.span, "an empty `context`", "empty")
                        .help = Some("name a context of the kubeconfig".into());
                    None
                }
                _ => {
                    self.wrong_type(v, "`context`", "a string");
                    None
                }
            },
        };
        let kubeconfig = match self.value(&raw.kubeconfig) {
            None => None,
            Some(v) => match &v.value {
                Value::Str(text) => self
                    .path(v, text, "`kubeconfig`", false)
                    .map(|p| p.base.join(&p.written)),
                _ => {
                    self.wrong_type(v, "`kubeconfig`", "a path (a string)");
                    None
                }
            },
        };
        let namespaces = match self.value(&raw.namespaces) {
            None => Some(Selection::All),
            Some(v) => self.selection(v, "`namespaces`", "namespace", is_namespace),
        };
        let newest = self.replicasets(self.value(&raw.replicasets_per_deployment));
        if self.diags.len() != before {
            return None;
        }
        Some(KubernetesCluster {
            context: context?,
            kubeconfig,
            namespaces: namespaces?,
            replicasets_per_deployment: newest?,
            origin: self.origin(item.span),
        })
    }

    /// `replicasets_per_deployment`: absent (all), or 1 to the maximum. `None` when
    /// it is invalid.
    #[allow(clippy::option_option)]
    fn replicasets(&mut self, node: Option<&Node>) -> Option<Option<u32>> {
        let Some(v) = node else {
            return Some(None);
        };
        match v.value {
            Value::Int(n) if (1..=i128::from(MAX_REPLICASETS_PER_DEPLOYMENT)).contains(&n) => {
                u32::try_from(n).ok().map(Some)
            }
            Value::Int(n) => {
                self.error(
                    Code::InvalidRevisions,
                    v.span,
                    format!(
                        "`replicasets_per_deployment` must be between 1 and {MAX_REPLICASETS_PER_DEPLOYMENT}, not {n}"
                    ),
                    "out of range",
                )
                .help = Some(
                    "the newest N ReplicaSets of each Deployment keep their images (rollback targets); leave it out to keep every one Kubernetes holds".into(),
                );
                None
            }
            _ => {
                self.wrong_type(v, "`replicasets_per_deployment`", "a whole number");
                None
            }
        }
    }
}

fn is_key(node: &Node, name: &str) -> bool {
    matches!(&node.value, Value::Str(s) if s == name)
}

/// A Kubernetes namespace name: a DNS label (1 to 63 lowercase letters, digits and
/// `-`, starting and ending with a letter or digit).
fn is_namespace(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use crate::config::{KubernetesCluster, Selection, load_sources};

    #[test]
    fn files_and_clusters_with_their_defaults() {
        let yaml = "version: 1\nin_use:\n  kubernetes:\n    - pods.json\n    - {file: all.json, replicasets_per_deployment: 3}\n    - context: prod-eu\n    - context: arn:aws:eks:eu-west-1:123456789012:cluster/prod\n      kubeconfig: kube/config\n      namespaces: [payments, batch]\n      replicasets_per_deployment: 5\nrepositories: {}\n";
        let state = load_sources(vec![("d/t.yaml".into(), yaml.as_bytes().to_vec())]).unwrap();
        let k = &state.in_use;
        let files: Vec<(&str, Option<u32>)> = k
            .kubernetes
            .iter()
            .map(|f| (f.path.written.as_str(), f.replicasets_per_deployment))
            .collect();
        assert_eq!(files, [("pods.json", None), ("all.json", Some(3))]);
        let [first, second] = &k.clusters[..] else {
            panic!("{:?}", k.clusters)
        };
        assert_eq!(
            (
                first.context.as_str(),
                &first.kubeconfig,
                &first.namespaces,
                first.replicasets_per_deployment
            ),
            ("prod-eu", &None, &Selection::All, None)
        );
        let KubernetesCluster {
            kubeconfig,
            namespaces,
            replicasets_per_deployment,
            origin,
            ..
        } = second;
        // Relative to the desired-state file's folder.
        assert_eq!(
            kubeconfig.as_deref(),
            Some(std::path::Path::new("d/kube/config"))
        );
        assert_eq!(
            namespaces,
            &Selection::Names(vec!["payments".into(), "batch".into()])
        );
        assert_eq!(*replicasets_per_deployment, Some(5));
        assert_eq!((origin.line, origin.column), (7, 7));
        assert!(!k.is_empty());
    }
}
