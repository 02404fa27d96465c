//! Reading a Kubernetes cluster: which list calls are made and what their answers
//! keep. Every resource whose objects run images or hold a pod template is listed
//! (cluster-wide, or in each namespace named), every page followed (`limit` and
//! `continue`), a list whose continue token expired (410 Gone) started again; then the
//! objects of the whole cluster become image uses, as a file's do, with the newest
//! `replicasets_per_deployment` ReplicaSets of each Deployment. Any error stops the
//! read (never "could not read the cluster, so nothing runs there").

use std::sync::Mutex;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use strum::IntoEnumIterator;

use super::live::{LIVE_CONCURRENCY, LiveRead};
use crate::config::{KubernetesCluster, Selection};
use crate::deployed::LiveCalls;
use crate::deployed::kubernetes::{ClusterApi, KubeError, KubeResource, LIST_PAGE};
use crate::in_use::kubernetes::{self, Malformed, Object, Place};

/// How many times one list is started before its expiring continue tokens stop
/// the read.
pub const MAX_LIST_STARTS: u32 = 5;

/// Reads `cluster` through `api`.
pub async fn read_cluster<A: ClusterApi>(
    api: &A,
    cluster: &KubernetesCluster,
) -> Result<LiveRead, KubeError> {
    let calls = Mutex::new(LiveCalls::default());
    let scopes: Vec<Option<String>> = match &cluster.namespaces {
        Selection::All => vec![None],
        Selection::Names(names) => names.iter().cloned().map(Some).collect(),
    };
    let lists: Vec<(KubeResource, Option<String>)> = KubeResource::iter()
        .flat_map(|r| scopes.iter().map(move |ns| (r, ns.clone())))
        .collect();
    let calls_ref = &calls;
    let context = cluster.context.as_str();
    let pages: Vec<(KubeResource, Vec<Object>)> = stream::iter(lists)
        .map(move |(resource, namespace)| async move {
            let objects = list_all(api, context, resource, namespace.as_deref(), calls_ref).await?;
            Ok::<_, KubeError>((resource, objects))
        })
        .buffered(LIVE_CONCURRENCY)
        .try_collect()
        .await?;
    let mut counts: Vec<(KubeResource, usize)> = Vec::new();
    let mut objects = Vec::new();
    for (resource, found) in pages {
        match counts.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, n)) => *n += found.len(),
            None => counts.push((resource, found.len())),
        }
        objects.extend(found);
    }
    let uses = kubernetes::uses(
        &objects,
        Place::Cluster(&cluster.context),
        cluster.replicasets_per_deployment,
        Malformed::Skip,
    )
    .map_err(|e| KubeError::Surprising {
        resource: KubeResource::Pods,
        namespace: None,
        why: e.message,
    })?;
    let summary = counts
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(LiveRead {
        uses,
        calls: calls.into_inner().unwrap_or_else(|p| p.into_inner()),
        summary,
    })
}

/// Every object of one list, all pages; started again (at most [`MAX_LIST_STARTS`]
/// times) when a continue token expired.
async fn list_all<A: ClusterApi>(
    api: &A,
    context: &str,
    resource: KubeResource,
    namespace: Option<&str>,
    calls: &Mutex<LiveCalls>,
) -> Result<Vec<Object>, KubeError> {
    let surprising = |why: String| KubeError::Surprising {
        resource,
        namespace: namespace.map(str::to_owned),
        why,
    };
    for _ in 0..MAX_LIST_STARTS {
        let listed = crate::aws::all_pages(|next: Option<String>| {
            calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .count_list(context, resource);
            async move {
                let text = api
                    .list(resource, namespace, LIST_PAGE, next.as_deref())
                    .await?;
                let page = kubernetes::parse_list(&text, resource.kind())
                    .map_err(|e| surprising(e.message))?;
                Ok::<_, KubeError>((page.objects, page.next))
            }
        })
        .await;
        match listed {
            Err(e) if e.is_expired() => {
                tracing::info!(
                    "in use: Kubernetes {context}: the list of {resource} expired (410 Gone): listing again"
                );
            }
            other => return other,
        }
    }
    Err(KubeError::NeverCompletes {
        resource,
        namespace: namespace.map(str::to_owned),
        restarts: MAX_LIST_STARTS,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Origin;

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    /// A cluster of `pods` pods in namespace `a` (image `app:vN`), pages of 2 (the
    /// limit asked is ignored, as a server may), whose continue tokens expire
    /// `expire` times.
    struct Fake {
        pods: usize,
        expire: Mutex<u32>,
        seen: Mutex<BTreeMap<String, usize>>,
    }

    impl ClusterApi for Fake {
        async fn list(
            &self,
            resource: KubeResource,
            namespace: Option<&str>,
            _limit: u32,
            continue_token: Option<&str>,
        ) -> Result<String, KubeError> {
            *self
                .seen
                .lock()
                .unwrap()
                .entry(resource.path(namespace))
                .or_default() += 1;
            let api = |code: u16, reason: &str| KubeError::Api {
                resource,
                namespace: namespace.map(str::to_owned),
                code,
                reason: reason.into(),
                message: String::new(),
            };
            if namespace == Some("secret") {
                return Err(api(403, "Forbidden"));
            }
            let at: usize = match continue_token {
                None => 0,
                Some(t) => {
                    let mut expire = self.expire.lock().unwrap();
                    if *expire > 0 {
                        *expire -= 1;
                        return Err(api(410, "Expired"));
                    }
                    t.parse().unwrap()
                }
            };
            let n = if resource == KubeResource::Pods {
                self.pods
            } else {
                0
            };
            let items: Vec<String> = (at..n.min(at + 2))
                .map(|i| {
                    format!(
                        r#"{{"metadata":{{"name":"p{i}","namespace":"a"}},"spec":{{"containers":[{{"name":"c","image":"{HOST}/app:v{i}"}}]}}}}"#
                    )
                })
                .collect();
            let next = if at + 2 < n {
                format!(r#","continue":"{}""#, at + 2)
            } else {
                String::new()
            };
            Ok(format!(
                r#"{{"kind":"{}List","metadata":{{"resourceVersion":"1"{next}}},"items":[{}]}}"#,
                resource.kind(),
                items.join(",")
            ))
        }
    }

    fn fake(pods: usize, expire: u32) -> Fake {
        Fake {
            pods,
            expire: Mutex::new(expire),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn cluster(namespaces: Selection) -> KubernetesCluster {
        KubernetesCluster {
            context: "prod-eu".into(),
            kubeconfig: None,
            namespaces,
            replicasets_per_deployment: None,
            origin: Origin {
                file: "d.yaml".into(),
                line: 1,
                column: 1,
            },
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn every_page_of_every_kind_is_read_and_counted() {
        let api = fake(5, 0);
        let read = block(read_cluster(&api, &cluster(Selection::All))).unwrap();
        let tags: Vec<String> = read
            .uses
            .iter()
            .map(|u| u.image.tag.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(tags, ["v0", "v1", "v2", "v3", "v4"]);
        assert_eq!(
            read.uses[0].site.to_string(),
            "Kubernetes prod-eu pod a/p0 container c"
        );
        assert_eq!(
            read.calls.to_string(),
            "kubernetes:prod-eu:pods 3, kubernetes:prod-eu:deployments 1, kubernetes:prod-eu:replicasets 1, kubernetes:prod-eu:statefulsets 1, kubernetes:prod-eu:daemonsets 1, kubernetes:prod-eu:jobs 1, kubernetes:prod-eu:cronjobs 1, kubernetes:prod-eu:replicationcontrollers 1"
        );
        assert!(
            read.summary.starts_with("pods 5, deployments 0"),
            "{}",
            read.summary
        );
    }

    #[test]
    fn an_expired_list_starts_again_and_one_that_never_completes_stops_the_read() {
        let api = fake(5, 2);
        let read = block(read_cluster(&api, &cluster(Selection::All))).unwrap();
        assert_eq!(read.uses.len(), 5, "the whole list, once");
        // Two expired starts (2 calls each) and the full list (3 calls).
        assert_eq!(api.seen.lock().unwrap()["/api/v1/pods"], 7);
        let api = fake(5, u32::MAX);
        let e = block(read_cluster(&api, &cluster(Selection::All))).unwrap_err();
        assert_eq!(
            e,
            KubeError::NeverCompletes {
                resource: KubeResource::Pods,
                namespace: None,
                restarts: MAX_LIST_STARTS
            }
        );
        assert!(e.to_string().contains("expired 5 times in a row"), "{e}");
    }

    #[test]
    fn namespaces_are_listed_each_and_a_refusal_stops_the_read() {
        let api = fake(1, 0);
        let names = Selection::Names(vec!["a".into(), "b".into()]);
        block(read_cluster(&api, &cluster(names))).unwrap();
        let seen = api.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 16, "8 kinds in 2 namespaces: {seen:?}");
        assert!(seen.contains_key("/apis/batch/v1/namespaces/b/cronjobs"));
        let names = Selection::Names(vec!["a".into(), "secret".into()]);
        let e = block(read_cluster(&fake(1, 0), &cluster(names))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("list pods in namespace secret: 403 Forbidden"),
            "{e}"
        );
    }

    /// Reads every cluster as the fake at its `context` says: `Fake` pods there.
    #[derive(Debug)]
    struct Clusters;

    impl super::super::ClusterSources for Clusters {
        fn cluster<'a>(
            &'a self,
            source: &'a KubernetesCluster,
        ) -> futures_util::future::BoxFuture<'a, Result<LiveRead, KubeError>> {
            Box::pin(async move {
                let pods = source.context.len();
                read_cluster(&fake(pods, 0), source).await
            })
        }
    }

    #[test]
    fn every_cluster_declared_is_read_and_a_snapshot_run_reads_none() {
        let mut sources = crate::config::InUseSources::default();
        let mut one = cluster(Selection::All);
        one.context = "a".into();
        let mut three = cluster(Selection::All);
        three.context = "abc".into();
        sources.clusters = vec![one, three];
        let set = block(super::super::read(&sources, None, Some(&Clusters), &[])).unwrap();
        assert_eq!(set.len(), 4, "1 pod in `a`, 3 in `abc`");
        assert_eq!(
            set.calls.total(),
            16 + 1,
            "8 kinds each; 3 pods take 2 pages"
        );
        let e = block(super::super::read(&sources, None, None, &[])).unwrap_err();
        assert!(
            matches!(&e, super::super::InUseError::NeedsCluster { context, .. } if context == "a"),
            "{e}"
        );
    }
}
