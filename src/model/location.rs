//! Where a repository lives: a private ECR registry (account and region) or an ECR
//! Public one (account and alias), and the fully resolved repository reference.

use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AccountId, PublicAlias, Region, RepositoryName};

/// Where a registry lives: a private ECR registry (an account in a region), or an
/// ECR Public registry (an account, known by its public alias).
///
/// Typed so that the two can never be confused: a repository of ECR Public is never
/// read or changed through private ECR's API, nor the other way round. In JSON, a
/// private registry is `{"account", "region"}` (the format every earlier version
/// wrote) and a public one `{"account", "public_alias"}`; one with both or neither
/// is refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "LocationFields", into = "LocationFields")]
pub enum RegistryLocation {
    /// A private ECR registry.
    Private {
        /// The AWS account id (ECR registry id).
        account: AccountId,
        /// The AWS region.
        region: Region,
    },
    /// An ECR Public registry, `public.ecr.aws/ALIAS`.
    Public {
        /// The AWS account id (ECR Public's `registryId`).
        account: AccountId,
        /// The registry's public alias.
        alias: PublicAlias,
    },
}

/// The serialized form of a [`RegistryLocation`]: flat fields, so that a repository
/// reference stays `{"account", "region", "name"}` as it always was.
#[derive(Serialize, Deserialize, JsonSchema)]
struct LocationFields {
    account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_alias: Option<PublicAlias>,
}

/// Why the fields of a registry location name no registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Both a region and an ECR Public alias.
    #[error("a registry has a `region` (private ECR) or a `public_alias` (ECR Public), not both")]
    Both,
    /// Neither.
    #[error("missing field `region`")]
    Neither,
}

impl TryFrom<LocationFields> for RegistryLocation {
    type Error = LocationError;

    fn try_from(f: LocationFields) -> Result<Self, LocationError> {
        match (f.region, f.public_alias) {
            (Some(region), None) => Ok(RegistryLocation::Private {
                account: f.account,
                region,
            }),
            (None, Some(alias)) => Ok(RegistryLocation::Public {
                account: f.account,
                alias,
            }),
            (Some(_), Some(_)) => Err(LocationError::Both),
            (None, None) => Err(LocationError::Neither),
        }
    }
}

impl From<RegistryLocation> for LocationFields {
    fn from(l: RegistryLocation) -> Self {
        match l {
            RegistryLocation::Private { account, region } => LocationFields {
                account,
                region: Some(region),
                public_alias: None,
            },
            RegistryLocation::Public { account, alias } => LocationFields {
                account,
                region: None,
                public_alias: Some(alias),
            },
        }
    }
}

/// The schema of either form: `account` with `region`, or `account` with
/// `public_alias`.
impl JsonSchema for RegistryLocation {
    fn schema_name() -> Cow<'static, str> {
        "RegistryLocation".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let described = |mut schema: schemars::Schema, text: &str| {
            schema.insert("description".into(), text.into());
            schema
        };
        let account = described(
            generator.subschema_for::<AccountId>(),
            "The AWS account id (ECR registry id).",
        );
        let region = described(
            generator.subschema_for::<Region>(),
            "The AWS region (a private ECR registry).",
        );
        let alias = described(
            generator.subschema_for::<PublicAlias>(),
            "The registry's public alias (an ECR Public registry, `public.ecr.aws/ALIAS`).",
        );
        schemars::json_schema!({
            "description": "Where a registry lives: a private ECR registry (`account` and `region`) or an ECR Public registry (`account` and `public_alias`).",
            "type": "object",
            "properties": {
                "account": account,
                "region": region,
                "public_alias": alias,
            },
            "required": ["account"],
            "oneOf": [
                { "required": ["region"] },
                { "required": ["public_alias"] },
            ],
        })
    }
}

/// The host of ECR Public's registry, in image references and in what is shown.
pub const PUBLIC_REGISTRY_HOST: &str = "public.ecr.aws";

impl RegistryLocation {
    /// A private ECR registry.
    pub fn private(account: AccountId, region: Region) -> Self {
        RegistryLocation::Private { account, region }
    }

    /// An ECR Public registry.
    pub fn public(account: AccountId, alias: PublicAlias) -> Self {
        RegistryLocation::Public { account, alias }
    }

    /// The account (registry id).
    pub fn account(&self) -> &AccountId {
        match self {
            RegistryLocation::Private { account, .. }
            | RegistryLocation::Public { account, .. } => account,
        }
    }

    /// The region of a private registry (ECR Public has none).
    pub fn region(&self) -> Option<&Region> {
        match self {
            RegistryLocation::Private { region, .. } => Some(region),
            RegistryLocation::Public { .. } => None,
        }
    }

    /// The alias of an ECR Public registry.
    pub fn public_alias(&self) -> Option<&PublicAlias> {
        match self {
            RegistryLocation::Private { .. } => None,
            RegistryLocation::Public { alias, .. } => Some(alias),
        }
    }

    /// True for an ECR Public registry.
    pub fn is_public(&self) -> bool {
        matches!(self, RegistryLocation::Public { .. })
    }
}

impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryLocation::Private { account, region } => write!(f, "{account}/{region}"),
            RegistryLocation::Public { alias, .. } => {
                write!(f, "{PUBLIC_REGISTRY_HOST}/{alias}")
            }
        }
    }
}

/// A fully resolved repository: account, region and name.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct RepositoryRef {
    /// The registry the repository lives in.
    #[serde(flatten)]
    pub registry: RegistryLocation,
    /// The repository name.
    pub name: RepositoryName,
}

/// `payments/api (123456789012/eu-west-1)` for private ECR, and the image
/// reference's own form, `public.ecr.aws/ALIAS/NAME`, for ECR Public: nobody takes
/// one for the other.
impl fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.registry {
            RegistryLocation::Private { .. } => write!(f, "{} ({})", self.name, self.registry),
            RegistryLocation::Public { .. } => write!(f, "{}/{}", self.registry, self.name),
        }
    }
}

impl RepositoryRef {
    /// `team/app` in 123456789012/eu-west-1: the repository of the unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-1").unwrap(),
            RepositoryName::parse("team/app").unwrap(),
        )
    }

    /// A repository of a private ECR registry.
    pub fn private(account: AccountId, region: Region, name: RepositoryName) -> Self {
        RepositoryRef {
            registry: RegistryLocation::private(account, region),
            name,
        }
    }
}
