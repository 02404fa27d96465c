//! Images in use: what the in-use sources of the desired-state files say runs or is
//! referenced, as data for the plan engine.
//!
//! Everything here is pure: the parsers take text and return image references with
//! the place they were found. Reading the files (paths, globs, errors) is the
//! operations' job (`ops::in_use`); the plan engine only sees [`ImageUse`] values.

pub mod kubernetes;
pub mod list;
pub mod reference;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use reference::{ImageRef, ReferenceError, parse_reference, scan};

/// Why a source file (kubectl JSON, a list) cannot be read, with where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSyntaxError {
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
}

/// The kind of source an image use was found in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A Kubernetes pod or pod template, from kubectl JSON or a cluster.
    Kubernetes,
    /// A reference found in a file matched by an `in_use.files` glob.
    File,
    /// An entry of an `in_use.lists` file.
    List,
    /// An ECS task, service or task-definition revision.
    Ecs,
    /// A Lambda function version or alias.
    Lambda,
}

impl SourceKind {
    /// The name as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Kubernetes => "kubernetes",
            SourceKind::File => "file",
            SourceKind::List => "list",
            SourceKind::Ecs => "ECS",
            SourceKind::Lambda => "Lambda",
        }
    }
}

/// Where an image use was found: the source; its file and line, and for a pod its
/// namespace, name and container (and cluster); for another Kubernetes object, the
/// object (and cluster); or for ECS and Lambda the region, resource and container.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct UseSite {
    /// The kind of source.
    pub source: SourceKind,
    /// The file read, as the desired-state file names it (joined to that file's
    /// folder); none for ECS and Lambda.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The 1-based line of the reference, when the source has lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// For Kubernetes: `NAMESPACE/NAME` of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// For Kubernetes: the container, as `NAME`, `NAME (init)` or `NAME (ephemeral)`;
    /// for ECS: the container name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// For ECS and Lambda: the region read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// For ECS and Lambda read through an account's role (`registry.role`): the
    /// account that runs the image; none: the account of the run's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// For Kubernetes: the cluster, as the kubeconfig context read (none for a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// For ECS and Lambda: what runs the image, such as `cluster prod, service api
    /// (api:42)`, `task definition api:41 (one of the 5 newest of api)` or `function
    /// resize, version 3 (alias live)`; for Kubernetes, an object with a pod template,
    /// such as `cronjob batch/nightly` or `deployment payments/api, ReplicaSet
    /// api-7d9f (revision 12)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The reference as written in the source.
    pub reference: String,
}

impl fmt::Display for UseSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("");
        if self.source == SourceKind::Kubernetes
            && (self.resource.is_some() || self.cluster.is_some())
        {
            // `Kubernetes prod-eu deployment payments/api, ReplicaSet api-7d9f
            // (revision 12) container api`; a file's as `… container api (all.json)`.
            f.write_str("Kubernetes")?;
            if let Some(c) = &self.cluster {
                write!(f, " {c}")?;
            }
            match (&self.resource, &self.pod) {
                (Some(r), _) => write!(f, " {r}")?,
                (None, Some(p)) => write!(f, " pod {p}")?,
                (None, None) => {}
            }
            if let Some(c) = &self.container {
                write!(f, " container {c}")?;
            }
            return match &self.file {
                Some(file) => write!(f, " ({file})"),
                None => Ok(()),
            };
        }
        if let Some(resource) = &self.resource {
            write!(f, "{} {resource}", self.source.as_str())?;
            if let Some(c) = &self.container {
                write!(f, " container {c}")?;
            }
            return match (&self.account, &self.region) {
                (Some(a), Some(r)) => write!(f, " (account {a}, {r})"),
                (Some(a), None) => write!(f, " (account {a})"),
                (None, Some(r)) => write!(f, " ({r})"),
                (None, None) => Ok(()),
            };
        }
        match (&self.pod, self.line) {
            (Some(pod), _) => {
                write!(f, "pod {pod}")?;
                if let Some(c) = &self.container {
                    write!(f, " container {c}")?;
                }
                write!(f, " ({file})")
            }
            (None, Some(line)) => write!(f, "{file}:{line}"),
            (None, None) => write!(f, "{file}"),
        }
    }
}

/// One image in use: the image it names and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUse {
    /// The image.
    pub image: ImageRef,
    /// Where.
    pub site: UseSite,
}

/// The images in use of a run, by repository: what the engine keeps.
#[derive(Clone, Debug, Default)]
pub struct InUseSet {
    by_repository: std::collections::HashMap<crate::model::RepositoryRef, Vec<ImageUse>>,
    /// The ECS and Lambda calls made to find them.
    pub calls: crate::deployed::LiveCalls,
}

impl InUseSet {
    /// Groups `uses` by repository.
    pub fn from_uses(uses: impl IntoIterator<Item = ImageUse>) -> Self {
        let mut set = Self::default();
        for u in uses {
            set.by_repository
                .entry(reference::key(&u.image.repository))
                .or_default()
                .push(u);
        }
        set
    }

    /// The uses of images of `repository` (see [`ImageRef::names`]).
    pub fn for_repository(&self, repository: &crate::model::RepositoryRef) -> &[ImageUse] {
        self.by_repository
            .get(&reference::key(repository))
            .map_or(&[], Vec::as_slice)
    }

    /// How many uses there are, in all repositories.
    pub fn len(&self) -> usize {
        self.by_repository.values().map(Vec::len).sum()
    }

    /// True when nothing is in use.
    pub fn is_empty(&self) -> bool {
        self.by_repository.is_empty()
    }
}
