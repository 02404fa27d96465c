//! Tag families, for `import --style infer`: what a repository's tags look like, as
//! a pure function of the tags and the images they are on.

use std::collections::BTreeMap;

use crate::plan::signature_subject;

/// What a family of tags is, which decides its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FamilyKind {
    /// Version numbers (`v1.4.3`, `2.1`, `v2.2.1-debug`): releases, kept by count.
    Versions,
    /// Pull-request builds (`pr-812`): kept by count and age.
    PullRequests,
    /// Branch or CI builds (`main-a358be6`, `main-4000`, `nightly-20261120`): kept by
    /// count and age.
    Builds,
}

impl FamilyKind {
    /// How the family is named in the generated comments.
    pub fn describe(self) -> &'static str {
        match self {
            FamilyKind::Versions => "versions",
            FamilyKind::PullRequests => "pull-request builds",
            FamilyKind::Builds => "branch or CI builds",
        }
    }
}

/// Tags that share a shape: the same text with their numbers (and commit hashes) in
/// the same places.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The glob every member matches (`pr-*`, `v*.*.*`).
    pub pattern: String,
    /// What it is.
    pub kind: FamilyKind,
    /// The members, sorted.
    pub tags: Vec<String>,
}

/// A repository's tags, sorted out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inferred {
    /// Tags that belong to no family of two or more (`latest`, `stable`, one-offs):
    /// allowed as they are.
    pub exact: Vec<String>,
    /// Families of two or more tags, in the order of their kind, then pattern.
    pub families: Vec<Family>,
    /// Signature, attestation and SOCI tags (`sha256-<hex>.sig`, ...): left to the plan,
    /// which keeps those of kept images.
    pub signatures: Vec<String>,
}

/// True for a run of hex digits long enough to be a commit hash (7 or more, at least
/// one a digit and one a letter, or all digits but then it is a number anyway).
fn is_hash(token: &str) -> bool {
    token.len() >= 7
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && token.bytes().any(|b| b.is_ascii_digit())
}

/// The shape of `tag`: runs of digits, and commit hashes between separators, become
/// `*`. `v1.4.3` -> `v*.*.*`; `main-a358be6` -> `main-*`; `latest` -> `latest`.
pub fn shape(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    for (i, token) in tag.split(['-', '_', '.']).enumerate() {
        if i > 0 {
            // The separator that preceded this token.
            let at = tag_token_start(tag, i) - 1;
            out.push(char::from(tag.as_bytes()[at]));
        }
        if is_hash(token) {
            out.push('*');
            continue;
        }
        let mut in_digits = false;
        for c in token.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push('*');
                }
                in_digits = true;
            } else {
                out.push(c);
                in_digits = false;
            }
        }
    }
    out
}

/// Byte offset where the `n`th token of `tag` (split at `-`, `_`, `.`) starts.
fn tag_token_start(tag: &str, n: usize) -> usize {
    tag.match_indices(['-', '_', '.'])
        .nth(n - 1)
        .map_or(tag.len(), |(i, _)| i + 1)
}

fn kind_of(pattern: &str) -> FamilyKind {
    let lower = pattern.to_ascii_lowercase();
    let unversioned = lower.strip_prefix('v').unwrap_or(&lower);
    // `*.*`, `*.*.*`, with an optional `-suffix` / `+build`.
    let core = unversioned
        .split_once(['-', '+'])
        .map_or(unversioned, |(c, _)| c);
    if core.contains('.') && core.split('.').all(|p| p == "*") {
        return FamilyKind::Versions;
    }
    for prefix in ["pr", "pull", "mr", "pullrequest", "pull-request"] {
        if let Some(rest) = lower.strip_prefix(prefix)
            && (rest.starts_with('*')
                || rest.starts_with("-*")
                || rest.starts_with("_*")
                || rest.starts_with(".*"))
        {
            return FamilyKind::PullRequests;
        }
    }
    FamilyKind::Builds
}

/// Sorts `tags` into exact tags, families and signatures.
pub fn infer<'a>(tags: impl IntoIterator<Item = &'a str>) -> Inferred {
    let mut by_shape: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = Inferred::default();
    for tag in tags {
        if signature_subject(tag).is_some() {
            out.signatures.push(tag.to_owned());
            continue;
        }
        by_shape.entry(shape(tag)).or_default().push(tag.to_owned());
    }
    for (pattern, mut members) in by_shape {
        members.sort();
        if !pattern.contains('*') || members.len() < 2 {
            out.exact.extend(members);
            continue;
        }
        out.families.push(Family {
            kind: kind_of(&pattern),
            pattern,
            tags: members,
        });
    }
    out.exact.sort();
    out.signatures.sort();
    out.families
        .sort_by(|a, b| (a.kind, &a.pattern).cmp(&(b.kind, &b.pattern)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for (tag, want) in [
            ("v1.4.3", "v*.*.*"),
            ("pr-812", "pr-*"),
            ("main-a358be6", "main-*"),
            ("release-2026.1", "release-*.*"),
            ("v2.2.1-debug", "v*.*.*-debug"),
            ("bookworm-2026w27", "bookworm-*w*"),
            ("latest", "latest"),
            ("2024.01", "*.*"),
            ("feature_x-12", "feature_x-*"),
            ("deadbeef", "deadbeef"),
            ("0a1b2c3d4e5f", "*"),
        ] {
            assert_eq!(shape(tag), want, "{tag}");
        }
    }

    #[test]
    fn families_rules_and_what_is_left_alone() {
        let sig = format!("sha256-{}.sig", "a".repeat(64));
        let tags = [
            "v1.0.0",
            "v1.1.0",
            "v1.2.0",
            "latest",
            "pr-1",
            "pr-2",
            "main-a358be6",
            "main-b468cf7",
            "hotfix-1",
            sig.as_str(),
        ];
        let got = infer(tags);
        assert_eq!(
            got.exact,
            ["hotfix-1", "latest"],
            "one-offs and moving tags"
        );
        assert_eq!(got.signatures, std::slice::from_ref(&sig));
        let families: Vec<(&str, FamilyKind, usize)> = got
            .families
            .iter()
            .map(|f| (f.pattern.as_str(), f.kind, f.tags.len()))
            .collect();
        assert_eq!(
            families,
            [
                ("v*.*.*", FamilyKind::Versions, 3),
                ("pr-*", FamilyKind::PullRequests, 2),
                ("main-*", FamilyKind::Builds, 2),
            ]
        );
    }
}
