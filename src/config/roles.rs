//! The roles of a run: each account's `registry.role`, the same in every file that
//! names one for that account.

use std::collections::BTreeMap;

use super::diagnostic::{Code, ConfigDiagnostic, ConfigErrors, SharedSource};
use super::validate::RoleDecl;
use crate::model::{AccountId, AccountRole};

/// The role of each account, once; two files that give one account different roles
/// (or external ids) are an error at the second, with the first as related.
pub(super) fn check_roles(
    decls: &[(RoleDecl, SharedSource)],
    errors: &mut ConfigErrors,
) -> Vec<AccountRole> {
    let mut first: BTreeMap<&AccountId, &(RoleDecl, SharedSource)> = BTreeMap::new();
    for decl in decls {
        let (d, src) = decl;
        match first.get(&d.role.account) {
            None => {
                first.insert(&d.role.account, decl);
            }
            Some((f, _)) if f.role == d.role => {}
            Some((f, fsrc)) => {
                let what = if f.role.role == d.role.role {
                    "external id"
                } else {
                    "role"
                };
                errors.diagnostics.push(
                    ConfigDiagnostic::at(
                        Code::RoleConflict,
                        src,
                        d.span,
                        format!(
                            "account {} is given another {what} here than in {}",
                            d.role.account,
                            fsrc.name()
                        ),
                        format!("another {what}"),
                    )
                    .with_help("give every file of one account the same `role` and `external_id`")
                    .with_related(ConfigDiagnostic::at(
                        Code::RoleConflict,
                        fsrc,
                        f.span,
                        format!(
                            "the {what} of account {} is first given here",
                            f.role.account
                        ),
                        "first given here",
                    )),
                );
            }
        }
    }
    first.into_values().map(|(d, _)| d.role.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::load_sources;

    fn file(account: &str, role: &str, external_id: Option<&str>, repo: &str) -> Vec<u8> {
        let external = external_id.map_or_else(String::new, |e| format!("  external_id: {e}\n"));
        format!(
            "version: 1\nregistry:\n  account: \"{account}\"\n  region: eu-west-1\n  role: {role}\n{external}repositories:\n  {repo}:\n    tags: [v1]\n"
        )
        .into_bytes()
    }

    #[test]
    fn each_account_has_its_role_once() {
        let role = "arn:aws:iam::222222222222:role/ecr-reconcile";
        let state = load_sources(vec![
            (
                "a.yaml".into(),
                file("222222222222", role, Some("team-a"), "app-a"),
            ),
            (
                "b.yaml".into(),
                file("222222222222", role, Some("team-a"), "app-b"),
            ),
            (
                "c.yaml".into(),
                file(
                    "333333333333",
                    "arn:aws:iam::333333333333:role/r",
                    None,
                    "app-c",
                ),
            ),
        ])
        .unwrap();
        let roles: Vec<(&str, &str, Option<&str>)> = state
            .roles
            .iter()
            .map(|r| {
                (
                    r.account.as_str(),
                    r.role.as_str(),
                    r.external_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("222222222222", role, Some("team-a")),
                ("333333333333", "arn:aws:iam::333333333333:role/r", None)
            ]
        );
    }

    #[test]
    fn another_external_id_for_one_account_is_a_conflict() {
        let role = "arn:aws:iam::222222222222:role/ecr-reconcile";
        let errors = load_sources(vec![
            (
                "a.yaml".into(),
                file("222222222222", role, Some("team-a"), "app-a"),
            ),
            (
                "b.yaml".into(),
                file("222222222222", role, Some("team-b"), "app-b"),
            ),
        ])
        .unwrap_err();
        assert_eq!(errors.diagnostics.len(), 1);
        let d = &errors.diagnostics[0];
        assert_eq!(d.code.as_str(), "config::role-conflict");
        assert!(d.message.contains("another external id"), "{}", d.message);
    }
}
