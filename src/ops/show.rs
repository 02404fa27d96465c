//! `show` of saved plans in bounded memory: each file is read streaming, its
//! repositories put aside (in canonical JSON) in a temporary file while the rest of
//! the document is kept, its checksum verified over both; the plans of several shards
//! are checked as [`super::shard::merge`] checks them. The repositories are then given
//! one at a time, in declaration order, so memory follows one repository and the
//! plan's small fields, not the plan.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::plan::PlanOutcome;
use super::shard::{self, MergeError, ShardPlan, Whole};
use super::verify::VerifyError;
use crate::plan::RepositoryPlan;
use crate::plan::saved::{self, SavedPlanError};

/// The top-level field whose elements are put aside.
const REPOSITORIES: &str = "repositories";

/// Why saved plans are not shown. Nothing is shown but the error, except for an
/// error met while the repositories are given (`Output`, or a repository that is not
/// one: [`VerifyError::Invalid`] with [`SavedPlanError::Shape`]).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ShowError {
    /// A file is not a saved plan of this format, or was edited (as `apply --plan`
    /// says it).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Saved(#[from] VerifyError),
    /// The files are not the shards of one plan.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Merge(#[from] MergeError),
    /// The temporary file that holds the repositories could not be written or read.
    #[error("cannot keep the saved plans' repositories in a temporary file: {0}")]
    #[diagnostic(code(show::spool))]
    Spool(#[source] io::Error),
    /// What was given a repository failed (writing the plan out).
    #[error("cannot write the plan: {0}")]
    #[diagnostic(code(show::output))]
    Output(#[source] io::Error),
}

/// One file's repositories, put aside: their canonical JSON joined by `,`.
struct Spool {
    /// The file they come from.
    path: PathBuf,
    file: File,
    /// The length of each repository's JSON, in order.
    lengths: Vec<u64>,
}

/// Saved plans read and checked, their repositories put aside in temporary files.
pub struct Opened {
    outcome: PlanOutcome,
    /// In shard order for several files.
    spools: Vec<Spool>,
    /// For several files: the spool of each declared position.
    owners: Option<Vec<usize>>,
}

/// Reads `files` (`(file as shown, path)`: one saved plan, or the N shards of one plan
/// in any order), streaming: each file's checksum is verified and its repositories
/// put aside; several files are checked to be the shards of one plan, as
/// [`shard::merge`] checks them. Every repository is read once more here, to find a
/// repository that is not one before anything is shown (and, for shards, to total
/// them): one at a time.
pub fn open(files: &[(String, PathBuf)]) -> Result<Opened, ShowError> {
    let mut read = Vec::with_capacity(files.len());
    for (shown, path) in files {
        let (outcome, spool) = read_file(path)?;
        read.push((shown.clone(), outcome, spool));
    }
    if read.len() == 1 {
        let (_, outcome, spool) = read.pop().expect("one");
        let spools = vec![spool];
        walk(&spools, None, &mut |_, _, _| Ok(()))?;
        return Ok(Opened {
            outcome,
            spools,
            owners: None,
        });
    }
    let shards = shard::check_shards(read)?;
    let owners = shard::place(&shards, |s: &Spool| s.lengths.len())?;
    let (mut spools, mut parts) = (Vec::new(), Vec::new());
    for s in shards {
        spools.push(s.repositories);
        parts.push(ShardPlan {
            file: s.file,
            info: s.info,
            outcome: s.outcome,
            repositories: (),
        });
    }
    let mut whole = Whole::new(parts.len());
    walk(&spools, Some(&owners), &mut |owner, position, r| {
        whole.add(owner, position, &r);
        Ok(())
    })?;
    Ok(Opened {
        outcome: whole.finish(parts),
        spools,
        owners: Some(owners),
    })
}

impl Opened {
    /// The document without its repositories (`plan.repositories` empty), as
    /// [`super::verify::read_saved`] (one file) or [`shard::merge`] (shards) gives it
    /// once its repositories are taken out.
    pub fn outcome(&self) -> &PlanOutcome {
        &self.outcome
    }

    /// Gives every repository's plan in declaration order, one at a time; stops at
    /// the first error of `each`.
    pub fn for_each(
        self,
        each: &mut dyn FnMut(RepositoryPlan) -> io::Result<()>,
    ) -> Result<(), ShowError> {
        walk(&self.spools, self.owners.as_deref(), &mut |_, _, r| {
            each(r).map_err(ShowError::Output)
        })
    }
}

/// Gives `each` every repository (its spool, its declared position, its plan) in
/// declaration order: `owners` says whose each position is; none for one file.
fn walk(
    spools: &[Spool],
    owners: Option<&[usize]>,
    each: &mut dyn FnMut(usize, usize, RepositoryPlan) -> Result<(), ShowError>,
) -> Result<(), ShowError> {
    let mut readers = Vec::with_capacity(spools.len());
    for s in spools {
        (&s.file).rewind().map_err(ShowError::Spool)?;
        readers.push((BufReader::with_capacity(1 << 16, &s.file), 0));
    }
    let total = owners.map_or_else(|| spools.first().map_or(0, |s| s.lengths.len()), <[_]>::len);
    let mut record = Vec::new();
    for position in 0..total {
        let owner = owners.map_or(0, |o| o[position]);
        let (spool, (reader, next)) = (&spools[owner], &mut readers[owner]);
        let length = usize::try_from(spool.lengths[*next]).expect("a repository fits in memory");
        record.resize(length, 0);
        reader.read_exact(&mut record).map_err(ShowError::Spool)?;
        *next += 1;
        if *next < spool.lengths.len() {
            reader.read_exact(&mut [0]).map_err(ShowError::Spool)?; // the `,`
        }
        let r = serde_json::from_slice(&record).map_err(|e| invalid(&spool.path, shape(&e)))?;
        each(owner, position, r)?;
    }
    Ok(())
}

fn shape(e: &serde_json::Error) -> SavedPlanError {
    SavedPlanError::Shape(crate::text::without_position(&e.to_string()))
}

fn invalid(path: &Path, error: SavedPlanError) -> ShowError {
    ShowError::Saved(VerifyError::Invalid {
        path: path.to_owned(),
        error,
    })
}

/// Reads one saved plan streaming, with the refusals of [`saved::unseal`] in its
/// order: the plan without its repositories, and the repositories put aside.
fn read_file(path: &Path) -> Result<(PlanOutcome, Spool), ShowError> {
    let unreadable = |source| {
        ShowError::Saved(VerifyError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut out =
        io::BufWriter::with_capacity(1 << 16, tempfile::tempfile().map_err(ShowError::Spool)?);
    let mut lengths = Vec::new();
    let mut failed = None;
    let mut input = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, file));
    let parsed = Document {
        out: Writing {
            out: &mut out,
            lengths: &mut lengths,
            failed: &mut failed,
        },
    }
    .deserialize(&mut input)
    .and_then(|parsed| input.end().map(|()| parsed));
    if let Some(e) = failed {
        return Err(ShowError::Spool(e));
    }
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e) if e.is_io() => return Err(unreadable(e.into())),
        Err(e) => return Err(invalid(path, saved::syntax(&e))),
    };
    let spooled = parsed.as_ref().is_some_and(|p| p.spooled);
    let mut document = Value::Object(parsed.map(|p| p.fields).unwrap_or_default());
    let file = out
        .into_inner()
        .map_err(|e| ShowError::Spool(e.into_error()))?;
    let sealed = saved::sealed_checksum(&document).map_err(|e| invalid(path, e))?;
    let sum = if spooled {
        saved::checksum_around(&document, REPOSITORIES, |hasher| {
            hasher.update(b"[");
            copy_into(&file, |bytes| {
                hasher.update(bytes);
            })?;
            hasher.update(b"]");
            Ok(())
        })
        .map_err(ShowError::Spool)?
    } else {
        saved::checksum(&document)
    };
    if sealed != sum {
        return Err(invalid(path, SavedPlanError::Edited));
    }
    if spooled {
        document[REPOSITORIES] = Value::Array(Vec::new());
    }
    let outcome = saved::from_document(document).map_err(|e| invalid(path, e))?;
    let spool = Spool {
        path: path.to_owned(),
        file,
        lengths,
    };
    Ok((outcome, spool))
}

/// Reads `file` from its start to its end, a block at a time, into `each`.
fn copy_into(mut file: &File, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    file.rewind()?;
    let mut block = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(());
        }
        each(&block[..n]);
    }
}

/// Where the repositories go as they are read.
struct Writing<'a> {
    out: &'a mut io::BufWriter<File>,
    lengths: &'a mut Vec<u64>,
    /// The first write that failed (the parse is stopped with a placeholder error).
    failed: &'a mut Option<io::Error>,
}

/// A saved plan document read with its repositories put aside: `None` when it is not
/// a JSON object.
struct Document<'a> {
    out: Writing<'a>,
}

/// The document's other fields, `repositories` a placeholder when put aside.
struct Parsed {
    fields: Map<String, Value>,
    spooled: bool,
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = Option<Parsed>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = Option<Parsed>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a saved plan")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = self.out;
        let (mut fields, mut spooled) = (Map::new(), false);
        while let Some(key) = map.next_key::<String>()? {
            if key != REPOSITORIES {
                fields.insert(key, map.next_value()?);
                continue;
            }
            if spooled {
                return Err(de::Error::duplicate_field(REPOSITORIES));
            }
            let value = map.next_value_seed(Repositories { out: &mut out })?;
            spooled = value.is_none();
            fields.insert(key, value.unwrap_or(Value::Null));
        }
        Ok(Some(Parsed { fields, spooled }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The value of `repositories`: an array is put aside, element by element (`None`);
/// anything else is kept as it is, for the checks to refuse.
struct Repositories<'a, 'b> {
    out: &'a mut Writing<'b>,
}

impl Repositories<'_, '_> {
    fn write(&mut self, value: &Value) -> io::Result<()> {
        let bytes = saved::canonical_json(value);
        if !self.out.lengths.is_empty() {
            self.out.out.write_all(b",")?;
        }
        self.out.out.write_all(&bytes)?;
        self.out.lengths.push(bytes.len() as u64);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Repositories<'_, '_> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Repositories<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the plan's repositories")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if let Err(e) = self.write(&value) {
                *self.out.failed = Some(e);
                return Err(de::Error::custom("the temporary file failed"));
            }
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }
}

#[cfg(test)]
mod tests;
