//! Reading ECS and Lambda: which calls are made, in what order, and what each answer
//! says is in use. Every call goes through [`Deployments`] and is counted; any error
//! stops the read (never "could not read ECS, so nothing runs there").
//!
//! ECS, per region: the clusters (all, or those named); in each, every service's task
//! definitions (the service's and each deployment's: a rolling deployment runs two)
//! and every running task's containers (the image and the digest it resolved to); and
//! the newest `task_definition_revisions` of every active task-definition family, for
//! rollbacks. Lambda, per region: every container-image function (or those named):
//! `$LATEST`, each published version and each alias (with a weighted alias's second
//! version), each version's image by tag and by digest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::config::{EcsSource, LambdaSource, Selection};
use crate::deployed::{
    DeployedCode, DeployedError, Deployments, ECS_DESCRIBE_SERVICES, ECS_DESCRIBE_TASKS, LiveCalls,
    LiveOperation, Page,
};
use crate::in_use::{ImageUse, ReferenceError, SourceKind, UseSite, parse_reference};
use crate::model::Region;

/// How many calls of one source are in flight at once.
pub const LIVE_CONCURRENCY: usize = 8;

/// What reading one source in one region found.
#[derive(Debug, Default)]
pub struct LiveRead {
    /// The images in use, with where.
    pub uses: Vec<ImageUse>,
    /// The calls made.
    pub calls: LiveCalls,
    /// What was read, for the log: `clusters 3, services 5, …`.
    pub summary: String,
}

/// Counts calls as they are made (calls run concurrently).
struct Counter<'a, D> {
    d: &'a D,
    calls: Mutex<LiveCalls>,
}

impl<'a, D: Deployments> Counter<'a, D> {
    fn new(d: &'a D) -> Self {
        Self {
            d,
            calls: Mutex::new(LiveCalls::default()),
        }
    }

    fn into_calls(self) -> LiveCalls {
        self.calls.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Every page of a listing.
    async fn all_pages<T, F, Fut>(
        &self,
        op: LiveOperation,
        mut call: F,
    ) -> Result<Vec<T>, DeployedError>
    where
        F: FnMut(&'a D, Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, DeployedError>>,
    {
        crate::aws::all_pages(|next| {
            self.count_op(op);
            let page = call(self.d, next);
            async move { page.await.map(|p| (p.items, p.next)) }
        })
        .await
    }
}

impl<D> Counter<'_, D> {
    /// `call` on batches of at most `size` of `items`, [`LIVE_CONCURRENCY`] at once,
    /// with their answers in order.
    async fn in_batches<T, F, Fut>(
        &self,
        op: LiveOperation,
        items: &[String],
        size: usize,
        call: F,
    ) -> Result<Vec<T>, DeployedError>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<T>, DeployedError>>,
    {
        let chunks: Vec<Vec<String>> = items.chunks(size).map(<[String]>::to_vec).collect();
        let answers: Vec<Vec<T>> = stream::iter(chunks)
            .map(|chunk| {
                self.count_op(op);
                call(chunk)
            })
            .buffered(LIVE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(answers.into_iter().flatten().collect())
    }

    fn count_op(&self, op: LiveOperation) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(op);
    }
}

/// The last part of an ARN (`…:cluster/prod` → `prod`), or the name as given.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `FAMILY:REVISION` of a task definition ARN (or the text as given).
fn task_definition_name(arn: &str) -> &str {
    arn.rsplit_once(":task-definition/")
        .map_or(arn, |(_, name)| name)
}

/// Adds a use of `text` (an image as a task definition, task or function names it):
/// references to other registries are not this tool's concern, and one ECR would not
/// pull is logged and left out (nothing can run it).
fn push_use(out: &mut Vec<ImageUse>, text: &str, site: &UseSite) {
    match parse_reference(text) {
        Ok(image) => out.push(ImageUse {
            image,
            site: UseSite {
                reference: text.to_owned(),
                ..site.clone()
            },
        }),
        Err(ReferenceError::NotEcr) => {}
        Err(ReferenceError::Invalid(why)) => {
            tracing::warn!(
                "in use: {site}: image `{text}` is not a valid ECR reference ({why}): left out"
            );
        }
    }
}

/// `REPOSITORY@DIGEST` from `image` (by tag or digest) and the digest it resolved to.
fn by_digest(image: &str, digest: &str) -> Option<String> {
    if !digest.starts_with("sha256:") {
        return None;
    }
    let name_end = image.find('@').unwrap_or(image.len());
    let name = &image[..name_end];
    // A tag follows the last `:` after the last `/` (a port's `:` comes before it).
    let slash = name.rfind('/').unwrap_or(0);
    let repo = match name[slash..].rfind(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    };
    Some(format!("{repo}@{digest}"))
}

fn site(source: SourceKind, region: &Region, resource: String, container: Option<&str>) -> UseSite {
    UseSite {
        account: None,
        source,
        file: None,
        line: None,
        pod: None,
        container: container.map(str::to_owned),
        region: Some(region.as_str().to_owned()),
        cluster: None,
        resource: Some(resource),
        reference: String::new(),
    }
}

/// What an ECS source found so far: images in use, and the task definitions to
/// describe with why each is in use.
#[derive(Default)]
struct EcsFound {
    uses: Vec<ImageUse>,
    wanted: BTreeMap<String, Vec<String>>,
}

/// Reads one ECS source in one region: its clusters' services and running tasks, then
/// the newest revisions of every family, then every task definition found on the way.
pub async fn read_ecs<D: Deployments>(
    d: &D,
    region: &Region,
    source: &EcsSource,
) -> Result<LiveRead, DeployedError> {
    let c = Counter::new(d);
    let clusters: Vec<String> = match &source.clusters {
        Selection::All => {
            c.all_pages(LiveOperation::EcsListClusters, |d, next| {
                d.ecs_list_clusters(region, next)
            })
            .await?
        }
        Selection::Names(names) => names.clone(),
    };
    let mut found = EcsFound::default();
    let (mut services_seen, mut tasks_seen) = (0usize, 0usize);
    for cluster in &clusters {
        services_seen += ecs_services(&c, region, cluster, &mut found).await?;
        tasks_seen += ecs_tasks(&c, region, cluster, &mut found).await?;
    }
    let families = ecs_newest_revisions(&c, region, source, &mut found).await?;
    let described = ecs_task_definitions(&c, region, &mut found).await?;
    let summary = format!(
        "clusters {}, services {services_seen}, running tasks {tasks_seen}, task definitions read {described}, families {families}",
        clusters.len(),
    );
    Ok(LiveRead {
        uses: found.uses,
        calls: c.into_calls(),
        summary,
    })
}

/// The task definitions of every service of `cluster` (and of each deployment);
/// returns how many services it has.
async fn ecs_services<D: Deployments>(
    c: &Counter<'_, D>,
    region: &Region,
    cluster: &str,
    found: &mut EcsFound,
) -> Result<usize, DeployedError> {
    let d = c.d;
    let cluster_name = short(cluster);
    let service_arns = c
        .all_pages(LiveOperation::EcsListServices, |d, next| {
            d.ecs_list_services(region, cluster, next)
        })
        .await?;
    let services = c
        .in_batches(
            LiveOperation::EcsDescribeServices,
            &service_arns,
            ECS_DESCRIBE_SERVICES,
            |chunk| async move { d.ecs_describe_services(region, cluster, &chunk).await },
        )
        .await?;
    let seen = services.len();
    for s in services {
        for td in s.task_definitions {
            found.wanted.entry(td.clone()).or_default().push(format!(
                "cluster {cluster_name}, service {} ({})",
                s.name,
                task_definition_name(&td)
            ));
        }
    }
    Ok(seen)
}

/// The images of every running task of `cluster`, by tag and by the digest each
/// resolved to; returns how many tasks run.
async fn ecs_tasks<D: Deployments>(
    c: &Counter<'_, D>,
    region: &Region,
    cluster: &str,
    found: &mut EcsFound,
) -> Result<usize, DeployedError> {
    let d = c.d;
    let cluster_name = short(cluster);
    let task_arns = c
        .all_pages(LiveOperation::EcsListTasks, |d, next| {
            d.ecs_list_tasks(region, cluster, next)
        })
        .await?;
    let tasks = c
        .in_batches(
            LiveOperation::EcsDescribeTasks,
            &task_arns,
            ECS_DESCRIBE_TASKS,
            |chunk| async move { d.ecs_describe_tasks(region, cluster, &chunk).await },
        )
        .await?;
    let seen = tasks.len();
    for t in tasks {
        let resource = format!(
            "cluster {cluster_name}, task {} ({})",
            short(&t.arn),
            task_definition_name(&t.task_definition)
        );
        for ct in &t.containers {
            let at = site(SourceKind::Ecs, region, resource.clone(), Some(&ct.name));
            if let Some(image) = &ct.image {
                push_use(&mut found.uses, image, &at);
                if let Some(reference) = ct.digest.as_deref().and_then(|dg| by_digest(image, dg)) {
                    push_use(&mut found.uses, &reference, &at);
                }
            }
        }
    }
    Ok(seen)
}

/// The newest `task_definition_revisions` of every active family, for rollbacks;
/// returns how many families there are.
async fn ecs_newest_revisions<D: Deployments>(
    c: &Counter<'_, D>,
    region: &Region,
    source: &EcsSource,
    found: &mut EcsFound,
) -> Result<usize, DeployedError> {
    let d = c.d;
    let n = source.task_definition_revisions;
    if n == 0 {
        return Ok(0);
    }
    let families = c
        .all_pages(LiveOperation::EcsListTaskDefinitionFamilies, |d, next| {
            d.ecs_list_families(region, next)
        })
        .await?;
    let count = families.len();
    let newest: Vec<(String, Vec<String>)> = stream::iter(families)
        .map(move |family: String| {
            c.count_op(LiveOperation::EcsListTaskDefinitions);
            async move {
                let arns = d.ecs_newest_task_definitions(region, &family, n).await?;
                Ok::<_, DeployedError>((family, arns))
            }
        })
        .buffered(LIVE_CONCURRENCY)
        .try_collect()
        .await?;
    for (family, arns) in newest {
        // Only the family's own revisions count, newest first whatever order the
        // answer has (the call asks for the newest N, sorted).
        let mut revisions: Vec<(u64, String)> = arns
            .into_iter()
            .filter_map(|a| {
                let (f, rev) = task_definition_name(&a).rsplit_once(':')?;
                (f == family).then(|| Some((rev.parse().ok()?, a.clone())))?
            })
            .collect();
        revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (_, arn) in revisions.into_iter().take(n as usize) {
            let name = task_definition_name(&arn).to_owned();
            found.wanted.entry(arn).or_default().push(format!(
                "task definition {name} (one of the {n} newest of {family})"
            ));
        }
    }
    Ok(count)
}

/// Describes every task definition found, each use under each reason it is in use;
/// returns how many were described.
async fn ecs_task_definitions<D: Deployments>(
    c: &Counter<'_, D>,
    region: &Region,
    found: &mut EcsFound,
) -> Result<usize, DeployedError> {
    let d = c.d;
    let described: Vec<_> = stream::iter(std::mem::take(&mut found.wanted))
        .map(move |(arn, why): (String, Vec<String>)| {
            c.count_op(LiveOperation::EcsDescribeTaskDefinition);
            async move {
                Ok::<_, DeployedError>((d.ecs_describe_task_definition(region, &arn).await?, why))
            }
        })
        .buffered(LIVE_CONCURRENCY)
        .try_collect()
        .await?;
    for (td, whys) in &described {
        for why in whys.iter() {
            for (container, image) in &td.containers {
                push_use(
                    &mut found.uses,
                    image,
                    &site(SourceKind::Ecs, region, why.clone(), Some(container)),
                );
            }
        }
    }
    Ok(described.len())
}

/// Reads one Lambda source in one region.
pub async fn read_lambda<D: Deployments>(
    d: &D,
    region: &Region,
    source: &LambdaSource,
) -> Result<LiveRead, DeployedError> {
    let c = Counter::new(d);
    let functions: Vec<String> = match &source.functions {
        Selection::All => c
            .all_pages(LiveOperation::LambdaListFunctions, |d, next| {
                d.lambda_list_functions(region, next)
            })
            .await?
            .into_iter()
            .filter(|f| f.image)
            .map(|f| f.name)
            .collect(),
        // A function named in the file must exist; a `.zip` one has no image.
        Selection::Names(names) => {
            let mut out = Vec::new();
            for name in names {
                c.count_op(LiveOperation::LambdaGetFunction);
                if d.lambda_get_function(region, name, None).await?.image {
                    out.push(name.clone());
                } else {
                    tracing::info!(
                        "in use: Lambda function {name} ({region}) is not a container image: nothing to keep"
                    );
                }
            }
            out
        }
    };
    let counter = &c;
    let per_function: Vec<(String, BTreeMap<String, BTreeSet<String>>)> =
        stream::iter(functions.clone())
            .map(move |f: String| {
                let c = counter;
                async move {
                    let f = f.as_str();
                    let versions = c
                        .all_pages(LiveOperation::LambdaListVersionsByFunction, |d, next| {
                            d.lambda_list_versions(region, f, next)
                        })
                        .await?;
                    let aliases = c
                        .all_pages(LiveOperation::LambdaListAliases, |d, next| {
                            d.lambda_list_aliases(region, f, next)
                        })
                        .await?;
                    let mut by_version: BTreeMap<String, BTreeSet<String>> =
                        versions.into_iter().map(|v| (v, BTreeSet::new())).collect();
                    by_version.entry("$LATEST".into()).or_default();
                    for a in aliases {
                        for v in a.versions {
                            by_version.entry(v).or_default().insert(a.name.clone());
                        }
                    }
                    Ok::<_, DeployedError>((f.to_owned(), by_version))
                }
            })
            .buffered(LIVE_CONCURRENCY)
            .try_collect()
            .await?;
    let versions: Vec<(String, String, BTreeSet<String>)> = per_function
        .into_iter()
        .flat_map(|(f, vs)| vs.into_iter().map(move |(v, a)| (f.clone(), v, a)))
        .collect();
    let keys: Vec<(String, String)> = versions
        .iter()
        .map(|(f, v, _)| (f.clone(), v.clone()))
        .collect();
    let codes: Vec<_> = stream::iter(keys)
        .map(move |(f, v): (String, String)| {
            counter.count_op(LiveOperation::LambdaGetFunction);
            async move {
                match d.lambda_get_function(region, &f, Some(&v)).await {
                    Ok(code) => Ok(Some(code)),
                    // Deleted since it was listed: it runs nothing now.
                    Err(DeployedError::Service {
                        code: DeployedCode::ResourceNotFoundException,
                        ..
                    }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        })
        .buffered(LIVE_CONCURRENCY)
        .try_collect()
        .await?;
    let mut uses = Vec::new();
    for ((f, v, aliases), code) in versions.iter().zip(codes) {
        let Some(code) = code else { continue };
        let mut resource = format!("function {f}, version {v}");
        if !aliases.is_empty() {
            let names: Vec<&str> = aliases.iter().map(String::as_str).collect();
            resource.push_str(&format!(
                " (alias{} {})",
                if names.len() == 1 { "" } else { "es" },
                names.join(", ")
            ));
        }
        let at = site(SourceKind::Lambda, region, resource, None);
        if let Some(uri) = &code.image_uri {
            push_use(&mut uses, uri, &at);
        }
        if let Some(uri) = &code.resolved_image_uri {
            push_use(&mut uses, uri, &at);
        }
    }
    let summary = format!(
        "container-image functions {}, versions {}",
        functions.len(),
        versions.len()
    );
    Ok(LiveRead {
        uses,
        calls: c.into_calls(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;
    use crate::deployed::{
        EcsContainer, EcsService, EcsTask, EcsTaskDefinition, LambdaAlias, LambdaCode,
        LambdaFunction,
    };

    const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app";

    /// ECS and Lambda with listings that take several pages: 25 services, 150 tasks,
    /// one family of 7 revisions answered oldest first, a function with 120 versions
    /// and a weighted alias. Pages hold 10 items (40 for versions).
    #[derive(Debug)]
    struct Fake;

    fn page<T: Clone>(all: &[T], next: Option<String>, size: usize) -> Page<T> {
        let start: usize = next.map_or(0, |t| t.parse().unwrap());
        let end = (start + size).min(all.len());
        Page {
            items: all[start..end].to_vec(),
            next: (end < all.len()).then(|| end.to_string()),
        }
    }

    impl Deployments for Fake {
        async fn ecs_list_clusters(
            &self,
            _: &Region,
            next: Option<String>,
        ) -> Result<Page<String>, DeployedError> {
            Ok(page(
                &["arn:aws:ecs:eu-west-1:1:cluster/prod".to_owned()],
                next,
                10,
            ))
        }
        async fn ecs_list_services(
            &self,
            _: &Region,
            _: &str,
            next: Option<String>,
        ) -> Result<Page<String>, DeployedError> {
            let all: Vec<String> = (0..25).map(|i| format!("svc-{i}")).collect();
            Ok(page(&all, next, 10))
        }
        async fn ecs_describe_services(
            &self,
            _: &Region,
            _: &str,
            services: &[String],
        ) -> Result<Vec<EcsService>, DeployedError> {
            assert!(services.len() <= ECS_DESCRIBE_SERVICES);
            Ok(services
                .iter()
                .map(|s| EcsService {
                    name: s.clone(),
                    // svc-0 is halfway through a rolling deployment.
                    task_definitions: if s == "svc-0" {
                        vec!["svc:1".into(), "svc:2".into()]
                    } else {
                        vec!["svc:2".into()]
                    },
                })
                .collect())
        }
        async fn ecs_list_tasks(
            &self,
            _: &Region,
            _: &str,
            next: Option<String>,
        ) -> Result<Page<String>, DeployedError> {
            let all: Vec<String> = (0..150).map(|i| format!("task-{i}")).collect();
            Ok(page(&all, next, 100))
        }
        async fn ecs_describe_tasks(
            &self,
            _: &Region,
            _: &str,
            tasks: &[String],
        ) -> Result<Vec<EcsTask>, DeployedError> {
            assert!(tasks.len() <= ECS_DESCRIBE_TASKS);
            Ok(tasks
                .iter()
                .map(|t| EcsTask {
                    arn: format!("arn:aws:ecs:eu-west-1:1:task/prod/{t}"),
                    task_definition: "arn:aws:ecs:eu-west-1:1:task-definition/svc:2".into(),
                    containers: vec![EcsContainer {
                        name: "app".into(),
                        image: Some(format!("{REPO}:running")),
                        digest: (t == "task-149").then(|| format!("sha256:{}", "a".repeat(64))),
                    }],
                })
                .collect())
        }
        async fn ecs_list_families(
            &self,
            _: &Region,
            next: Option<String>,
        ) -> Result<Page<String>, DeployedError> {
            Ok(page(&["svc".to_owned()], next, 10))
        }
        async fn ecs_newest_task_definitions(
            &self,
            _: &Region,
            family: &str,
            _: u32,
        ) -> Result<Vec<String>, DeployedError> {
            Ok((1..=7)
                .map(|r| format!("arn:aws:ecs:eu-west-1:1:task-definition/{family}:{r}"))
                .collect())
        }
        async fn ecs_describe_task_definition(
            &self,
            _: &Region,
            td: &str,
        ) -> Result<EcsTaskDefinition, DeployedError> {
            let name = task_definition_name(td).to_owned();
            let rev = name.rsplit_once(':').unwrap().1.to_owned();
            Ok(EcsTaskDefinition {
                name,
                containers: vec![
                    ("app".into(), format!("{REPO}:r{rev}")),
                    (
                        "sidecar".into(),
                        "public.ecr.aws/aws-observability/aws-otel-collector:v0.40".into(),
                    ),
                ],
            })
        }
        async fn lambda_list_functions(
            &self,
            _: &Region,
            next: Option<String>,
        ) -> Result<Page<LambdaFunction>, DeployedError> {
            let all = vec![
                LambdaFunction {
                    name: "zip".into(),
                    image: false,
                },
                LambdaFunction {
                    name: "resize".into(),
                    image: true,
                },
            ];
            Ok(page(&all, next, 1))
        }
        async fn lambda_list_versions(
            &self,
            _: &Region,
            f: &str,
            next: Option<String>,
        ) -> Result<Page<String>, DeployedError> {
            assert_eq!(f, "resize", "a .zip function is not read further");
            let mut all = vec!["$LATEST".to_owned()];
            all.extend((1..120).map(|v| v.to_string()));
            Ok(page(&all, next, 40))
        }
        async fn lambda_list_aliases(
            &self,
            _: &Region,
            _: &str,
            next: Option<String>,
        ) -> Result<Page<LambdaAlias>, DeployedError> {
            let all = vec![LambdaAlias {
                name: "live".into(),
                versions: vec!["118".into(), "119".into()],
            }];
            Ok(page(&all, next, 10))
        }
        async fn lambda_get_function(
            &self,
            _: &Region,
            _: &str,
            q: Option<&str>,
        ) -> Result<LambdaCode, DeployedError> {
            let q = q.unwrap_or("$LATEST");
            if q == "7" {
                // Deleted between the listing and this call.
                return Err(DeployedError::Service {
                    service: crate::deployed::Service::Lambda,
                    operation: LiveOperation::LambdaGetFunction,
                    code: DeployedCode::ResourceNotFoundException,
                    message: String::new(),
                });
            }
            Ok(LambdaCode {
                image: true,
                image_uri: Some(format!("{REPO}:fn-{}", q.trim_start_matches('$'))),
                resolved_image_uri: None,
            })
        }
    }

    fn region() -> Region {
        Region::parse("eu-west-1").unwrap()
    }

    fn origin() -> Origin {
        Origin {
            file: "in-use.yaml".into(),
            line: 1,
            column: 1,
        }
    }

    fn tags(read: &LiveRead) -> BTreeSet<String> {
        read.uses
            .iter()
            .map(|u| {
                u.image
                    .tag
                    .as_ref()
                    .map(|t| t.as_str().to_owned())
                    .or(u
                        .image
                        .digest
                        .as_ref()
                        .map(|d| d.to_string()[..12].to_owned()))
                    .unwrap()
            })
            .collect()
    }

    fn calls(read: &LiveRead) -> Vec<(String, u64)> {
        read.calls
            .0
            .iter()
            .map(|(op, n)| (op.to_string(), *n))
            .collect()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn ecs_reads_every_page_in_full_batches_and_keeps_the_newest_revisions() {
        let source = EcsSource {
            clusters: Selection::All,
            task_definition_revisions: 3,
            regions: None,
            origin: origin(),
        };
        let read = block_on(read_ecs(&Fake, &region(), &source)).unwrap();
        assert_eq!(
            calls(&read),
            [
                ("ecs:ListClusters".to_owned(), 1),
                ("ecs:ListServices".to_owned(), 3),
                ("ecs:DescribeServices".to_owned(), 3),
                ("ecs:ListTasks".to_owned(), 2),
                ("ecs:DescribeTasks".to_owned(), 2),
                ("ecs:ListTaskDefinitionFamilies".to_owned(), 1),
                ("ecs:ListTaskDefinitions".to_owned(), 1),
                // svc:1 and svc:2 (services), svc:5, svc:6 and svc:7 (the 3 newest).
                ("ecs:DescribeTaskDefinition".to_owned(), 5),
            ]
        );
        assert_eq!(
            tags(&read),
            // The sidecar's image is of ECR Public.
            [
                "r1",
                "r2",
                "r5",
                "r6",
                "r7",
                "running",
                "sha256:aaaaa",
                "v0.40"
            ]
            .map(String::from)
            .into()
        );
        let rolling: Vec<String> = read
            .uses
            .iter()
            .filter(|u| u.image.tag.as_ref().is_some_and(|t| t.as_str() == "r1"))
            .map(|u| u.site.to_string())
            .collect();
        assert_eq!(
            rolling,
            ["ECS cluster prod, service svc-0 (svc:1) container app (eu-west-1)"]
        );
    }

    #[test]
    fn lambda_reads_every_version_and_alias_of_image_functions_only() {
        let source = LambdaSource {
            functions: Selection::All,
            regions: None,
            origin: origin(),
        };
        let read = block_on(read_lambda(&Fake, &region(), &source)).unwrap();
        assert_eq!(
            calls(&read),
            [
                ("lambda:ListFunctions".to_owned(), 2),
                ("lambda:ListVersionsByFunction".to_owned(), 3),
                ("lambda:ListAliases".to_owned(), 1),
                ("lambda:GetFunction".to_owned(), 120),
            ]
        );
        // Version 7 went away between the listing and GetFunction.
        assert_eq!(tags(&read).len(), 119);
        assert!(!tags(&read).contains("fn-7"));
        let aliased: Vec<String> = read
            .uses
            .iter()
            .filter(|u| {
                u.site
                    .resource
                    .as_deref()
                    .is_some_and(|r| r.contains("alias"))
            })
            .map(|u| u.site.to_string())
            .collect();
        assert_eq!(
            aliased,
            [
                "Lambda function resize, version 118 (alias live) (eu-west-1)",
                "Lambda function resize, version 119 (alias live) (eu-west-1)",
            ]
        );
    }

    #[test]
    fn digests_replace_tags_and_keep_registry_ports() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            by_digest("1.dkr.ecr.eu-west-1.amazonaws.com/a/b:v1", d).as_deref(),
            Some(format!("1.dkr.ecr.eu-west-1.amazonaws.com/a/b@{d}").as_str())
        );
        assert_eq!(
            by_digest("host:5000/a/b", d).as_deref(),
            Some(format!("host:5000/a/b@{d}").as_str())
        );
        assert_eq!(
            by_digest("host/a@sha256:ff", d).as_deref(),
            Some(format!("host/a@{d}").as_str())
        );
        assert_eq!(by_digest("host/a", "").as_deref(), None);
    }

    #[test]
    fn task_definition_names_come_from_arns() {
        assert_eq!(
            task_definition_name("arn:aws:ecs:eu-west-1:1:task-definition/api:42"),
            "api:42"
        );
        assert_eq!(task_definition_name("api:42"), "api:42");
        assert_eq!(short("arn:aws:ecs:eu-west-1:1:cluster/prod"), "prod");
    }
}
