//! ECS and Lambda over the AWS SDK: one client per service and region, built from the
//! run's AWS configuration (credentials, profile, retries and timeouts) but not from
//! `--endpoint-url`, which names ECR's endpoint only. The SDK's standard variables
//! `AWS_ENDPOINT_URL_ECS` and `AWS_ENDPOINT_URL_LAMBDA` (and `AWS_ENDPOINT_URL`) choose
//! other endpoints.

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{SortOrder, TaskDefinitionFamilyStatus, TaskDefinitionStatus};
use aws_sdk_lambda::types::PackageType;

use super::{
    DeployedCode, DeployedError, Deployments, ECS_LIST_PAGE, EcsContainer, EcsService, EcsTask,
    EcsTaskDefinition, LAMBDA_PAGE, LambdaAlias, LambdaCode, LambdaFunction, LiveOperation, Page,
    Service,
};
use crate::aws::budget::{Api, Budgets};
use crate::aws::{CallError, Clients};
use crate::model::{AccountId, Region};

/// ECS and Lambda of the caller's account, and of each account with a role.
pub struct AwsDeployments {
    base: aws_config::SdkConfig,
    ecs: Clients<aws_sdk_ecs::Client>,
    lambda: Clients<aws_sdk_lambda::Client>,
    /// The readers of the accounts with a role, each with its session's credentials.
    accounts: std::collections::HashMap<AccountId, AwsDeployments>,
    /// The account these credentials read (none: the caller's).
    account: Option<AccountId>,
    /// The run's budget of calls, shared with the registry's.
    budgets: std::sync::Arc<Budgets>,
}

impl std::fmt::Debug for AwsDeployments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsDeployments").finish_non_exhaustive()
    }
}

impl AwsDeployments {
    /// Uses `base`, the run's AWS configuration (without an endpoint of its own).
    pub fn new(base: aws_config::SdkConfig) -> Self {
        Self {
            base,
            ecs: Clients::default(),
            lambda: Clients::default(),
            accounts: std::collections::HashMap::new(),
            account: None,
            budgets: std::sync::Arc::new(Budgets::new(&[])),
        }
    }

    /// Takes the tokens of its calls from `budgets` (the run's, shared with the
    /// registry), for every account; set before [`Self::with_accounts`].
    pub fn with_budgets(mut self, budgets: std::sync::Arc<Budgets>) -> Self {
        self.budgets = budgets;
        self
    }

    /// Reads each account of `configs` with its configuration (its role session's
    /// credentials).
    pub fn with_accounts(mut self, configs: Vec<(AccountId, aws_config::SdkConfig)>) -> Self {
        self.accounts = configs
            .into_iter()
            .map(|(account, config)| {
                let mut reader = Self::new(config).with_budgets(self.budgets.clone());
                reader.account = Some(account.clone());
                (account, reader)
            })
            .collect();
        self
    }

    /// Who a call in `region` counts against.
    fn budget<'a>(&'a self, region: &'a Region) -> Budget<'a> {
        Budget {
            budgets: &self.budgets,
            account: self.account.as_ref(),
            region,
        }
    }

    fn ecs(&self, region: &Region) -> aws_sdk_ecs::Client {
        self.ecs.get(region, |region| {
            let conf = aws_sdk_ecs::config::Builder::from(&self.base)
                .region(region)
                .retry_classifier(crate::aws::NoRetryForUnknownHost);
            aws_sdk_ecs::Client::from_conf(conf.build())
        })
    }

    fn lambda(&self, region: &Region) -> aws_sdk_lambda::Client {
        self.lambda.get(region, |region| {
            let conf = aws_sdk_lambda::config::Builder::from(&self.base)
                .region(region)
                .retry_classifier(crate::aws::NoRetryForUnknownHost);
            aws_sdk_lambda::Client::from_conf(conf.build())
        })
    }
}

/// An SDK error of `operation` in this module's terms.
fn deployed_error(err: CallError, operation: LiveOperation) -> DeployedError {
    let service = operation.service();
    match err {
        CallError::Service { code, message } => DeployedError::Service {
            service,
            operation,
            code: code
                .parse()
                .unwrap_or_else(|_| DeployedCode::Other("Unknown".into())),
            message,
        },
        CallError::Surprising(why) => DeployedError::Surprising(why, service, operation),
        CallError::Unreachable(reason) => DeployedError::Unreachable {
            service,
            operation,
            reason,
        },
    }
}

/// The bucket a call takes its token from: the account and region it reads.
struct Budget<'a> {
    budgets: &'a Budgets,
    account: Option<&'a AccountId>,
    region: &'a Region,
}

/// The API of `operation`, as the budget knows it.
fn api(operation: LiveOperation) -> Api {
    use LiveOperation as L;
    match operation {
        L::EcsListClusters => Api::EcsListClusters,
        L::EcsListServices => Api::EcsListServices,
        L::EcsDescribeServices => Api::EcsDescribeServices,
        L::EcsListTasks => Api::EcsListTasks,
        L::EcsDescribeTasks => Api::EcsDescribeTasks,
        L::EcsListTaskDefinitionFamilies => Api::EcsListTaskDefinitionFamilies,
        L::EcsListTaskDefinitions => Api::EcsListTaskDefinitions,
        L::EcsDescribeTaskDefinition => Api::EcsDescribeTaskDefinition,
        L::LambdaListFunctions => Api::LambdaListFunctions,
        L::LambdaListVersionsByFunction => Api::LambdaListVersionsByFunction,
        L::LambdaListAliases => Api::LambdaListAliases,
        L::LambdaGetFunction => Api::LambdaGetFunction,
    }
}

/// Sends one call of `operation` once its token is taken (ECS and Lambda have no
/// width of their own).
async fn call<T, E, R>(
    budget: Budget<'_>,
    operation: LiveOperation,
    request: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, DeployedError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let ticket = budget
        .budgets
        .take(budget.account, budget.region, api(operation))
        .await;
    crate::aws::send(None, ticket.scope(request))
        .await
        .map_err(|e| deployed_error(e, operation))
}

/// One page of an ECS listing of `op`: `ECS_LIST_PAGE` items a page, from `next`;
/// its ARNs are the output's `items`.
macro_rules! ecs_page {
    ($budget:expr, $op:expr, $request:expr, $next:expr, $items:ident) => {{
        let request = $request
            .max_results(ECS_LIST_PAGE)
            .set_next_token($next)
            .send();
        let out = call($budget, $op, request).await?;
        Ok(Page {
            items: out.$items().to_vec(),
            next: out.next_token().map(str::to_owned),
        })
    }};
}

/// The answer to one page of a Lambda listing of `op`: `LAMBDA_PAGE` items a page,
/// from the marker `next`.
macro_rules! lambda_page {
    ($budget:expr, $op:expr, $request:expr, $next:expr) => {
        call(
            $budget,
            $op,
            $request.max_items(LAMBDA_PAGE).set_marker($next).send(),
        )
        .await?
    };
}

/// ECS answers a describe call with `failures` for what it cannot describe: `MISSING`
/// (stopped or deleted since it was listed) is normal; anything else is not.
fn check_failures(
    failures: &[aws_sdk_ecs::types::Failure],
    operation: LiveOperation,
) -> Result<(), DeployedError> {
    match failures
        .iter()
        .find(|f| f.reason().is_some_and(|r| r != "MISSING"))
    {
        None => Ok(()),
        Some(f) => Err(DeployedError::Surprising(
            format!(
                "{} failed: {}{}",
                f.arn().unwrap_or("an item"),
                f.reason().unwrap_or(""),
                f.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            Service::Ecs,
            operation,
        )),
    }
}

fn missing(what: &str, service: Service, operation: LiveOperation) -> DeployedError {
    DeployedError::Surprising(format!("no {what} in the answer"), service, operation)
}

impl Deployments for AwsDeployments {
    fn in_account(&self, account: Option<&AccountId>) -> &Self {
        account.and_then(|a| self.accounts.get(a)).unwrap_or(self)
    }

    async fn ecs_list_clusters(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> Result<Page<String>, DeployedError> {
        let request = self.ecs(region).list_clusters();
        ecs_page!(
            self.budget(region),
            LiveOperation::EcsListClusters,
            request,
            next,
            cluster_arns
        )
    }

    async fn ecs_list_services(
        &self,
        region: &Region,
        cluster: &str,
        next: Option<String>,
    ) -> Result<Page<String>, DeployedError> {
        let request = self.ecs(region).list_services().cluster(cluster);
        ecs_page!(
            self.budget(region),
            LiveOperation::EcsListServices,
            request,
            next,
            service_arns
        )
    }

    async fn ecs_describe_services(
        &self,
        region: &Region,
        cluster: &str,
        services: &[String],
    ) -> Result<Vec<EcsService>, DeployedError> {
        let op = LiveOperation::EcsDescribeServices;
        let request = self.ecs(region).describe_services().cluster(cluster);
        let out = call(
            self.budget(region),
            op,
            request.set_services(Some(services.to_vec())).send(),
        )
        .await?;
        check_failures(out.failures(), op)?;
        out.services()
            .iter()
            .map(|s| {
                let mut task_definitions: Vec<String> = s
                    .task_definition()
                    .into_iter()
                    .chain(s.deployments().iter().filter_map(|d| d.task_definition()))
                    .map(str::to_owned)
                    .collect();
                task_definitions.sort();
                task_definitions.dedup();
                Ok(EcsService {
                    name: s
                        .service_name()
                        .ok_or_else(|| missing("serviceName", Service::Ecs, op))?
                        .to_owned(),
                    task_definitions,
                })
            })
            .collect()
    }

    async fn ecs_list_tasks(
        &self,
        region: &Region,
        cluster: &str,
        next: Option<String>,
    ) -> Result<Page<String>, DeployedError> {
        let request = self.ecs(region).list_tasks().cluster(cluster);
        ecs_page!(
            self.budget(region),
            LiveOperation::EcsListTasks,
            request,
            next,
            task_arns
        )
    }

    async fn ecs_describe_tasks(
        &self,
        region: &Region,
        cluster: &str,
        tasks: &[String],
    ) -> Result<Vec<EcsTask>, DeployedError> {
        let op = LiveOperation::EcsDescribeTasks;
        let request = self.ecs(region).describe_tasks().cluster(cluster);
        let out = call(
            self.budget(region),
            op,
            request.set_tasks(Some(tasks.to_vec())).send(),
        )
        .await?;
        check_failures(out.failures(), op)?;
        out.tasks()
            .iter()
            .map(|t| {
                Ok(EcsTask {
                    arn: t
                        .task_arn()
                        .ok_or_else(|| missing("taskArn", Service::Ecs, op))?
                        .to_owned(),
                    task_definition: t.task_definition_arn().unwrap_or_default().to_owned(),
                    containers: t
                        .containers()
                        .iter()
                        .map(|c| EcsContainer {
                            name: c.name().unwrap_or_default().to_owned(),
                            image: c.image().filter(|i| !i.is_empty()).map(str::to_owned),
                            digest: c
                                .image_digest()
                                .filter(|d| !d.is_empty())
                                .map(str::to_owned),
                        })
                        .collect(),
                })
            })
            .collect()
    }

    async fn ecs_list_families(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> Result<Page<String>, DeployedError> {
        let request = self
            .ecs(region)
            .list_task_definition_families()
            .status(TaskDefinitionFamilyStatus::Active);
        ecs_page!(
            self.budget(region),
            LiveOperation::EcsListTaskDefinitionFamilies,
            request,
            next,
            families
        )
    }

    async fn ecs_newest_task_definitions(
        &self,
        region: &Region,
        family: &str,
        newest: u32,
    ) -> Result<Vec<String>, DeployedError> {
        let request = self
            .ecs(region)
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(i32::try_from(newest).unwrap_or(ECS_LIST_PAGE))
            .send();
        let out = call(
            self.budget(region),
            LiveOperation::EcsListTaskDefinitions,
            request,
        )
        .await?;
        Ok(out.task_definition_arns().to_vec())
    }

    async fn ecs_describe_task_definition(
        &self,
        region: &Region,
        task_definition: &str,
    ) -> Result<EcsTaskDefinition, DeployedError> {
        let op = LiveOperation::EcsDescribeTaskDefinition;
        let request = self.ecs(region).describe_task_definition();
        let out = call(
            self.budget(region),
            op,
            request.task_definition(task_definition).send(),
        )
        .await?;
        let td = out
            .task_definition()
            .ok_or_else(|| missing("taskDefinition", Service::Ecs, op))?;
        Ok(EcsTaskDefinition {
            name: format!("{}:{}", td.family().unwrap_or_default(), td.revision()),
            containers: td
                .container_definitions()
                .iter()
                .filter_map(|c| {
                    let image = c.image().filter(|i| !i.is_empty())?;
                    Some((c.name().unwrap_or_default().to_owned(), image.to_owned()))
                })
                .collect(),
        })
    }

    async fn lambda_list_functions(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> Result<Page<LambdaFunction>, DeployedError> {
        let op = LiveOperation::LambdaListFunctions;
        let out = lambda_page!(
            self.budget(region),
            op,
            self.lambda(region).list_functions(),
            next
        );
        let items = out
            .functions()
            .iter()
            .map(|f| {
                Ok(LambdaFunction {
                    name: f
                        .function_name()
                        .ok_or_else(|| missing("FunctionName", Service::Lambda, op))?
                        .to_owned(),
                    image: f.package_type() == Some(&PackageType::Image),
                })
            })
            .collect::<Result<_, DeployedError>>()?;
        Ok(Page {
            items,
            next: out.next_marker().map(str::to_owned),
        })
    }

    async fn lambda_list_versions(
        &self,
        region: &Region,
        function: &str,
        next: Option<String>,
    ) -> Result<Page<String>, DeployedError> {
        let op = LiveOperation::LambdaListVersionsByFunction;
        let request = self.lambda(region).list_versions_by_function();
        let out = lambda_page!(
            self.budget(region),
            op,
            request.function_name(function),
            next
        );
        Ok(Page {
            items: out
                .versions()
                .iter()
                .filter_map(|v| v.version().map(str::to_owned))
                .collect(),
            next: out.next_marker().map(str::to_owned),
        })
    }

    async fn lambda_list_aliases(
        &self,
        region: &Region,
        function: &str,
        next: Option<String>,
    ) -> Result<Page<LambdaAlias>, DeployedError> {
        let op = LiveOperation::LambdaListAliases;
        let request = self.lambda(region).list_aliases();
        let out = lambda_page!(
            self.budget(region),
            op,
            request.function_name(function),
            next
        );
        Ok(Page {
            items: out.aliases().iter().map(alias).collect(),
            next: out.next_marker().map(str::to_owned),
        })
    }

    async fn lambda_get_function(
        &self,
        region: &Region,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<LambdaCode, DeployedError> {
        let request = self
            .lambda(region)
            .get_function()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_owned))
            .send();
        let out = call(
            self.budget(region),
            LiveOperation::LambdaGetFunction,
            request,
        )
        .await?;
        let image = out
            .configuration()
            .and_then(|c| c.package_type())
            .is_some_and(|p| *p == PackageType::Image);
        let code = out.code();
        Ok(LambdaCode {
            image,
            image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
            resolved_image_uri: code.and_then(|c| c.resolved_image_uri()).map(str::to_owned),
        })
    }
}

/// An alias and the versions it routes to: its version and, during a weighted shift,
/// the additional one.
fn alias(a: &aws_sdk_lambda::types::AliasConfiguration) -> LambdaAlias {
    let mut versions: Vec<String> = a
        .function_version()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(weights) = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
    {
        versions.extend(weights.keys().cloned());
    }
    versions.sort();
    versions.dedup();
    LambdaAlias {
        name: a.name().unwrap_or_default().to_owned(),
        versions,
    }
}
