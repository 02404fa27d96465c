//! The `explain` operation: why the plan keeps, untags or deletes one image. Reads
//! the in-use sources and the one repository, as `plan` would, and asks the engine
//! for the trace of that image ([`crate::plan::explain`]).

use chrono::{DateTime, Utc};

use super::Source;
use super::run::{self, RunError};
use crate::config::DesiredState;
use crate::model::{Digest, Tag};
use crate::plan::explain::{Explanation, explain_image};
use crate::registry::observe::observe_from;

/// Which image: `REPOSITORY`, `REPOSITORY:TAG` or `REPOSITORY@DIGEST` (no tag nor
/// digest: `latest`, as `docker pull` reads it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageQuery {
    /// The repository name as declared.
    pub repository: String,
    /// The image, by tag or digest.
    pub image: ImageKey,
}

/// How the image is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageKey {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl ImageQuery {
    /// Parses `REPOSITORY[:TAG|@DIGEST]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (repository, image) = if let Some((r, d)) = text.split_once('@') {
            (
                r,
                ImageKey::Digest(Digest::parse(d).map_err(|e| format!("`{d}`: {e}"))?),
            )
        } else if let Some((r, t)) = text.rsplit_once(':') {
            (
                r,
                ImageKey::Tag(Tag::parse(t).map_err(|e| format!("`{t}`: {e}"))?),
            )
        } else {
            (
                text,
                ImageKey::Tag(Tag::parse("latest").expect("a valid tag")),
            )
        };
        if repository.is_empty() {
            return Err("expected REPOSITORY[:TAG|@DIGEST], such as payments/api:v1.4.3".into());
        }
        Ok(Self {
            repository: repository.to_owned(),
            image,
        })
    }
}

impl std::fmt::Display for ImageQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.image {
            ImageKey::Tag(t) => write!(f, "{}:{t}", self.repository),
            ImageKey::Digest(d) => write!(f, "{}@{d}", self.repository),
        }
    }
}

/// What `explain` was asked for.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    /// The image.
    pub query: ImageQuery,
    /// Plan at this instant (default: see [`Source::now`]).
    pub now: Option<DateTime<Utc>>,
    /// As `--allow-empty`.
    pub allow_empty: bool,
}

/// Why there is nothing to explain. Nothing is changed in any case.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExplainError {
    /// The desired state declares no repository of that name.
    #[error("no declared repository is named `{name}` (declared: {declared})")]
    #[diagnostic(code(explain::not_declared))]
    NotDeclared {
        /// The name asked for.
        name: String,
        /// The names declared.
        declared: String,
    },
    /// The repository does not exist in the registry.
    #[error("repository {0} does not exist")]
    #[diagnostic(code(explain::repository_not_found))]
    RepositoryNotFound(String),
    /// The repository has no such image.
    #[error("{repository} has no image {image}{hint}")]
    #[diagnostic(code(explain::image_not_found))]
    ImageNotFound {
        /// The repository.
        repository: String,
        /// The image asked for.
        image: String,
        /// A close tag, when there is one.
        hint: String,
    },
    /// The registry could not be read, or the in-use sources.
    #[error(transparent)]
    #[diagnostic(code(explain::registry))]
    Run(
        #[from]
        #[diagnostic_source]
        RunError,
    ),
}

/// Explains the image `request` names, against `source`. With several declarations
/// of the name (accounts, regions), the first that has the image is explained.
pub fn explain(
    source: &Source,
    desired: &DesiredState,
    request: &ExplainRequest,
) -> Result<Explanation, ExplainError> {
    let settings = source.settings(source.now(request.now), request.allow_empty);
    let query = &request.query;
    let wanted: Vec<usize> = desired
        .repositories
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.as_str() == query.repository)
        .map(|(i, _)| i)
        .collect();
    if wanted.is_empty() {
        let mut names: Vec<&str> = desired
            .repositories
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        return Err(ExplainError::NotDeclared {
            name: query.repository.clone(),
            declared: names.join(", "),
        });
    }
    source.block_on(async {
        let in_use = run::read_in_use(desired, &settings).await?;
        let targets =
            run::resolve(&source.backend, desired, settings.default_region.as_ref()).await?;
        let mut last = None;
        for i in wanted {
            let (d, t) = (&desired.repositories[i], &targets[i]);
            let observed = observe_from(&source.backend, t, None)
                .await
                .map_err(|error| RunError::Registry {
                    repository: t.to_string(),
                    error,
                })?;
            if !observed.exists {
                last = Some(ExplainError::RepositoryNotFound(t.to_string()));
                continue;
            }
            let observed = settings.restored.adjust(&observed).unwrap_or(observed);
            let digest = observed.images.iter().find_map(|img| match &query.image {
                ImageKey::Digest(d) => (img.digest == *d).then(|| img.digest.clone()),
                ImageKey::Tag(tag) => img.tags.contains(tag).then(|| img.digest.clone()),
            });
            let Some(digest) = digest else {
                last = Some(not_found(t.to_string(), query, &observed));
                continue;
            };
            if let Some(e) = explain_image(
                d,
                &observed,
                settings.now,
                settings.options,
                in_use.for_repository(t),
                &digest,
            ) {
                return Ok(e);
            }
        }
        Err(last.expect("at least one repository was looked at"))
    })
}

/// The error for an image the repository does not have, with the closest tag.
fn not_found(
    repository: String,
    query: &ImageQuery,
    observed: &crate::registry::ObservedRepository,
) -> ExplainError {
    let (image, hint) = match &query.image {
        ImageKey::Digest(d) => (format!("@{d}"), String::new()),
        ImageKey::Tag(t) => {
            let names: Vec<&str> = observed
                .images
                .iter()
                .flat_map(|i| i.tags.iter().map(Tag::as_str))
                .collect();
            let close = similar::get_close_matches(t.as_str(), &names, 1, 0.7);
            (
                format!("tagged `{t}`"),
                close
                    .first()
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default(),
            )
        }
    };
    ExplainError::ImageNotFound {
        repository,
        image,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_names_a_tag_a_digest_or_latest() {
        let q = ImageQuery::parse("payments/api:v1.4.3").unwrap();
        assert_eq!(q.repository, "payments/api");
        assert_eq!(q.image, ImageKey::Tag(Tag::parse("v1.4.3").unwrap()));
        let d = format!("sha256:{}", "a".repeat(64));
        let q = ImageQuery::parse(&format!("payments/api@{d}")).unwrap();
        assert_eq!(q.image, ImageKey::Digest(Digest::parse(d.clone()).unwrap()));
        assert_eq!(q.to_string(), format!("payments/api@{d}"));
        let q = ImageQuery::parse("payments/api").unwrap();
        assert_eq!(q.to_string(), "payments/api:latest");
        assert!(ImageQuery::parse("payments/api@sha256:nope").is_err());
        assert!(ImageQuery::parse(":v1").is_err());
    }
}
