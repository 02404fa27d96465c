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
        let arn = self.role_arn(node)?;
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
        self.role_decl(
            node,
            arn,
            account,
            external_id.flatten(),
            "the file's account",
        )
    }

    /// A role of `in_use.accounts`: `role` (required) and `external_id` of `account`.
    pub(super) fn in_use_role(
        &mut self,
        entry: &Node,
        role: Option<&Node>,
        external: Option<&Node>,
        account: Option<&AccountId>,
    ) -> Option<RoleDecl> {
        let external_id = external.and_then(|v| self.external_id(v, true));
        let Some(node) = role else {
            self.error(
                Code::MissingKey,
                entry.span,
                "an account of `in_use.accounts` needs a `role`: it is read through it",
                "account starts here",
            )
            .help = Some(
                "add `role: arn:aws:iam::ACCOUNT:role/NAME`, a role of that account that may list ECS and Lambda".into(),
            );
            return None;
        };
        let arn = self.role_arn(node)?;
        let account = account?;
        self.role_decl(node, arn, account, external_id.flatten(), "the account")
    }

    /// The role ARN written at `node`, when it is one (reported otherwise).
    fn role_arn(&mut self, node: &Node) -> Option<RoleArn> {
        let Value::Str(text) = &node.value else {
            self.wrong_type(node, "`role`", "an IAM role ARN (a string)");
            return None;
        };
        match RoleArn::parse(text.clone()) {
            Ok(a) => Some(a),
            Err(why) => {
                self.error(Code::InvalidRole, node.span, why, "not an IAM role ARN")
                    .help = Some(
                    "the ARN of the role to assume in the account, such as arn:aws:iam::111111111111:role/ecr-reconcile".into(),
                );
                None
            }
        }
    }

    /// The role `arn` of `account`, written at `node`: an error when it is a role of
    /// another account (`whose` names the account it should be in).
    fn role_decl(
        &mut self,
        node: &Node,
        arn: RoleArn,
        account: &AccountId,
        external_id: Option<String>,
        whose: &str,
    ) -> Option<RoleDecl> {
        if arn.account() != account {
            self.error(
                Code::RoleAccountMismatch,
                node.span,
                format!(
                    "the role is in account {}, not in {whose} {account}",
                    arn.account()
                ),
                "a role of another account",
            )
            .help = Some("name a role of the account that the run assumes to reach it".into());
            return None;
        }
        Some(RoleDecl {
            role: AccountRole {
                account: account.clone(),
                role: arn,
                external_id,
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
