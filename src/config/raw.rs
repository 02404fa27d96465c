//! The desired-state file format, described once: these types are the source of the
//! JSON Schema, and the validator in [`super::validate`] reads every mapping of a file
//! into them ([`super::at`]), so the keys it knows, which are required and what each
//! holds are the ones written here. Each value is an [`At`]: the value as written, at
//! its place in the file, which validation turns into domain types.
//!
//! The enums are the schema's alone: validation tells their cases apart by the kind of
//! YAML value written.

use schemars::JsonSchema;
use serde::Deserialize;

use super::at::At;

/// One desired-state file (format version 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ecr-reconcile desired-state file")]
pub struct RawFile {
    /// Format version; must be 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: At<u32>,
    /// Where the repositories of this file live; defaults to the caller's account and
    /// the `--region` flag (or the AWS configuration).
    #[serde(default)]
    pub registry: Option<At<RawRegistry>>,
    /// Where to find the images in use (running, deployed or referenced): they are
    /// kept in whichever declared repository they belong to, whatever the allow-lists
    /// say. Paths and globs are relative to this file's folder.
    #[serde(default)]
    pub in_use: Option<At<RawInUse>>,
    /// The storage prices of this file's registry, for the savings plans show
    /// (negotiated rates, other regions). Default: ECR's published prices.
    #[serde(default)]
    pub pricing: Option<At<RawPricing>>,
    /// The repositories this file manages, by ECR repository name. Repositories not
    /// declared in any file are never touched.
    pub repositories: At<std::collections::BTreeMap<String, RawRepository>>,
}

/// The registry of every repository in a file: a private ECR registry (account and
/// region), or an ECR Public registry (`public`, its alias, with the account that
/// owns it).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = { "required": ["public", "region"] }))]
pub struct RawRegistry {
    /// The 12-digit AWS account id (ECR registry id). Quote it. Default: the caller's
    /// account; with `public`, the account that owns the alias (checked).
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account: Option<At<String>>,
    /// The AWS region, such as `eu-west-1`. Default: `--region`, then the AWS
    /// configuration. Not with `public`.
    pub region: Option<At<String>>,
    /// The alias of an ECR Public registry (`public.ecr.aws/ALIAS`): the repositories
    /// of this file are ECR Public repositories of that registry, never private ones.
    /// The alias must belong to the account of the credentials (DescribeRegistries).
    #[schemars(
        regex(pattern = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"),
        length(min = 2, max = 50)
    )]
    pub public: Option<At<String>>,
    /// The IAM role assumed for every call about this account (its repositories and
    /// its in-use sources): `arn:aws:iam::ACCOUNT:role/NAME`, in `account`, which it
    /// needs. Chained from the run's own credentials; one session per account per run.
    /// Default: the run's own credentials. Not with `public`.
    #[schemars(regex(
        pattern = r"^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_/-]*/)?[A-Za-z0-9+=,.@_-]{1,64}$"
    ))]
    pub role: Option<At<String>>,
    /// The external id that the role's trust policy asks for (`sts:ExternalId`).
    /// Only with `role`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$"))]
    pub external_id: Option<At<String>>,
}

/// The desired state of one repository.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRepository {
    /// The allow-list: every tag it does not allow is removed.
    pub tags: At<Vec<RawTagEntry>>,
    /// What happens to untagged images that no kept image needs. Default: `keep`.
    #[serde(default)]
    pub untagged: Option<At<RawUntagged>>,
    /// Allow a plan that deletes every image of the repository (and an empty `tags`
    /// list). Default: false.
    #[serde(default)]
    pub allow_empty: Option<At<bool>>,
    /// Limits on one plan's deletions in this repository: apply refuses a plan over
    /// either, before removing anything.
    #[serde(default)]
    pub max_delete: Option<At<RawMaxDelete>>,
    /// What removing an image means: `delete` (the default) or `archive` (ECR's
    /// archive storage class: reversible, not pullable, billed at least 90 days). A
    /// rule's `then` overrides it for the tags it matches and does not allow.
    #[serde(default)]
    pub removal: Option<At<RawRemoval>>,
    /// Deletes what has been archived this long (ECR's `lastArchivedAt`): a number and
    /// a unit (`s`, `m`, `h`, `d`, `w`), or several, such as `365d`. Default: archived
    /// images stay archived.
    #[schemars(regex(pattern = r"^([0-9]+[smhdw])+$"))]
    #[serde(default)]
    pub delete_archived_after: Option<At<String>>,
}

/// Limits on a plan's deletions in one repository.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMaxDelete {
    /// At most this many images deleted.
    #[schemars(range(min = 0))]
    pub images: Option<At<u64>>,
    /// At most this many bytes freed: bytes, or a number and a unit (`500MiB`,
    /// `2GiB`; `KB`, `MB`, `GB`, `TB` are powers of 1000).
    pub bytes: Option<At<RawSize>>,
}

/// A size: bytes, or a string with a unit.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawSize {
    /// Bytes.
    Bytes(u64),
    /// A number and a unit, such as `500MiB`.
    Text(#[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)? ?([KMGT]i?B|B)$"))] String),
}

/// Storage prices in US dollars per GB-month (GB: 2^30 bytes).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPricing {
    /// The standard storage class. Default: 0.10.
    #[schemars(range(min = 0, max = 1000))]
    pub standard_per_gb_month: Option<At<f64>>,
    /// The archive storage class. Default: 0.10 (ECR's price for the first 150 TB).
    #[schemars(range(min = 0, max = 1000))]
    pub archive_per_gb_month: Option<At<f64>>,
}

/// One entry of the allow-list.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawTagEntry {
    /// An exact tag (`v1.4.2`) or a glob with `*` and `?` (`release-*`).
    Tag(#[schemars(regex(pattern = r"^[A-Za-z0-9_*?][A-Za-z0-9_.*?-]{0,127}$"))] String),
    /// A glob with limits.
    Rule(RawRule),
}

/// A glob plus limits on which matching tags stay allowed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// A glob with `*` (any run of characters) and `?` (one character).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_*?][A-Za-z0-9_.*?-]{0,127}$"))]
    pub pattern: At<String>,
    /// Only the N most recently pushed matching tags stay allowed (ties: tag name, ascending).
    #[schemars(range(min = 1))]
    pub keep_latest: Option<At<u64>>,
    /// Only tags on images pushed within this long stay allowed: a number and a unit
    /// (`s`, `m`, `h`, `d`, `w`), or several, such as `1w3d`.
    #[schemars(regex(pattern = r"^([0-9]+[smhdw])+$"))]
    pub max_age: Option<At<String>>,
    /// Tags on images pulled within this long (ECR's `lastRecordedPullTime`; an image
    /// never pulled counts from its push) stay allowed: with `keep_latest` or
    /// `max_age`, another way to stay; alone, the rule's only limit.
    #[schemars(regex(pattern = r"^([0-9]+[smhdw])+$"))]
    pub pulled_within: Option<At<String>>,
    /// What happens to an image whose matching tags the rule does not allow:
    /// `archive` or `delete`. Default: the repository's `removal`.
    pub then: Option<At<RawRemoval>>,
}

/// The sources of images in use.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInUse {
    /// Kubernetes: files of kubectl JSON (`kubectl get pods,deploy,rs,sts,ds,job,cronjob
    /// -A -o json`: a `List` or one object), and clusters read live. The images of
    /// every pod (and the digests they resolved to) and of every pod template,
    /// containers, init and ephemeral containers; the ReplicaSets of each Deployment
    /// (its rollback history).
    pub kubernetes: Option<At<Vec<RawKubernetesEntry>>>,
    /// Globs of files searched for ECR image references
    /// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG][@sha256:…]`): Kubernetes
    /// manifests, Helm values, Terraform, task definitions, compose files. `*` matches
    /// any run of characters, `/` included; `**/` also matches no folder.
    pub files: Option<At<Vec<RawPath>>>,
    /// Files listing image URIs, one per line (`#` comments) or as a JSON array of
    /// strings.
    pub lists: Option<At<Vec<RawPath>>>,
    /// ECS: images of running tasks, of every service's task definitions (each
    /// deployment's), and of the newest revisions of each task-definition family.
    pub ecs: Option<At<RawEcs>>,
    /// Lambda: images of container-image functions: `$LATEST`, every published
    /// version, every alias.
    pub lambda: Option<At<RawLambda>>,
    /// Accounts with no repository of the run whose ECS and Lambda are read too
    /// (workload accounts that run images of central repositories), each through its
    /// role. The accounts of the run's repositories are always read.
    pub accounts: Option<At<Vec<RawInUseAccount>>>,
}

/// An account read for images in use through its role, without repositories of its
/// own in the run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInUseAccount {
    /// The 12-digit AWS account id. Quote it.
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account: At<String>,
    /// The IAM role assumed to read it: `arn:aws:iam::ACCOUNT:role/NAME`, in
    /// `account`. One session per account per run, shared with the account's
    /// repositories if it has any.
    #[schemars(regex(
        pattern = r"^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_/-]*/)?[A-Za-z0-9+=,.@_-]{1,64}$"
    ))]
    pub role: At<String>,
    /// The external id that the role's trust policy asks for (`sts:ExternalId`).
    #[schemars(regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$"))]
    pub external_id: Option<At<String>>,
    /// The regions read (a source's own `regions` come first). Default: the regions
    /// of the run's private repositories.
    #[schemars(length(min = 1))]
    pub regions: Option<At<Vec<String>>>,
}

/// An entry of `in_use.kubernetes`: a file of kubectl JSON (a path), the same with
/// options, or a cluster read live.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawKubernetesEntry {
    /// A file of kubectl JSON, relative to this file's folder.
    File(RawPath),
    /// A cluster, read live through a kubeconfig context.
    Cluster(RawKubernetesCluster),
    /// A file of kubectl JSON, with options.
    FileWithOptions(RawKubernetesFile),
}

/// A Kubernetes cluster read live (list calls only): its pods, Deployments,
/// ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and ReplicationControllers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesCluster {
    /// The kubeconfig context to read through (its cluster, user and credentials: a
    /// token, a client certificate or an exec plugin such as `aws eks get-token`).
    #[schemars(length(min = 1))]
    pub context: At<String>,
    /// The kubeconfig file. Default: as kubectl, `KUBECONFIG`, then `~/.kube/config`.
    /// Relative to this file's folder.
    pub kubeconfig: Option<At<RawPath>>,
    /// `all` (the default: the whole cluster, with cluster-wide list calls), or a list
    /// of namespaces, each listed on its own.
    pub namespaces: Option<At<RawNamespaces>>,
    /// Of the ReplicaSets each Deployment owns (its rollback history), only the newest
    /// N by revision keep their images. Default: every one Kubernetes still holds.
    #[schemars(range(min = 1, max = 1000))]
    pub replicasets_per_deployment: Option<At<u32>>,
}

/// A file of kubectl JSON, with options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesFile {
    /// The file, relative to this file's folder.
    pub file: At<RawPath>,
    /// Of the ReplicaSets each Deployment owns, only the newest N by revision keep
    /// their images. Default: all of them.
    #[schemars(range(min = 1, max = 1000))]
    pub replicasets_per_deployment: Option<At<u32>>,
}

/// `all`, or a list of namespaces.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawNamespaces {
    /// Every namespace.
    All(RawAll),
    /// These namespaces.
    Names(#[schemars(length(min = 1))] Vec<RawNamespace>),
}

/// A namespace: a DNS label.
#[derive(Debug, JsonSchema)]
#[serde(transparent)]
pub struct RawNamespace(
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))] pub String,
);

/// A path, relative to the desired-state file's folder.
#[derive(Debug, JsonSchema)]
#[serde(transparent)]
pub struct RawPath(#[schemars(length(min = 1))] pub String);

/// ECS clusters and task-definition revisions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEcs {
    /// `all` (the default), or a list of cluster names or ARNs.
    pub clusters: Option<At<RawSelection>>,
    /// How many of the newest revisions of each task-definition family are in use
    /// (rollbacks need them). Default: 5.
    #[schemars(range(min = 1, max = 100))]
    pub task_definition_revisions: Option<At<u32>>,
    /// The regions read. Default: the regions of the run's repositories.
    #[schemars(length(min = 1))]
    pub regions: Option<At<Vec<String>>>,
}

/// Lambda functions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLambda {
    /// `all` (the default), or a list of function names or ARNs.
    pub functions: Option<At<RawSelection>>,
    /// The regions read. Default: the regions of the run's repositories.
    #[schemars(length(min = 1))]
    pub regions: Option<At<Vec<String>>>,
}

/// `all`, or a list of names.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawSelection {
    /// Every one in the account and region.
    All(RawAll),
    /// These, by name or ARN.
    Names(#[schemars(length(min = 1))] Vec<String>),
}

/// The word `all`.
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawAll {
    /// Every one.
    All,
}

/// The policy for untagged images.
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawUntagged {
    /// Delete untagged images that no kept image needs.
    Delete,
    /// Keep every untagged image (the default).
    Keep,
}

/// What removing an image means.
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RawRemoval {
    /// Delete the image (the default).
    Delete,
    /// Move the image to ECR's archive storage class.
    Archive,
}
