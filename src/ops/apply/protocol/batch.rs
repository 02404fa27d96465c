//! One request of a wave: confirm (and read the manifests), withhold what restore
//! could not undo, re-derive the survivors, journal, remove, and tally the answer.

use std::collections::{HashMap, HashSet};

use super::super::confirm::{
    Change, Decision, ManifestRead, View, add_subjects, decide, new_tags, read_current,
    read_manifests, stays,
};
use super::super::steps::Step;
use super::entries::planned_entries;
use super::survivors::{Survivors, take_needed};
use super::{BatchContext, BatchOutcome, Failure, ProtocolError, Skipped, UPSTREAM_RETRIES};
use crate::model::Digest;
use crate::ops::report::ToolCode;
use crate::plan::{Action, ActionKind, signature_subject};
use crate::registry::observe::index_children;
use crate::registry::{FailureCode, ImageId, MAX_IDS_PER_BATCH, Registry, RegistryError};

impl<R: Registry> BatchContext<'_, '_, R> {
    fn registry_error(&self, error: RegistryError) -> ProtocolError {
        ProtocolError::Registry {
            repository: self.label.to_owned(),
            error,
        }
    }

    fn skip(&self, out: &mut BatchOutcome, s: &Step, change: Change<'_>) {
        out.report.skipped.push(Skipped::new(
            &self.repo.repository,
            &s.digest,
            s.tag(),
            change.reason(),
        ));
    }

    /// One request: confirm and read manifests, re-derive, journal, remove, check.
    pub(super) async fn run(&self, batch: Vec<Step>) -> BatchOutcome {
        let mut out = BatchOutcome::default();
        let shared = self.shared;
        if shared.cancel.is_cancelled() {
            out.report.not_started += batch.len();
            return out;
        }
        let reference = &self.repo.repository;
        let mut ids: Vec<ImageId> = batch.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        let mut digests: Vec<ImageId> = batch
            .iter()
            .map(|s| ImageId::Digest(s.digest.clone()))
            .collect();
        digests.dedup();
        // Independent reads, side by side.
        let (current, manifests) = tokio::join!(
            shared.call(read_current(shared.registry, reference, &ids)),
            shared.call(read_manifests(shared.registry, reference, &digests)),
        );
        let mut current = match current {
            Ok(images) => images,
            Err(e) => {
                out.error = Some(self.registry_error(e));
                return out;
            }
        };
        add_subjects(&mut current, &manifests);
        let view = View::new(&current);
        let total = batch.len();
        let mut touched: Vec<usize> = batch.iter().map(|s| s.action).collect();
        touched.dedup();
        let mut kept = Vec::with_capacity(total);
        for s in batch {
            let action = &self.repo.actions[s.action];
            match decide(&s, action, &view) {
                Decision::Send => kept.push(s),
                Decision::Gone => out.report.already_gone += 1,
                Decision::Skip(change) => self.skip(&mut out, &s, change),
            }
        }
        let mut kept = match self.drop_gone_unread(&mut out, kept, &manifests).await {
            Ok(kept) => kept,
            Err(e) => {
                out.error = Some(self.registry_error(e));
                return out;
            }
        };
        let withheld = if shared.options.allow_unrestorable {
            Vec::new()
        } else {
            self.withhold_unrestorable(&mut out, &mut kept, &manifests)
        };
        let kept = match self
            .keep_needed(&mut out, kept, &touched, &withheld, &view, &manifests)
            .await
        {
            Ok(kept) => kept,
            Err(e) => {
                out.error = Some(self.registry_error(e));
                return out;
            }
        };
        shared.progress.advance(total - kept.len());
        if kept.is_empty() {
            return out;
        }
        if shared.cancel.is_cancelled() {
            out.report.not_started += kept.len();
            return out;
        }
        let entries = planned_entries(self.repo, &kept, &manifests, shared.options.now);
        if let Err(e) = shared.record(&entries) {
            out.error = Some(e);
            return out;
        }
        if let Err(e) = self.remove(&mut out, kept, &manifests).await {
            out.error = Some(e);
        }
        out
    }

    /// Reads again the images of `kept` whose manifest could not be read: one removed
    /// since the confirmation (by another apply, say, between the two reads of this
    /// request) is already gone, not a removal left undone for want of its manifest.
    async fn drop_gone_unread(
        &self,
        out: &mut BatchOutcome,
        mut kept: Vec<Step>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<Vec<Step>, RegistryError> {
        let unread = |s: &Step| !matches!(manifests.get(&s.digest), Some(Ok(_)));
        let mut ids: Vec<ImageId> = Vec::new();
        for s in kept.iter().filter(|s| unread(s)) {
            let id = ImageId::Digest(s.digest.clone());
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Ok(kept);
        }
        let reference = &self.repo.repository;
        let registry = self.shared.registry;
        let mut present: HashSet<Digest> = HashSet::new();
        for chunk in ids.chunks(MAX_IDS_PER_BATCH) {
            let now = self
                .shared
                .call(read_current(registry, reference, chunk))
                .await?;
            present.extend(now.into_iter().map(|i| i.digest));
        }
        kept.retain(|s| {
            let gone = unread(s) && !present.contains(&s.digest);
            if gone {
                out.report.already_gone += 1;
            }
            !gone
        });
        Ok(kept)
    }

    /// Takes out of `kept` the removals whose manifest could not be read (restore could
    /// not undo them), each a `ManifestNotSaved` failure; returns their actions.
    fn withhold_unrestorable(
        &self,
        out: &mut BatchOutcome,
        kept: &mut Vec<Step>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Vec<usize> {
        let mut withheld: Vec<usize> = Vec::new();
        kept.retain(|s| match manifests.get(&s.digest) {
            Some(Ok(_)) => true,
            other => {
                let why = match other {
                    Some(Err(why)) => why.clone(),
                    _ => "BatchGetImage returned no manifest for it".to_owned(),
                };
                out.report.fail(Failure::new(
                    &self.repo.repository,
                    Some(&s.id),
                    ToolCode::ManifestNotSaved,
                    format!(
                        "its manifest could not be saved to the journal ({why}), so restore could not undo it: not removed (--allow-unrestorable removes it anyway)"
                    ),
                ));
                withheld.push(s.action);
                false
            }
        });
        withheld
    }

    /// Re-derives the request from the confirmed state: an image planned for deletion
    /// that stays (a removal skipped, or not made) keeps what it needs, here and in
    /// later waves (`out.survivors`).
    async fn keep_needed(
        &self,
        out: &mut BatchOutcome,
        mut kept: Vec<Step>,
        touched: &[usize],
        withheld: &[usize],
        view: &View<'_>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<Vec<Step>, RegistryError> {
        let mut survivors: Survivors = self.survivors.clone();
        let add_survivor = |survivors: &mut Survivors, out: &mut BatchOutcome, d: &Digest| {
            let children = manifests
                .get(d)
                .and_then(|m| m.as_ref().ok())
                .filter(|(mt, _)| crate::model::media_type::is_index(mt))
                .and_then(|(_, m)| index_children(m).ok())
                .unwrap_or_default();
            out.survivors.push((d.clone(), children.clone()));
            survivors.insert(d.clone(), children);
        };
        // Images planned for deletion that stay: present now, with a tag the plan
        // did not see, or with removals withheld.
        for &a in touched {
            let action = &self.repo.actions[a];
            if action.kind == ActionKind::Delete
                && stays(action, withheld.contains(&a), view)
                && !survivors.contains_key(&action.digest)
            {
                add_survivor(&mut survivors, out, &action.digest);
            }
        }
        for (digest, children) in self.guard_subjects(&kept, view, &survivors).await? {
            out.survivors.push((digest.clone(), children.clone()));
            survivors.insert(digest, children);
        }
        // The closure: what a survivor needs stays, and may itself be a survivor.
        while let Some(needed) = take_needed(self.repo, &mut kept, |d| view.subject(d), &survivors)
        {
            out.report.skipped.extend(needed.skipped);
            let action = &self.repo.actions[needed.action];
            if action.kind == ActionKind::Delete && view.exists(&action.digest) {
                add_survivor(&mut survivors, out, &action.digest);
            }
        }
        Ok(kept)
    }

    /// A signature or referrer whose subject is deleted in another request: reads the
    /// subject now, and returns those that gained a tag (they stay).
    async fn guard_subjects(
        &self,
        kept: &[Step],
        view: &View<'_>,
        survivors: &Survivors,
    ) -> Result<Vec<(Digest, Vec<Digest>)>, RegistryError> {
        let in_batch: HashSet<&Digest> = kept.iter().map(|s| &s.digest).collect();
        let mut guards: Vec<ImageId> = Vec::new();
        for s in kept {
            let action = &self.repo.actions[s.action];
            let subjects = action
                .tags
                .iter()
                .filter_map(|t| signature_subject(t.as_str()))
                .chain(view.subject(&s.digest).cloned());
            for subject in subjects {
                let id = ImageId::Digest(subject.clone());
                if !in_batch.contains(&subject)
                    && !survivors.contains_key(&subject)
                    && self.delete_of(&subject).is_some()
                    && !guards.contains(&id)
                {
                    guards.push(id);
                }
            }
        }
        let mut stay = Vec::new();
        let reference = &self.repo.repository;
        for chunk in guards.chunks(MAX_IDS_PER_BATCH) {
            let now = self
                .shared
                .call(read_current(self.shared.registry, reference, chunk))
                .await?;
            for image in &now {
                if let Some(action) = self.delete_of(&image.digest)
                    && !new_tags(&image.tags, action).is_empty()
                {
                    stay.push((image.digest.clone(), Vec::new()));
                }
            }
        }
        Ok(stay)
    }

    /// The deletion the plan makes of this image, if it deletes it.
    fn delete_of(&self, digest: &Digest) -> Option<&Action> {
        self.repo
            .actions
            .iter()
            .find(|a| a.kind == ActionKind::Delete && &a.digest == digest)
    }

    /// Sends one confirmed, journalled request; items that a pull-through cache's
    /// upstream throttled are sent again, after a pause that doubles each time.
    async fn remove(
        &self,
        out: &mut BatchOutcome,
        batch: Vec<Step>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<(), ProtocolError> {
        let shared = self.shared;
        let reference = &self.repo.repository;
        let mut pending = batch;
        for attempt in 0..=UPSTREAM_RETRIES {
            let ids: Vec<ImageId> = pending.iter().map(|s| s.id.clone()).collect();
            // Checked again once a request slot is free, just before sending.
            let sent = shared
                .call(async {
                    if shared.cancel.is_cancelled() {
                        return None;
                    }
                    Some(shared.registry.batch_delete_image(reference, &ids).await)
                })
                .await;
            let result = match sent {
                None => {
                    // Journalled but never sent: restore finds these still there.
                    out.report.not_started += pending.len();
                    return Ok(());
                }
                Some(Ok(result)) => result,
                Some(Err(e)) => {
                    out.report.delete_batches.push(ids.len());
                    return self.settle_lost(out, pending, e).await;
                }
            };
            out.report.delete_batches.push(ids.len());
            let upstream = |s: &Step| {
                attempt < UPSTREAM_RETRIES
                    && result.failures.iter().any(|f| {
                        f.id == s.id
                            && matches!(
                                f.code,
                                FailureCode::UpstreamTooManyRequests
                                    | FailureCode::UpstreamUnavailable
                            )
                    })
            };
            let (retry, done): (Vec<Step>, Vec<Step>) = pending.into_iter().partition(upstream);
            shared.progress.advance(done.len());
            self.tally(out, &done, &result, manifests).await?;
            if retry.is_empty() {
                break;
            }
            if shared.cancel.is_cancelled() {
                out.report.not_started += retry.len();
                break;
            }
            out.report.upstream_retries += retry.len();
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            pending = retry;
        }
        Ok(())
    }
}
