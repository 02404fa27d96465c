//! Validation of `in_use`: the sources of images in use (files, lists, kubectl JSON,
//! ECS and Lambda), with the same diagnostics as the rest of a desired-state file.

use super::super::in_use::{
    DEFAULT_TASK_DEFINITION_REVISIONS, EcsSource, InUseAccount, InUseSources, LambdaSource,
    MAX_TASK_DEFINITION_REVISIONS, Selection, SourcePath,
};
use super::super::raw::{RawEcs, RawInUse, RawInUseAccount, RawLambda};
use super::super::yaml::{Node, Value};
use super::Code;
use super::Cx;
use crate::model::Region;

impl<'n> Cx<'n> {
    /// `in_use`: the sources of images in use.
    pub(super) fn in_use_sources(&mut self, node: &'n Node) {
        let Some(raw) = self.read::<RawInUse>(node, "`in_use`") else {
            return;
        };
        let mut out = InUseSources::default();
        if let Some(v) = self.value(&raw.kubernetes) {
            let (files, clusters) = self.kubernetes(v);
            out.kubernetes = files;
            out.clusters = clusters;
        }
        if let Some(v) = self.value(&raw.files) {
            out.files = self.paths(v, "`in_use.files`", true);
        }
        if let Some(v) = self.value(&raw.lists) {
            out.lists = self.paths(v, "`in_use.lists`", false);
        }
        if let Some((k, v)) = raw.ecs.as_ref().and_then(|a| self.get(a)) {
            out.ecs.extend(self.ecs(k, v));
        }
        if let Some((k, v)) = raw.lambda.as_ref().and_then(|a| self.get(a)) {
            out.lambda.extend(self.lambda(k, v));
        }
        if let Some(v) = self.value(&raw.accounts) {
            out.accounts = self.in_use_accounts(v);
        }
        self.in_use = out;
    }

    /// `in_use.accounts`: each account with its role (added to the file's roles) and
    /// its regions.
    fn in_use_accounts(&mut self, node: &'n Node) -> Vec<InUseAccount> {
        const WHAT: &str = "an account of `in_use.accounts`";
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, "`in_use.accounts`", "a list of accounts");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(raw) = self.read::<RawInUseAccount>(item, WHAT) else {
                continue;
            };
            let account = match self.get(&raw.account) {
                Some((_, v)) => self.account_id(v),
                None => {
                    self.error(
                        Code::MissingKey,
                        item.span,
                        "an account of `in_use.accounts` needs an `account`",
                        "account starts here",
                    )
                    .help = Some("the 12-digit id of the account to read, quoted".into());
                    None
                }
            };
            let role = self.get(&raw.role).map(|(_, v)| v);
            let role = self.in_use_role(item, role, self.value(&raw.external_id), account.as_ref());
            let regions = self.regions(self.value(&raw.regions), WHAT);
            if let (Some(account), Some(role), Some(regions)) = (account, role, regions) {
                self.roles.push(role);
                out.push(InUseAccount {
                    account,
                    regions,
                    origin: self.origin(item.span),
                });
            }
        }
        out
    }

    /// A list of paths (or globs) relative to the file's folder.
    fn paths(&mut self, node: &Node, what: &str, globs: bool) -> Vec<SourcePath> {
        let Value::Seq(items) = &node.value else {
            let expected = if globs {
                "a list of globs"
            } else {
                "a list of paths"
            };
            self.wrong_type(node, what, expected);
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Value::Str(text) = &item.value else {
                self.wrong_type(item, &format!("an entry of {what}"), "a path (a string)");
                continue;
            };
            out.extend(self.path(item, text, what, globs));
        }
        out
    }

    /// One path (or glob) `text`, written at `item`.
    pub(super) fn path(
        &mut self,
        item: &Node,
        text: &str,
        what: &str,
        globs: bool,
    ) -> Option<SourcePath> {
        let problem = if text.trim().is_empty() {
            Some("a path cannot be empty")
        } else if text.contains('\0') {
            Some("a path cannot contain a NUL character")
        } else if !globs && text.contains(['*', '?']) {
            Some("this source reads one file: a path, not a glob (globs are for `in_use.files`)")
        } else if text.split('/').any(|c| c == ".git") {
            Some("the `.git` folder holds no deployment: name the files themselves")
        } else {
            None
        };
        if let Some(why) = problem {
            let message = if text.trim().is_empty() {
                format!("an empty path in {what}")
            } else {
                format!("`{text}` is not a usable path in {what}")
            };
            self.error(Code::InvalidPath, item.span, message, "invalid path")
                .help = Some(format!("{why}; paths are relative to this file's folder"));
            return None;
        }
        Some(SourcePath {
            written: text.to_owned(),
            base: self.base.clone(),
            origin: self.origin(item.span),
        })
    }

    fn ecs(&mut self, key: &Node, node: &'n Node) -> Option<EcsSource> {
        let raw = self.read::<RawEcs>(node, "`in_use.ecs`")?;
        let clusters = match self.value(&raw.clusters) {
            None => Some(Selection::All),
            Some(v) => self.selection(v, "`clusters`", "cluster", is_cluster_name),
        };
        let revisions = match self.value(&raw.task_definition_revisions) {
            None => Some(DEFAULT_TASK_DEFINITION_REVISIONS),
            Some(v) => match v.value {
                Value::Int(n) if (1..=i128::from(MAX_TASK_DEFINITION_REVISIONS)).contains(&n) => {
                    u32::try_from(n).ok()
                }
                Value::Int(n) => {
                    self.error(
                        Code::InvalidRevisions,
                        v.span,
                        format!(
                            "`task_definition_revisions` must be between 1 and {MAX_TASK_DEFINITION_REVISIONS}, not {n}"
                        ),
                        "out of range",
                    )
                    .help = Some("the newest N revisions of each task-definition family are kept, for rollbacks".into());
                    None
                }
                _ => {
                    self.wrong_type(v, "`task_definition_revisions`", "a whole number");
                    None
                }
            },
        };
        let regions = self.regions(self.value(&raw.regions), "`in_use.ecs`")?;
        Some(EcsSource {
            clusters: clusters?,
            task_definition_revisions: revisions?,
            regions,
            origin: self.origin(key.span),
        })
    }

    fn lambda(&mut self, key: &Node, node: &'n Node) -> Option<LambdaSource> {
        let raw = self.read::<RawLambda>(node, "`in_use.lambda`")?;
        let functions = match self.value(&raw.functions) {
            None => Some(Selection::All),
            Some(v) => self.selection(v, "`functions`", "function", is_function_name),
        };
        let regions = self.regions(self.value(&raw.regions), "`in_use.lambda`")?;
        Some(LambdaSource {
            functions: functions?,
            regions,
            origin: self.origin(key.span),
        })
    }

    /// `regions:` of an ECS or Lambda source: absent (the regions of the run's
    /// repositories), or a non-empty list of region names. `None` when it is invalid.
    #[allow(clippy::option_option)]
    fn regions(&mut self, node: Option<&Node>, what: &str) -> Option<Option<Vec<Region>>> {
        let Some(node) = node else {
            return Some(None);
        };
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, &format!("`regions` of {what}"), "a list of regions");
            return None;
        };
        if items.is_empty() {
            self.error(
                Code::InvalidRegion,
                node.span,
                format!("`regions` of {what} is empty: it would read nothing"),
                "no region",
            )
            .help =
                Some("leave `regions` out to read the regions of the run's repositories".into());
            return None;
        }
        let before = self.diags.len();
        let mut out: Vec<Region> = Vec::new();
        for item in items {
            let Value::Str(s) = &item.value else {
                self.wrong_type(item, "a region", "a string");
                continue;
            };
            match Region::parse(s.clone()) {
                Ok(r) if !out.contains(&r) => out.push(r),
                Ok(_) => {}
                Err(why) => {
                    self.error(Code::InvalidRegion, item.span, why, "not a region");
                }
            }
        }
        (self.diags.len() == before).then_some(Some(out))
    }

    /// `all`, or a non-empty list of names that `valid` accepts.
    pub(super) fn selection(
        &mut self,
        node: &Node,
        what: &str,
        noun: &str,
        valid: fn(&str) -> bool,
    ) -> Option<Selection> {
        match &node.value {
            Value::Str(s) if s == "all" => Some(Selection::All),
            Value::Seq(items) if !items.is_empty() => {
                let before = self.diags.len();
                let mut names = Vec::new();
                for item in items {
                    match &item.value {
                        Value::Str(s) if valid(s) => names.push(s.clone()),
                        _ => {
                            self.error(
                                Code::InvalidSelector,
                                item.span,
                                format!(
                                    "`{}` is not a {noun} name{}",
                                    self.raw_text(item.span),
                                    if noun == "namespace" { "" } else { " or ARN" }
                                ),
                                format!("not a {noun}"),
                            );
                        }
                    }
                }
                (self.diags.len() == before).then_some(Selection::Names(names))
            }
            _ => {
                self.error(
                    Code::InvalidSelector,
                    node.span,
                    format!("{what} must be `all` or a list of {noun} names"),
                    "expected `all` or a list",
                )
                .help = Some(format!(
                    "`all` reads every {noun} of the {}; an empty list would read none",
                    if noun == "namespace" {
                        "cluster"
                    } else {
                        "account and region"
                    }
                ));
                None
            }
        }
    }
}

/// An ECS cluster name (1 to 255 letters, digits, `-` and `_`) or ARN.
fn is_cluster_name(s: &str) -> bool {
    is_arn(s)
        || (!s.is_empty()
            && s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')))
}

/// A Lambda function name (1 to 64 letters, digits, `-` and `_`) or ARN.
fn is_function_name(s: &str) -> bool {
    is_arn(s)
        || (!s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')))
}

fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":/-_.$".contains(&b))
}
