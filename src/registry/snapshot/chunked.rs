//! Reading a snapshot of the common form from a file a chunk at a time, so the file
//! is never held in memory whole: a snapshot of a million images with their
//! manifests is over a gigabyte of JSON, and holding it beside what it parses into
//! doubled a plan's peak memory (and its time, spent faulting in fresh pages).
//!
//! A small scanner follows the file's structure (strings, escapes, brackets, the
//! keys of the snapshot and of its registries) and cuts out each element of each
//! `repositories` array, which other threads parse as it is found. What is left,
//! the top with each repository replaced by `0`, is a few bytes that the streaming
//! reader of [`parse`](super::parse) reads. Anything unexpected (a repository that
//! does not parse, a top that is not the common form, an escape in a key) gives up:
//! the caller then reads the whole file with the parser that reports exact places.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use serde::de::DeserializeSeed;

use super::check::check_repository;
use super::parse::{Parsed, StreamedTop, assemble};
use super::{Snapshot, SnapshotError, SnapshotRepository};

/// The bytes read from the file at a time.
const CHUNK: usize = 4 << 20;

/// The containers open outside the repositories, as far as the scanner knows them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// The snapshot's object.
    Top,
    /// Its `registries` array.
    Registries,
    /// A registry's object.
    Registry,
    /// A registry's `repositories` array.
    Repositories,
    /// Any other object or array (replication rules, ...).
    Other,
}

/// Where the scanner is inside one repository (an element of `repositories`).
struct InRepository {
    /// Where it starts in the file.
    start: u64,
    /// Its bytes so far.
    bytes: Vec<u8>,
    /// Braces open (outside strings).
    depth: usize,
    in_string: bool,
    escape: bool,
}

/// The scanner's state between chunks.
#[derive(Default)]
struct Scanner {
    stack: Vec<Ctx>,
    /// The top with every repository replaced by `0`.
    skeleton: Vec<u8>,
    in_string: bool,
    escape: bool,
    /// The string being read is a key of the snapshot or of a registry.
    in_key: bool,
    /// The next string of the innermost object is a key.
    expect_key: bool,
    /// The last key of the innermost object.
    key: Vec<u8>,
    repository: Option<InRepository>,
    /// Something unexpected: the common form's reader gives up.
    gave_up: bool,
    /// Where the chunk being scanned starts in the file.
    base: u64,
}

impl Scanner {
    /// Scans `chunk`, calling `found` with each repository completed in it and
    /// where it starts in the file.
    fn scan(&mut self, chunk: &[u8], found: &mut impl FnMut(Vec<u8>, u64)) {
        let base = self.base;
        self.base += chunk.len() as u64;
        let mut i = 0;
        while i < chunk.len() && !self.gave_up {
            if let Some(r) = &mut self.repository {
                match r.scan(chunk, i) {
                    Ok(end) => {
                        let mut done = self.repository.take().expect("in a repository");
                        done.bytes.extend_from_slice(&chunk[i..end]);
                        found(done.bytes, done.start);
                        i = end;
                    }
                    Err(()) => {
                        r.bytes.extend_from_slice(&chunk[i..]);
                        return;
                    }
                }
            } else {
                self.outside(chunk[i]);
                if let Some(r) = &mut self.repository {
                    r.start = base + i as u64;
                }
                i += 1;
            }
        }
    }

    /// One byte outside any repository.
    fn outside(&mut self, b: u8) {
        if self.in_string {
            self.skeleton.push(b);
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                // A key with an escape is left to the general reader.
                self.gave_up |= self.in_key;
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                self.in_key = false;
            } else if self.in_key {
                self.key.push(b);
            }
            return;
        }
        let top = self.stack.last().copied();
        if top == Some(Ctx::Repositories) {
            match b {
                b'{' => {
                    self.skeleton.push(b'0');
                    self.repository = Some(InRepository {
                        start: 0,
                        bytes: vec![b'{'],
                        depth: 1,
                        in_string: false,
                        escape: false,
                    });
                    return;
                }
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' => {}
                // Only objects are repositories: the common form has nothing else.
                _ => {
                    self.gave_up = true;
                    return;
                }
            }
        }
        self.skeleton.push(b);
        match b {
            b'"' => {
                self.in_string = true;
                self.in_key = self.expect_key && matches!(top, Some(Ctx::Top | Ctx::Registry));
                if self.in_key {
                    self.key.clear();
                }
            }
            b':' => self.expect_key = false,
            b',' => self.expect_key = true,
            b'{' | b'[' => {
                let inner = match (top, b, self.key.as_slice()) {
                    (None, b'{', _) => Ctx::Top,
                    (Some(Ctx::Top), b'[', b"registries") => Ctx::Registries,
                    (Some(Ctx::Registries), b'{', _) => Ctx::Registry,
                    (Some(Ctx::Registry), b'[', b"repositories") => Ctx::Repositories,
                    (None, ..) => {
                        self.gave_up = true;
                        return;
                    }
                    _ => Ctx::Other,
                };
                self.stack.push(inner);
                self.expect_key = b == b'{';
                self.key.clear();
            }
            b'}' | b']' => {
                self.stack.pop();
                self.expect_key = false;
            }
            _ => {}
        }
    }
}

impl InRepository {
    /// Scans `chunk` from `i`: `Ok` with the position just past the repository's
    /// closing brace, or `Err` when it goes on past the chunk.
    fn scan(&mut self, chunk: &[u8], mut i: usize) -> Result<usize, ()> {
        while i < chunk.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                let Some(p) = memchr::memchr2(b'"', b'\\', &chunk[i..]) else {
                    return Err(());
                };
                let j = i + p;
                if chunk[j] == b'\\' {
                    self.escape = true;
                } else {
                    self.in_string = false;
                }
                i = j + 1;
            } else {
                let Some(p) = memchr::memchr3(b'"', b'{', b'}', &chunk[i..]) else {
                    return Err(());
                };
                let j = i + p;
                match chunk[j] {
                    b'"' => self.in_string = true,
                    b'{' => self.depth += 1,
                    _ => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                }
                i = j + 1;
            }
        }
        Err(())
    }
}

/// One repository's JSON parsed and checked on its own; `None` when it does not
/// parse (the general reader says where).
fn parse_one(
    bytes: &[u8],
    keep_images: bool,
) -> Option<(SnapshotRepository, Option<super::check::Problem>)> {
    let mut repo = parse_repository(bytes)?;
    let problem = check_repository(&repo).err();
    if !keep_images {
        repo.images = Vec::new();
    }
    Some((repo, problem))
}

/// One repository's JSON parsed, unchecked.
pub(super) fn parse_repository(bytes: &[u8]) -> Option<SnapshotRepository> {
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::from_str::<SnapshotRepository>(text).ok()
}

/// The snapshot read from `file` a chunk at a time, its repositories parsed on other
/// threads meanwhile; `Ok(None)` when the file is not of the common form or has an
/// error (the caller then reads it whole, and says where); `Err` when it cannot be
/// read.
pub(super) fn read(
    path: &str,
    file: impl Read,
) -> std::io::Result<Option<Result<Snapshot, SnapshotError>>> {
    Ok(read_in(path, file, CHUNK, true)?.map(|r| r.map(|(s, _)| s)))
}

/// Where each repository lies in the file (offset, length), in the order of the
/// snapshot's registries and of their repositories.
pub(super) type Ranges = Vec<(u64, u64)>;

/// [`read`], but the images are dropped once each repository is parsed and checked:
/// the snapshot holds its registries and repositories without images, and where each
/// repository lies in the file, to be parsed again when it is needed.
pub(super) fn read_indexed(
    path: &str,
    file: impl Read,
) -> std::io::Result<Option<Result<(Snapshot, Ranges), SnapshotError>>> {
    read_in(path, file, CHUNK, false)
}

/// [`read`], `chunk` bytes at a time, keeping the images or not.
// Long function: the scanning thread and the parsers share its locals.
fn read_in(
    path: &str,
    mut file: impl Read,
    chunk: usize,
    keep_images: bool,
) -> std::io::Result<Option<Result<(Snapshot, Ranges), SnapshotError>>> {
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(2, 8)
        - 1;
    // Few repositories wait for a parser: the memory they hold stays small.
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(helpers * 2);
    let rx = std::sync::Mutex::new(rx);
    let failed = AtomicBool::new(false);
    type Done = Vec<(
        usize,
        Option<(SnapshotRepository, Option<super::check::Problem>)>,
    )>;
    let work = || -> Done {
        let mut done = Vec::new();
        loop {
            let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
            let Ok((i, bytes)) = next else {
                return done;
            };
            let parsed = parse_one(&bytes, keep_images);
            failed.fetch_or(parsed.is_none(), Ordering::Relaxed);
            done.push((i, parsed));
        }
    };
    let (scanner, sent, done) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
        let mut scanner = Scanner::default();
        let mut sent = 0;
        let mut ranges = Ranges::new();
        // What this thread parses itself while every parser is busy.
        let mut own: Done = Vec::new();
        let mut buf = vec![0u8; chunk];
        let mut outcome = Ok(());
        while !scanner.gave_up && !failed.load(Ordering::Relaxed) {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            scanner.scan(&buf[..n], &mut |bytes, start| {
                ranges.push((start, bytes.len() as u64));
                match tx.try_send((sent, bytes)) {
                    Ok(()) => {}
                    Err(
                        mpsc::TrySendError::Full((i, bytes))
                        | mpsc::TrySendError::Disconnected((i, bytes)),
                    ) => {
                        let parsed = parse_one(&bytes, keep_images);
                        failed.fetch_or(parsed.is_none(), Ordering::Relaxed);
                        own.push((i, parsed));
                    }
                }
                sent += 1;
            });
        }
        drop(tx);
        own.extend(work());
        for h in handles {
            own.extend(h.join().expect("a parser thread does not panic"));
        }
        (outcome.map(|()| (scanner, ranges)), sent, own)
    });
    let (scanner, ranges) = scanner?;
    if scanner.gave_up
        || failed.load(Ordering::Relaxed)
        || scanner.repository.is_some()
        || !scanner.stack.is_empty()
    {
        return Ok(None);
    }
    // The top, read by the streaming reader: every repository it meets must be one
    // cut out here, in the same order.
    let mut met = 0;
    let mut other = false;
    let mut de = serde_json::Deserializer::from_slice(&scanner.skeleton);
    let top = StreamedTop {
        send: &mut |raw| {
            other |= raw.get() != "0";
            met += 1;
        },
    }
    .deserialize(&mut de)
    .ok()
    .filter(|_| de.end().is_ok());
    let Some(top) = top.filter(|_| !other && met == sent) else {
        return Ok(None);
    };
    let mut parsed: Vec<Option<Parsed>> = (0..sent).map(|_| None).collect();
    for (i, p) in done {
        parsed[i] = p.map(Ok);
    }
    let Some(parsed) = parsed.into_iter().collect::<Option<Vec<Parsed>>>() else {
        return Ok(None);
    };
    Ok(Some(assemble(path, top, parsed).map(|s| (s, ranges))))
}

#[cfg(test)]
mod tests;
