//! What the reports of `apply` and `restore` share: the kind of each failure, in one
//! enum with stable names, and the structured identifiers of an entry (its image and
//! its repository) beside the human strings.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Digest, Tag};
use crate::registry::{FailureCode, ImageId, RegistryError, ServiceCode};

/// The version of the `apply` and `restore` JSON reports. 2: every entry carries
/// `image` and `repository_id`; the reports before had no version field.
pub const REPORT_VERSION: u32 = 2;

/// Why a report entry failed. Its name (`Display`, and the JSON `code`) is ECR's code
/// for ECR's refusals and the tool's own, stable name otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, strum::Display)]
pub enum FailureKind {
    /// A name of the tool's own.
    #[strum(transparent)]
    Tool(ToolCode),
    /// ECR refused the item: its per-item failure code.
    #[strum(transparent)]
    Item(FailureCode),
    /// ECR (or AWS in front of it) refused a whole call: its error code.
    #[strum(transparent)]
    Call(ServiceCode),
}

/// The tool's own failure names: the protocol's refusals, and whole calls that got no
/// usable answer.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
pub enum ToolCode {
    /// The registry removed a tag from another image than the plan named.
    DigestMismatch,
    /// The registry reported removed an identifier the request did not ask for.
    UnplannedRemoval,
    /// BatchDeleteImage answered neither way, and a read did not find it gone.
    Unanswered,
    /// Not removed: its manifest could not be saved to the journal for restore.
    ManifestNotSaved,
    /// A whole call got no answer (credentials, network, timeout).
    Unreachable,
    /// A whole call got an answer the tool could not make sense of.
    SurprisingResponse,
}

impl From<ToolCode> for FailureKind {
    fn from(code: ToolCode) -> Self {
        FailureKind::Tool(code)
    }
}

impl FailureKind {
    /// Reads a name back: the tool's own names, the error codes of whole calls that
    /// this version knows, else ECR's per-item codes (an unknown one as `Other`).
    pub fn parse(name: &str) -> Self {
        if let Ok(code) = name.parse::<ToolCode>() {
            return FailureKind::Tool(code);
        }
        match ServiceCode::from(name) {
            ServiceCode::Other(_) => FailureKind::Item(FailureCode::from(name)),
            known => FailureKind::Call(known),
        }
    }
}

impl From<&RegistryError> for FailureKind {
    fn from(error: &RegistryError) -> Self {
        match error {
            RegistryError::RepositoryNotFound(_) => {
                FailureKind::Call(ServiceCode::RepositoryNotFoundException)
            }
            RegistryError::Service { code, .. } => FailureKind::Call(code.clone()),
            RegistryError::Unreachable(_) => ToolCode::Unreachable.into(),
            RegistryError::Surprising(_) => ToolCode::SurprisingResponse.into(),
        }
    }
}

impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FailureKind::parse(&String::deserialize(d)?))
    }
}

impl JsonSchema for FailureKind {
    fn schema_name() -> Cow<'static, str> {
        "FailureKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "ECR's failure or error code, or the tool's own: DigestMismatch, UnplannedRemoval, Unanswered, ManifestNotSaved, Unreachable, SurprisingResponse.",
        })
    }
}

/// An image as a report entry names it: by the tag concerned, or by its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageRef {
    /// By tag: `{"tag": "v1"}`.
    Tag(Tag),
    /// By digest: `{"digest": "sha256:…"}`.
    Digest(Digest),
}

impl ImageRef {
    /// The tag when there is one, else the digest.
    pub fn new(tag: Option<&Tag>, digest: &Digest) -> Self {
        match tag {
            Some(t) => ImageRef::Tag(t.clone()),
            None => ImageRef::Digest(digest.clone()),
        }
    }
}

impl From<&ImageId> for ImageRef {
    fn from(id: &ImageId) -> Self {
        match id {
            ImageId::Tag(t) => ImageRef::Tag(t.clone()),
            ImageId::Digest(d) => ImageRef::Digest(d.clone()),
        }
    }
}

/// For `skip_serializing_if`: a count that is zero is left out.
pub(crate) fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_codes_reports_always_had_and_read_back() {
        for (kind, name) in [
            (ToolCode::DigestMismatch.into(), "DigestMismatch"),
            (ToolCode::UnplannedRemoval.into(), "UnplannedRemoval"),
            (ToolCode::Unanswered.into(), "Unanswered"),
            (ToolCode::ManifestNotSaved.into(), "ManifestNotSaved"),
            (ToolCode::Unreachable.into(), "Unreachable"),
            (ToolCode::SurprisingResponse.into(), "SurprisingResponse"),
            (
                FailureKind::Item(FailureCode::ImageNotFound),
                "ImageNotFound",
            ),
            (
                FailureKind::Item(FailureCode::Other("Brand new".into())),
                "Brand new",
            ),
            (
                FailureKind::Call(ServiceCode::ThrottlingException),
                "ThrottlingException",
            ),
        ] {
            let kind: FailureKind = kind;
            assert_eq!(kind.to_string(), name);
            assert_eq!(FailureKind::parse(name), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn a_registry_error_has_the_name_of_its_code() {
        for e in [
            RegistryError::service(ServiceCode::AccessDeniedException, "no"),
            RegistryError::service(ServiceCode::from("SomethingNew"), "hm"),
            RegistryError::Surprising("odd".into()),
        ] {
            assert_eq!(FailureKind::from(&e).to_string(), e.code());
        }
    }

    #[test]
    fn an_image_is_named_by_tag_or_digest() {
        let digest = Digest::parse(format!("sha256:{}", "a".repeat(64))).unwrap();
        let tag = Tag::parse("v1").unwrap();
        assert_eq!(
            serde_json::to_string(&ImageRef::new(Some(&tag), &digest)).unwrap(),
            r#"{"tag":"v1"}"#
        );
        assert_eq!(
            serde_json::to_string(&ImageRef::new(None, &digest)).unwrap(),
            format!(r#"{{"digest":"{digest}"}}"#)
        );
    }
}
