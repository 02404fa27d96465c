//! Validation of one desired-state file into [`DesiredRepository`] values, collecting
//! every problem in the file.
//!
//! Each mapping is read into its [`super::raw`] type, which says which keys it takes;
//! the rules here turn each value, at its place in the file, into domain types.

mod in_use;
mod kubernetes;
mod limits;
mod removal;
mod role;

pub(super) use role::RoleDecl;

use super::at::{self, At, KeyProblem, Places};
use super::diagnostic::{Code, ConfigDiagnostic, SharedSource};
use super::in_use::InUseSources;
use super::raw::{RawFile, RawRegistry, RawRepository, RawRule};
use super::yaml::{self, Node, Span, Value};
use super::{AllowEntry, DesiredRepository, Matcher, Origin, UntaggedPolicy};
use crate::model::{AccountId, PublicAlias, Region, RepositoryName, Tag, is_tag_char};

/// `keep_latest` above this is surely a mistake.
const MAX_KEEP_LATEST: i128 = 1_000_000;

/// Validates one file. On success returns its source (for later diagnostics) and its
/// repositories.
/// A repository declaration whose name and registry could be read, even when the rest
/// of it (or of its file) is invalid: enough to report a repository declared twice
/// in the same run as every other problem.
#[derive(Clone, Debug)]
pub(super) struct Declared {
    pub name: RepositoryName,
    pub account: Option<AccountId>,
    pub region: Option<Region>,
    pub public: Option<PublicAlias>,
    pub origin: Origin,
}

/// One file, validated.
pub(super) struct Validated {
    pub source: SharedSource,
    /// The repositories, when `diagnostics` is empty.
    pub repositories: Vec<DesiredRepository>,
    pub declared: Vec<Declared>,
    /// The in-use sources, when `diagnostics` is empty.
    pub in_use: InUseSources,
    /// Every problem, in file order.
    pub diagnostics: Vec<ConfigDiagnostic>,
    /// The file's roles, when valid: `registry.role` and those of `in_use.accounts`.
    pub roles: Vec<RoleDecl>,
}

pub(super) fn validate_file(name: &str, bytes: Vec<u8>) -> Validated {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bad = e.as_bytes()[at];
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // In the lossy text the bad byte became U+FFFD; find its position there.
            let lossy_at = String::from_utf8_lossy(&e.as_bytes()[..at]).len();
            let index = crate::text::LineIndex::new(&lossy);
            let (line, column) = index.position(lossy_at);
            let src = SharedSource::new(name, lossy);
            let span = Span {
                offset: lossy_at,
                len: '\u{FFFD}'.len_utf8(),
                line,
                column,
            };
            let diagnostic = ConfigDiagnostic::at(
                Code::InvalidUtf8,
                &src,
                span,
                format!("{name} is not UTF-8 text (byte 0x{bad:02x} at offset {at})"),
                "not UTF-8",
            )
            .with_help("desired-state files are UTF-8 YAML");
            return Validated {
                source: src,
                repositories: Vec::new(),
                declared: Vec::new(),
                in_use: InUseSources::default(),
                diagnostics: vec![diagnostic],
                roles: Vec::new(),
            };
        }
    };
    let src = SharedSource::new(name, text);
    let base = std::path::Path::new(name)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        );
    let (root, duplicates) = match yaml::parse_keeping_first(src.text()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let span = e.span.unwrap_or(Span {
                offset: 0,
                len: 0,
                line: 1,
                column: 1,
            });
            let diagnostic = ConfigDiagnostic::at(
                Code::Syntax,
                &src,
                span,
                format!("invalid YAML: {}", e.message),
                "here",
            );
            return Validated {
                source: src,
                repositories: Vec::new(),
                declared: Vec::new(),
                in_use: InUseSources::default(),
                diagnostics: vec![diagnostic],
                roles: Vec::new(),
            };
        }
    };
    let mut cx = Cx {
        src: src.clone(),
        places: Places::default(),
        diags: Vec::new(),
        declared: Vec::new(),
        registry_ok: true,
        public: None,
        base,
        in_use: InUseSources::default(),
        prices: crate::model::Prices::DEFAULT,
        roles: Vec::new(),
    };
    for d in &duplicates {
        let first = ConfigDiagnostic::at(
            Code::DuplicateKey,
            &cx.src,
            d.first,
            format!("key `{}` is first set here", d.key),
            "first set here",
        );
        cx.diags.push(
            ConfigDiagnostic::at(
                Code::DuplicateKey,
                &cx.src,
                d.again,
                format!(
                    "key `{}` is set twice (first at line {}, column {}, which counts)",
                    d.key, d.first.line, d.first.column
                ),
                "set again here",
            )
            .with_help("remove one of the two (YAML keys are unique within a mapping)")
            .with_related(first),
        );
    }
    let repos = cx.file(&root);
    // In file order, as a reader goes through the file.
    cx.diags.sort_by_key(|d| d.span.map(|s| s.offset));
    Validated {
        source: src,
        repositories: repos,
        declared: cx.declared,
        in_use: cx.in_use,
        diagnostics: cx.diags,
        roles: cx.roles,
    }
}

struct Cx<'n> {
    src: SharedSource,
    /// The values that the raw types of this file stand for.
    places: Places<'n>,
    diags: Vec<ConfigDiagnostic>,
    /// Every declaration whose name (and file's registry) could be read.
    declared: Vec<Declared>,
    /// False when the file's `registry` has an error: its declarations' accounts and
    /// regions are unknown, so they are not compared.
    registry_ok: bool,
    /// The file's ECR Public alias (`registry.public`), when it declares one.
    public: Option<PublicAlias>,
    /// The folder of the file: in-use paths are relative to it.
    base: std::path::PathBuf,
    /// The file's in-use sources.
    in_use: InUseSources,
    /// The file's storage prices (`pricing`).
    prices: crate::model::Prices,
    /// The file's roles: `registry.role` and those of `in_use.accounts`.
    roles: Vec<RoleDecl>,
}

impl<'n> Cx<'n> {
    fn error(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut ConfigDiagnostic {
        self.diags
            .push(ConfigDiagnostic::at(code, &self.src, span, message, label));
        self.diags.last_mut().expect("just pushed")
    }

    fn raw_text(&self, span: Span) -> &str {
        self.src
            .text()
            .get(span.offset..span.offset + span.len)
            .unwrap_or("")
    }

    fn origin(&self, span: Span) -> Origin {
        Origin {
            file: self.src.name().to_owned(),
            line: span.line,
            column: span.column,
        }
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            Code::WrongType,
            node.span,
            format!("{what} must be {expected}, not {}", node.value.kind()),
            format!("expected {expected}"),
        );
    }

    /// Reads the mapping `node` into its raw type `T`, reporting keys that are not
    /// names and keys that `T` does not take. `None` when `node` is not a mapping.
    fn read<T: serde::de::DeserializeOwned>(&mut self, node: &'n Node, what: &str) -> Option<T> {
        let Ok((raw, problems)) = at::read::<T>(&self.places, node) else {
            self.wrong_type(node, what, "a mapping");
            return None;
        };
        for problem in problems {
            match problem {
                KeyProblem::NotAName(key) => {
                    self.error(
                        Code::WrongType,
                        key.span,
                        format!("keys of {what} are names, not {}", key.value.kind()),
                        "expected a name",
                    );
                }
                KeyProblem::Unknown(key, k, allowed) => {
                    let close = similar::get_close_matches(k, allowed, 1, 0.6);
                    let help = match close.first() {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!(
                            "{what} takes {}",
                            allowed
                                .iter()
                                .map(|a| format!("`{a}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.error(
                        Code::UnknownKey,
                        key.span,
                        format!("unknown key `{k}` in {what}"),
                        "unknown key",
                    )
                    .help = Some(help);
                }
            }
        }
        Some(raw)
    }

    /// The key and the value written for `at`, when its key is present.
    fn get<T>(&self, at: &At<T>) -> Option<(&'n Node, &'n Node)> {
        self.places.get(at)
    }

    /// The value written for an optional key, when present.
    fn value<T>(&self, at: &Option<At<T>>) -> Option<&'n Node> {
        at.as_ref().and_then(|a| self.places.value(a))
    }

    fn file(&mut self, root: &'n Node) -> Vec<DesiredRepository> {
        if matches!(root.value, Value::Null) {
            self.error(
                Code::WrongType,
                root.span,
                "the file is empty",
                "expected `version: 1` and `repositories:`",
            )
            .help = Some(
                "a desired-state file is a mapping with `version: 1` and `repositories:`".into(),
            );
            return Vec::new();
        }
        let Some(file) = self.read::<RawFile>(root, "the file") else {
            return Vec::new();
        };
        match self.get(&file.version) {
            None => {
                self.error(
                    Code::MissingKey,
                    root.span,
                    "missing `version`",
                    "the file starts here",
                )
                .help = Some("add `version: 1` at the top of the file".into());
            }
            Some((_, v)) => match &v.value {
                Value::Int(1) => {}
                Value::Int(n) => {
                    self.error(
                        Code::UnsupportedVersion,
                        v.span,
                        format!("unsupported format version {n}"),
                        "this version of ecr-reconcile reads version 1",
                    );
                }
                _ => self.wrong_type(v, "`version`", "the integer 1"),
            },
        }
        let before = self.diags.len();
        let (account, region, public) = match self.value(&file.registry) {
            Some(node) if !matches!(node.value, Value::Null) => self.registry(node),
            _ => (None, None, None),
        };
        self.public = public;
        self.registry_ok = self.diags.len() == before;
        if let Some(node) = self.value(&file.in_use)
            && !matches!(node.value, Value::Null)
        {
            self.in_use_sources(node);
        }
        if let Some(node) = self.value(&file.pricing) {
            self.pricing(node);
        }
        let Some((rkey, repos)) = self.get(&file.repositories) else {
            self.error(
                Code::MissingKey,
                root.span,
                "missing `repositories`",
                "the file starts here",
            )
            .help = Some("list the repositories this file manages under `repositories:`".into());
            return Vec::new();
        };
        let Value::Map(entries) = &repos.value else {
            let node = if matches!(repos.value, Value::Null) {
                rkey
            } else {
                repos
            };
            self.error(
                Code::WrongType,
                node.span,
                format!(
                    "`repositories` must be a mapping of repository names, not {}",
                    repos.value.kind()
                ),
                "expected a mapping",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if let Some(r) = self.repository(key, value, account.clone(), region.clone()) {
                out.push(r);
            }
        }
        out
    }

    /// An account id written at `v` (quoted, or a number YAML read): `None` when it is
    /// not one (reported).
    pub(super) fn account_id(&mut self, v: &Node) -> Option<AccountId> {
        let quoted = matches!(v.value, Value::Str(_));
        let text = match &v.value {
            Value::Str(s) => s.clone(),
            // An unquoted account id is read as a number; its text is what was meant.
            // With a leading zero and an 8 or 9 among the digits, YAML reads a float.
            Value::Int(_) | Value::Float(_) => self.raw_text(v.span).to_owned(),
            _ => {
                self.wrong_type(v, "`account`", "a 12-digit string");
                return None;
            }
        };
        match AccountId::parse(text) {
            Ok(a) => Some(a),
            Err(why) => {
                let help = if quoted {
                    "an AWS account id has exactly 12 digits"
                } else {
                    "an AWS account id has 12 digits; quote it: \"012345678901\""
                };
                self.error(Code::InvalidAccount, v.span, why, "not an account id")
                    .help = Some(help.into());
                None
            }
        }
    }

    fn registry(
        &mut self,
        node: &'n Node,
    ) -> (Option<AccountId>, Option<Region>, Option<PublicAlias>) {
        let Some(registry) = self.read::<RawRegistry>(node, "`registry`") else {
            return (None, None, None);
        };
        let account = self
            .value(&registry.account)
            .and_then(|v| self.account_id(v));
        let region = self.value(&registry.region).and_then(|v| {
            let Value::Str(s) = &v.value else {
                self.wrong_type(v, "`region`", "a string");
                return None;
            };
            match Region::parse(s.clone()) {
                Ok(r) => Some(r),
                Err(why) => {
                    self.error(Code::InvalidRegion, v.span, why, "not a region");
                    None
                }
            }
        });
        let public = self.value(&registry.public).and_then(|v| {
            let Value::Str(s) = &v.value else {
                self.wrong_type(v, "`public`", "an ECR Public alias (a string)");
                return None;
            };
            match PublicAlias::parse(s.clone()) {
                Ok(a) => Some(a),
                Err(why) => {
                    self.error(Code::InvalidPublicAlias, v.span, why, "not an ECR Public alias")
                        .help = Some(
                        "the alias of `public.ecr.aws/ALIAS/NAME`: lowercase letters and digits, separated by `.`, `_` or `-`"
                            .into(),
                    );
                    None
                }
            }
        });
        if registry.public.is_some()
            && let Some(v) = self.value(&registry.region)
        {
            self.error(
                Code::PublicWithRegion,
                v.span,
                "`region` cannot be given with `public`: ECR Public repositories have no region",
                "a region of private ECR",
            )
            .help = Some(
                "declare private ECR repositories (with `region`) and ECR Public ones (with `public`) in separate files"
                    .into(),
            );
        }
        let role = self.role(&registry, account.as_ref());
        self.roles.extend(role);
        (account, region, public)
    }

    /// The name of a repository, from its key; reported when not a valid name.
    fn repository_name(&mut self, key: &'n Node) -> Option<RepositoryName> {
        match &key.value {
            Value::Str(s) => match RepositoryName::parse(s.clone()) {
                Ok(n) => Some(n),
                Err(why) => {
                    self.error(
                        Code::InvalidRepositoryName,
                        key.span,
                        format!("`{s}` is not a valid ECR repository name"),
                        "invalid repository name",
                    )
                    .help = Some(why.to_string());
                    None
                }
            },
            _ => {
                self.error(
                    Code::WrongType,
                    key.span,
                    format!(
                        "a repository name must be a string, not {}",
                        key.value.kind()
                    ),
                    "expected a repository name",
                );
                None
            }
        }
    }

    fn repository(
        &mut self,
        key: &'n Node,
        value: &'n Node,
        account: Option<AccountId>,
        region: Option<Region>,
    ) -> Option<DesiredRepository> {
        let name = self.repository_name(key);
        if let Some(n) = &name
            && self.registry_ok
        {
            self.declared.push(Declared {
                name: n.clone(),
                account: account.clone(),
                region: region.clone(),
                public: self.public.clone(),
                origin: self.origin(key.span),
            });
        }
        let what = format!(
            "repository `{}`",
            name.as_ref()
                .map_or_else(|| self.raw_text(key.span).to_owned(), |n| n.to_string())
        );
        if matches!(value.value, Value::Null) {
            self.error(
                Code::WrongType,
                key.span,
                format!("{what} has no settings"),
                "expected `tags:` below this",
            )
            .help = Some("give the repository an allow-list: `tags: [v1.0.0]`".into());
            return None;
        }
        let repo = self.read::<RawRepository>(value, &what)?;
        let allow_empty = match self.value(&repo.allow_empty) {
            None => false,
            Some(v) => match v.value {
                Value::Bool(b) => b,
                _ => {
                    self.wrong_type(v, "`allow_empty`", "true or false");
                    false
                }
            },
        };
        let untagged = match self.value(&repo.untagged) {
            None => UntaggedPolicy::Keep,
            Some(v) => match &v.value {
                Value::Str(s) if s == "keep" => UntaggedPolicy::Keep,
                Value::Str(s) if s == "delete" => UntaggedPolicy::Delete,
                _ => {
                    self.error(
                        Code::InvalidUntagged,
                        v.span,
                        format!(
                            "`untagged` must be `delete` or `keep`, not `{}`",
                            self.raw_text(v.span)
                        ),
                        "expected `delete` or `keep`",
                    );
                    UntaggedPolicy::Keep
                }
            },
        };
        let (removal, delete_archived_after_seconds) = self.repository_removal(&repo);
        let allow = match self.get(&repo.tags) {
            None => {
                self.error(
                    Code::MissingKey,
                    key.span,
                    format!("{what} has no `tags`"),
                    "declared here",
                )
                .help = Some("add the allow-list: `tags: [v1.0.0, \"release-*\"]`; a missing list never means \"allow nothing\"".into());
                None
            }
            Some((tkey, tags)) => self.tags(tkey, tags, allow_empty),
        };
        Some(DesiredRepository {
            name: name?,
            account,
            region,
            public: self.public.clone(),
            allow: allow?,
            untagged,
            allow_empty,
            prices: self.prices,
            max_delete: self
                .value(&repo.max_delete)
                .and_then(|v| self.max_delete(v)),
            removal: removal.unwrap_or_default(),
            delete_archived_after_seconds,
            origin: self.origin(key.span),
        })
    }

    fn tags(&mut self, key: &Node, node: &'n Node, allow_empty: bool) -> Option<Vec<AllowEntry>> {
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Null => {
                self.error(
                    Code::WrongType,
                    key.span,
                    "`tags` has no entries",
                    "expected a list of tags",
                )
                .help = Some("list the allowed tags; to delete every image, write `tags: []` and `allow_empty: true`".into());
                return None;
            }
            _ => {
                self.wrong_type(node, "`tags`", "a list");
                return None;
            }
        };
        if items.is_empty() && !allow_empty {
            self.error(
                Code::EmptyAllowList,
                node.span,
                "`tags` is empty: every image of the repository would be deleted",
                "empty allow-list",
            )
            .help =
                Some("if that is really wanted, add `allow_empty: true` to the repository".into());
            return None;
        }
        let before = self.diags.len();
        let entries: Vec<AllowEntry> = items.iter().filter_map(|item| self.entry(item)).collect();
        (self.diags.len() == before).then_some(entries)
    }

    fn entry(&mut self, item: &'n Node) -> Option<AllowEntry> {
        match &item.value {
            Value::Str(s) => {
                let matcher = self.matcher(s, item.span)?;
                Some(AllowEntry {
                    matcher,
                    is_rule: false,
                    keep_latest: None,
                    max_age_seconds: None,
                    pulled_within_seconds: None,
                    then: None,
                    origin: self.origin(item.span),
                })
            }
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let raw = self.raw_text(item.span).to_owned();
                self.error(
                    Code::WrongType,
                    item.span,
                    format!(
                        "a tag must be a string, but YAML reads `{raw}` as {}",
                        item.value.kind()
                    ),
                    "not a string",
                )
                .help = Some(format!("quote it: \"{raw}\""));
                None
            }
            Value::Map(_) => self.rule(item),
            _ => {
                self.wrong_type(
                    item,
                    "an allow-list entry",
                    "a tag, a glob or a rule mapping",
                );
                None
            }
        }
    }

    fn rule(&mut self, item: &'n Node) -> Option<AllowEntry> {
        let rule = self.read::<RawRule>(item, "a rule")?;
        let before = self.diags.len();
        let matcher = match self.get(&rule.pattern).map(|(_, v)| v) {
            None => {
                self.error(
                    Code::MissingKey,
                    item.span,
                    "a rule needs a `pattern`",
                    "rule starts here",
                )
                .help = Some("for example `- pattern: \"pr-*\"` with `keep_latest: 5`".into());
                None
            }
            Some(v) => match &v.value {
                Value::Str(s) => self.matcher(s, v.span),
                _ => {
                    self.wrong_type(v, "`pattern`", "a string");
                    None
                }
            },
        };
        let keep_latest = self.value(&rule.keep_latest).and_then(|v| match v.value {
            Value::Int(n) if (1..=MAX_KEEP_LATEST).contains(&n) => u32::try_from(n).ok(),
            Value::Int(n) => {
                self.error(
                    Code::InvalidKeepLatest,
                    v.span,
                    format!("`keep_latest` must be between 1 and {MAX_KEEP_LATEST}, not {n}"),
                    "out of range",
                );
                None
            }
            _ => {
                self.wrong_type(v, "`keep_latest`", "a whole number");
                None
            }
        });
        let max_age_seconds = self
            .value(&rule.max_age)
            .and_then(|v| self.duration(v, "max_age"));
        let pulled_within_seconds = self
            .value(&rule.pulled_within)
            .and_then(|v| self.duration(v, "pulled_within"));
        if self.public.is_some()
            && let Some((k, _)) = rule.pulled_within.as_ref().and_then(|a| self.get(a))
        {
            self.error(
                Code::PublicPullTime,
                k.span,
                "`pulled_within` cannot apply to an ECR Public repository: ECR Public records no pull times",
                "ECR Public has no pull times",
            )
            .help = Some("keep tags with `keep_latest` or `max_age` instead".into());
        }
        let then = self.removal(rule.then.as_ref(), "then");
        if self.diags.len() != before {
            return None;
        }
        Some(AllowEntry {
            matcher: matcher?,
            is_rule: true,
            keep_latest,
            max_age_seconds,
            pulled_within_seconds,
            then,
            origin: self.origin(item.span),
        })
    }

    /// A duration such as `14d`, in seconds.
    fn duration(&mut self, v: &Node, key: &str) -> Option<u64> {
        let text = match &v.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => self.raw_text(v.span).to_owned(),
            _ => {
                self.wrong_type(v, &format!("`{key}`"), "a duration such as `14d`");
                return None;
            }
        };
        match parse_duration(&text) {
            Ok(secs) => Some(secs),
            Err(why) => {
                self.error(Code::InvalidDuration, v.span, why, "not a duration")
                    .help =
                    Some("a number and a unit (s, m, h, d, w), such as `14d` or `1w3d`".into());
                None
            }
        }
    }

    /// An exact tag, or a glob when the text has `*` or `?`.
    fn matcher(&mut self, text: &str, span: Span) -> Option<Matcher> {
        if !text.contains(['*', '?']) {
            return match Tag::parse_desired(text) {
                Ok(t) => Some(Matcher::Exact(t)),
                Err(why) => {
                    self.error(
                        Code::InvalidTag,
                        span,
                        format!("`{text}` is not a valid tag"),
                        "invalid tag",
                    )
                    .help = Some(why.to_string());
                    None
                }
            };
        }
        let problem = if text.chars().count() > 128 {
            Some("a glob is at most 128 characters long (tags are)".to_owned())
        } else if text.starts_with(['.', '-']) {
            Some("no tag starts with `.` or `-`, so this glob can match nothing".to_owned())
        } else {
            text.chars()
                .find(|&c| !is_tag_char(c) && c != '*' && c != '?')
                .map(|c| {
                    format!(
                        "a glob may contain {c:?} only if a tag can; globs use `*` and `?` and tag characters (A-Z a-z 0-9 _ . -)"
                    )
                })
        };
        match problem {
            Some(why) => {
                self.error(
                    Code::InvalidPattern,
                    span,
                    format!("`{text}` is not a valid glob"),
                    "invalid glob",
                )
                .help = Some(why);
                None
            }
            None => Some(Matcher::Glob(text.to_owned())),
        }
    }
}

/// The units of a duration, as the messages list them.
const DURATION_UNITS: &str = "s, m, h, d, w (for example 14d, 36h, 1w3d)";

/// Parses `14d`, `36h`, `1w3d`… into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    if text.is_empty() {
        return Err("a duration cannot be empty".into());
    }
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        // The unit is the whole word that follows, so `7days` names `days`, not `a`.
        let letters = after.len() - after.trim_start_matches(char::is_alphabetic).len();
        let letters = if letters == 0 {
            after.chars().next().map_or(0, char::len_utf8)
        } else {
            letters
        };
        let (word, after) = after.split_at(letters);
        if number.is_empty() {
            return Err(if word.is_empty() {
                format!("`{text}` is not a duration")
            } else if word.chars().all(char::is_alphabetic) {
                format!("`{text}` is not a duration: a unit without a number")
            } else {
                format!(
                    "`{text}` is not a duration: unexpected {word:?}; units are {DURATION_UNITS}"
                )
            });
        }
        if word.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: `{number}` has no unit; units are {DURATION_UNITS}"
            ));
        }
        let unit: u64 = match word {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => {
                return Err(format!(
                    "`{text}` is not a duration: unknown unit `{word}`; units are {DURATION_UNITS}"
                ));
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .filter(|&s| s <= 100 * 366 * 86_400)
            .ok_or_else(|| format!("`{text}` is longer than 100 years"))?;
        rest = after;
    }
    if total == 0 {
        return Err("a duration of zero would allow nothing".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d"), Ok(14 * 86_400));
        assert_eq!(parse_duration("1w3d"), Ok(10 * 86_400));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert!(parse_duration("14").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn a_wrong_unit_is_named_whole_with_the_units_there_are() {
        let e = parse_duration("7days").unwrap_err();
        assert!(e.contains("unknown unit `days`"), "{e}");
        assert!(e.contains("s, m, h, d, w"), "{e}");
        let e = parse_duration("14").unwrap_err();
        assert!(
            e.contains("`14` has no unit; units are s, m, h, d, w"),
            "{e}"
        );
        let e = parse_duration("1d 2h").unwrap_err();
        assert!(e.contains("unexpected \" \""), "{e}");
        assert!(
            parse_duration("d")
                .unwrap_err()
                .contains("a unit without a number")
        );
    }
}
