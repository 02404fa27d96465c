//! `plan` written as it is made: the JSON document (to a writer, and with `--out` to
//! the saved plan) is written a group of repositories at a time, so a run holds one
//! group's observed state and plans, never the whole plan. The bytes are those of
//! the plan collected and then serialized (the JSON renderer, [`super::plan::save`]):
//! the fields before `repositories` are known at the start, those after it at the end.
//! The saved plan's checksum is over canonical JSON, keys sorted, where `api_calls`
//! (known at the end) comes before `repositories`: the canonical form of the
//! repositories goes to a temporary file, hashed once the run is done.

use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::Source;
use super::plan::{PlanError, PlanOutcome, PlanRequest};
use super::run::{self, RunError};
use crate::config::DesiredState;
use crate::plan::{RepositoryPlan, RepositoryStatus, saved};

/// What a streamed plan keeps once written: the document without its repositories
/// (warnings, summary, forecast, counters), and the repositories that could not be
/// read.
#[derive(Debug)]
pub struct Streamed {
    /// The document; `plan.repositories` is empty.
    pub outcome: PlanOutcome,
    /// Each repository that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

impl Streamed {
    /// The error of a plan with repositories that could not be read, if any.
    pub fn unreadable_error(&self) -> Option<PlanError> {
        (!self.unreadable.is_empty()).then(|| PlanError::Unreadable(self.unreadable.clone()))
    }
}

/// Why a streamed plan stopped: the plan's error, or the writer's (the document
/// written so far is then incomplete).
#[derive(Debug)]
pub enum StreamError {
    /// The plan could not be made or saved.
    Plan(PlanError),
    /// `out` could not be written.
    Write(io::Error),
}

impl From<PlanError> for StreamError {
    fn from(e: PlanError) -> Self {
        Self::Plan(e)
    }
}

/// Where the top-level `repositories` array sits in the pretty document: the only
/// line at the first level of indentation with that key.
const REPOSITORIES: &str = "\n  \"repositories\": [],";

/// The pretty document `outcome` (whose repositories are empty) up to the value of
/// `repositories` (`... "repositories": `), and after it (`,\n  "warnings": ...}`).
pub fn pretty_around(outcome: &PlanOutcome) -> (String, String) {
    debug_assert!(outcome.plan.repositories.is_empty());
    let text = serde_json::to_string_pretty(outcome).expect("a plan serializes");
    let at = text
        .find(REPOSITORIES)
        .expect("a plan document has repositories");
    let value = at + REPOSITORIES.len() - "[],".len();
    (
        text[..value].to_owned(),
        text[value + "[]".len()..].to_owned(),
    )
}

/// A repository's plan as an item of the pretty document's `repositories`, with what
/// comes before it (the array's opening for the `first`, else a comma).
pub fn pretty_repository(r: &RepositoryPlan, first: bool) -> String {
    let pretty = serde_json::to_string_pretty(r).expect("a plan serializes");
    // JSON strings hold no raw line break: each one starts a line to indent.
    let item = pretty.replace('\n', "\n    ");
    format!("{}{item}", if first { "[\n    " } else { ",\n    " })
}

/// What closes the pretty document's `repositories` after `written` of them.
pub fn pretty_end(written: usize) -> &'static str {
    if written == 0 { "[]" } else { "\n  ]" }
}

/// The saved plan being written: its pretty document and the canonical form of its
/// repositories, in temporary files until the end.
struct Saved {
    path: PathBuf,
    pretty: io::BufWriter<std::fs::File>,
    canonical: io::BufWriter<std::fs::File>,
}

impl Saved {
    fn create(path: &Path) -> io::Result<Self> {
        let dir = crate::files::folder_of(path)?;
        let file = || tempfile::tempfile_in(dir).map(|f| io::BufWriter::with_capacity(1 << 16, f));
        Ok(Self {
            path: path.to_owned(),
            pretty: file()?,
            canonical: file()?,
        })
    }

    /// Seals and writes the file (atomically): the document with its checksum, last.
    fn finish(self, outcome: &PlanOutcome) -> io::Result<()> {
        let (before, after) = saved::canonical_around(outcome, "repositories");
        let mut hasher = crate::hash::Hasher::new();
        hasher.update(&before).update(b"[");
        let mut canonical = self.canonical.into_inner().map_err(|e| e.into_error())?;
        canonical.rewind()?;
        copy_into(&mut canonical, |bytes| {
            hasher.update(bytes);
            Ok(())
        })?;
        hasher.update(b"]").update(&after);
        let sum = hasher.finish();
        let mut pretty = self.pretty.into_inner().map_err(|e| e.into_error())?;
        let length = pretty.stream_position()?;
        pretty.rewind()?;
        // The document without its closing `\n}`, then the checksum, as `seal` puts it.
        let mut body = pretty.take(length.saturating_sub(2));
        crate::files::write_atomically(&self.path, |w| {
            io::copy(&mut body, w)?;
            write!(w, ",\n  \"checksum\": {}\n}}", serde_json::to_string(&sum)?)
        })
    }
}

/// Reads `file` to its end, a block at a time, into `each`.
fn copy_into(
    file: &mut std::fs::File,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut block = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(());
        }
        each(&block[..n])?;
    }
}

/// The document being written, to `out` and the saved plan.
struct Document<'a> {
    /// Where the document goes, until a write to it fails.
    out: Option<&'a mut dyn Write>,
    saved: Option<Saved>,
    written: usize,
    unreadable: Vec<(String, String)>,
    /// The first write to `out` that failed (the saved plan is still written).
    out_failed: Option<io::Error>,
    /// The first write to the saved plan that failed.
    saved_failed: Option<io::Error>,
    /// What else takes each repository's plan (a renderer), until it fails.
    each: &'a mut dyn FnMut(&RepositoryPlan) -> io::Result<()>,
    /// Its failure.
    each_failed: Option<io::Error>,
}

impl Document<'_> {
    /// Writes `text` to `out` and the saved plan's document.
    fn both(&mut self, text: &[u8]) {
        if let Some(out) = &mut self.out
            && let Err(e) = out.write_all(text)
        {
            self.out_failed = Some(e);
            self.out = None;
        }
        self.saved_write(|s| s.pretty.write_all(text));
    }

    /// Writes to the saved plan, until a write fails.
    fn saved_write(&mut self, write: impl FnOnce(&mut Saved) -> io::Result<()>) {
        if let Some(s) = &mut self.saved
            && let Err(e) = write(s)
        {
            self.saved_failed = Some(e);
            self.saved = None;
        }
    }

    fn repository(&mut self, r: RepositoryPlan) {
        if r.status == RepositoryStatus::Unreadable {
            self.unreadable.push((
                r.repository.to_string(),
                r.read_error.clone().unwrap_or_default(),
            ));
        }
        if self.each_failed.is_none()
            && let Err(e) = (self.each)(&r)
        {
            self.each_failed = Some(e);
        }
        let first = self.written == 0;
        if self.out.is_some() || self.saved.is_some() {
            self.both(pretty_repository(&r, first).as_bytes());
        }
        if self.saved.is_some() {
            let canonical = saved::canonical_bytes(&r);
            self.saved_write(|s| {
                s.canonical.write_all(if first { b"" } else { b"," })?;
                s.canonical.write_all(&canonical)
            });
        }
        self.written += 1;
    }
}

/// Plans every declared repository against `source`, writing the plan document (as
/// the JSON renderer would: pretty, a final newline) to `json` as the repositories are
/// planned, and, with `request.out`, the saved plan, and giving each repository's
/// plan to `each` (a renderer of another format); returns what the end needs.
pub fn plan<'a>(
    source: &Source,
    desired: &DesiredState,
    request: &PlanRequest,
    json: Option<&'a mut dyn Write>,
    each: &'a mut dyn FnMut(&RepositoryPlan) -> io::Result<()>,
) -> Result<Streamed, StreamError> {
    let started = std::time::Instant::now();
    let mut settings = source.settings(source.now(request.now), request.allow_empty);
    settings.forecast = request.forecast.clone();
    let save_error = |path: &Path, source: io::Error| PlanError::Save {
        path: path.to_owned(),
        source,
    };
    let saved = match &request.out {
        Some(path) => Some(Saved::create(path).map_err(|e| save_error(path, e))?),
        None => None,
    };
    let head = PlanOutcome::new(
        run::plan_head(desired, &settings),
        Default::default(),
        Default::default(),
    );
    let mut document = Document {
        out: json,
        saved,
        written: 0,
        unreadable: Vec::new(),
        out_failed: None,
        saved_failed: None,
        each,
        each_failed: None,
    };
    document.both(pretty_around(&head).0.as_bytes());
    let (plan, in_use) = source
        .block_on(async {
            let in_use = run::read_in_use(desired, &settings).await?;
            let plan =
                run::plan_streaming(&source.backend, desired, &settings, &in_use, &mut |r| {
                    document.repository(r)
                })
                .await?;
            Ok::<_, RunError>((plan, in_use))
        })
        .map_err(PlanError::from)?;
    let outcome = PlanOutcome::new(plan, source.calls(), in_use.calls);
    document.both(pretty_end(document.written).as_bytes());
    let tail = pretty_around(&outcome).1;
    document.both(tail.as_bytes());
    if let Some(out) = &mut document.out
        && let Err(e) = out.write_all(b"\n").and_then(|()| out.flush())
    {
        document.out_failed = Some(e);
    }
    tracing::info!(elapsed = ?started.elapsed(), "planned {} repositories", document.written);
    source.log_calls();
    if let Some(path) = &request.out {
        match (document.saved_failed, document.saved) {
            (Some(e), _) => return Err(save_error(path, e).into()),
            (None, Some(s)) => s.finish(&outcome).map_err(|e| save_error(path, e))?,
            (None, None) => {}
        }
    }
    if let Some(e) = document.each_failed {
        return Err(StreamError::Write(e));
    }
    // A reader that stops early (`| head`) is not an error.
    if let Some(e) = document.out_failed
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(StreamError::Write(e));
    }
    Ok(Streamed {
        outcome,
        unreadable: document.unreadable,
    })
}
