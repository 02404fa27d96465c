//! Validation of `registry.role` and `registry.external_id`: the IAM role a run
//! assumes for every call about the file's account.

use super::super::raw::RawRegistry;
use super::super::yaml::{Node, Span, Value};
use super::{Code, Cx};
use crate::model::{AccountId, AccountRole, RoleArn, check_external_id};

/// A file's role, where it is written: the run checks that every file of one account
/// names the same one.
#[derive(Clone, Debug)]
pub(in crate::config) struct RoleDecl {
    /// The role.
    pub role: AccountRole,
    /// Where `role` is written.
    pub span: Span,
}

impl<'n> Cx<'n> {
    /// The file's role, when `registry` names a valid one for its valid `account`.
    pub(super) fn role(
        &mut self,
        registry: &RawRegistry,
        account: Option<&AccountId>,
    ) -> Option<RoleDecl> {
        let role_node = self.value(&registry.role);
        let external = self.value(&registry.external_id);
        let external_id = external.and_then(|v| self.external_id(v, role_node.is_some()));
        let node = role_node?;
        let Value::Str(text) = &node.value else {
            self.wrong_type(node, "`role`", "an IAM role ARN (a string)");
            return None;
        };
        let arn = match RoleArn::parse(text.clone()) {
            Ok(a) => a,
            Err(why) => {
                self.error(Code::InvalidRole, node.span, why, "not an IAM role ARN")
                    .help = Some(
                    "the ARN of the role to assume in the file's account, such as arn:aws:iam::111111111111:role/ecr-reconcile".into(),
                );
                return None;
            }
        };
        if let Some(v) = self.value(&registry.public) {
            self.error(
                Code::PublicWithRole,
                v.span,
                "`role` cannot be given with `public`: ECR Public is reached with the run's own credentials",
                "an ECR Public registry",
            );
            return None;
        }
        if registry.account.is_none() {
            self.error(
                Code::RoleWithoutAccount,
                node.span,
                "`role` needs `account`: the role is assumed for the calls about that account",
                "a role for no account",
            )
            .help = Some(format!(
                "add `account: \"{}\"` (the account of the role) to `registry`",
                arn.account()
            ));
            return None;
        }
        // An invalid account is reported where it is written.
        let account = account?;
        if arn.account() != account {
            self.error(
                Code::RoleAccountMismatch,
                node.span,
                format!(
                    "the role is in account {}, not in the file's account {account}",
                    arn.account()
                ),
                "a role of another account",
            )
            .help = Some(
                "name the role in the repositories' account that the run assumes to reach them"
                    .into(),
            );
            return None;
        }
        Some(RoleDecl {
            role: AccountRole {
                account: account.clone(),
                role: arn,
                external_id: external_id.flatten(),
            },
            span: node.span,
        })
    }

    /// `external_id`: `Some(None)` when it is invalid (reported).
    fn external_id(&mut self, v: &Node, with_role: bool) -> Option<Option<String>> {
        let Value::Str(text) = &v.value else {
            self.wrong_type(v, "`external_id`", "a string");
            return Some(None);
        };
        if !with_role {
            self.error(
                Code::RoleWithoutAccount,
                v.span,
                "`external_id` needs `role`: it is the external id of the role assumed",
                "an external id of no role",
            );
            return Some(None);
        }
        match check_external_id(text) {
            Ok(()) => Some(Some(text.clone())),
            Err(why) => {
                self.error(Code::InvalidExternalId, v.span, why, "not an external id");
                Some(None)
            }
        }
    }
}
