//! The snapshot file: the observed state of registries as JSON, for offline plans,
//! tests and bug reports. Its JSON Schema is `schema/snapshot.schema.json`.

use chrono::{DateTime, Utc};
use miette::{Diagnostic, NamedSource, SourceSpan};
use schemars::JsonSchema;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ImageDetail;
use super::memory::{InMemoryRegistry, StoredImage};
use super::observe::index_children;
use crate::model::{
    AccountId, Digest, MediaType, Region, RegistryLocation, RepositoryName, RepositoryRef, Tag,
};

/// The snapshot format version this program reads and writes.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A snapshot of registries: accounts and regions, their repositories and images.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ecr-reconcile registry snapshot")]
pub struct Snapshot {
    /// Format version; must be 1.
    pub version: u32,
    /// When the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<DateTime<Utc>>,
    /// The registries. The first one's account is the caller's account for files that
    /// name no account.
    pub registries: Vec<SnapshotRegistry>,
}

/// One registry: an account in a region.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRegistry {
    /// The 12-digit account id.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The repositories that exist in this registry.
    pub repositories: Vec<SnapshotRepository>,
}

/// One repository and its images.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRepository {
    /// The repository name.
    pub name: RepositoryName,
    /// Every image, tagged or not, in push order.
    #[serde(default)]
    pub images: Vec<SnapshotImage>,
}

/// One image.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotImage {
    /// The manifest digest.
    pub digest: Digest,
    /// Its tags.
    #[serde(default, deserialize_with = "fast_de::exact_vec")]
    pub tags: Vec<Tag>,
    /// When it was pushed (RFC 3339).
    #[serde(deserialize_with = "fast_de::utc")]
    pub pushed_at: DateTime<Utc>,
    /// The manifest media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<MediaType>,
    /// The artifact media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<MediaType>,
    /// The size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// For a referrer, the digest of its subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// For an index, the digests of its children (each must be an image of the
    /// same repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// The raw manifest, when known; for an index it lists the children itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// Deserializers for the fields of the million images of a large snapshot: the same
/// values, and the same errors, as the types' own, faster.
mod fast_de {
    use std::fmt;

    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
    use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

    /// A `Vec` allocated at its length when it holds one item (an image's tags), not
    /// at the capacity of 4 that growing from empty gives.
    pub fn exact_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        struct ExactVec<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ExactVec<T> {
            type Value = Vec<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As serde's own `Vec` says.
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let Some(first) = seq.next_element()? else {
                    return Ok(Vec::new());
                };
                let Some(second) = seq.next_element()? else {
                    return Ok(vec![first]);
                };
                let mut items = vec![first, second];
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(items)
            }
        }

        d.deserialize_seq(ExactVec(std::marker::PhantomData))
    }

    /// A `DateTime<Utc>` as chrono deserializes it, with a fast path for the form
    /// snapshots are written in (see [`parse_utc_fast`]).
    pub fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        struct Utc3339;

        impl Visitor<'_> for Utc3339 {
            type Value = DateTime<Utc>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As chrono's own visitor says.
                f.write_str("an RFC 3339 formatted date and time string")
            }

            fn visit_str<E: Error>(self, value: &str) -> Result<DateTime<Utc>, E> {
                match parse_utc_fast(value) {
                    Some(t) => Ok(t),
                    None => value
                        .parse::<DateTime<FixedOffset>>()
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(E::custom),
                }
            }
        }

        d.deserialize_str(Utc3339)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.F]Z` (1 to 9 digits of fraction, seconds below 60)
    /// to what chrono parses it to. `None` for anything else, including invalid
    /// dates, which are left to chrono and its errors.
    pub(super) fn parse_utc_fast(s: &str) -> Option<DateTime<Utc>> {
        let b = s.as_bytes();
        let (&b'Z', b) = b.split_last()? else {
            return None;
        };
        if b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let number = |digits: &[u8]| {
            digits.iter().try_fold(0u32, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
            })
        };
        let nano = match &b[19..] {
            [] => 0,
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
            }
            _ => return None,
        };
        let second = number(&b[17..19])?;
        if second >= 60 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(number(&b[0..4])?).ok()?,
            number(&b[5..7])?,
            number(&b[8..10])?,
        )?;
        let time =
            NaiveTime::from_hms_nano_opt(number(&b[11..13])?, number(&b[14..16])?, second, nano)?;
        Some(date.and_time(time).and_utc())
    }
}

/// A snapshot that cannot be used.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot {path}: {message}")]
    #[diagnostic(code(snapshot::io))]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The JSON does not parse or does not fit the format.
    #[error("{path}:{line}:{column}: invalid snapshot: {message}")]
    #[diagnostic(
        code(snapshot::syntax),
        help("see schema/snapshot.schema.json for the format")
    )]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
        /// The file's text (left out when the line is too long to show).
        #[source_code]
        src: Option<NamedSource<String>>,
        /// The place.
        #[label("here")]
        span: Option<SourceSpan>,
    },
    /// A version this program does not read.
    #[error(
        "{path}: snapshot format version {version} is not supported (this version reads {SNAPSHOT_VERSION})"
    )]
    #[diagnostic(code(snapshot::version))]
    Version {
        /// The file.
        path: String,
        /// The version found.
        version: u64,
    },
    /// The JSON is well-formed but describes something ECR cannot hold.
    #[error("{path}: invalid snapshot at {at}: {message}")]
    #[diagnostic(code(snapshot::invalid))]
    Invalid {
        /// The file.
        path: String,
        /// Where, as a JSON path.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads and checks a snapshot file.
pub fn read(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| SnapshotError::Io {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    parse(&shown, &bytes)
}

/// The top of a snapshot, with each repository left as raw JSON to be parsed in
/// parallel (a large snapshot spends most of its load time parsing images).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shallow<'a> {
    version: u32,
    #[serde(default)]
    generated_at: Option<DateTime<Utc>>,
    #[serde(borrow)]
    registries: Vec<ShallowRegistry<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShallowRegistry<'a> {
    account: AccountId,
    region: Region,
    #[serde(borrow)]
    repositories: Vec<&'a RawValue>,
}

/// Parses and checks a snapshot given as bytes; `path` is only shown.
///
/// Reading the top of the file, which finds where each repository starts and ends,
/// takes a pass over all of it. In the common case ([`streaming`]), repositories are
/// parsed while that pass goes on; otherwise, and for every error, the top is read
/// first ([`in_two_passes`]).
pub fn parse(path: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    match streaming(path, bytes) {
        Some(snapshot) => snapshot,
        None => in_two_passes(path, bytes),
    }
}

/// The top of the snapshot, then its repositories in parallel.
fn in_two_passes(path: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let shallow = match serde_json::from_slice::<Shallow<'_>>(bytes) {
        Ok(s) => s,
        Err(e) => {
            #[derive(Deserialize)]
            struct VersionOnly {
                version: u64,
            }
            if let Ok(v) = serde_json::from_slice::<VersionOnly>(bytes)
                && v.version != u64::from(SNAPSHOT_VERSION)
            {
                return Err(SnapshotError::Version {
                    path: path.to_owned(),
                    version: v.version,
                });
            }
            return Err(syntax_error(path, bytes, &e, None));
        }
    };
    if shallow.version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version {
            path: path.to_owned(),
            version: shallow.version.into(),
        });
    }
    let ((), parsed) = parse_while_reading(path, bytes, |send| {
        for raw in shallow.registries.iter().flat_map(|r| &r.repositories) {
            send(raw);
        }
    });
    let top = Top {
        generated_at: shallow.generated_at,
        registries: shallow
            .registries
            .into_iter()
            .map(|r| (r.account, r.region, r.repositories.len()))
            .collect(),
    };
    assemble(path, top, parsed)
}

/// The snapshot in one pass over the file, its repositories parsed on other threads
/// as the pass finds them. `None` when the file's top is in any way unusual (other
/// than `{"version": 1, "generated_at": …, "registries": [{"account": …, "region": …,
/// "repositories": […]}, …]}` in any order, without escapes in keys), which
/// [`in_two_passes`] then reads, with its exact errors.
fn streaming(path: &str, bytes: &[u8]) -> Option<Result<Snapshot, SnapshotError>> {
    let (top, parsed) = parse_while_reading(path, bytes, |send| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let top = StreamedTop { send }.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(top)
    });
    Some(assemble(path, top?, parsed))
}

/// A repository parsed and checked on its own.
type Parsed = Result<(SnapshotRepository, Option<Problem>), SnapshotError>;

/// Runs `read` on this thread and, meanwhile, parses on other threads the raw JSON
/// of each repository it passes to `send`; then helps them finish. Returns what
/// `read` returned, and the repositories in the order they were sent.
fn parse_while_reading<'a, T>(
    path: &str,
    bytes: &'a [u8],
    read: impl FnOnce(&mut dyn FnMut(&'a RawValue)) -> T,
) -> (T, Vec<Parsed>) {
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(2, 8)
        - 1;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, &'a RawValue)>();
    let rx = std::sync::Mutex::new(rx);
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
            let Ok((i, raw)) = next else {
                return done;
            };
            done.push((i, parse_repository(path, bytes, raw)));
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
        let mut sent = 0;
        let value = read(&mut |raw| {
            tx.send((sent, raw))
                .expect("parser threads run until the sender is dropped");
            sent += 1;
        });
        drop(tx);
        let mut parsed: Vec<Option<Parsed>> = (0..sent).map(|_| None).collect();
        let helped = work();
        let mut place = |done: Vec<(usize, Parsed)>| {
            for (i, p) in done {
                parsed[i] = Some(p);
            }
        };
        place(helped);
        for h in handles {
            place(h.join().expect("a parser thread does not panic"));
        }
        let parsed = parsed
            .into_iter()
            .map(|p| p.expect("every repository sent is parsed"))
            .collect();
        (value, parsed)
    })
}

/// Parses one repository, then checks it on its own.
fn parse_repository(path: &str, bytes: &[u8], raw: &RawValue) -> Parsed {
    let repo = serde_json::from_str::<SnapshotRepository>(raw.get())
        .map_err(|e| syntax_error(path, bytes, &e, Some(raw.get())))?;
    let problem = check_repository(&repo).err();
    Ok((repo, problem))
}

/// The top of a snapshot of the supported version: each registry with its number of
/// repositories.
struct Top {
    generated_at: Option<DateTime<Utc>>,
    registries: Vec<(AccountId, Region, usize)>,
}

/// The snapshot from its top and its repositories in file order, checked. A syntax
/// error in any repository comes before any other problem.
fn assemble(path: &str, top: Top, parsed: Vec<Parsed>) -> Result<Snapshot, SnapshotError> {
    let mut parsed = parsed.into_iter();
    let mut problems = Vec::with_capacity(parsed.len());
    let mut registries = Vec::with_capacity(top.registries.len());
    for (account, region, count) in top.registries {
        let mut repositories = Vec::with_capacity(count);
        for _ in 0..count {
            let (repo, problem) = parsed.next().expect("one result per repository")?;
            repositories.push(repo);
            problems.push(problem);
        }
        registries.push(SnapshotRegistry {
            account,
            region,
            repositories,
        });
    }
    let snapshot = Snapshot {
        version: SNAPSHOT_VERSION,
        generated_at: top.generated_at,
        registries,
    };
    check(path, &snapshot, problems)?;
    Ok(snapshot)
}

/// Reads the top of a snapshot as [`Shallow`] does, passing each repository's raw
/// JSON to `send` as soon as it is read. It accepts only what [`Shallow`] accepts, and
/// less: any error means "not the common form" (see [`streaming`]), not a diagnosis.
struct StreamedTop<'s, 'a> {
    send: &'s mut dyn FnMut(&'a RawValue),
}

impl<'a> DeserializeSeed<'a> for StreamedTop<'_, 'a> {
    type Value = Top;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for StreamedTop<'_, 'a> {
    type Value = Top;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a snapshot")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut version = None;
        let mut generated_at = None;
        let mut registries = None;
        while let Some(key) = map.next_key::<&'a str>()? {
            match key {
                "version" if version.is_none() => version = Some(map.next_value::<u32>()?),
                "generated_at" if generated_at.is_none() => {
                    generated_at = Some(map.next_value::<Option<DateTime<Utc>>>()?);
                }
                "registries" if registries.is_none() => {
                    registries = Some(map.next_value_seed(StreamedRegistries {
                        send: &mut *self.send,
                    })?);
                }
                _ => return Err(A::Error::custom("not the common form")),
            }
        }
        match (version, registries) {
            (Some(SNAPSHOT_VERSION), Some(registries)) => Ok(Top {
                generated_at: generated_at.flatten(),
                registries,
            }),
            _ => Err(A::Error::custom("not the common form")),
        }
    }
}

/// The `registries` array, for [`StreamedTop`].
struct StreamedRegistries<'s, 'a> {
    send: &'s mut dyn FnMut(&'a RawValue),
}

impl<'a> DeserializeSeed<'a> for StreamedRegistries<'_, 'a> {
    type Value = Vec<(AccountId, Region, usize)>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for StreamedRegistries<'_, 'a> {
    type Value = Vec<(AccountId, Region, usize)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("registries")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut registries = Vec::new();
        while let Some(r) = seq.next_element_seed(StreamedRegistry {
            send: &mut *self.send,
        })? {
            registries.push(r);
        }
        Ok(registries)
    }
}

/// One registry, for [`StreamedTop`]: its repositories go to `send`.
struct StreamedRegistry<'s, 'a> {
    send: &'s mut dyn FnMut(&'a RawValue),
}

impl<'a> DeserializeSeed<'a> for StreamedRegistry<'_, 'a> {
    type Value = (AccountId, Region, usize);

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for StreamedRegistry<'_, 'a> {
    type Value = (AccountId, Region, usize);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a registry")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut account = None;
        let mut region = None;
        let mut count = None;
        while let Some(key) = map.next_key::<&'a str>()? {
            match key {
                "account" if account.is_none() => account = Some(map.next_value()?),
                "region" if region.is_none() => region = Some(map.next_value()?),
                "repositories" if count.is_none() => {
                    count = Some(map.next_value_seed(StreamedRepositories {
                        send: &mut *self.send,
                    })?);
                }
                _ => return Err(A::Error::custom("not the common form")),
            }
        }
        match (account, region, count) {
            (Some(account), Some(region), Some(count)) => Ok((account, region, count)),
            _ => Err(A::Error::custom("not the common form")),
        }
    }
}

/// The `repositories` array of a registry, for [`StreamedTop`]: each element goes
/// to `send`; the value is their number.
struct StreamedRepositories<'s, 'a> {
    send: &'s mut dyn FnMut(&'a RawValue),
}

impl<'a> DeserializeSeed<'a> for StreamedRepositories<'_, 'a> {
    type Value = usize;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for StreamedRepositories<'_, 'a> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("repositories")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(raw) = seq.next_element::<&'a RawValue>()? {
            (self.send)(raw);
            count += 1;
        }
        Ok(count)
    }
}

/// A syntax error at the right place of the whole file, also when it was found while
/// parsing `part`, a slice of it.
fn syntax_error(
    path: &str,
    bytes: &[u8],
    e: &serde_json::Error,
    part: Option<&str>,
) -> SnapshotError {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let index = crate::text::LineIndex::new(&text);
    let offset = match part {
        None => index.offset(e.line() as u64, e.column().max(1) as u64),
        Some(part) => {
            let base = (part.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
            base + crate::text::LineIndex::new(part)
                .offset(e.line() as u64, e.column().max(1) as u64)
        }
    };
    let (line, column) = index.position(offset);
    // A snapshot written compactly is one enormous line: showing it helps nobody (and
    // the report renderer cannot lay it out), so the position alone is given then.
    let line_len = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(offset, |start| offset - start)
        + text[offset.min(text.len())..]
            .find('\n')
            .unwrap_or(text.len() - offset.min(text.len()));
    let (src, span) = if line_len <= MAX_SHOWN_LINE {
        (Some(NamedSource::new(path, text)), Some((offset, 0).into()))
    } else {
        (None, None)
    };
    SnapshotError::Syntax {
        path: path.to_owned(),
        line: line as usize,
        column: column as usize,
        message: strip_position(&e.to_string()),
        src,
        span,
    }
}

/// The longest line of a snapshot shown with a syntax error.
const MAX_SHOWN_LINE: usize = 1_000;

/// serde_json appends " at line L column C"; the diagnostic shows the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// What [`check_repository`] found wrong in a repository: the index of the image
/// concerned, and what is wrong.
type Problem = (usize, String);

/// Checks what JSON Schema cannot: uniqueness and references. `problems` holds, for
/// each repository in file order, what [`check_repository`] found; the first problem
/// in file order is reported.
fn check(path: &str, s: &Snapshot, problems: Vec<Option<Problem>>) -> Result<(), SnapshotError> {
    let invalid = |at: String, message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        at,
        message,
    };
    let mut problems = problems.into_iter();
    let mut repos = foldhash::HashSet::default();
    for (ri, reg) in s.registries.iter().enumerate() {
        for (pi, repo) in reg.repositories.iter().enumerate() {
            let at = || format!("registries[{ri}].repositories[{pi}]");
            if !repos.insert((&reg.account, &reg.region, &repo.name)) {
                return Err(invalid(
                    at(),
                    format!("repository `{}` appears twice", repo.name),
                ));
            }
            if let Some((ii, message)) = problems.next().flatten() {
                return Err(invalid(format!("{}.images[{ii}]", at()), message));
            }
        }
    }
    Ok(())
}

/// Checks one repository on its own: digests and tags are unique, and `children`
/// are only on indexes and name images of the repository.
fn check_repository(repo: &SnapshotRepository) -> Result<(), Problem> {
    let mut digests: foldhash::HashSet<&Digest> =
        foldhash::HashSet::with_capacity_and_hasher(repo.images.len(), Default::default());
    let mut tags: foldhash::HashSet<&Tag> =
        foldhash::HashSet::with_capacity_and_hasher(repo.images.len(), Default::default());
    for (ii, img) in repo.images.iter().enumerate() {
        if !digests.insert(&img.digest) {
            return Err((ii, format!("digest {} appears twice", img.digest)));
        }
        for t in &img.tags {
            if !tags.insert(t) {
                return Err((ii, format!("tag `{t}` is on two images")));
            }
        }
        let is_index = img
            .manifest_media_type
            .as_ref()
            .is_some_and(MediaType::is_index);
        if !img.children.is_empty() && !is_index {
            return Err((ii, "`children` is only for index media types".into()));
        }
    }
    for (ii, img) in repo.images.iter().enumerate() {
        for c in children_of(img).map_err(|e| (ii, e))? {
            if !digests.contains(&c) {
                return Err((
                    ii,
                    format!(
                        "index {} lists child {c}, which is not an image of the repository",
                        img.digest
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn children_of(img: &SnapshotImage) -> Result<Vec<Digest>, String> {
    let is_index = img
        .manifest_media_type
        .as_ref()
        .is_some_and(MediaType::is_index);
    match (&img.manifest, is_index) {
        (Some(m), true) => {
            let from_manifest = index_children(m)?;
            if !img.children.is_empty() && img.children != from_manifest {
                return Err("`children` differs from the manifest's list".into());
            }
            Ok(from_manifest)
        }
        _ => Ok(img.children.clone()),
    }
}

impl Snapshot {
    /// Loads the snapshot into an in-memory registry (consuming it).
    pub fn into_registry(self) -> InMemoryRegistry {
        let mut reg = InMemoryRegistry::new();
        for r in &self.registries {
            reg.set_caller_account(r.region.clone(), r.account.clone());
        }
        for r in self.registries {
            let location = RegistryLocation {
                account: r.account,
                region: r.region,
            };
            for repo in r.repositories {
                let reference = RepositoryRef {
                    registry: location.clone(),
                    name: repo.name,
                };
                reg.create_repository(reference.clone());
                let images = repo.images.into_iter().map(|img| {
                    // `check` has already parsed every manifest.
                    let children = children_of(&img).unwrap_or_default();
                    let detail = ImageDetail {
                        digest: img.digest,
                        tags: img.tags,
                        pushed_at: img.pushed_at,
                        manifest_media_type: img.manifest_media_type,
                        artifact_media_type: img.artifact_media_type,
                        size_bytes: img.size_bytes,
                        subject: img.subject,
                    };
                    StoredImage {
                        detail,
                        manifest: img.manifest,
                        children,
                    }
                });
                reg.load_images(&reference, images);
            }
        }
        reg
    }

    /// A snapshot of everything an in-memory registry holds.
    pub fn from_registry(reg: &InMemoryRegistry, generated_at: Option<DateTime<Utc>>) -> Self {
        let mut registries: Vec<SnapshotRegistry> = Vec::new();
        for reference in reg.repositories() {
            let images = reg
                .images(&reference)
                .unwrap_or_default()
                .into_iter()
                .map(|s| SnapshotImage {
                    digest: s.detail.digest,
                    tags: s.detail.tags,
                    pushed_at: s.detail.pushed_at,
                    manifest_media_type: s.detail.manifest_media_type,
                    artifact_media_type: s.detail.artifact_media_type,
                    size_bytes: s.detail.size_bytes,
                    subject: s.detail.subject,
                    children: s.children,
                    manifest: s.manifest,
                })
                .collect();
            let repo = SnapshotRepository {
                name: reference.name,
                images,
            };
            match registries.iter_mut().find(|r| {
                r.account == reference.registry.account && r.region == reference.registry.region
            }) {
                Some(r) => r.repositories.push(repo),
                None => registries.push(SnapshotRegistry {
                    account: reference.registry.account,
                    region: reference.registry.region,
                    repositories: vec![repo],
                }),
            }
        }
        Snapshot {
            version: SNAPSHOT_VERSION,
            generated_at,
            registries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u32) -> String {
        format!("sha256:{n:064x}")
    }

    /// A snapshot of the given repositories, each a name and the JSON of its images.
    fn snapshot(repos: &[(&str, String)]) -> String {
        let repos: Vec<String> = repos
            .iter()
            .map(|(name, images)| format!(r#"{{"name":"{name}","images":[{images}]}}"#))
            .collect();
        format!(
            r#"{{"version":1,"registries":[{{"account":"123456789012","region":"eu-west-1","repositories":[{}]}}]}}"#,
            repos.join(",")
        )
    }

    fn image(n: u32, tags: &str) -> String {
        format!(
            r#"{{"digest":"{}","tags":[{tags}],"pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.manifest.v1+json"}}"#,
            digest(n)
        )
    }

    fn index(n: u32, children: &[u32], manifest: Option<&[u32]>) -> String {
        let list = |ds: &[u32]| {
            ds.iter()
                .map(|&d| format!("\"{}\"", digest(d)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let manifest = manifest.map_or(String::new(), |m| {
            let entries: Vec<String> = m
                .iter()
                .map(|&d| format!(r#"{{\"digest\":\"{}\"}}"#, digest(d)))
                .collect();
            format!(r#","manifest":"{{\"manifests\":[{}]}}""#, entries.join(","))
        });
        format!(
            r#"{{"digest":"{}","tags":[],"pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.index.v1+json","children":[{}]{manifest}}}"#,
            digest(n),
            list(children)
        )
    }

    fn invalid(text: &str) -> (String, String) {
        match parse("s.json", text.as_bytes()) {
            Err(SnapshotError::Invalid { at, message, .. }) => (at, message),
            Err(e) => panic!("not an Invalid error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    fn images(parts: &[String]) -> String {
        parts.join(",")
    }

    #[test]
    fn a_valid_snapshot_parses_with_its_media_types() {
        let text = snapshot(&[
            (
                "a/one",
                images(&[
                    image(1, r#""v1""#),
                    image(2, ""),
                    index(3, &[1, 2], Some(&[1, 2])),
                ]),
            ),
            ("a/two", images(&[image(1, r#""v1""#)])),
        ]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let repos = &s.registries[0].repositories;
        assert_eq!(repos.len(), 2);
        assert_eq!(repos[0].images.len(), 3);
        assert!(
            repos[0].images[2]
                .manifest_media_type
                .as_ref()
                .unwrap()
                .is_index()
        );
        assert_eq!(
            repos[0].images[0]
                .manifest_media_type
                .as_ref()
                .unwrap()
                .as_str(),
            crate::model::media_type::OCI_MANIFEST
        );
        // Serialized back exactly as read.
        let again = serde_json::to_string(&s).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&again).unwrap(),
            { serde_json::from_str::<serde_json::Value>(&text).unwrap() }
        );
    }

    #[test]
    fn an_unknown_media_type_is_kept_as_is() {
        let text = snapshot(&[(
            "a/one",
            format!(
                r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/x-\u00e9t\u00e9","artifact_media_type":"text/plain"}}"#,
                digest(1)
            ),
        )]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let img = &s.registries[0].repositories[0].images[0];
        assert_eq!(
            img.manifest_media_type.as_ref().unwrap().as_str(),
            "application/x-été"
        );
        assert_eq!(
            img.artifact_media_type.as_ref().unwrap().as_str(),
            "text/plain"
        );
    }

    /// What chrono makes of `s`, as `DateTime<Utc>`'s own deserializer does.
    fn chrono_utc(s: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value::<DateTime<Utc>>(serde_json::Value::String(s.to_owned())).ok()
    }

    #[test]
    fn the_fast_timestamp_parse_agrees_with_chrono() {
        for s in [
            "2026-11-20T12:00:00Z",
            "2026-11-20T12:00:00.5Z",
            "2026-11-20T12:00:00.123456789Z",
            "2024-02-29T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            let fast = fast_de::parse_utc_fast(s);
            assert!(fast.is_some(), "{s}");
            assert_eq!(fast, chrono_utc(s), "{s}");
        }
        // Left to chrono: other forms, leap seconds, invalid dates and times.
        for s in [
            "2026-11-20t12:00:00Z",
            "2026-11-20 12:00:00Z",
            "2026-11-20T12:00:00z",
            "2026-11-20T12:00:00+00:00",
            "2026-11-20T12:00:00+01:00",
            "2026-11-20T12:00:00.Z",
            "2026-11-20T12:00:00.1234567891Z",
            "2016-12-31T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T23:60:00Z",
            "+2026-11-20T12:00:00Z",
            "2026-1-20T12:00:00Z",
            "2026-11-20T12:00:0Z",
            "2026-11-20T12:00:00",
            "",
        ] {
            assert_eq!(fast_de::parse_utc_fast(s), None, "{s}");
        }
        // Near misses of the fast form, generated: where the fast path answers, it
        // answers what chrono does.
        let alphabet = b"0123456789-T:.Zz +";
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut answered = 0;
        for _ in 0..200_000 {
            let mut b = b"2024-02-29T23:59:59.123Z".to_vec();
            if next() % 2 == 0 {
                b.drain(19..23);
            }
            for _ in 0..(next() % 3) {
                let i = (next() % b.len() as u64) as usize;
                match next() % 4 {
                    0 => b[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => b[i] = b'0' + (next() % 10) as u8,
                    2 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, b'0' + (next() % 10) as u8),
                }
            }
            let s = std::str::from_utf8(&b).unwrap();
            if let Some(t) = fast_de::parse_utc_fast(s) {
                answered += 1;
                assert_eq!(Some(t), chrono_utc(s), "{s}");
            }
        }
        assert!(answered > 10_000, "{answered}");
    }

    #[test]
    fn fields_with_fast_deserializers_give_the_same_errors() {
        let bad = [
            (
                r#""tags":"x""#,
                "invalid type: string \"x\", expected a sequence",
            ),
            (
                r#""tags":[1]"#,
                "invalid type: integer `1`, expected a string",
            ),
            (
                r#""pushed_at":1"#,
                "invalid type: integer `1`, expected an RFC 3339 formatted date and time string",
            ),
            (
                r#""pushed_at":"2023-02-29T00:00:00Z""#,
                "input is out of range",
            ),
            (
                r#""pushed_at":"yesterday""#,
                "input contains invalid characters",
            ),
        ];
        for (field, want) in bad {
            let img = format!(
                r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z",{field}}}"#,
                digest(1)
            )
            .replacen(
                r#""pushed_at":"2026-01-01T00:00:00Z","pushed_at""#,
                r#""pushed_at""#,
                1,
            );
            let text = snapshot(&[("a/one", img)]);
            match parse("s.json", text.as_bytes()) {
                Err(SnapshotError::Syntax { message, .. }) => assert_eq!(message, want, "{field}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        let text = snapshot(&[(
            "a/one",
            format!(
                r#"{{"digest":"{}","tags":["a","b","c"],"pushed_at":"2026-01-01T00:00:00Z"}}"#,
                digest(1)
            ),
        )]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let tags: Vec<&str> = s.registries[0].repositories[0].images[0]
            .tags
            .iter()
            .map(Tag::as_str)
            .collect();
        assert_eq!(tags, ["a", "b", "c"]);
    }

    /// The outcome of a parse, comparable: the snapshot as JSON, or the error.
    fn outcome(r: Result<Snapshot, SnapshotError>) -> String {
        match r {
            Ok(s) => serde_json::to_string(&s).unwrap(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn the_streaming_pass_reads_the_common_form_and_only_what_the_general_one_reads() {
        let repos = |n: u32| {
            (0..n)
                .map(|i| format!(r#"{{"name":"a/r{i}","images":[{}]}}"#, image(i, r#""v1""#)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let common = [
            // As written by this program, compact and pretty.
            snapshot(&[("a/one", image(1, r#""v1""#)), ("a/two", image(2, ""))]),
            serde_json::to_string_pretty(
                &serde_json::from_str::<serde_json::Value>(&snapshot(&[(
                    "a/one",
                    image(1, r#""v1""#),
                )]))
                .unwrap(),
            )
            .unwrap(),
            // Keys in any order, several registries, none, no repositories.
            format!(
                r#"{{"registries":[{{"repositories":[{}],"region":"eu-west-1","account":"123456789012"}},{{"account":"123456789012","region":"us-east-1","repositories":[{}]}}],"generated_at":"2026-01-01T00:00:00Z","version":1}}"#,
                repos(40),
                repos(3)
            ),
            r#"{"version":1,"generated_at":null,"registries":[]}"#.to_owned(),
            r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":[]}]}"#.to_owned(),
            // Problems inside repositories are found by the repositories' parse.
            snapshot(&[("a/one", images(&[image(1, ""), image(1, "")]))]),
            snapshot(&[("a/one", r#"{"digest":"sha256:00"}"#.to_owned())]),
            snapshot(&[("a/one", image(1, "")), ("a/one", image(1, ""))]),
        ];
        for text in &common {
            let streamed = streaming("s.json", text.as_bytes());
            assert!(streamed.is_some(), "{text}");
            assert_eq!(
                outcome(streamed.unwrap()),
                outcome(in_two_passes("s.json", text.as_bytes())),
                "{text}"
            );
        }
        let unusual = [
            r#"{"version":2,"registries":[]}"#.to_owned(),
            r#"{"version":1}"#.to_owned(),
            r#"{"registries":[]}"#.to_owned(),
            r#"{"version":1,"registries":[],"extra":1}"#.to_owned(),
            r#"{"version":1,"version":1,"registries":[]}"#.to_owned(),
            r#"{"vers\u0069on":1,"registries":[]}"#.to_owned(),
            r#"[1,null,[]]"#.to_owned(),
            r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1"}]}"#.to_owned(),
            r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":[],"x":0}]}"#.to_owned(),
            r#"{"version":1,"registries":[["123456789012","eu-west-1",[]]]}"#.to_owned(),
            r#"{"version":1,"registries":[]} x"#.to_owned(),
            r#"{"version":1,"registries":[{"account":"1","region":"eu-west-1","repositories":[]}]}"#.to_owned(),
            // Cut short.
            snapshot(&[("a/one", image(1, ""))])[..60].to_owned(),
        ];
        for text in &unusual {
            assert!(streaming("s.json", text.as_bytes()).is_none(), "{text}");
            // `parse` then gives what the general pass gives, success or error.
            assert_eq!(
                outcome(parse("s.json", text.as_bytes())),
                outcome(in_two_passes("s.json", text.as_bytes())),
                "{text}"
            );
        }
        // The general pass reads a snapshot in serde's other forms too.
        assert!(parse("s.json", br#"[1,null,[]]"#).is_ok());
        assert!(parse("s.json", br#"{"vers\u0069on":1,"registries":[]}"#).is_ok());
    }

    #[test]
    fn errors_of_checked_strings_are_placed_as_for_a_string() {
        // serde_json places an error raised after a value is read where parsing stopped:
        // past the closing `]` or `}` when the value ends an array or object.
        let top = r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":["#;
        let cases = [
            (
                format!(
                    r#"{{"name":"a/one","images":[{{"tags":["ok","-x"
  ],"pushed_at":"2026-01-01T00:00:00Z","digest":"{}"}}]}}"#,
                    digest(1)
                ),
                "a tag cannot start with `.` or `-`",
            ),
            (
                r#"{"name":"a/one","images":[{"tags":[],"pushed_at":"2026-01-01T00:00:00Z","digest":"sha256:00"
  }]}"#
                    .to_owned(),
                "a sha256 digest has exactly 64 lowercase hex digits",
            ),
            (
                r#"{"images":[],"name":"A"
  }"#
                .to_owned(),
                "a repository name must be 2 to 256 characters long, not 1",
            ),
        ];
        for (repo, want) in cases {
            let text = format!("{top}{repo}]}}]}}");
            match parse("s.json", text.as_bytes()) {
                Err(SnapshotError::Syntax {
                    line,
                    column,
                    message,
                    ..
                }) => assert_eq!((line, column, message.as_str()), (2, 3, want), "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn duplicate_repositories() {
        let text = snapshot(&[
            ("a/one", image(1, "")),
            ("a/two", image(1, "")),
            ("a/one", image(1, "")),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[2]".into(),
                "repository `a/one` appears twice".into()
            )
        );
    }

    #[test]
    fn duplicate_digests_and_tags() {
        let text = snapshot(&[
            ("a/one", images(&[image(1, r#""x""#), image(2, r#""y""#)])),
            ("a/two", images(&[image(1, ""), image(2, ""), image(1, "")])),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[1].images[2]".into(),
                format!("digest {} appears twice", digest(1))
            )
        );
        let text = snapshot(&[(
            "a/one",
            images(&[image(1, r#""x""#), image(2, r#""y","x""#)]),
        )]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                "tag `x` is on two images".into()
            )
        );
    }

    #[test]
    fn children() {
        let not_index = format!(
            r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z","children":["{}"]}}"#,
            digest(2),
            digest(1)
        );
        let text = snapshot(&[("a/one", images(&[image(1, ""), not_index]))]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                "`children` is only for index media types".into()
            )
        );
        let text = snapshot(&[("a/one", images(&[image(1, ""), index(2, &[1, 7], None)]))]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[1]".into(),
                format!(
                    "index {} lists child {}, which is not an image of the repository",
                    digest(2),
                    digest(7)
                )
            )
        );
        let text = snapshot(&[(
            "a/one",
            images(&[image(1, ""), image(3, ""), index(2, &[1], Some(&[3]))]),
        )]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[0].images[2]".into(),
                "`children` differs from the manifest's list".into()
            )
        );
    }

    #[test]
    fn the_first_problem_in_file_order_is_reported() {
        // A duplicate tag in the first repository comes before a duplicate repository.
        let text = snapshot(&[
            ("a/one", images(&[image(1, r#""x""#), image(2, r#""x""#)])),
            ("a/one", image(1, "")),
        ]);
        assert_eq!(invalid(&text).0, "registries[0].repositories[0].images[1]");
        // A duplicate repository comes before a problem inside it.
        let text = snapshot(&[
            ("a/one", image(1, "")),
            ("a/one", images(&[image(1, ""), image(1, "")])),
        ]);
        assert_eq!(
            invalid(&text),
            (
                "registries[0].repositories[1]".into(),
                "repository `a/one` appears twice".into()
            )
        );
        // Within a repository, duplicates come before children.
        let text = snapshot(&[(
            "a/one",
            images(&[index(2, &[9], None), image(1, ""), image(1, "")]),
        )]);
        assert_eq!(invalid(&text).0, "registries[0].repositories[0].images[2]");
        // A syntax error anywhere comes before any check.
        let text = snapshot(&[
            ("a/one", images(&[image(1, ""), image(1, "")])),
            ("a/two", r#"{"digest":"sha256:00"}"#.to_owned()),
        ]);
        assert!(matches!(
            parse("s.json", text.as_bytes()),
            Err(SnapshotError::Syntax { .. })
        ));
    }

    #[test]
    fn the_same_name_in_another_registry_is_another_repository() {
        let text = r#"{"version":1,"registries":[{"account":"123456789012","region":"eu-west-1","repositories":[{"name":"a/one"}]},{"account":"123456789012","region":"eu-west-2","repositories":[{"name":"a/one"}]},{"account":"123456789012","region":"eu-west-1","repositories":[{"name":"a/one"}]}]}"#;
        assert_eq!(
            invalid(text),
            (
                "registries[2].repositories[0]".into(),
                "repository `a/one` appears twice".into()
            )
        );
    }
}
