//! Reading a snapshot: the top of the file, and its repositories parsed in parallel,
//! in one streaming pass when the file has the common form, else in two.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::check::{Problem, check, check_repository};
use super::error::{SnapshotError, syntax_error};
use super::{SNAPSHOT_VERSION, Snapshot, SnapshotRegistry, SnapshotRepository};
use crate::model::{AccountId, PublicAlias, Region, RegistryLocation};
use crate::registry::{PullThroughCacheRule, ReplicationRule};

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
    #[serde(default)]
    region: Option<Region>,
    #[serde(default)]
    public_alias: Option<PublicAlias>,
    #[serde(borrow)]
    repositories: Vec<&'a RawValue>,
    #[serde(default)]
    replication: Vec<ReplicationRule>,
    #[serde(default)]
    pull_through_cache_rules: Vec<PullThroughCacheRule>,
}

/// One registry of the top of a snapshot: where it is, how many repositories it
/// has, and its own settings.
struct TopRegistry {
    location: RegistryLocation,
    count: usize,
    replication: Vec<ReplicationRule>,
    pull_through_cache_rules: Vec<PullThroughCacheRule>,
}

/// The top of the snapshot, then its repositories in parallel.
pub(super) fn in_two_passes(path: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
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
    let mut registries = Vec::with_capacity(shallow.registries.len());
    for (i, r) in shallow.registries.into_iter().enumerate() {
        let location = super::location_of(&r.account, r.region.as_ref(), r.public_alias.as_ref())
            .map_err(|message| SnapshotError::Invalid {
            path: path.to_owned(),
            at: format!("registries[{i}]"),
            message,
        })?;
        registries.push(TopRegistry {
            location,
            count: r.repositories.len(),
            replication: r.replication,
            pull_through_cache_rules: r.pull_through_cache_rules,
        });
    }
    let top = Top {
        generated_at: shallow.generated_at,
        registries,
    };
    assemble(path, top, parsed)
}

/// The snapshot in one pass over the file, its repositories parsed on other threads
/// as the pass finds them. `None` when the file's top is in any way unusual (other
/// than `{"version": 1, "generated_at": …, "registries": [{"account": …, "region": …,
/// "repositories": […]}, …]}` in any order, without escapes in keys), which
/// [`in_two_passes`] then reads, with its exact errors.
pub(super) fn streaming(path: &str, bytes: &[u8]) -> Option<Result<Snapshot, SnapshotError>> {
    let (top, parsed) = parse_while_reading(path, bytes, |send| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let top = StreamedTop { send }.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(top)
    });
    Some(assemble(path, top?, parsed))
}

/// A repository parsed and checked on its own.
pub(super) type Parsed = Result<(SnapshotRepository, Option<Problem>), SnapshotError>;

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
pub(super) struct Top {
    generated_at: Option<DateTime<Utc>>,
    registries: Vec<TopRegistry>,
}

/// The snapshot from its top and its repositories in file order, checked. A syntax
/// error in any repository comes before any other problem.
pub(super) fn assemble(
    path: &str,
    top: Top,
    parsed: Vec<Parsed>,
) -> Result<Snapshot, SnapshotError> {
    let mut parsed = parsed.into_iter();
    let mut problems = Vec::with_capacity(parsed.len());
    let mut registries = Vec::with_capacity(top.registries.len());
    for r in top.registries {
        let mut repositories = Vec::with_capacity(r.count);
        for _ in 0..r.count {
            let (repo, problem) = parsed.next().expect("one result per repository")?;
            repositories.push(repo);
            problems.push(problem);
        }
        let mut registry = SnapshotRegistry::at(r.location);
        registry.repositories = repositories;
        registry.replication = r.replication;
        registry.pull_through_cache_rules = r.pull_through_cache_rules;
        registries.push(registry);
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
pub(super) struct StreamedTop<'s, 'a> {
    pub(super) send: &'s mut dyn FnMut(&'a RawValue),
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
    type Value = Vec<TopRegistry>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for StreamedRegistries<'_, 'a> {
    type Value = Vec<TopRegistry>;

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
    type Value = TopRegistry;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for StreamedRegistry<'_, 'a> {
    type Value = TopRegistry;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a registry")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut account = None;
        let mut region = None;
        let mut alias = None;
        let mut count = None;
        let mut replication = None;
        let mut pull_through_cache_rules = None;
        while let Some(key) = map.next_key::<&'a str>()? {
            match key {
                "account" if account.is_none() => account = Some(map.next_value()?),
                "region" if region.is_none() => region = Some(map.next_value()?),
                "public_alias" if alias.is_none() => alias = Some(map.next_value()?),
                "replication" if replication.is_none() => replication = Some(map.next_value()?),
                "pull_through_cache_rules" if pull_through_cache_rules.is_none() => {
                    pull_through_cache_rules = Some(map.next_value()?);
                }
                "repositories" if count.is_none() => {
                    count = Some(map.next_value_seed(StreamedRepositories {
                        send: &mut *self.send,
                    })?);
                }
                _ => return Err(A::Error::custom("not the common form")),
            }
        }
        match (account, count) {
            (Some(account), Some(count)) => {
                super::location_of(&account, region.as_ref(), alias.as_ref())
                    .map(|location| TopRegistry {
                        location,
                        count,
                        replication: replication.unwrap_or_default(),
                        pull_through_cache_rules: pull_through_cache_rules.unwrap_or_default(),
                    })
                    .map_err(|_| A::Error::custom("not the common form"))
            }
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{image, images, snapshot};
    use super::super::parse;
    use super::*;

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
}
