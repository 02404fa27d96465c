//! What runs in the account: ECS services, tasks and task definitions, and Lambda
//! container-image functions, read through the [`Deployments`] trait (one method per
//! API call, so that the calls are counted and the reading decisions in
//! `ops::in_use::live` are tested without AWS). The AWS implementation is [`aws`].

#[cfg(feature = "aws")]
pub mod aws;
pub mod kubernetes;

use std::collections::BTreeMap;
use std::future::Future;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::aws::Unreachable;
use crate::model::Region;

/// ListServices and ListTasks return at most this many ARNs a page.
pub const ECS_LIST_PAGE: i32 = 100;
/// DescribeServices takes at most this many services.
pub const ECS_DESCRIBE_SERVICES: usize = 10;
/// DescribeTasks takes at most this many tasks.
pub const ECS_DESCRIBE_TASKS: usize = 100;
/// ListFunctions, ListVersionsByFunction and ListAliases return at most this many
/// items a page.
pub const LAMBDA_PAGE: i32 = 50;

/// One page of a listing and the token of the next, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The token of the next page.
    pub next: Option<String>,
}

/// An ECS service: the task definitions of its deployments (a rolling deployment runs
/// two at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsService {
    /// The service name.
    pub name: String,
    /// The task definition ARNs of the service and of each of its deployments.
    pub task_definitions: Vec<String>,
}

/// A container of a running ECS task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsContainer {
    /// The container name.
    pub name: String,
    /// The image as the task definition names it.
    pub image: Option<String>,
    /// The digest the image resolved to when the task started.
    pub digest: Option<String>,
}

/// A running (or starting) ECS task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsTask {
    /// The task ARN.
    pub arn: String,
    /// Its task definition ARN.
    pub task_definition: String,
    /// Its containers.
    pub containers: Vec<EcsContainer>,
}

/// An ECS task definition revision: its containers' images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsTaskDefinition {
    /// `FAMILY:REVISION`.
    pub name: String,
    /// `(container name, image)` of each container definition.
    pub containers: Vec<(String, String)>,
}

/// A Lambda function as ListFunctions shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaFunction {
    /// The function name.
    pub name: String,
    /// True for a container-image function (`PackageType: Image`).
    pub image: bool,
}

/// A Lambda alias and the versions it routes to (its version and, during a weighted
/// shift, the additional one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaAlias {
    /// The alias name.
    pub name: String,
    /// The versions it routes to.
    pub versions: Vec<String>,
}

/// The code of one version of a Lambda function, from GetFunction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LambdaCode {
    /// True for a container-image function.
    pub image: bool,
    /// `Code.ImageUri`: the image as given.
    pub image_uri: Option<String>,
    /// `Code.ResolvedImageUri`: the image by digest.
    pub resolved_image_uri: Option<String>,
}

/// The AWS service an in-use source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, strum::Display)]
pub enum Service {
    /// Amazon ECS.
    #[strum(serialize = "ECS")]
    Ecs,
    /// AWS Lambda.
    #[strum(serialize = "Lambda")]
    Lambda,
}

/// The error codes of ECS and Lambda that this tool knows by name; others are kept as
/// `Other`, spelled as the service spelled them.
#[derive(Clone, Debug, PartialEq, Eq, strum::EnumString, strum::Display, strum::AsRefStr)]
pub enum DeployedCode {
    /// The caller may not make the call.
    AccessDeniedException,
    /// The caller may not make the call (Query-style spelling).
    AccessDenied,
    /// ECS: the cluster does not exist.
    ClusterNotFoundException,
    /// ECS: a parameter is not valid (for example a cluster ARN of another region).
    InvalidParameterException,
    /// Lambda: the function or version does not exist.
    ResourceNotFoundException,
    /// ECS: the service does not exist.
    ServiceNotFoundException,
    /// ECS: a server-side error.
    ServerException,
    /// Lambda: a server-side error.
    ServiceException,
    /// Too many requests.
    ThrottlingException,
    /// Lambda: too many requests.
    TooManyRequestsException,
    /// The credentials were refused.
    UnrecognizedClientException,
    /// The security token expired.
    ExpiredTokenException,
    /// A code this version does not know.
    #[strum(default, transparent)]
    Other(String),
}

/// Why ECS or Lambda could not be read. Nothing is removed in any of these cases.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DeployedError {
    /// The service refused the call.
    #[error("{service} {operation} failed: {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Service {
        /// The service.
        service: Service,
        /// The operation.
        operation: LiveOperation,
        /// The code.
        code: DeployedCode,
        /// The service's message.
        message: String,
    },
    /// The service could not be asked.
    #[error("{service} {operation}: {}", describe_unreachable(*.service, .reason))]
    Unreachable {
        /// The service.
        service: Service,
        /// The operation.
        operation: LiveOperation,
        /// Why.
        reason: Unreachable,
    },
    /// The answer was not what the API reference describes.
    #[error("{service} {operation} answered something unexpected: {0}", service = .1, operation = .2)]
    Surprising(String, Service, LiveOperation),
}

/// Why `service` got no answer, in one line that says what to do (the registry's
/// wording names ECR's endpoint flag; these services have their own variable).
fn describe_unreachable(service: Service, reason: &Unreachable) -> String {
    let variable = match service {
        Service::Ecs => "AWS_ENDPOINT_URL_ECS",
        Service::Lambda => "AWS_ENDPOINT_URL_LAMBDA",
    };
    match reason {
        Unreachable::Connect(why) => format!(
            "could not connect to {service} ({why}): check the network and any proxy, the region, and {variable} or AWS_ENDPOINT_URL if set"
        ),
        Unreachable::Timeout => format!(
            "{service} did not answer in time: check the network and any proxy, then run again"
        ),
        Unreachable::Other(why) => format!("could not reach {service}: {why}"),
        other => other.to_string(),
    }
}

/// The operations the in-use sources call, for the call counts.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::Display,
    strum::EnumIter,
)]
pub enum LiveOperation {
    /// ecs:ListClusters.
    #[serde(rename = "ecs:ListClusters")]
    #[strum(serialize = "ecs:ListClusters")]
    EcsListClusters,
    /// ecs:ListServices.
    #[serde(rename = "ecs:ListServices")]
    #[strum(serialize = "ecs:ListServices")]
    EcsListServices,
    /// ecs:DescribeServices.
    #[serde(rename = "ecs:DescribeServices")]
    #[strum(serialize = "ecs:DescribeServices")]
    EcsDescribeServices,
    /// ecs:ListTasks.
    #[serde(rename = "ecs:ListTasks")]
    #[strum(serialize = "ecs:ListTasks")]
    EcsListTasks,
    /// ecs:DescribeTasks.
    #[serde(rename = "ecs:DescribeTasks")]
    #[strum(serialize = "ecs:DescribeTasks")]
    EcsDescribeTasks,
    /// ecs:ListTaskDefinitionFamilies.
    #[serde(rename = "ecs:ListTaskDefinitionFamilies")]
    #[strum(serialize = "ecs:ListTaskDefinitionFamilies")]
    EcsListTaskDefinitionFamilies,
    /// ecs:ListTaskDefinitions.
    #[serde(rename = "ecs:ListTaskDefinitions")]
    #[strum(serialize = "ecs:ListTaskDefinitions")]
    EcsListTaskDefinitions,
    /// ecs:DescribeTaskDefinition.
    #[serde(rename = "ecs:DescribeTaskDefinition")]
    #[strum(serialize = "ecs:DescribeTaskDefinition")]
    EcsDescribeTaskDefinition,
    /// lambda:ListFunctions.
    #[serde(rename = "lambda:ListFunctions")]
    #[strum(serialize = "lambda:ListFunctions")]
    LambdaListFunctions,
    /// lambda:ListVersionsByFunction.
    #[serde(rename = "lambda:ListVersionsByFunction")]
    #[strum(serialize = "lambda:ListVersionsByFunction")]
    LambdaListVersionsByFunction,
    /// lambda:ListAliases.
    #[serde(rename = "lambda:ListAliases")]
    #[strum(serialize = "lambda:ListAliases")]
    LambdaListAliases,
    /// lambda:GetFunction.
    #[serde(rename = "lambda:GetFunction")]
    #[strum(serialize = "lambda:GetFunction")]
    LambdaGetFunction,
}

impl LiveOperation {
    /// The service it belongs to.
    pub fn service(self) -> Service {
        use LiveOperation::*;
        match self {
            EcsListClusters
            | EcsListServices
            | EcsDescribeServices
            | EcsListTasks
            | EcsDescribeTasks
            | EcsListTaskDefinitionFamilies
            | EcsListTaskDefinitions
            | EcsDescribeTaskDefinition => Service::Ecs,
            LambdaListFunctions
            | LambdaListVersionsByFunction
            | LambdaListAliases
            | LambdaGetFunction => Service::Lambda,
        }
    }
}

/// What a call of a live in-use source is counted as: an ECS or Lambda operation
/// (`ecs:ListServices`), or the list calls of one Kubernetes resource in one cluster
/// (`kubernetes:CONTEXT:deployments`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKey {
    /// An ECS or Lambda operation.
    Aws(LiveOperation),
    /// List calls of `resource` through the kubeconfig context `context`.
    Kubernetes {
        /// The context.
        context: String,
        /// The resource listed.
        resource: kubernetes::KubeResource,
    },
}

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallKey::Aws(op) => write!(f, "{op}"),
            CallKey::Kubernetes { context, resource } => {
                write!(f, "kubernetes:{context}:{resource}")
            }
        }
    }
}

impl std::str::FromStr for CallKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        use strum::IntoEnumIterator;
        if let Some((context, resource)) = s
            .strip_prefix("kubernetes:")
            .and_then(|rest| rest.rsplit_once(':'))
        {
            let resource = resource
                .parse()
                .map_err(|_| format!("`{resource}` is not a Kubernetes resource listed"))?;
            return Ok(CallKey::Kubernetes {
                context: context.to_owned(),
                resource,
            });
        }
        LiveOperation::iter()
            .find(|op| op.to_string() == s)
            .map(CallKey::Aws)
            .ok_or_else(|| format!("`{s}` is not a call of an in-use source"))
    }
}

/// A string in the schema (a map key of [`LiveCalls`]).
impl JsonSchema for CallKey {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CallKey".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl Serialize for CallKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CallKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Calls made to read the live in-use sources: ECS and Lambda by operation
/// (`ecs:ListServices`), Kubernetes list calls by cluster and resource
/// (`kubernetes:prod-eu:deployments`). Per source they are logged at `-v`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct LiveCalls(pub BTreeMap<CallKey, u64>);

impl LiveCalls {
    /// Counts one call.
    pub fn count(&mut self, op: LiveOperation) {
        *self.0.entry(CallKey::Aws(op)).or_default() += 1;
    }

    /// Counts one list call of `resource` through `context`.
    pub fn count_list(&mut self, context: &str, resource: kubernetes::KubeResource) {
        *self
            .0
            .entry(CallKey::Kubernetes {
                context: context.to_owned(),
                resource,
            })
            .or_default() += 1;
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &LiveCalls) {
        for (op, n) in &other.0 {
            *self.0.entry(op.clone()).or_default() += n;
        }
    }

    /// The total.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// True when no call was made.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for LiveCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(op, n)| format!("{op} {n}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// ECS and Lambda, one method per API call, in one `region` each. Implementations:
/// AWS ([`aws::AwsDeployments`]) and the tests' fakes.
pub trait Deployments: Send + Sync {
    /// The reader of `account`'s ECS and Lambda: the one of its role when it has one
    /// (`registry.role`); none, or an account without a role: this one, of the run's
    /// own credentials. The tests' fakes read one account.
    fn in_account(&self, account: Option<&crate::model::AccountId>) -> &Self
    where
        Self: Sized,
    {
        let _ = account;
        self
    }

    /// One page of ListClusters (cluster ARNs).
    fn ecs_list_clusters(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, DeployedError>> + Send;

    /// One page of ListServices of `cluster` (service ARNs).
    fn ecs_list_services(
        &self,
        region: &Region,
        cluster: &str,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, DeployedError>> + Send;

    /// DescribeServices of up to [`ECS_DESCRIBE_SERVICES`] services of `cluster`.
    fn ecs_describe_services(
        &self,
        region: &Region,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<Vec<EcsService>, DeployedError>> + Send;

    /// One page of ListTasks of `cluster` (running and starting tasks' ARNs).
    fn ecs_list_tasks(
        &self,
        region: &Region,
        cluster: &str,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, DeployedError>> + Send;

    /// DescribeTasks of up to [`ECS_DESCRIBE_TASKS`] tasks of `cluster`.
    fn ecs_describe_tasks(
        &self,
        region: &Region,
        cluster: &str,
        tasks: &[String],
    ) -> impl Future<Output = Result<Vec<EcsTask>, DeployedError>> + Send;

    /// One page of ListTaskDefinitionFamilies (active families).
    fn ecs_list_families(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, DeployedError>> + Send;

    /// ListTaskDefinitions of `family`, newest first, at most `newest` ARNs (one call).
    fn ecs_newest_task_definitions(
        &self,
        region: &Region,
        family: &str,
        newest: u32,
    ) -> impl Future<Output = Result<Vec<String>, DeployedError>> + Send;

    /// DescribeTaskDefinition of one ARN or `FAMILY:REVISION`.
    fn ecs_describe_task_definition(
        &self,
        region: &Region,
        task_definition: &str,
    ) -> impl Future<Output = Result<EcsTaskDefinition, DeployedError>> + Send;

    /// One page of ListFunctions (`$LATEST` of each function).
    fn lambda_list_functions(
        &self,
        region: &Region,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<LambdaFunction>, DeployedError>> + Send;

    /// One page of ListVersionsByFunction (`$LATEST` and every published version).
    fn lambda_list_versions(
        &self,
        region: &Region,
        function: &str,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<String>, DeployedError>> + Send;

    /// One page of ListAliases.
    fn lambda_list_aliases(
        &self,
        region: &Region,
        function: &str,
        next: Option<String>,
    ) -> impl Future<Output = Result<Page<LambdaAlias>, DeployedError>> + Send;

    /// GetFunction of `function` at `qualifier` (a version, or `None` for `$LATEST`).
    fn lambda_get_function(
        &self,
        region: &Region,
        function: &str,
        qualifier: Option<&str>,
    ) -> impl Future<Output = Result<LambdaCode, DeployedError>> + Send;
}
