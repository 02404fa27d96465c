//! Domain newtypes that validate on construction, with ECR's own grammars.
//!
//! A value of one of these types is known to be well-formed, so the rest of the
//! program never re-checks it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

mod cost;
mod location;
mod role;

pub use cost::{DeleteLimit, GB, PRICES_CHECKED_ON, Price, Prices, Usd, parse_size};
pub use location::{PUBLIC_REGISTRY_HOST, RegistryLocation, RepositoryRef};
pub use role::{AccountRole, RoleArn, check_external_id};

/// The kinds of value the model validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
pub enum ValueKind {
    /// [`PublicAlias`].
    PublicAlias,
    /// [`RepositoryName`].
    RepositoryName,
    /// [`Tag`], as the registry accepts it.
    Tag,
    /// [`Tag`], as a desired-state file may write it.
    DesiredTag,
    /// [`Digest`].
    Digest,
    /// [`AccountId`].
    AccountId,
    /// [`Region`].
    Region,
}

/// A value that is not well-formed: which kind of value, and what is wrong with it in
/// plain words (its `Display` is the reason alone, as messages quote it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidValue {
    /// What the value was to be.
    pub kind: ValueKind,
    /// What is wrong.
    pub reason: String,
}

impl From<InvalidValue> for String {
    fn from(e: InvalidValue) -> String {
        e.reason
    }
}

/// Declares a validated string newtype with `Display`, `AsRef<str>`, serde and a schema.
///
/// The text is held in an `Arc<str>`: a plan copies the digests and tags of the images
/// it observes into its actions, and cloning one is then a count, not an allocation.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:path, $pattern:expr, $desc:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `value` and wraps it; the error says what is wrong in plain words.
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
                let value = value.into();
                $check(&value).map_err(|reason| InvalidValue {
                    kind: ValueKind::$name,
                    reason,
                })?;
                Ok(Self(value.into()))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Checked once deserialized, not in the visitor: a format that places
                // errors (serde_json) then places this one as it did for a `String`.
                let s = d.deserialize_string(ArcStr)?;
                $check(&s).map_err(serde::de::Error::custom)?;
                Ok(Self(s))
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $desc,
                })
            }
        }
    };
}

/// Deserializes a string as `String` does (from text or UTF-8 bytes, with the same
/// errors), copying it once, into an `Arc<str>`.
struct ArcStr;

impl serde::de::Visitor<'_> for ArcStr {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Arc<str>, E> {
        Ok(Arc::from(v))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Arc<str>, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Arc::from(s)),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
        }
    }
}

string_newtype!(
    /// An ECR repository name, such as `payments/api`.
    RepositoryName,
    check_repository_name,
    "^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
    "An ECR repository name: 2 to 256 characters, lowercase path components separated by `/`."
);
string_newtype!(
    /// An image tag, such as `v1.4.2`, as the registry holds it.
    ///
    /// [`Tag::parse`] (and reading one from JSON) accepts what ECR's API accepts and
    /// returns: 1 to 300 characters. The desired-state files are held to the stricter
    /// grammar of tags that `docker push` creates ([`Tag::parse_desired`]).
    Tag,
    check_registry_tag,
    "^[^\\x00-\\x1f\\x7f-\\x9f]{1,300}$",
    "An image tag as ECR holds it: 1 to 300 characters, no control characters."
);
string_newtype!(
    /// A content digest, such as `sha256:3b1f…` (64 lowercase hex digits).
    Digest,
    check_digest,
    "^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$",
    "A content digest: `sha256:` and 64 lowercase hex digits (or `sha512:` and 128)."
);
string_newtype!(
    /// A 12-digit AWS account id (the ECR `registryId`).
    AccountId,
    check_account,
    "^[0-9]{12}$",
    "A 12-digit AWS account id (the ECR registry id)."
);
string_newtype!(
    /// An AWS region name, such as `eu-west-1`.
    Region,
    check_region,
    "^[a-z]{2}(-[a-z]+)+-[0-9]+$",
    "An AWS region, such as `eu-west-1`."
);

string_newtype!(
    /// The alias of an ECR Public registry: the `ALIAS` of `public.ecr.aws/ALIAS/NAME`.
    PublicAlias,
    check_public_alias,
    "^[a-z0-9]+(?:[._-][a-z0-9]+)*$",
    "An ECR Public registry alias: 2 to 50 characters, lowercase letters and digits separated by `.`, `_` or `-`."
);

fn check_public_alias(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if !(2..=50).contains(&len) {
        return Err(format!(
            "an ECR Public alias is 2 to 50 characters long, not {len}"
        ));
    }
    if s.contains('/') {
        return Err("an ECR Public alias is one path component: it has no `/`".into());
    }
    check_repository_name(s)
        .map_err(|e| e.replace("a repository name", "an ECR Public alias"))
        .map_err(|e| {
            e.replace(
                "a path component of an ECR Public alias",
                "an ECR Public alias",
            )
        })
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn check_repository_name(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if !(2..=256).contains(&len) {
        return Err(format!(
            "a repository name must be 2 to 256 characters long, not {len}"
        ));
    }
    for component in s.split('/') {
        if component.is_empty() {
            return Err(
                "a repository name has no empty path components (`//`, or `/` at either end)"
                    .into(),
            );
        }
        let mut prev_sep = true;
        for c in component.chars() {
            if is_lower_alnum(c) {
                prev_sep = false;
            } else if matches!(c, '.' | '_' | '-') {
                if prev_sep {
                    return Err(format!(
                        "in a repository name, `{c}` must stand between lowercase letters or digits"
                    ));
                }
                prev_sep = true;
            } else if c.is_ascii_uppercase() {
                return Err("a repository name is lowercase".into());
            } else {
                return Err(format!(
                    "a repository name may not contain {c:?}; it allows a-z, 0-9, `.`, `_`, `-` and `/`"
                ));
            }
        }
        if prev_sep {
            return Err(
                "a path component of a repository name must end in a letter or digit".into(),
            );
        }
    }
    Ok(())
}

/// ECR's limit on the length of a tag in an image identifier.
pub const MAX_REGISTRY_TAG_CHARS: usize = 300;

/// Checks a tag as ECR's API accepts it in an image identifier: 1 to 300 characters.
/// Control characters are refused too: no client can push them, and one in a tag
/// would reach the terminal when the plan is shown.
fn check_registry_tag(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if len == 0 {
        return Err("a tag cannot be empty".into());
    }
    if len > MAX_REGISTRY_TAG_CHARS {
        return Err(format!(
            "a tag is at most {MAX_REGISTRY_TAG_CHARS} characters long, not {len}"
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!("a tag may not contain the control character {c:?}"));
    }
    Ok(())
}

impl Tag {
    /// Validates a tag written in a desired-state file with the grammar of tags that
    /// `docker push` creates (see [`check_tag`]), and wraps it.
    pub fn parse_desired(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_tag(&value).map_err(|reason| InvalidValue {
            kind: ValueKind::DesiredTag,
            reason,
        })?;
        Ok(Self(value.into()))
    }
}

/// Checks ECR's (Docker's) tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if len == 0 {
        return Err("a tag cannot be empty".into());
    }
    if len > 128 {
        return Err(format!("a tag is at most 128 characters long, not {len}"));
    }
    if s.starts_with(['.', '-']) {
        return Err("a tag cannot start with `.` or `-`".into());
    }
    if let Some(c) = s.chars().find(|c| !is_tag_char(*c)) {
        return Err(format!(
            "a tag may not contain {c:?}; it allows A-Z, a-z, 0-9, `_`, `.` and `-`"
        ));
    }
    Ok(())
}

/// True for the characters a tag may contain.
pub fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn check_digest(s: &str) -> Result<(), String> {
    let (algorithm, hex) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not a digest: expected `sha256:` and 64 hex digits"))?;
    let want = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm `{algorithm}`")),
    };
    // Without early exit, the check of all digits compiles to a few vector instructions.
    if hex.len() != want
        || !hex
            .bytes()
            .fold(true, |ok, b| ok & matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(format!(
            "a {algorithm} digest has exactly {want} lowercase hex digits"
        ));
    }
    Ok(())
}

fn check_account(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("`{s}` is not an AWS account id (12 digits)"))
    }
}

fn check_region(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an AWS region name (like `eu-west-1`)"
        ))
    }
}

impl Digest {
    /// The hex part of the digest, without the algorithm.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The algorithm part, such as `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The digest `content` hashes to, when that differs from this one (a manifest
    /// that is not this image's). Only sha256, the algorithm ECR uses, is computed;
    /// another algorithm is taken on trust.
    pub fn mismatch(&self, content: &[u8]) -> Option<String> {
        if self.algorithm() != "sha256" {
            return None;
        }
        let computed = crate::hash::sha256(content);
        (computed != self.as_str()).then_some(computed)
    }

    /// A short form for humans: `sha256:` and the first 12 hex digits.
    pub fn short(&self) -> String {
        let hex = self.hex();
        format!("{}:{}", self.algorithm(), &hex[..hex.len().min(12)])
    }
}

/// Manifest media types that ECR reports and that the plan must understand.
pub mod media_type {
    /// OCI image index (multi-platform image).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker manifest list (multi-platform image).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// All four, as passed to BatchGetImage's `acceptedMediaTypes`.
    pub const ALL: [&str; 4] = [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ];

    /// OCI image config (the artifact type ECR reports for a plain image).
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// OCI empty descriptor (artifacts without a config).
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Cosign signature (tag scheme).
    pub const COSIGN_SIGNATURE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    /// Cosign signature (OCI 1.1 referrers scheme).
    pub const COSIGN_ARTIFACT_SIGNATURE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
    /// Sigstore bundle.
    pub const SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// In-toto attestation.
    pub const IN_TOTO: &str = "application/vnd.in-toto+json";
    /// SPDX SBOM.
    pub const SPDX: &str = "application/spdx+json";
    /// CycloneDX SBOM.
    pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
    /// Helm chart config.
    pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

    /// True when a manifest of this media type lists child manifests.
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    /// The static copy of a well-known media type (the manifest types above and
    /// common artifact types), so that holding one allocates nothing.
    pub fn well_known(media_type: &str) -> Option<&'static str> {
        Some(match media_type {
            OCI_MANIFEST => OCI_MANIFEST,
            OCI_INDEX => OCI_INDEX,
            DOCKER_MANIFEST => DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST => DOCKER_MANIFEST_LIST,
            OCI_CONFIG => OCI_CONFIG,
            DOCKER_CONFIG => DOCKER_CONFIG,
            OCI_EMPTY => OCI_EMPTY,
            COSIGN_SIGNATURE => COSIGN_SIGNATURE,
            COSIGN_ARTIFACT_SIGNATURE => COSIGN_ARTIFACT_SIGNATURE,
            SIGSTORE_BUNDLE => SIGSTORE_BUNDLE,
            IN_TOTO => IN_TOTO,
            SPDX => SPDX,
            CYCLONEDX => CYCLONEDX,
            HELM_CONFIG => HELM_CONFIG,
            _ => return None,
        })
    }
}

/// A media type as ECR reports it, such as `application/vnd.oci.image.manifest.v1+json`.
///
/// Not validated: ECR's value is taken as is. A well-known type (see
/// [`media_type::well_known`]) is held as a `&'static str`, so that parsing and cloning
/// the million copies of a large registry allocate nothing; any other is owned.
/// Serialized as a plain string, with the schema of a string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaType(Cow<'static, str>);

impl MediaType {
    /// Wraps a media type, borrowing the static copy when it is a well-known one.
    pub fn new(value: &str) -> Self {
        Self(match media_type::well_known(value) {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(value.to_owned()),
        })
    }

    /// The media type's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when a manifest of this media type lists child manifests.
    pub fn is_index(&self) -> bool {
        media_type::is_index(self.as_str())
    }
}

impl From<&str> for MediaType {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for MediaType {
    fn from(value: String) -> Self {
        match media_type::well_known(&value) {
            Some(s) => Self(Cow::Borrowed(s)),
            None => Self(Cow::Owned(value)),
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl AsRef<str> for MediaType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Accepts what `String` accepts, with the same errors, and takes the text
        /// without an intermediate `String` when the format lends it.
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = MediaType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MediaType, E> {
                Ok(MediaType::new(v))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MediaType, E> {
                Ok(MediaType::from(v))
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<MediaType, E> {
                match std::str::from_utf8(v) {
                    Ok(s) => Ok(MediaType::new(s)),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
                }
            }
        }

        d.deserialize_str(Visitor)
    }
}

/// Exactly the schema of a `String`, so that the published schemas do not change.
impl JsonSchema for MediaType {
    fn inline_schema() -> bool {
        String::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        String::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["ab", "payments/api", "a.b_c-d/e1", "x/y/z0"] {
            assert!(RepositoryName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "Payments",
            "a//b",
            "/ab",
            "ab/",
            "a..b",
            "-ab",
            "ab-",
            "a b",
            &"a".repeat(257),
        ] {
            assert!(RepositoryName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn desired_tags_follow_the_docker_grammar() {
        for ok in ["v1.4.2", "_x", "A", "1.10", &"a".repeat(128)] {
            assert!(Tag::parse_desired(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a b", "a/b", "a*", "ü", &"a".repeat(129)] {
            assert!(Tag::parse_desired(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_tags_are_accepted_as_ecr_returns_them() {
        for ok in [
            "v1.4.2",
            ".x",
            "-x",
            "a b",
            "a/b",
            "ü",
            &"a".repeat(129),
            &"b".repeat(300),
        ] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
            let json = serde_json::to_string(ok).unwrap();
            assert_eq!(serde_json::from_str::<Tag>(&json).unwrap().as_str(), ok);
        }
        for bad in ["", "a\nb", "\u{1b}[31m", &"a".repeat(301)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn media_types_are_plain_strings_and_well_known_ones_are_not_copied() {
        let known: MediaType =
            serde_json::from_str(&format!("\"{}\"", media_type::OCI_INDEX)).unwrap();
        assert!(matches!(known.0, Cow::Borrowed(_)));
        assert!(known.is_index());
        let other: MediaType = serde_json::from_str(r#""text/x-\u00e9""#).unwrap();
        assert!(matches!(other.0, Cow::Owned(_)));
        assert_eq!(other.as_str(), "text/x-é");
        assert_eq!(serde_json::to_string(&other).unwrap(), r#""text/x-é""#);
        assert_eq!(
            serde_json::from_str::<MediaType>("5")
                .unwrap_err()
                .to_string(),
            serde_json::from_str::<String>("5").unwrap_err().to_string()
        );
        assert_eq!(
            schemars::schema_for!(Option<MediaType>),
            schemars::schema_for!(Option<String>)
        );
    }

    #[test]
    fn an_invalid_value_says_what_it_was_to_be_and_why() {
        let e = Digest::parse("sha256:x").unwrap_err();
        assert_eq!(e.kind, ValueKind::Digest);
        assert_eq!(
            e.to_string(),
            "a sha256 digest has exactly 64 lowercase hex digits"
        );
        assert_eq!(
            Tag::parse_desired("-x").unwrap_err().kind,
            ValueKind::DesiredTag
        );
        assert_eq!(Tag::parse("").unwrap_err().kind, ValueKind::Tag);
        assert_eq!(Region::parse("x").unwrap_err().kind, ValueKind::Region);
        assert_eq!(
            AccountId::parse("1").unwrap_err().kind,
            ValueKind::AccountId
        );
        assert_eq!(
            RepositoryName::parse("A").unwrap_err().kind,
            ValueKind::RepositoryName
        );
        assert_eq!(
            PublicAlias::parse("a").unwrap_err().kind,
            ValueKind::PublicAlias
        );
    }

    #[test]
    fn newtypes_read_and_write_as_strings() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let parsed: Digest = serde_json::from_str(&format!("\"{d}\"")).unwrap();
        assert_eq!(parsed.as_str(), d);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), format!("\"{d}\""));
        for bad in ["5", "null", r#""sha256:x""#] {
            let got = serde_json::from_str::<Digest>(bad).unwrap_err().to_string();
            let want = serde_json::from_str::<String>(bad)
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    Digest::parse(s)
                        .map(|_| String::new())
                        .map_err(String::from)
                })
                .unwrap_err();
            assert!(got.starts_with(&want), "{got} / {want}");
        }
    }

    #[test]
    fn registry_locations_read_both_forms_and_refuse_ambiguity() {
        let private: RepositoryRef =
            serde_json::from_str(r#"{"account":"123456789012","region":"eu-west-1","name":"a/b"}"#)
                .unwrap();
        assert_eq!(private.to_string(), "a/b (123456789012/eu-west-1)");
        assert_eq!(
            serde_json::to_string(&private).unwrap(),
            r#"{"account":"123456789012","region":"eu-west-1","name":"a/b"}"#
        );
        let public: RepositoryRef = serde_json::from_str(
            r#"{"account":"123456789012","public_alias":"my-org","name":"a/b"}"#,
        )
        .unwrap();
        assert!(public.registry.is_public());
        assert_eq!(public.to_string(), "public.ecr.aws/my-org/a/b");
        assert_eq!(
            serde_json::to_string(&public).unwrap(),
            r#"{"account":"123456789012","public_alias":"my-org","name":"a/b"}"#
        );
        for bad in [
            r#"{"account":"123456789012","region":"eu-west-1","public_alias":"x1","name":"a/b"}"#,
            r#"{"account":"123456789012","name":"a/b"}"#,
        ] {
            assert!(serde_json::from_str::<RepositoryRef>(bad).is_err(), "{bad}");
        }
        for ok in ["ab", "my-org", "a1.b_c"] {
            assert!(PublicAlias::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "My-org", "a/b", "-ab", &"a".repeat(51)] {
            assert!(PublicAlias::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_accounts_regions() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            Digest::parse(d.clone()).unwrap().short(),
            "sha256:abababababab"
        );
        assert!(Digest::parse(d.to_uppercase()).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("md5:abc").is_err());
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("12345678901").is_err());
        for ok in ["eu-west-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(Region::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["eu-west", "EU-west-1", "euwest1", "e-west-1"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }
}
