//! ECR image references, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG][@sha256:HEX]`
//! and, for ECR Public, `public.ecr.aws/ALIAS/REPO[:TAG][@sha256:HEX]`: parsed whole (a
//! pod's image, a line of a list file) or found in any text (manifests, Helm values,
//! Terraform, task definitions, compose files).
//!
//! A hand-written scanner for this one grammar: it finds the registry host's fixed
//! `.dkr.ecr.` and reads outward, so a file is read once whatever its size. What is not
//! exactly a reference is not one: another registry (`public.ecr.aws`, Docker Hub), a
//! templated part (`${TAG}`, `{{ .Values.tag }}`, `$(...)`), a tag ECR would refuse.

use crate::model::{
    AccountId, Digest, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
};

/// The fixed part of every private ECR registry host.
const HOST_MARK: &str = ".dkr.ecr.";

/// ECR Public's registry host and the `/` after it.
const PUBLIC_MARK: &str = "public.ecr.aws/";

/// The account of a public reference: `public.ecr.aws/ALIAS/…` names no account, and
/// an alias belongs to one registry only, so public references are matched by alias
/// and name ([`ImageRef::names`]); this account stands in for the unknown one.
const UNKNOWN_ACCOUNT: &str = "000000000000";

/// An image named by a reference: its repository, and the tag and digest written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The repository, with its account and region; for ECR Public with its alias
    /// (and a stand-in account: see [`ImageRef::names`]).
    pub repository: RepositoryRef,
    /// The tag, when written (or `latest` when neither tag nor digest is).
    pub tag: Option<Tag>,
    /// The digest, when written.
    pub digest: Option<Digest>,
    /// True when the reference names neither tag nor digest, which Docker and
    /// Kubernetes read as `:latest`.
    pub implicit_latest: bool,
}

impl ImageRef {
    /// True when the reference names an image of `repository`: the same account,
    /// region and name for private ECR; the same alias and name for ECR Public (whose
    /// references name no account).
    pub fn names(&self, repository: &RepositoryRef) -> bool {
        key(&self.repository) == key(repository)
    }
}

/// A repository as references name it: ECR Public's without its account.
pub(crate) fn key(repository: &RepositoryRef) -> RepositoryRef {
    match &repository.registry {
        RegistryLocation::Private { .. } => repository.clone(),
        RegistryLocation::Public { alias, .. } => RepositoryRef {
            registry: RegistryLocation::public(unknown_account(), alias.clone()),
            name: repository.name.clone(),
        },
    }
}

fn unknown_account() -> AccountId {
    AccountId::parse(UNKNOWN_ACCOUNT).expect("12 digits")
}

/// Why a text is not an ECR image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    /// It names no ECR registry at all (another registry, a plain name): not this
    /// tool's concern.
    NotEcr,
    /// It names an ECR registry but is malformed (or templated): why.
    Invalid(String),
}

impl std::fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReferenceError::NotEcr => f.write_str("not an ECR image reference"),
            ReferenceError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Parses a whole text (surrounding white space ignored) as one reference.
pub fn parse_reference(text: &str) -> Result<ImageRef, ReferenceError> {
    let text = text.trim();
    let parsed = if text.starts_with(PUBLIC_MARK) {
        parse_public_at(text, 0)
    } else if text.contains(HOST_MARK) {
        parse_at(text, 0)
    } else {
        return Err(ReferenceError::NotEcr);
    };
    match parsed {
        Ok((image, end)) if end == text.len() => Ok(image),
        Ok((_, end)) => Err(ReferenceError::Invalid(format!(
            "`{}` follows the reference: a templated or invalid tag?",
            &text[end..]
        ))),
        Err(why) => Err(ReferenceError::Invalid(why)),
    }
}

/// A reference found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// The image.
    pub image: ImageRef,
    /// The reference as written.
    pub text: String,
}

/// Every reference in `text`, in order. A reference must stand alone: the character
/// before it cannot continue a host name, and the one after it must end it (white
/// space, a quote, `,`, `;`, a closing bracket, `|`, `<`, `>`, `\`, or the end of the
/// line). Anything else (`${`, `{{`, `$(`) means the reference is templated, and it is
/// not one.
pub fn scan(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let number = u32::try_from(n + 1).unwrap_or(u32::MAX);
        // A private host's account id comes before its fixed part; ECR Public's host
        // starts the reference.
        scan_line(line, number, HOST_MARK, 12, parse_at, &mut out);
        scan_line(line, number, PUBLIC_MARK, 0, parse_public_at, &mut out);
    }
    out.sort_by_key(|f| (f.line, f.column));
    out
}

/// Reads a reference from byte `start` of a text: the image and where it ends.
type Parser = fn(&str, usize) -> Result<(ImageRef, usize), String>;

/// The references of one `line` whose host contains `mark`, which is `back` bytes
/// into the reference; `parse` reads a reference from its first byte.
fn scan_line(
    line: &str,
    number: u32,
    mark: &str,
    back: usize,
    parse: Parser,
    out: &mut Vec<Found>,
) {
    let mut from = 0;
    while let Some(p) = line[from..].find(mark) {
        let at = from + p;
        from = at + mark.len();
        let Some(start) = at.checked_sub(back) else {
            continue;
        };
        if !line.is_char_boundary(start) {
            continue;
        }
        if let Some(&prev) = start.checked_sub(1).and_then(|i| line.as_bytes().get(i))
            && (prev.is_ascii_alphanumeric() || matches!(prev, b'.' | b'-' | b'_'))
        {
            continue;
        }
        let Ok((image, end)) = parse(line, start) else {
            continue;
        };
        if !ends_reference(&line[end..]) {
            continue;
        }
        out.push(Found {
            line: number,
            column: u32::try_from(line[..start].chars().count() + 1).unwrap_or(u32::MAX),
            image,
            text: line[start..end].to_owned(),
        });
        from = end;
    }
}

/// True when `rest` (what follows a reference on its line) ends it.
fn ends_reference(rest: &str) -> bool {
    rest.chars().next().is_none_or(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | ',' | ';' | ')' | ']' | '}' | '|' | '<' | '>' | '\\'
            )
    })
}

/// The length of the run of bytes at the start of `s` that `ok` accepts.
fn run(s: &str, ok: impl Fn(u8) -> bool) -> usize {
    s.bytes().take_while(|&b| ok(b)).count()
}

/// Reads a reference starting at byte `start` of `s` (at the account id). Returns it
/// and the byte offset where it ends; what follows is the caller's to judge.
fn parse_at(s: &str, start: usize) -> Result<(ImageRef, usize), String> {
    let mut i = start;
    let digits = run(&s[i..], |b| b.is_ascii_digit());
    if digits != 12 {
        return Err("an ECR registry host starts with the 12-digit account id".into());
    }
    let account = AccountId::parse(&s[i..i + 12])?;
    i += 12;
    if !s[i..].starts_with(HOST_MARK) {
        return Err("expected `.dkr.ecr.` after the account id".into());
    }
    i += HOST_MARK.len();
    let len = run(&s[i..], |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
    });
    let region = Region::parse(&s[i..i + len])?;
    i += len;
    let rest = &s[i..];
    i += if rest.starts_with(".amazonaws.com.cn") {
        ".amazonaws.com.cn".len()
    } else if rest.starts_with(".amazonaws.com") {
        ".amazonaws.com".len()
    } else {
        return Err("expected `.amazonaws.com` after the region".into());
    };
    if s.as_bytes().get(i) != Some(&b'/') {
        return Err("no repository after the registry host".into());
    }
    parse_repository_at(s, i + 1, RegistryLocation::private(account, region))
}

/// Reads `public.ecr.aws/ALIAS/REPO[:TAG][@DIGEST]` starting at byte `start` of `s`.
fn parse_public_at(s: &str, start: usize) -> Result<(ImageRef, usize), String> {
    let mut i = start + PUBLIC_MARK.len();
    let len = run(&s[i..], |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
    });
    let alias = crate::model::PublicAlias::parse(&s[i..i + len])?;
    i += len;
    if s.as_bytes().get(i) != Some(&b'/') {
        return Err("no repository after the ECR Public alias".into());
    }
    parse_repository_at(s, i + 1, RegistryLocation::public(unknown_account(), alias))
}

/// Reads `REPO[:TAG][@DIGEST]` of `registry` starting at byte `start` of `s`.
fn parse_repository_at(
    s: &str,
    start: usize,
    registry: RegistryLocation,
) -> Result<(ImageRef, usize), String> {
    let mut i = start;
    let len = run(&s[i..], |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
    });
    let name = RepositoryName::parse(&s[i..i + len])?;
    i += len;
    let mut tag = None;
    if s.as_bytes().get(i) == Some(&b':') {
        i += 1;
        let len = run(&s[i..], |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
        });
        if len == 0 {
            return Err("`:` is not followed by a tag (a templated tag?)".into());
        }
        tag = Some(Tag::parse_desired(&s[i..i + len])?);
        i += len;
    }
    let mut digest = None;
    if s.as_bytes().get(i) == Some(&b'@') {
        i += 1;
        if !s[i..].starts_with("sha256:") {
            return Err("`@` is not followed by a `sha256:` digest".into());
        }
        let len = "sha256:".len() + run(&s[i + 7..], |b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        digest = Some(Digest::parse(&s[i..i + len])?);
        i += len;
    }
    let implicit_latest = tag.is_none() && digest.is_none();
    if implicit_latest {
        tag = Some(Tag::parse_desired("latest")?);
    }
    Ok((
        ImageRef {
            repository: RepositoryRef { registry, name },
            tag,
            digest,
            implicit_latest,
        },
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn found(text: &str) -> Vec<String> {
        scan(text).into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn a_whole_reference_gives_its_parts() {
        let r = parse_reference(&format!(" {HOST}/team/app:v1.2@sha256:{HEX}\n")).unwrap();
        assert_eq!(r.repository.registry.account().as_str(), "123456789012");
        assert_eq!(
            r.repository.registry.region().unwrap().as_str(),
            "eu-west-1"
        );
        assert_eq!(r.repository.name.as_str(), "team/app");
        assert_eq!(r.tag.unwrap().as_str(), "v1.2");
        assert_eq!(r.digest.unwrap().hex(), HEX);
        assert!(!r.implicit_latest);

        let r = parse_reference(&format!("{HOST}/app@sha256:{HEX}")).unwrap();
        assert_eq!((r.tag, r.implicit_latest), (None, false));

        let r = parse_reference(&format!("{HOST}/app")).unwrap();
        assert_eq!(r.tag.unwrap().as_str(), "latest");
        assert!(r.implicit_latest);

        let r = parse_reference("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:v1").unwrap();
        assert_eq!(
            r.repository.registry.region().unwrap().as_str(),
            "cn-north-1"
        );
    }

    #[test]
    fn ecr_public_references_name_a_public_repository_by_alias() {
        let r = parse_reference("public.ecr.aws/team/tools/app:v1").unwrap();
        assert_eq!(
            r.repository.registry.public_alias().unwrap().as_str(),
            "team"
        );
        assert_eq!(r.repository.name.as_str(), "tools/app");
        assert_eq!(r.tag.as_ref().unwrap().as_str(), "v1");
        // Any account of the alias: the reference names none.
        let public = RepositoryRef {
            registry: RegistryLocation::public(
                AccountId::parse("123456789012").unwrap(),
                crate::model::PublicAlias::parse("team").unwrap(),
            ),
            name: RepositoryName::parse("tools/app").unwrap(),
        };
        assert!(r.names(&public));
        // Never a private repository of the same name, nor another alias's.
        let private = RepositoryRef::private(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("us-east-1").unwrap(),
            RepositoryName::parse("tools/app").unwrap(),
        );
        assert!(!r.names(&private));
        let mut other = public.clone();
        other.registry = RegistryLocation::public(
            AccountId::parse("123456789012").unwrap(),
            crate::model::PublicAlias::parse("teams").unwrap(),
        );
        assert!(!r.names(&other));
        assert!(matches!(
            parse_reference("public.ecr.aws/Team/app:v1"),
            Err(ReferenceError::Invalid(_))
        ));
        assert!(matches!(
            parse_reference("public.ecr.aws/team"),
            Err(ReferenceError::Invalid(_))
        ));
    }

    #[test]
    fn other_registries_are_not_ecr_and_malformed_ones_say_why() {
        for other in [
            "nginx:1.25",
            "ghcr.io/org/app:v1",
            "docker.io/library/redis",
            "mirror.gcr.io/public.ecr.aws/x:y",
        ] {
            assert_eq!(
                parse_reference(other),
                Err(ReferenceError::NotEcr),
                "{other}"
            );
        }
        for bad in [
            format!("{HOST}/app:${{TAG}}"),
            format!("{HOST}/app:v1-$(git rev-parse HEAD)"),
            format!("{HOST}/app:{{{{ .Values.tag }}}}"),
            format!("{HOST}/App:v1"),
            format!("{HOST}/app:-v1"),
            format!("{HOST}/app:{}", "a".repeat(129)),
            format!("{HOST}/app@sha256:abc"),
            "12345678901.dkr.ecr.eu-west-1.amazonaws.com/app:v1".to_owned(),
            "123456789012.dkr.ecr.${REGION}.amazonaws.com/app:v1".to_owned(),
            "123456789012.dkr.ecr.eu-west-1.example.com/app:v1".to_owned(),
        ] {
            assert!(
                matches!(parse_reference(&bad), Err(ReferenceError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_scanner_finds_references_in_any_syntax_with_their_lines() {
        let text = format!(
            "image: {HOST}/web:v1\n  - \"{HOST}/api:v2\", '{HOST}/job@sha256:{HEX}'\nimage = \"{HOST}/tf:3.1\" # {HOST}/cron:nightly\n"
        );
        let hits = scan(&text);
        let got: Vec<(u32, u32, &str)> = hits
            .iter()
            .map(|f| (f.line, f.column, f.image.repository.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, 8, "web"),
                (2, 6, "api"),
                (2, 61, "job"),
                (3, 10, "tf"),
                (3, 65, "cron")
            ]
        );
        // ECR Public references too, in line order with the private ones.
        let text = format!(
            "a: public.ecr.aws/team/otel:v2, b: {HOST}/web:v1 \"public.ecr.aws/x1/yy@sha256:{HEX}\"\n"
        );
        let got: Vec<(u32, String)> = scan(&text)
            .iter()
            .map(|f| (f.column, f.text.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (4, "public.ecr.aws/team/otel:v2".to_owned()),
                (36, format!("{HOST}/web:v1")),
                (89, format!("public.ecr.aws/x1/yy@sha256:{HEX}")),
            ]
        );
    }

    #[test]
    fn the_scanner_skips_what_is_not_exactly_a_reference() {
        for text in [
            format!("image: {HOST}/app:${{TAG}}"),
            format!("image: {HOST}/app:{{{{ .Values.image.tag }}}}"),
            format!("image: {HOST}/app:$(TAG)"),
            format!("image: {HOST}/app:v1-${{SHA}}"),
            format!("image: {HOST}/app:v1.{{{{ .Chart.Version }}}}"),
            format!("image: {HOST}/app:.hidden"),
            format!("image: {HOST}/app:{}", "a".repeat(129)),
            format!("image: x{HOST}/app:v1"),
            format!("image: 9{HOST}/app:v1"),
            "image: mirror.public.ecr.aws/team/app:v1".to_owned(),
            "image: public.ecr.aws/team/app:${TAG}".to_owned(),
            "image: ghcr.io/team/app:v1".to_owned(),
            "image: ${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app:v1".to_owned(),
            "image: 123456789012.dkr.ecr.${AWS_REGION}.amazonaws.com/app:v1".to_owned(),
        ] {
            assert_eq!(found(&text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn a_reference_at_the_end_of_a_line_or_before_punctuation_counts() {
        assert_eq!(found(&format!("{HOST}/app:v1")), [format!("{HOST}/app:v1")]);
        assert_eq!(
            found(&format!("[{HOST}/app:v1]; ({HOST}/bob:v2)")),
            [format!("{HOST}/app:v1"), format!("{HOST}/bob:v2")]
        );
        assert_eq!(
            found(&format!("\"image\":\"{HOST}/app:v1\",")),
            [format!("{HOST}/app:v1")]
        );
        // Non-ASCII text before a reference keeps columns in characters.
        let hits = scan(&format!("é {HOST}/app:v1"));
        assert_eq!(hits[0].column, 3);
    }
}
