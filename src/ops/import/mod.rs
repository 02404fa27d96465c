//! `import`: desired-state YAML for repositories that exist, from the live registry or
//! a snapshot. `exact` allows every current tag (the next plan has nothing to do);
//! `infer` recognises tag families and proposes rules, each with a comment saying why,
//! and states per repository what the proposed policy removes, as the plan engine
//! computes it. The output is validated before it is returned.

pub mod infer;
mod lifecycle;

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Source;
use super::run::{self, RunError};
use crate::config::{self, ConfigErrors};
use crate::model::{AccountId, PublicAlias, RegistryLocation, RepositoryName, RepositoryRef, Tag};
use crate::plan::{RepositoryPlan, RepositoryStatus, Summary};
use crate::registry::{ObservedRepository, Registry, RegistryError};

/// How `import` writes the allow-lists.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumMessage,
)]
#[strum(serialize_all = "lowercase")]
pub enum ImportStyle {
    /// Every current tag, as it is: the next plan has nothing to do.
    Exact,
    /// Tag families as rules (versions by count; pull-request and branch builds by count
    /// and age), with why and what the policy would remove.
    Infer,
}

/// What `import` was asked for.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// Repository-name globs (`*` and `?`); empty: every repository of the registry.
    pub patterns: Vec<String>,
    /// The style.
    pub style: ImportStyle,
    /// The account whose repositories are read (default: the caller's).
    pub account: Option<AccountId>,
    /// Import from the ECR Public registry with this alias (one of the caller's)
    /// instead of private ECR; the output declares `registry: { public: ALIAS }`.
    pub public: Option<PublicAlias>,
    /// `infer`: how many images of a version family stay.
    pub keep_versions: u32,
    /// `infer`: how many images of a build family stay.
    pub keep_builds: u32,
    /// `infer`: how old a build may be, as a desired-state duration (`30d`).
    pub build_max_age: String,
    /// The `$schema` the first line of the output points at.
    pub schema: String,
    /// Evaluate `max_age` at this instant (default: see [`Source::now`]).
    pub now: Option<DateTime<Utc>>,
}

/// What one repository became.
#[derive(Clone, Debug)]
pub struct ImportedRepository {
    /// The repository.
    pub repository: RepositoryRef,
    /// Images in it.
    pub images: usize,
    /// Distinct tags in it.
    pub tags: usize,
    /// What the plan engine does with the generated allow-list.
    pub status: RepositoryStatus,
    /// Its totals.
    pub summary: Summary,
}

/// The generated files and what they mean.
#[derive(Clone, Debug)]
pub struct ImportOutcome {
    /// The desired-state YAML (valid; checked).
    pub yaml: String,
    /// Per repository, in the output's order.
    pub repositories: Vec<ImportedRepository>,
}

/// Why nothing was imported.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    /// No region to read.
    #[error("no region to import from: pass --region or set AWS_REGION")]
    #[diagnostic(code(import::no_region))]
    NoRegion,
    /// `--public` names an alias none of the caller's ECR Public registries has (or
    /// another account's than `--account`).
    #[error("no ECR Public registry of these credentials{} has the alias `{alias}`", account.as_ref().map_or_else(String::new, |a| format!(" in account {a}")))]
    #[diagnostic(
        code(import::public_alias),
        help("DescribeRegistries of ECR Public lists the aliases of the caller's registry")
    )]
    UnknownAlias {
        /// The alias.
        alias: PublicAlias,
        /// The account `--account` named.
        account: Option<AccountId>,
    },
    /// A `--build-max-age` that is not a duration.
    #[error("--build-max-age: {0}")]
    #[diagnostic(code(import::max_age))]
    MaxAge(String),
    /// No repository matched.
    #[error("no repository of {registry} matches {} ({seen} repositories there)", patterns.join(", "))]
    #[diagnostic(code(import::nothing_matched))]
    NothingMatched {
        /// The registry.
        registry: RegistryLocation,
        /// The globs.
        patterns: Vec<String>,
        /// How many repositories the registry has.
        seen: usize,
    },
    /// The registry failed.
    #[error("{registry}: {error}")]
    #[diagnostic(code(import::registry))]
    Registry {
        /// The registry.
        registry: RegistryLocation,
        /// What it said.
        error: RegistryError,
    },
    /// A repository could not be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Run(#[from] RunError),
    /// The generated YAML did not validate: a bug.
    #[error("the generated desired state does not validate (a bug, please report it): {0}")]
    #[diagnostic(code(import::invalid))]
    Invalid(String),
}

/// Imports the repositories `request` names from `source`.
pub fn import(source: &Source, request: &ImportRequest) -> Result<ImportOutcome, ImportError> {
    config::parse_duration(&request.build_max_age).map_err(ImportError::MaxAge)?;
    let settings = source.settings(source.now(request.now), false);
    let registry = &source.backend;
    source.block_on(async {
        let location = match &request.public {
            Some(alias) => public_location(registry, alias, request.account.as_ref()).await?,
            None => {
                let region = settings
                    .default_region
                    .clone()
                    .ok_or(ImportError::NoRegion)?;
                let account = match &request.account {
                    Some(a) => a.clone(),
                    None => registry.caller_account(&region).await.map_err(|error| {
                        ImportError::Registry {
                            registry: RegistryLocation::private(
                                AccountId::parse("000000000000").expect("a valid id"),
                                region.clone(),
                            ),
                            error,
                        }
                    })?,
                };
                RegistryLocation::private(account, region)
            }
        };
        let names = list_repositories(registry, &location).await?;
        let chosen: Vec<RepositoryRef> = names
            .iter()
            .filter(|n| matches(&request.patterns, n))
            .map(|name| RepositoryRef {
                registry: location.clone(),
                name: name.clone(),
            })
            .collect();
        if chosen.is_empty() {
            return Err(ImportError::NothingMatched {
                registry: location,
                patterns: request.patterns.clone(),
                seen: names.len(),
            });
        }
        let observed = run::observe_all(registry, &chosen, settings.parallelism).await?;
        let mut drafts: Vec<Draft> = observed.iter().map(|o| draft(o, request)).collect();
        // The plan engine says what the generated policy does.
        let read: Vec<_> = observed
            .iter()
            .map(|o| (o.reference.clone(), Ok(o.clone())))
            .collect();
        let plan_drafts = |drafts: &[Draft]| -> Result<_, ImportError> {
            let yaml = render(&location, drafts, None, request, &settings.source_label);
            let desired = load(&yaml)?;
            Ok(run::plan_each(
                &desired.repositories,
                &read,
                &settings,
                &crate::in_use::InUseSet::default(),
            ))
        };
        let mut planned = plan_drafts(&drafts)?;
        // What a lifecycle policy keeps now, the file keeps too.
        let mut widened = false;
        for ((d, o), (p, _)) in drafts.iter_mut().zip(&observed).zip(&planned) {
            let missed = lifecycle::kept_but_removed(&o.lifecycle, &o.images, p, settings.now);
            widened |= d.keep_also(missed);
        }
        if widened {
            planned = plan_drafts(&drafts)?;
        }
        let plans: Vec<&RepositoryPlan> = planned.iter().map(|(p, _)| p).collect();
        let yaml = render(
            &location,
            &drafts,
            Some(&plans),
            request,
            &settings.source_label,
        );
        load(&yaml)?;
        let repositories = drafts
            .iter()
            .zip(&plans)
            .map(|(d, p)| ImportedRepository {
                repository: d.repository.clone(),
                images: d.images,
                tags: d.tags,
                status: p.status,
                summary: Summary::of(std::slice::from_ref(*p)),
            })
            .collect();
        Ok(ImportOutcome { yaml, repositories })
    })
}

/// The ECR Public registry `alias` names: one of the caller's (DescribeRegistries),
/// of `account` when given.
async fn public_location<R: Registry>(
    registry: &R,
    alias: &PublicAlias,
    account: Option<&AccountId>,
) -> Result<RegistryLocation, ImportError> {
    let unknown = || {
        RegistryLocation::public(
            AccountId::parse("000000000000").expect("a valid id"),
            alias.clone(),
        )
    };
    let known = registry
        .describe_public_registries()
        .await
        .map_err(|error| ImportError::Registry {
            registry: unknown(),
            error,
        })?;
    let owner = known
        .into_iter()
        .find(|r| r.aliases.contains(alias))
        .ok_or_else(|| ImportError::UnknownAlias {
            alias: alias.clone(),
            account: None,
        })?;
    if let Some(a) = account
        && *a != owner.account
    {
        return Err(ImportError::UnknownAlias {
            alias: alias.clone(),
            account: Some(a.clone()),
        });
    }
    Ok(RegistryLocation::public(owner.account, alias.clone()))
}

fn matches(patterns: &[String], name: &RepositoryName) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|p| wildmatch::WildMatch::new(p).matches(name.as_str()))
}

async fn list_repositories<R: Registry>(
    registry: &R,
    location: &RegistryLocation,
) -> Result<Vec<RepositoryName>, ImportError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = registry
            .describe_repositories(location, token.as_deref())
            .await
            .map_err(|error| ImportError::Registry {
                registry: location.clone(),
                error,
            })?;
        names.extend(page.names);
        match page.next_token {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => break,
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn load(yaml: &str) -> Result<config::DesiredState, ImportError> {
    config::load_sources(vec![("import.yaml".to_owned(), yaml.as_bytes().to_vec())]).map_err(
        |e: ConfigErrors| {
            let problems: Vec<String> = e
                .diagnostics
                .iter()
                .map(|d| format!("{}: {}", d.code, d.message))
                .collect();
            ImportError::Invalid(problems.join("; "))
        },
    )
}

/// One allow-list entry, with the comment that explains it.
#[derive(Clone, Debug)]
struct Entry {
    comment: Option<String>,
    /// The YAML of the list item, without the leading `- ` (lines after the first
    /// indented by the caller).
    item: Vec<String>,
}

/// A repository's generated settings, before the plan's verdict.
#[derive(Clone, Debug)]
struct Draft {
    repository: RepositoryRef,
    images: usize,
    tags: usize,
    entries: Vec<Entry>,
    untagged_delete: bool,
    allow_empty: bool,
    notes: Vec<String>,
}

/// A YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// An exact-tag entry: as it is when the desired-state grammar takes it; a tag ECR
/// holds but the grammar refuses (over 128 characters) as a glob of its first 127.
fn exact_entry(tag: &Tag) -> (String, Option<String>) {
    if Tag::parse_desired(tag.as_str()).is_ok() {
        return (quoted(tag.as_str()), None);
    }
    let prefix: String = tag.as_str().chars().take(127).collect();
    (
        quoted(&format!("{prefix}*")),
        Some(format!(
            "a tag of {} characters, longer than an exact tag may be: allowed by its first 127",
            tag.as_str().chars().count()
        )),
    )
}

fn draft(o: &ObservedRepository, request: &ImportRequest) -> Draft {
    let mut tags: Vec<&Tag> = o.images.iter().flat_map(|i| i.tags.iter()).collect();
    tags.sort();
    tags.dedup();
    let mut d = Draft {
        repository: o.reference.clone(),
        images: o.images.len(),
        tags: tags.len(),
        entries: Vec::new(),
        untagged_delete: false,
        allow_empty: tags.is_empty(),
        notes: Vec::new(),
    };
    if tags.is_empty() {
        d.notes.push(
            "no tag in it: an empty allow-list, and untagged images kept (nothing is removed)"
                .into(),
        );
        return d;
    }
    if let Some(imported) = lifecycle::import(&o.lifecycle, &o.images) {
        d.write_policy(&tags, imported);
        return d;
    }
    match request.style {
        ImportStyle::Exact => {
            for t in tags {
                let (item, comment) = exact_entry(t);
                d.entries.push(Entry {
                    comment,
                    item: vec![item],
                });
            }
        }
        ImportStyle::Infer => {
            let by_text: std::collections::HashMap<&str, &Tag> =
                tags.iter().map(|t| (t.as_str(), *t)).collect();
            let inferred = infer::infer(tags.iter().map(|t| t.as_str()));
            let mut first = true;
            for t in &inferred.exact {
                let (item, long) = exact_entry(by_text[t.as_str()]);
                let comment = if first {
                    Some(
                        "tags in no family (moving tags such as `latest`, one-offs): allowed as they are"
                            .to_owned(),
                    )
                } else {
                    long
                };
                first = false;
                d.entries.push(Entry {
                    comment,
                    item: vec![item],
                });
            }
            for f in &inferred.families {
                let example = f.tags.last().map_or("", String::as_str);
                let n = f.tags.len();
                let (rule, why) = match f.kind {
                    infer::FamilyKind::Versions => (
                        vec![
                            format!("pattern: {}", quoted(&f.pattern)),
                            format!("keep_latest: {}", request.keep_versions),
                        ],
                        format!(
                            "{n} tags like `{example}` ({}): the {} newest images keep theirs",
                            f.kind.describe(),
                            request.keep_versions
                        ),
                    ),
                    infer::FamilyKind::PullRequests | infer::FamilyKind::Builds => (
                        vec![
                            format!("pattern: {}", quoted(&f.pattern)),
                            format!("keep_latest: {}", request.keep_builds),
                            format!("max_age: {}", request.build_max_age),
                        ],
                        format!(
                            "{n} tags like `{example}` ({}): the {} newest images pushed within {} keep theirs",
                            f.kind.describe(),
                            request.keep_builds,
                            request.build_max_age
                        ),
                    ),
                };
                d.entries.push(Entry {
                    comment: Some(why),
                    item: rule,
                });
            }
            if !inferred.signatures.is_empty() {
                d.notes.push(format!(
                    "{} signature, attestation or SOCI tags (`sha256-…`) are left to the plan: those of kept images stay",
                    inferred.signatures.len()
                ));
            }
            d.untagged_delete = !d.entries.is_empty();
        }
    }
    d
}

impl Draft {
    /// The entries of a repository with a lifecycle policy, whatever the style: its
    /// rules that the allow-list can express, then every tag none of them takes,
    /// allowed as it is.
    fn write_policy(&mut self, tags: &[&Tag], imported: lifecycle::Imported) {
        let globs: Vec<wildmatch::WildMatch> = imported
            .globs
            .iter()
            .map(|g| wildmatch::WildMatch::new(g))
            .collect();
        self.notes.push(
            "written from its ECR lifecycle policy (whatever --style): each rule below says how it is written or why it is not".to_owned(),
        );
        self.notes.extend(imported.notes);
        self.entries = imported.entries;
        self.push_exact(
            tags.iter()
                .copied()
                .filter(|t| !globs.iter().any(|g| g.matches(t.as_str()))),
            "tags no lifecycle rule written above takes: allowed as they are",
        );
        self.untagged_delete = imported.untagged_delete;
    }

    /// Adds an exact entry for each of `tags` that has none yet, the first one under
    /// the comment `heading`; the number added.
    fn push_exact<'t>(&mut self, tags: impl Iterator<Item = &'t Tag>, heading: &str) -> usize {
        let mut added = 0;
        for t in tags {
            let (item, long) = exact_entry(t);
            if self.entries.iter().any(|e| e.item == [item.clone()]) {
                continue;
            }
            let comment = if added == 0 {
                Some(heading.to_owned())
            } else {
                long
            };
            added += 1;
            self.entries.push(Entry {
                comment,
                item: vec![item],
            });
        }
        added
    }

    /// Allows what the lifecycle policy keeps now and the entries would remove: the
    /// tags of such images as they are, untagged images kept. True when it changed.
    fn keep_also(&mut self, missed: lifecycle::KeptButRemoved) -> bool {
        let mut changed = false;
        if missed.untagged && self.untagged_delete {
            self.untagged_delete = false;
            self.notes.push(
                "an untagged image the lifecycle policy keeps now would be deleted: untagged images are kept".to_owned(),
            );
            changed = true;
        }
        let added = self.push_exact(
            missed.tags.iter(),
            "on images the lifecycle policy keeps now, which the entries above would remove (an earlier rule decides them in ECR): allowed as they are",
        );
        changed || added > 0
    }
}

/// What the plan does with a repository's generated policy, in one comment line.
fn verdict(p: &RepositoryPlan) -> String {
    let s = Summary::of(std::slice::from_ref(p));
    match p.status {
        RepositoryStatus::Refused => format!(
            "with this policy the plan would delete every image, which it refuses ({}): loosen a rule or set allow_empty",
            p.refused_reason.as_deref().unwrap_or("every image")
        ),
        _ if s.tags_to_remove == 0 && s.images_to_delete == 0 => {
            "with this policy the plan removes nothing".to_owned()
        }
        _ => format!(
            "with this policy the plan removes {} tags: {} images deleted ({}), {} untags",
            s.tags_to_remove,
            s.images_to_delete,
            crate::text::human_bytes(s.bytes_to_delete),
            s.untags
        ),
    }
}

fn render(
    location: &RegistryLocation,
    drafts: &[Draft],
    plans: Option<&[&RepositoryPlan]>,
    request: &ImportRequest,
    source: &str,
) -> String {
    let mut y = String::new();
    let style: &str = request.style.into();
    let _ = writeln!(y, "# yaml-language-server: $schema={}", request.schema);
    let _ = writeln!(
        y,
        "# Generated by `ecr-reconcile import --style {style}` from {source} ({location})."
    );
    if request.style == ImportStyle::Infer {
        let _ = writeln!(
            y,
            "# Review before use: each rule says why it was inferred, each repository what the policy removes."
        );
    }
    let _ = writeln!(y, "version: 1");
    let _ = writeln!(y, "registry:");
    let _ = writeln!(y, "  account: {}", quoted(location.account().as_str()));
    match location {
        RegistryLocation::Private { region, .. } => {
            let _ = writeln!(y, "  region: {region}");
        }
        RegistryLocation::Public { alias, .. } => {
            let _ = writeln!(y, "  public: {alias}");
        }
    }
    let _ = writeln!(y, "repositories:");
    for (i, d) in drafts.iter().enumerate() {
        let _ = writeln!(
            y,
            "  # {}: {} images, {} tags.",
            d.repository.name, d.images, d.tags
        );
        if let Some(p) = plans.and_then(|p| p.get(i)) {
            let _ = writeln!(y, "  # {}.", capitalized(&verdict(p)));
        }
        for n in &d.notes {
            let _ = writeln!(y, "  # {}.", capitalized(n));
        }
        let _ = writeln!(y, "  {}:", d.repository.name);
        if d.entries.is_empty() {
            let _ = writeln!(y, "    tags: []");
        } else {
            let _ = writeln!(y, "    tags:");
            for e in &d.entries {
                if let Some(c) = &e.comment {
                    let _ = writeln!(y, "      # {}.", capitalized(c));
                }
                for (j, line) in e.item.iter().enumerate() {
                    let lead = if j == 0 { "- " } else { "  " };
                    let _ = writeln!(y, "      {lead}{line}");
                }
            }
        }
        if d.untagged_delete {
            let _ = writeln!(
                y,
                "    # Untagged images that no kept image needs (children, signatures) are deleted."
            );
            let _ = writeln!(y, "    untagged: delete");
        } else {
            let _ = writeln!(y, "    untagged: keep");
        }
        if d.allow_empty {
            let _ = writeln!(y, "    allow_empty: true");
        }
    }
    y
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
