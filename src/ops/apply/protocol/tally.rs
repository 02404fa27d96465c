//! The tally of one request: what BatchDeleteImage answered, compared with what the
//! request asked for. Every identifier reported removed must be one asked for (else: a
//! failure, journalled so that restore puts it back); every identifier asked for must
//! be answered (else: read back, and a failure unless it is gone).

use std::collections::{HashMap, HashSet};

use super::super::confirm::{ManifestRead, read_current};
use super::super::steps::Step;
use super::entries::unplanned_entry;
use super::{BatchContext, BatchOutcome, Failure, ProtocolError};
use crate::model::Digest;
use crate::ops::report::{FailureKind, ToolCode};
use crate::plan::ActionKind;
use crate::registry::{
    BatchDeleteResult, BatchGetResult, FailureCode, ImageDetail, ImageId, ItemFailure, Registry,
    RegistryError, RemovedId,
};

/// The request's identifiers that the registry answered, as removed or as failed.
type Answered<'b> = HashSet<&'b ImageId>;

/// Identifiers answered neither way, read back: BatchGetImage answers per identifier
/// (DescribeImages fails as a whole when one is gone) and says which image a tag names
/// now; what it left unanswered (some implementations do), or all of them when it
/// failed as a whole, DescribeImages settles.
struct ReadBack {
    resolved: Result<BatchGetResult, RegistryError>,
    listed: Result<Vec<ImageDetail>, RegistryError>,
}

impl<R: Registry> BatchContext<'_, '_, R> {
    /// Counts a request's outcome against what it asked for (see the module docs).
    pub(super) async fn tally(
        &self,
        out: &mut BatchOutcome,
        batch: &[Step],
        result: &BatchDeleteResult,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<(), ProtocolError> {
        let failed: HashMap<&ImageId, &ItemFailure> =
            result.failures.iter().map(|f| (&f.id, f)).collect();
        let mut answered: Answered<'_> = failed.keys().copied().collect();
        self.match_removed(out, batch, &result.removed, &mut answered, manifests)?;
        let silent: Vec<ImageId> = batch
            .iter()
            .filter(|s| !answered.contains(&s.id))
            .map(|s| s.id.clone())
            .collect();
        let read_back = self.read_back(&silent).await;
        for s in batch {
            self.count(out, s, failed.get(&s.id).copied(), &answered, &read_back);
        }
        Ok(())
    }

    /// A request whose answer was lost or unreadable (cut short, not JSON, a timeout
    /// or a reset after it was sent, a server error after every retry): it may have
    /// been carried out, so its identifiers are read back before anything is
    /// reported. What is gone counts as removed; when anything is still there (or
    /// cannot be read back), the call's error stops the repository as before.
    pub(super) async fn settle_lost(
        &self,
        out: &mut BatchOutcome,
        batch: Vec<Step>,
        error: RegistryError,
    ) -> Result<(), ProtocolError> {
        let ids: Vec<ImageId> = batch.iter().map(|s| s.id.clone()).collect();
        let read_back = self.read_back(&ids).await;
        let (gone, left): (Vec<Step>, Vec<Step>) = batch
            .into_iter()
            .partition(|s| read_back.still_there(s) == Ok(false));
        let answered: Answered<'_> = gone.iter().map(|s| &s.id).collect();
        for s in &gone {
            self.count(out, s, None, &answered, &read_back);
        }
        self.shared.progress.advance(gone.len());
        if left.is_empty() {
            tracing::info!(
                "{}: BatchDeleteImage failed ({error}) but a read back shows its {} removals made",
                self.label,
                gone.len()
            );
            return Ok(());
        }
        Err(ProtocolError::Registry {
            repository: self.label.to_owned(),
            error,
        })
    }

    /// Pairs each identifier reported removed with the step that asked for it. A tag
    /// removed from another image than planned is a `DigestMismatch`; anything not
    /// asked for is an `UnplannedRemoval`, journalled (before this returns) so that
    /// restore puts it back.
    fn match_removed<'b>(
        &self,
        out: &mut BatchOutcome,
        batch: &'b [Step],
        removed: &[RemovedId],
        answered: &mut Answered<'b>,
        manifests: &HashMap<Digest, ManifestRead>,
    ) -> Result<(), ProtocolError> {
        let mut unplanned = Vec::new();
        for removed in removed {
            let by_tag = batch
                .iter()
                .find(|s| s.tag().is_some_and(|t| removed.tag.as_ref() == Some(t)));
            let by_digest = batch
                .iter()
                .find(|s| matches!(&s.id, ImageId::Digest(d) if *d == removed.digest));
            match (by_tag, by_digest, &removed.tag) {
                (Some(s), _, _) => {
                    answered.insert(&s.id);
                    if s.digest != removed.digest {
                        // The registry removed a tag from another image than planned:
                        // a race in the moment between confirmation and removal.
                        out.report.fail(Failure::new(
                            &self.repo.repository,
                            Some(&s.id),
                            ToolCode::DigestMismatch,
                            format!(
                                "the registry removed it from {} but the plan named {}",
                                removed.digest, s.digest
                            ),
                        ));
                    }
                }
                (None, Some(s), None) => {
                    answered.insert(&s.id);
                }
                (None, by_digest, tag) => {
                    // Not asked for: a tag on an image deleted by digest (added since
                    // the confirming read), or anything else the registry says it
                    // removed.
                    if let Some(s) = by_digest {
                        answered.insert(&s.id);
                    }
                    self.fail_unplanned(out, removed, tag.as_ref());
                    let action = by_digest.map(|s| &self.repo.actions[s.action]);
                    let manifest = manifests.get(&removed.digest).and_then(|m| m.clone().ok());
                    unplanned.push(unplanned_entry(
                        &self.repo.repository,
                        action,
                        removed,
                        manifest,
                        self.shared.options.now,
                    ));
                }
            }
        }
        if !unplanned.is_empty() {
            self.shared.record(&unplanned)?;
        }
        Ok(())
    }

    /// Reports an identifier removed that the request did not ask for.
    fn fail_unplanned(
        &self,
        out: &mut BatchOutcome,
        removed: &RemovedId,
        tag: Option<&crate::model::Tag>,
    ) {
        let id = match tag {
            Some(t) => ImageId::Tag(t.clone()),
            None => ImageId::Digest(removed.digest.clone()),
        };
        out.report.fail(Failure::new(
            &self.repo.repository,
            Some(&id),
            ToolCode::UnplannedRemoval,
            format!(
                "the registry reports it removed from image {} although this request did not ask for it (it changed since the confirming read); it is in the journal: restore puts it back",
                removed.digest.short()
            ),
        ));
    }

    /// Reads back the identifiers answered neither way (see [`ReadBack`]).
    async fn read_back(&self, silent: &[ImageId]) -> ReadBack {
        let shared = self.shared;
        let reference = &self.repo.repository;
        let resolved = if silent.is_empty() {
            Ok(Default::default())
        } else {
            shared
                .call(shared.registry.batch_get_image(reference, silent))
                .await
        };
        let unsettled: Vec<ImageId> = match &resolved {
            Ok(got) => silent
                .iter()
                .filter(|id| {
                    !got.manifests.iter().any(|m| &m.id == *id)
                        && !got.failures.iter().any(|f| &f.id == *id)
                })
                .cloned()
                .collect(),
            Err(_) => silent.to_vec(),
        };
        let listed = if unsettled.is_empty() {
            Ok(Vec::new())
        } else {
            shared
                .call(read_current(shared.registry, reference, &unsettled))
                .await
        };
        ReadBack { resolved, listed }
    }

    /// Counts one step: already gone, refused (ECR's code), unanswered and still
    /// there (or unreadable), or removed.
    fn count(
        &self,
        out: &mut BatchOutcome,
        s: &Step,
        failed: Option<&ItemFailure>,
        answered: &Answered<'_>,
        read_back: &ReadBack,
    ) {
        if let Some(f) = failed {
            if f.code == FailureCode::ImageNotFound {
                out.report.already_gone += 1;
            } else {
                out.report.fail(Failure::new(
                    &self.repo.repository,
                    Some(&s.id),
                    FailureKind::Item(f.code.clone()),
                    f.reason.clone(),
                ));
            }
            return;
        }
        if !answered.contains(&s.id) {
            let problem = match read_back.still_there(s) {
                Ok(false) => None,
                Ok(true) => Some("and a read afterwards shows it still there".to_owned()),
                Err(e) => Some(format!("and it could not be read back: {e}")),
            };
            if let Some(problem) = problem {
                out.report.fail(Failure::new(
                    &self.repo.repository,
                    Some(&s.id),
                    ToolCode::Unanswered,
                    format!(
                        "BatchDeleteImage answered neither that it was removed nor that it failed, {problem}"
                    ),
                ));
                return;
            }
        }
        out.report.removed += 1;
        match (&s.id, s.kind) {
            (ImageId::Tag(_), ActionKind::Untag) => {
                out.report.tags_removed += 1;
                out.report.untagged += 1;
            }
            (ImageId::Tag(_), ActionKind::Delete) => {
                out.report.tags_removed += 1;
                out.deleted.push(s.digest.clone());
            }
            (ImageId::Digest(_), _) => out.deleted.push(s.digest.clone()),
            // Changes of storage class are never BatchDeleteImage steps.
            (ImageId::Tag(_), ActionKind::Archive | ActionKind::Reactivate) => {}
        }
    }
}

impl ReadBack {
    /// Whether the step's identifier still names its planned image.
    fn still_there(&self, s: &Step) -> Result<bool, String> {
        let Ok(got) = self.resolved.as_ref() else {
            return self.listed_has(s);
        };
        if got.manifests.iter().any(|m| m.id == s.id) {
            return Ok(got
                .manifests
                .iter()
                .any(|m| m.id == s.id && m.digest == s.digest));
        }
        match got.failures.iter().find(|f| f.id == s.id) {
            Some(f) if f.code == FailureCode::ImageNotFound => Ok(false),
            Some(f) => Err(format!("{}: {}", f.code, f.reason)),
            None => self.listed_has(s),
        }
    }

    /// Whether DescribeImages' answer shows the step's identifier on its image.
    fn listed_has(&self, s: &Step) -> Result<bool, String> {
        let images = self.listed.as_ref().map_err(ToString::to_string)?;
        Ok(match &s.id {
            ImageId::Tag(t) => images
                .iter()
                .any(|i| i.digest == s.digest && i.tags.contains(t)),
            ImageId::Digest(d) => images.iter().any(|i| &i.digest == d),
        })
    }
}
