//! Validation of what removing an image means: a repository's `removal`, a rule's
//! `then` (and, beside them, `delete_archived_after`, read as a duration).

use super::super::Removal;
use super::super::at::At;
use super::super::raw::{RawRemoval, RawRepository};
use super::super::yaml::{Span, Value};
use super::Code;
use super::Cx;

impl Cx<'_> {
    /// A repository's `removal` and its `delete_archived_after` in seconds (neither
    /// with ECR Public, which has no archive).
    pub(super) fn repository_removal(
        &mut self,
        repo: &RawRepository,
    ) -> (Option<Removal>, Option<u64>) {
        let removal = self.removal(repo.removal.as_ref(), "removal");
        let after = self
            .value(&repo.delete_archived_after)
            .and_then(|v| self.duration(v, "delete_archived_after"));
        if self.public.is_some()
            && let Some((k, _)) = repo
                .delete_archived_after
                .as_ref()
                .and_then(|a| self.get(a))
        {
            self.public_archive(k.span, "delete_archived_after");
        }
        (removal, after)
    }

    /// `removal` of a repository or `then` of a rule: `archive` or `delete`. Archive is
    /// refused in a file of ECR Public repositories, which have no archive.
    pub(super) fn removal(&mut self, at: Option<&At<RawRemoval>>, key: &str) -> Option<Removal> {
        let (k, v) = self.get(at?)?;
        let removal = match &v.value {
            Value::Str(s) if s == "archive" => Removal::Archive,
            Value::Str(s) if s == "delete" => Removal::Delete,
            _ => {
                self.error(
                    Code::InvalidRemoval,
                    v.span,
                    format!(
                        "`{key}` must be `archive` or `delete`, not `{}`",
                        self.raw_text(v.span)
                    ),
                    "expected `archive` or `delete`",
                );
                return None;
            }
        };
        if removal == Removal::Archive && self.public.is_some() {
            self.public_archive(k.span, key);
            return None;
        }
        Some(removal)
    }

    pub(super) fn public_archive(&mut self, span: Span, key: &str) {
        self.error(
            Code::PublicArchive,
            span,
            format!("`{key}` cannot apply to an ECR Public repository: ECR Public has no archive storage class"),
            "ECR Public has no archive",
        )
        .help = Some("remove it: images of ECR Public repositories can only be deleted".into());
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Removal, load_sources};

    fn load(yaml: &str) -> Result<crate::config::DesiredState, Vec<String>> {
        load_sources(vec![("t.yaml".into(), yaml.as_bytes().to_vec())]).map_err(|e| {
            e.diagnostics
                .iter()
                .map(|d| {
                    format!(
                        "{} @{} {}",
                        d.code,
                        d.span.map_or(0, |s| s.offset),
                        d.message
                    )
                })
                .collect()
        })
    }

    #[test]
    fn removal_then_and_delete_archived_after_are_read() {
        let state = load(
            "version: 1\nrepositories:\n  a/b:\n    removal: archive\n    delete_archived_after: 365d\n    tags:\n      - v1\n      - pattern: \"pr-*\"\n        keep_latest: 2\n        then: delete\n  a/c:\n    tags: [v1]\n",
        )
        .unwrap();
        let b = &state.repositories[0];
        assert_eq!(b.removal, Removal::Archive);
        assert_eq!(b.delete_archived_after_seconds, Some(365 * 86_400));
        assert_eq!(b.allow[0].then, None);
        assert_eq!(b.allow[1].then, Some(Removal::Delete));
        let c = &state.repositories[1];
        assert_eq!(c.removal, Removal::Delete, "the default");
        assert_eq!(c.delete_archived_after_seconds, None);
    }

    #[test]
    fn bad_removals_and_archive_on_ecr_public_are_each_reported() {
        let errors = load(
            "version: 1\nrepositories:\n  a/b:\n    removal: shred\n    delete_archived_after: soon\n    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 2\n        then: [archive]\n",
        )
        .unwrap_err();
        let has = |code: &str, text: &str| {
            errors
                .iter()
                .any(|e| e.starts_with(code) && e.contains(text))
        };
        assert!(
            has("config::invalid-removal", "`removal` must be"),
            "{errors:?}"
        );
        assert!(
            has("config::invalid-removal", "`then` must be"),
            "{errors:?}"
        );
        assert!(has("config::invalid-duration", "soon"), "{errors:?}");
        let yaml = "version: 1\nregistry: { public: my-org }\nrepositories:\n  a/b:\n    removal: archive\n    delete_archived_after: 30d\n    tags:\n      - pattern: \"pr-*\"\n        keep_latest: 2\n        then: archive\n  a/c:\n    removal: delete\n    tags: [v1]\n";
        let errors = load(yaml).unwrap_err();
        let public: Vec<&String> = errors
            .iter()
            .filter(|e| e.starts_with("config::public-archive"))
            .collect();
        assert_eq!(public.len(), 3, "{errors:?}");
        let at = format!("@{} ", yaml.find("removal: archive").unwrap());
        assert!(
            public.iter().any(|e| e.contains(&at)),
            "at the key: {errors:?}"
        );
    }
}
