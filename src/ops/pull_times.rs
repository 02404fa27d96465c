//! `pulled_within` trusts ECR's `lastRecordedPullTime`. ECR records a pull by any
//! principal, the tool's own manifest reads (BatchGetImage, the first step of a pull)
//! and scanners' included, unless the principal is registered as a pull-time update
//! exclusion (RegisterPullTimeUpdateExclusion). When a file uses `pulled_within`, the
//! run checks that the principal it runs as is excluded in each registry concerned,
//! and warns `plan::pull-time-not-excluded` when it is not, or when the registry
//! cannot say.

use crate::config::{DesiredRepository, DesiredState, Origin};
use crate::model::{AccountId, Region, RegistryLocation, RepositoryRef};
use crate::plan::{Warning, WarningCode};
use crate::registry::Registry;

/// The warnings of the check, for the repositories `targets` resolves `desired` to.
pub async fn check<R: Registry>(
    registry: &R,
    desired: &DesiredState,
    targets: &[RepositoryRef],
) -> Vec<Warning> {
    // The registries (private: ECR Public records no pulls) of the repositories whose
    // allow-list uses `pulled_within`, each with the first such entry.
    let mut users: Vec<((AccountId, Region), &RepositoryRef, Origin)> = Vec::new();
    for (t, d) in targets.iter().zip(&desired.repositories) {
        let RegistryLocation::Private { account, region } = &t.registry else {
            continue;
        };
        let Some(origin) = first_pulled_within(d) else {
            continue;
        };
        let key = (account.clone(), region.clone());
        if !users.iter().any(|(k, _, _)| *k == key) {
            users.push((key, t, origin));
        }
    }
    if users.is_empty() {
        return Vec::new();
    }
    let principal = match registry.caller_principal().await {
        Ok(Some(p)) => p,
        // Offline: no principal, no pulls recorded.
        Ok(None) => return Vec::new(),
        Err(e) => {
            return users
                .iter()
                .map(|(_, t, origin)| unknown(t, origin, &format!("the caller's identity: {e}")))
                .collect();
        }
    };
    let mut out = Vec::new();
    for ((account, region), t, origin) in &users {
        match registry.pull_time_exclusions(account, region).await {
            Ok(None) => {}
            Ok(Some(list)) if excluded(&principal, &list) => {}
            Ok(Some(_)) => out.push(Warning {
                code: WarningCode::PullTimeNotExcluded,
                message: format!(
                    "`pulled_within` trusts ECR's pull times, but {principal}, which this tool runs as, is not excluded from pull-time updates in {}: its own manifest reads (BatchGetImage) may count as pulls and keep images \"recently pulled\"",
                    t.registry
                ),
                repository: t.to_string(),
                location: Some(origin.clone()),
                help: Some(format!(
                    "register it: `aws ecr register-pull-time-update-exclusion --principal-arn {} --region {region}` (an IAM role or user ARN), and do the same for scanners that read images",
                    principal_arn_to_register(&principal)
                )),
            }),
            Err(e) => out.push(unknown(t, origin, &e.to_string())),
        }
    }
    out
}

/// The first allow-list entry of `d` that uses `pulled_within`.
fn first_pulled_within(d: &DesiredRepository) -> Option<Origin> {
    d.allow
        .iter()
        .find(|e| e.pulled_within_seconds.is_some())
        .map(|e| e.origin.clone())
}

fn unknown(t: &RepositoryRef, origin: &Origin, why: &str) -> Warning {
    Warning {
        code: WarningCode::PullTimeNotExcluded,
        message: format!(
            "`pulled_within` trusts ECR's pull times, but whether this tool's principal is excluded from pull-time updates in {} could not be checked ({why})",
            t.registry
        ),
        repository: t.to_string(),
        location: Some(origin.clone()),
        help: Some(
            "allow ecr:ListPullTimeUpdateExclusions to the tool's role, and register the role as an exclusion (`aws ecr register-pull-time-update-exclusion`)".to_owned(),
        ),
    }
}

/// Whether `principal` (as STS names it) is in `exclusions` (IAM ARNs). An assumed
/// role's session (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`) is excluded when
/// its role (`arn:aws:iam::ACCOUNT:role/[PATH/]NAME`) is.
pub fn excluded(principal: &str, exclusions: &[String]) -> bool {
    if exclusions.iter().any(|e| e == principal) {
        return true;
    }
    let Some((account, role)) = assumed_role(principal) else {
        return false;
    };
    exclusions.iter().any(|e| {
        e.split_once(":iam::")
            .and_then(|(_, rest)| rest.split_once(":role/"))
            .is_some_and(|(a, path)| a == account && path.rsplit('/').next() == Some(role))
    })
}

/// The account and role name of an assumed-role session ARN.
fn assumed_role(principal: &str) -> Option<(&str, &str)> {
    let (_, rest) = principal.split_once(":sts::")?;
    let (account, rest) = rest.split_once(":assumed-role/")?;
    let (role, _session) = rest.split_once('/')?;
    Some((account, role))
}

/// The ARN to register for `principal`: the role of an assumed-role session (without
/// a path, which the session ARN does not carry), else the principal itself.
fn principal_arn_to_register(principal: &str) -> String {
    let partition = principal
        .strip_prefix("arn:")
        .and_then(|r| r.split(':').next())
        .unwrap_or("aws");
    match assumed_role(principal) {
        Some((account, role)) => format!("arn:{partition}:iam::{account}:role/{role}"),
        None => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_is_excluded_through_its_role_with_or_without_a_path() {
        let session = "arn:aws:sts::123456789012:assumed-role/ecr-reconcile/gha-42";
        for role in [
            "arn:aws:iam::123456789012:role/ecr-reconcile",
            "arn:aws:iam::123456789012:role/ci/ecr-reconcile",
        ] {
            assert!(excluded(session, &[role.to_owned()]), "{role}");
        }
        for other in [
            "arn:aws:iam::210987654321:role/ecr-reconcile",
            "arn:aws:iam::123456789012:role/ecr-reconciler",
            "arn:aws:iam::123456789012:user/ecr-reconcile",
        ] {
            assert!(!excluded(session, &[other.to_owned()]), "{other}");
        }
        let user = "arn:aws:iam::123456789012:user/release-bot";
        assert!(excluded(user, &[user.to_owned()]));
        assert!(!excluded(user, &[]));
        assert_eq!(
            principal_arn_to_register(session),
            "arn:aws:iam::123456789012:role/ecr-reconcile"
        );
        assert_eq!(
            principal_arn_to_register("arn:aws-cn:sts::123456789012:assumed-role/r/s"),
            "arn:aws-cn:iam::123456789012:role/r"
        );
        assert_eq!(principal_arn_to_register(user), user);
    }
}
