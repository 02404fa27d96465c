//! A repository's tag mutability, as DescribeRepositories reports it
//! (`imageTagMutability`, `imageTagMutabilityExclusionFilters`), and which tags it
//! makes immutable.
//!
//! What ECR documents: in a repository whose tags are immutable, PutImage of a tag
//! that is already on another image fails with `ImageTagAlreadyExistsException`.
//! Nothing else changes: BatchDeleteImage still removes tags and images, so plans and
//! applies untag and delete as in a mutable repository. With
//! `IMMUTABLE_WITH_EXCLUSION` the tags that match one of the wildcard filters stay
//! mutable; with `MUTABLE_WITH_EXCLUSION` the tags that match one are immutable.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Tag;

/// ECR's `imageTagMutability` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagMutabilitySetting {
    /// Tags can be moved to another image (ECR's default).
    #[default]
    Mutable,
    /// No tag can be moved to another image.
    Immutable,
    /// No tag can be moved, except those matching an exclusion filter.
    ImmutableWithExclusion,
    /// Every tag can be moved, except those matching an exclusion filter.
    MutableWithExclusion,
}

impl TagMutabilitySetting {
    /// ECR's spelling (`MUTABLE`, `IMMUTABLE`, `IMMUTABLE_WITH_EXCLUSION`,
    /// `MUTABLE_WITH_EXCLUSION`).
    pub fn as_ecr_str(self) -> &'static str {
        match self {
            TagMutabilitySetting::Mutable => "MUTABLE",
            TagMutabilitySetting::Immutable => "IMMUTABLE",
            TagMutabilitySetting::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            TagMutabilitySetting::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    /// The setting ECR spells `s`; `None` for a spelling this version does not know.
    pub fn from_ecr_str(s: &str) -> Option<Self> {
        [
            TagMutabilitySetting::Mutable,
            TagMutabilitySetting::Immutable,
            TagMutabilitySetting::ImmutableWithExclusion,
            TagMutabilitySetting::MutableWithExclusion,
        ]
        .into_iter()
        .find(|m| m.as_ecr_str() == s)
    }
}

/// A repository's tag mutability: the setting and its exclusion filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagMutability {
    /// The setting.
    pub setting: TagMutabilitySetting,
    /// The exclusion filters (`WILDCARD`: `*` matches any run of characters, the
    /// rest matches itself, and a filter matches the whole tag); they apply to the
    /// `*_with_exclusion` settings only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_filters: Vec<String>,
}

impl TagMutability {
    /// The setting without exclusion filters.
    pub fn new(setting: TagMutabilitySetting) -> Self {
        Self {
            setting,
            exclusion_filters: Vec::new(),
        }
    }

    /// The setting with these exclusion filters.
    pub fn with_exclusions(setting: TagMutabilitySetting, filters: Vec<String>) -> Self {
        Self {
            setting,
            exclusion_filters: filters,
        }
    }

    /// True for ECR's default: every tag mutable, no filter.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// True when ECR refuses to move `tag` to another image.
    pub fn is_immutable(&self, tag: &Tag) -> bool {
        let excluded = || {
            self.exclusion_filters
                .iter()
                .any(|f| crate::text::wildcard_match(f, tag.as_str()))
        };
        match self.setting {
            TagMutabilitySetting::Mutable => false,
            TagMutabilitySetting::Immutable => true,
            TagMutabilitySetting::ImmutableWithExclusion => !excluded(),
            TagMutabilitySetting::MutableWithExclusion => excluded(),
        }
    }

    /// The setting in ECR's words, with its filters: `IMMUTABLE_WITH_EXCLUSION
    /// (exclusions: dev-*, latest)`.
    pub fn describe(&self) -> String {
        if self.exclusion_filters.is_empty() {
            self.setting.as_ecr_str().to_owned()
        } else {
            format!(
                "{} (exclusions: {})",
                self.setting.as_ecr_str(),
                self.exclusion_filters.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }

    #[test]
    fn each_setting_makes_the_tags_ecr_documents_immutable() {
        use TagMutabilitySetting::*;
        let filters = || vec!["dev-*".to_owned(), "latest".to_owned()];
        assert!(!TagMutability::new(Mutable).is_immutable(&tag("v1")));
        assert!(TagMutability::new(Immutable).is_immutable(&tag("latest")));
        let except = TagMutability::with_exclusions(ImmutableWithExclusion, filters());
        assert!(except.is_immutable(&tag("v1")));
        assert!(!except.is_immutable(&tag("dev-7")));
        assert!(!except.is_immutable(&tag("latest")));
        let only = TagMutability::with_exclusions(MutableWithExclusion, filters());
        assert!(!only.is_immutable(&tag("v1")));
        assert!(only.is_immutable(&tag("dev-7")));
        assert_eq!(
            except.describe(),
            "IMMUTABLE_WITH_EXCLUSION (exclusions: dev-*, latest)"
        );
        for s in [
            Mutable,
            Immutable,
            ImmutableWithExclusion,
            MutableWithExclusion,
        ] {
            assert_eq!(TagMutabilitySetting::from_ecr_str(s.as_ecr_str()), Some(s));
        }
        assert_eq!(TagMutabilitySetting::from_ecr_str("SOMETIMES"), None);
    }
}
