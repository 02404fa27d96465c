//! A model whose images stay in the snapshot file until they are read: each
//! repository's JSON is parsed when a call first needs it, and the images of the
//! repositories read longest ago are dropped once more than a few groups' worth are
//! held (a later call parses them again). Every call is answered and counted as by
//! the model holding everything: only when the images are in memory differs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

use super::{InMemoryRegistry, State, StoredImage};
use crate::model::{RepositoryName, RepositoryRef};
use crate::registry::RegistryError;

/// Parses one repository's JSON as the snapshot holds it: its name and its images;
/// `None` when it does not parse.
pub type ParseRepository = fn(&[u8]) -> Option<(RepositoryName, Vec<StoredImage>)>;

/// Where each repository's images are, and which are held.
#[derive(Debug)]
pub(super) struct OnDemand {
    path: PathBuf,
    parse: ParseRepository,
    ranges: HashMap<RepositoryRef, (u64, u64)>,
    /// At most this many repositories' images are held.
    keep: usize,
    held: Mutex<Held>,
}

#[derive(Debug)]
struct Held {
    file: std::fs::File,
    /// In the order they were read.
    order: VecDeque<RepositoryRef>,
    set: HashSet<RepositoryRef>,
}

impl InMemoryRegistry {
    /// Reads the images of the repositories of `ranges` from the snapshot at `path`
    /// when a call needs them (the model holds the repositories without images), with
    /// `parse`, holding those of at most `keep` repositories at once.
    pub fn read_on_demand(
        &mut self,
        path: PathBuf,
        ranges: HashMap<RepositoryRef, (u64, u64)>,
        keep: usize,
        parse: ParseRepository,
    ) -> std::io::Result<()> {
        let file = std::fs::File::open(&path)?;
        self.on_demand = Some(OnDemand {
            path,
            parse,
            ranges,
            keep: keep.max(1),
            held: Mutex::new(Held {
                file,
                order: VecDeque::new(),
                set: HashSet::new(),
            }),
        });
        Ok(())
    }

    /// Loads the images of `repo` if they are in the file and not held.
    pub(super) fn ensure(&self, repo: &RepositoryRef) -> Result<(), RegistryError> {
        match &self.on_demand {
            Some(d) => d.ensure(repo, &self.state),
            None => Ok(()),
        }
    }
}

impl OnDemand {
    fn ensure(&self, repo: &RepositoryRef, state: &Mutex<State>) -> Result<(), RegistryError> {
        let Some(&(start, len)) = self.ranges.get(repo) else {
            return Ok(());
        };
        // Held while loading: two calls for one repository load it once.
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.set.contains(repo) {
            return Ok(());
        }
        let changed = |why: String| {
            RegistryError::Surprising(format!(
                "the snapshot {} changed since it was read ({why})",
                self.path.display()
            ))
        };
        let mut bytes = vec![0; usize::try_from(len).map_err(|e| changed(e.to_string()))?];
        held.file
            .seek(SeekFrom::Start(start))
            .and_then(|_| held.file.read_exact(&mut bytes))
            .map_err(|e| changed(e.to_string()))?;
        let (_, images) = (self.parse)(&bytes)
            .filter(|(name, _)| *name == repo.name)
            .ok_or_else(|| changed(format!("{} is not where it was", repo.name)))?;
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.repo_mut(repo).images = images;
        held.order.push_back(repo.clone());
        held.set.insert(repo.clone());
        while held.order.len() > self.keep {
            let Some(old) = held.order.pop_front() else {
                break;
            };
            held.set.remove(&old);
            if let Some(r) = state.repos.get_mut(&old) {
                r.images = Vec::new();
            }
        }
        Ok(())
    }
}
