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

    /// A file of `app-a` in account 222222222222 (with its role) whose `in_use`
    /// names `accounts`.
    fn with_accounts(accounts: &str) -> Vec<u8> {
        let mut f = file(
            "222222222222",
            "arn:aws:iam::222222222222:role/ecr-reconcile",
            None,
            "app-a",
        );
        f.extend_from_slice(format!("in_use:\n  ecs: {{}}\n  accounts:\n{accounts}").as_bytes());
        f
    }

    #[test]
    fn in_use_accounts_are_read_through_their_roles() {
        let state = load_sources(vec![(
            "a.yaml".into(),
            with_accounts(
                "    - account: \"444444444444\"\n      role: arn:aws:iam::444444444444:role/reader\n      external_id: org-reader\n      regions: [us-east-1, eu-west-1]\n    - account: \"555555555555\"\n      role: arn:aws:iam::555555555555:role/reader\n",
            ),
        )])
        .unwrap();
        let accounts: Vec<(&str, Option<Vec<&str>>)> = state
            .in_use
            .accounts
            .iter()
            .map(|a| {
                (
                    a.account.as_str(),
                    a.regions
                        .as_ref()
                        .map(|r| r.iter().map(|r| r.as_str()).collect()),
                )
            })
            .collect();
        assert_eq!(
            accounts,
            [
                ("444444444444", Some(vec!["us-east-1", "eu-west-1"])),
                ("555555555555", None)
            ]
        );
        let roles: Vec<(&str, Option<&str>)> = state
            .roles
            .iter()
            .map(|r| (r.role.as_str(), r.external_id.as_deref()))
            .collect();
        assert_eq!(
            roles,
            [
                ("arn:aws:iam::222222222222:role/ecr-reconcile", None),
                ("arn:aws:iam::444444444444:role/reader", Some("org-reader")),
                ("arn:aws:iam::555555555555:role/reader", None)
            ]
        );
    }

    #[test]
    fn an_in_use_account_needs_a_role_of_its_own_account_agreeing_with_other_files() {
        let codes = |accounts: &str| -> Vec<(String, u32, u32)> {
            let errors =
                load_sources(vec![("a.yaml".into(), with_accounts(accounts))]).unwrap_err();
            errors
                .diagnostics
                .iter()
                .map(|d| {
                    let span = d.span.unwrap();
                    (d.code.as_str().to_owned(), span.line, span.column)
                })
                .collect()
        };
        assert_eq!(
            codes("    - account: \"444444444444\"\n"),
            [("config::missing-key".to_owned(), 12, 7)]
        );
        assert_eq!(
            codes(
                "    - account: \"444444444444\"\n      role: arn:aws:iam::555555555555:role/reader\n"
            ),
            [("config::role-account-mismatch".to_owned(), 13, 13)]
        );
        assert_eq!(
            codes("    - role: arn:aws:iam::444444444444:role/reader\n"),
            [("config::missing-key".to_owned(), 12, 7)]
        );
        assert_eq!(
            codes("    - account: \"4444\"\n      role: arn:aws:iam::444444444444:role/reader\n"),
            [("config::invalid-account".to_owned(), 12, 16)]
        );
        // The same account as the file's own, with another role.
        assert_eq!(
            codes(
                "    - account: \"222222222222\"\n      role: arn:aws:iam::222222222222:role/reader\n"
            ),
            [("config::role-conflict".to_owned(), 13, 13)]
        );
        assert_eq!(
            codes(
                "    - account: \"444444444444\"\n      role: arn:aws:iam::444444444444:role/reader\n      regions: []\n"
            ),
            [("config::invalid-region".to_owned(), 14, 16)]
        );
    }
}
