//! Diagnostics for desired-state files: stable codes, messages, and labelled spans.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan, SpanContents};

use super::yaml::Span;

/// Every kind of problem a desired-state file can have. The codes are stable and
/// documented in the book (`docs/src/diags/`); tests and scripts may match on them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
pub enum Code {
    /// A file or directory could not be read.
    #[strum(serialize = "config::io")]
    Io,
    /// A `*.yaml` / `*.yml` found by directory search that is not a regular file (a
    /// FIFO, a socket, a device): never opened, never skipped in silence.
    #[strum(serialize = "config::not-a-file")]
    NotAFile,
    /// A symlinked folder that leads to a folder already searched (a loop, or a second
    /// path to the same folder).
    #[strum(serialize = "config::symlink-loop")]
    SymlinkLoop,
    /// No desired-state file was found under the given paths (nothing, or only YAML
    /// that is not desired state).
    #[strum(serialize = "config::no-files")]
    NoFiles,
    /// The file is larger than the limit.
    #[strum(serialize = "config::too-large")]
    TooLarge,
    /// The file is not UTF-8 text.
    #[strum(serialize = "config::invalid-utf8")]
    InvalidUtf8,
    /// YAML syntax error, or a resource limit of the parser.
    #[strum(serialize = "config::syntax")]
    Syntax,
    /// A key written twice in one mapping (the first counts; the rest of the file is
    /// still checked).
    #[strum(serialize = "config::duplicate-key")]
    DuplicateKey,
    /// A key the format does not know.
    #[strum(serialize = "config::unknown-key")]
    UnknownKey,
    /// A required key is missing.
    #[strum(serialize = "config::missing-key")]
    MissingKey,
    /// A value of the wrong type.
    #[strum(serialize = "config::wrong-type")]
    WrongType,
    /// `version` is not 1.
    #[strum(serialize = "config::unsupported-version")]
    UnsupportedVersion,
    /// A repository name that ECR would reject.
    #[strum(serialize = "config::invalid-repository-name")]
    InvalidRepositoryName,
    /// An exact tag that ECR would reject.
    #[strum(serialize = "config::invalid-tag")]
    InvalidTag,
    /// A malformed glob.
    #[strum(serialize = "config::invalid-pattern")]
    InvalidPattern,
    /// `keep_latest` below 1 or absurdly large.
    #[strum(serialize = "config::invalid-keep-latest")]
    InvalidKeepLatest,
    /// A `max_age` that does not parse.
    #[strum(serialize = "config::invalid-duration")]
    InvalidDuration,
    /// A size (`max_delete.bytes`) that does not parse.
    #[strum(serialize = "config::invalid-size")]
    InvalidSize,
    /// A price (`pricing`) that is not a number of dollars from 0 to 1000.
    #[strum(serialize = "config::invalid-price")]
    InvalidPrice,
    /// An account id that is not 12 digits.
    #[strum(serialize = "config::invalid-account")]
    InvalidAccount,
    /// A malformed region name.
    #[strum(serialize = "config::invalid-region")]
    InvalidRegion,
    /// A malformed ECR Public alias (`registry.public`).
    #[strum(serialize = "config::invalid-public-alias")]
    InvalidPublicAlias,
    /// `registry` with both `public` (ECR Public) and `region` (private ECR).
    #[strum(serialize = "config::public-with-region")]
    PublicWithRegion,
    /// `registry.role` that is not the ARN of an IAM role.
    #[strum(serialize = "config::invalid-role")]
    InvalidRole,
    /// `registry.role` without `registry.account`, or `external_id` without `role`.
    #[strum(serialize = "config::role-without-account")]
    RoleWithoutAccount,
    /// `registry.role` of another account than `registry.account`.
    #[strum(serialize = "config::role-account-mismatch")]
    RoleAccountMismatch,
    /// `registry.role` with `public`: ECR Public is reached with the run's credentials.
    #[strum(serialize = "config::public-with-role")]
    PublicWithRole,
    /// A malformed `registry.external_id`.
    #[strum(serialize = "config::invalid-external-id")]
    InvalidExternalId,
    /// Two files give one account different roles (or external ids).
    #[strum(serialize = "config::role-conflict")]
    RoleConflict,
    /// `pulled_within` in a file of ECR Public repositories: ECR Public records no
    /// pull times.
    #[strum(serialize = "config::public-pull-time")]
    PublicPullTime,
    /// `untagged` other than `delete` or `keep`.
    #[strum(serialize = "config::invalid-untagged")]
    InvalidUntagged,
    /// `removal` or a rule's `then` other than `archive` or `delete`.
    #[strum(serialize = "config::invalid-removal")]
    InvalidRemoval,
    /// `removal: archive` or `then: archive` in a file of ECR Public repositories:
    /// ECR Public has no archive storage class.
    #[strum(serialize = "config::public-archive")]
    PublicArchive,
    /// An empty allow-list without `allow_empty: true`.
    #[strum(serialize = "config::empty-allow-list")]
    EmptyAllowList,
    /// The same repository declared twice.
    #[strum(serialize = "config::duplicate-repository")]
    DuplicateRepository,
    /// An in-use source's path or glob that is empty or cannot name a file.
    #[strum(serialize = "config::invalid-path")]
    InvalidPath,
    /// An in-use source's `clusters` or `functions` other than `all` or a list of
    /// names.
    #[strum(serialize = "config::invalid-selector")]
    InvalidSelector,
    /// `task_definition_revisions` out of range.
    #[strum(serialize = "config::invalid-revisions")]
    InvalidRevisions,
}

impl Code {
    /// The stable code, as printed and documented.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A source file shared by all diagnostics that point into it.
#[derive(Clone, Debug)]
pub struct SharedSource(Arc<NamedSource<String>>);

impl SharedSource {
    /// Wraps the text of the file shown as `name`.
    pub fn new(name: &str, text: String) -> Self {
        Self(Arc::new(NamedSource::new(name, text).with_language("yaml")))
    }

    /// The file name as shown.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        self.0.inner()
    }
}

impl SourceCode for SharedSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, miette::MietteError> {
        self.0
            .read_span(span, context_lines_before, context_lines_after)
    }
}

/// Text quoting what a file holds, cut in the middle when long: a 3 MB value is
/// shown by its start and end, not echoed whole.
fn bounded(text: String) -> String {
    const KEEP: usize = 200;
    let chars = text.chars().count();
    if chars <= 2 * KEEP + 50 {
        return text;
    }
    let head: String = text.chars().take(KEEP).collect();
    let tail: String = text.chars().skip(chars - KEEP / 2).collect();
    format!(
        "{head}… ({} characters left out) …{tail}",
        chars - KEEP - KEEP / 2
    )
}

/// One problem in a desired-state file.
#[derive(Debug, Clone)]
pub struct ConfigDiagnostic {
    /// The stable code.
    pub code: Code,
    /// What is wrong.
    pub message: String,
    /// The file, when the problem is in one.
    pub file: Option<String>,
    /// The main position, when known.
    pub span: Option<Span>,
    /// Text of the main label.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places involved (such as the first declaration of a duplicate).
    pub related: Vec<ConfigDiagnostic>,
    source: Option<SharedSource>,
}

impl ConfigDiagnostic {
    /// A problem at `span` of `source`.
    pub fn at(
        code: Code,
        source: &SharedSource,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: bounded(message.into()),
            file: Some(source.name().to_owned()),
            span: Some(span),
            label: bounded(label.into()),
            help: None,
            related: Vec::new(),
            source: Some(source.clone()),
        }
    }

    /// A problem with no position (an unreadable path, no files).
    pub fn general(code: Code, file: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            code,
            message: bounded(message.into()),
            file: file.map(str::to_owned),
            span: None,
            label: String::new(),
            help: None,
            related: Vec::new(),
            source: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(bounded(help.into()));
        self
    }

    /// Adds a related diagnostic.
    pub fn with_related(mut self, related: ConfigDiagnostic) -> Self {
        self.related.push(related);
        self
    }

    /// The source to quote, unless the quoted lines would be huge (a 3 MB line is
    /// reported by file:line:col alone, not echoed to the terminal).
    fn excerpt_source(&self) -> Option<&SharedSource> {
        const MAX_QUOTED: usize = 4096;
        let source = self.source.as_ref()?;
        let span = self.span?;
        let text = source.text();
        let start = text[..span.offset.min(text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let end_of_span = (span.offset + span.len).min(text.len());
        let end = text[end_of_span..]
            .find('\n')
            .map_or(text.len(), |i| end_of_span + i);
        (end - start <= MAX_QUOTED).then_some(source)
    }

    /// `file:line:col` of the main position, or the file alone.
    pub fn location(&self) -> String {
        match (&self.file, self.span) {
            (Some(f), Some(s)) => format!("{f}:{}:{}", s.line, s.column),
            (Some(f), None) => f.clone(),
            _ => String::new(),
        }
    }
}

impl fmt::Display for ConfigDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.location();
        if loc.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{loc}: {}", self.message)
        }
    }
}

impl std::error::Error for ConfigDiagnostic {}

impl Diagnostic for ConfigDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.excerpt_source().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        self.excerpt_source()?;
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label,
            span.offset,
            span.len,
        ))))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
        }
    }
}

/// Every problem found in a set of desired-state files.
#[derive(Debug, Default)]
pub struct ConfigErrors {
    /// The problems, in file order.
    pub diagnostics: Vec<ConfigDiagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        write!(
            f,
            "{n} problem{} in the desired-state files",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::Code;
    use strum::IntoEnumIterator;

    #[test]
    fn codes_are_the_kebab_case_variant_names_and_parse_back() {
        for code in Code::iter() {
            let name = format!("{code:?}");
            let mut kebab = String::new();
            for (i, c) in name.char_indices() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            assert_eq!(code.as_str(), format!("config::{kebab}"));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(code.as_str().parse::<Code>(), Ok(code));
        }
    }
}
