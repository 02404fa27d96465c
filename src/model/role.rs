//! The IAM role a run assumes to reach one account (`registry.role`), with the
//! external id its trust policy may ask for.

use super::AccountId;

/// An IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleArn {
    text: String,
    account: AccountId,
}

/// The partitions an IAM ARN can name.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

impl RoleArn {
    /// Parses `text`; the error says what is wrong in plain words.
    pub fn parse(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        let not_role =
            || format!("`{text}` is not the ARN of an IAM role (arn:aws:iam::ACCOUNT:role/NAME)");
        let mut parts = text.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(not_role());
        };
        if !PARTITIONS.contains(&partition) {
            return Err(not_role());
        }
        let account = AccountId::parse(account.to_owned()).map_err(|_| not_role())?;
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(not_role());
        };
        // IAM: a name of 1 to 64 of [A-Za-z0-9+=,.@_-], after an optional path.
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        let path_ok = path_and_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        if !name_ok || !path_ok || path_and_name.len() > 512 {
            return Err(not_role());
        }
        Ok(Self { text, account })
    }

    /// The ARN as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The account the role belongs to.
    pub fn account(&self) -> &AccountId {
        &self.account
    }
}

impl std::fmt::Display for RoleArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Checks an external id as STS takes it: 2 to 1224 of `[A-Za-z0-9+=,.@:/-]` and `_`.
pub fn check_external_id(text: &str) -> Result<(), String> {
    if !(2..=1224).contains(&text.len()) {
        return Err(format!(
            "an external id has 2 to 1224 characters, not {}",
            text.len()
        ));
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(*c)))
    {
        Some(c) => Err(format!(
            "`{c}` cannot be in an external id (letters, digits and +=,.@:/_-)"
        )),
        None => Ok(()),
    }
}

/// The role a run assumes for every call about one account: its repositories and its
/// in-use sources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountRole {
    /// The account.
    pub account: AccountId,
    /// The role, in that account.
    pub role: RoleArn,
    /// The external id the role's trust policy asks for, if any.
    pub external_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let arn = RoleArn::parse("arn:aws:iam::111111111111:role/ecr-reconcile").unwrap();
        assert_eq!(arn.account().as_str(), "111111111111");
        assert!(RoleArn::parse("arn:aws-cn:iam::111111111111:role/ci/deploy/ecr").is_ok());
        for bad in [
            "arn:aws:iam::111111111111:user/ecr-reconcile",
            "arn:aws:sts::111111111111:assumed-role/x/y",
            "arn:aws:iam::11111111111:role/short-account",
            "arn:aws:iam::111111111111:role/",
            "arn:aws:iam:eu-west-1:111111111111:role/regional",
            "arn:other:iam::111111111111:role/partition",
            "arn:aws:iam::111111111111:role/with space",
            "ecr-reconcile",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_ids() {
        assert!(check_external_id("team-a:2024/ci").is_ok());
        assert!(check_external_id("x").is_err());
        assert!(check_external_id("has space").is_err());
    }
}
