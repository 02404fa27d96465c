//! In-use sources, as the desired-state files declare them under `in_use:`: where to
//! find the images that run or are referenced, which are kept whatever the
//! allow-lists say. Reading them is the operations' job (`ops::in_use`).

use std::path::PathBuf;

use super::Origin;
use crate::model::Region;

/// A file or glob named by an in-use source, with the folder it is relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePath {
    /// The path or glob as written.
    pub written: String,
    /// The folder of the desired-state file that names it: relative paths and globs
    /// are read from there.
    pub base: PathBuf,
    /// Where it is written.
    pub origin: Origin,
}

/// Which ECS clusters, Lambda functions or Kubernetes namespaces a source reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every one in the account and region (or the cluster).
    All,
    /// These, by name or ARN.
    Names(Vec<String>),
}

/// `in_use.ecs`: images of running tasks and services, and recent task-definition
/// revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsSource {
    /// The clusters read (default: all).
    pub clusters: Selection,
    /// The newest revisions of each task-definition family kept (default 5).
    pub task_definition_revisions: u32,
    /// The regions read (default: the regions of the run's repositories).
    pub regions: Option<Vec<Region>>,
    /// Where it is declared.
    pub origin: Origin,
}

/// `in_use.lambda`: images of container-image functions, their versions and aliases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaSource {
    /// The functions read (default: all).
    pub functions: Selection,
    /// The regions read (default: the regions of the run's repositories).
    pub regions: Option<Vec<Region>>,
    /// Where it is declared.
    pub origin: Origin,
}

/// A file of kubectl JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesFile {
    /// The file.
    pub path: SourcePath,
    /// Of each Deployment's ReplicaSets, the newest N keep their images (none: all).
    pub replicasets_per_deployment: Option<u32>,
}

/// A Kubernetes cluster read live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesCluster {
    /// The kubeconfig context.
    pub context: String,
    /// The kubeconfig file, joined to the desired-state file's folder; none: as
    /// kubectl (`KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The namespaces read (`All`: the whole cluster).
    pub namespaces: Selection,
    /// Of each Deployment's ReplicaSets, the newest N keep their images (none: all).
    pub replicasets_per_deployment: Option<u32>,
    /// Where it is declared.
    pub origin: Origin,
}

/// The largest `replicasets_per_deployment` (Kubernetes keeps 10 by default).
pub const MAX_REPLICASETS_PER_DEPLOYMENT: u32 = 1000;

/// The default of `task_definition_revisions`.
pub const DEFAULT_TASK_DEFINITION_REVISIONS: u32 = 5;

/// The largest `task_definition_revisions`.
pub const MAX_TASK_DEFINITION_REVISIONS: u32 = 100;

/// Every in-use source of a run, from all its desired-state files. The images they
/// name are kept in whichever declared repository they belong to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InUseSources {
    /// Files of kubectl JSON (pods and objects with pod templates).
    pub kubernetes: Vec<KubernetesFile>,
    /// Kubernetes clusters read live.
    pub clusters: Vec<KubernetesCluster>,
    /// Globs of files scanned for ECR image references.
    pub files: Vec<SourcePath>,
    /// Lists of image URIs (one per line, or a JSON array of strings).
    pub lists: Vec<SourcePath>,
    /// ECS sources.
    pub ecs: Vec<EcsSource>,
    /// Lambda sources.
    pub lambda: Vec<LambdaSource>,
    /// Accounts without repositories of the run whose ECS and Lambda are read too
    /// (`in_use.accounts`), each through its role (in the run's roles).
    pub accounts: Vec<InUseAccount>,
}

/// An account of `in_use.accounts`: read for images in use through its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InUseAccount {
    /// The account (its role is the run's role of this account).
    pub account: crate::model::AccountId,
    /// The regions read when a source names none; `None`: those of the run's private
    /// repositories.
    pub regions: Option<Vec<Region>>,
    /// Where it is declared.
    pub origin: Origin,
}

impl InUseSources {
    /// True when no source is declared.
    pub fn is_empty(&self) -> bool {
        self.kubernetes.is_empty()
            && self.clusters.is_empty()
            && self.files.is_empty()
            && self.lists.is_empty()
            && self.ecs.is_empty()
            && self.lambda.is_empty()
    }

    /// Adds the sources of another file.
    pub fn extend(&mut self, other: InUseSources) {
        self.kubernetes.extend(other.kubernetes);
        self.clusters.extend(other.clusters);
        self.files.extend(other.files);
        self.lists.extend(other.lists);
        self.ecs.extend(other.ecs);
        self.lambda.extend(other.lambda);
        self.accounts.extend(other.accounts);
    }
}
