//! Archives and reactivations: one UpdateImageStorageClass per image, after the
//! repository's removals, under the same protocol. Just before each request, a
//! DescribeImages of the image confirms it (still there, in the status planned, and,
//! for an archive, with no tag the plan did not see: a tag pushed since may be
//! allowed); the journal records it first; the requests in flight share the apply's
//! bound, and the client's retries and throttle apply as to every call.

use futures_util::stream::{self, StreamExt};

use super::{ProtocolError, Shared};
use crate::ops::apply::report::{ApplyReport, Failure, Skipped};
use crate::ops::journal::{JournalEntry, Removal};
use crate::ops::report::FailureKind;
use crate::plan::{Action, ActionKind, RepositoryPlan};
use crate::registry::{ImageId, ImageStatus, Registry, RegistryError, ServiceCode, StorageClass};

/// What the confirming read says of one planned change.
enum Confirmed {
    /// Make it.
    Go,
    /// Done already (archived, or reactivated, by someone else).
    Done,
    /// Not made: the registry changed since the plan.
    Skip(String),
}

/// The confirmation of `action` from the image as read now.
fn confirm(action: &Action, now: Option<&crate::registry::ImageDetail>) -> Confirmed {
    let Some(img) = now else {
        return Confirmed::Skip("the image is gone since the plan".into());
    };
    let status = img.status.unwrap_or(ImageStatus::Active);
    match (action.kind, status) {
        (ActionKind::Archive, ImageStatus::Archived) => Confirmed::Done,
        (ActionKind::Archive, ImageStatus::Active) => {
            match img.tags.iter().find(|t| !action.kept_tags.contains(t)) {
                Some(t) => Confirmed::Skip(format!(
                    "it gained tag `{t}` since the plan: not archived (plan again)"
                )),
                None => Confirmed::Go,
            }
        }
        (ActionKind::Reactivate, ImageStatus::Active | ImageStatus::Activating) => Confirmed::Done,
        (ActionKind::Reactivate, ImageStatus::Archived) => Confirmed::Go,
        (_, s) => Confirmed::Skip(format!("it is {} now, not as planned", s.as_ecr_str())),
    }
}

/// Makes the archives and reactivations of `repo`; a journal error stops them.
pub(super) async fn change_classes<R: Registry>(
    shared: &Shared<'_, R>,
    repo: &RepositoryPlan,
) -> (ApplyReport, Option<ProtocolError>) {
    let width = shared.options.parallelism.max(1);
    let changes = repo
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Archive | ActionKind::Reactivate));
    let outcomes: Vec<(ApplyReport, Option<ProtocolError>)> = stream::iter(changes)
        .map(|action| change_one(shared, repo, action))
        .buffer_unordered(width)
        .collect()
        .await;
    let mut report = ApplyReport::default();
    let mut error = None;
    for (part, e) in outcomes {
        report.merge(part);
        error = error.or(e);
    }
    (report, error)
}

/// One archive or reactivation: confirm, journal, request.
async fn change_one<R: Registry>(
    shared: &Shared<'_, R>,
    repo: &RepositoryPlan,
    action: &Action,
) -> (ApplyReport, Option<ProtocolError>) {
    let mut report = ApplyReport::default();
    if shared.cancel.is_cancelled() {
        report.not_started += 1;
        return (report, None);
    }
    let reference = &repo.repository;
    let id = ImageId::Digest(action.digest.clone());
    let read = shared
        .call(
            shared
                .registry
                .describe_images_by_id(reference, std::slice::from_ref(&id)),
        )
        .await;
    let confirmed = match read {
        Ok(images) => confirm(action, images.iter().find(|i| i.digest == action.digest)),
        Err(RegistryError::Service {
            code: ServiceCode::ImageNotFoundException,
            ..
        }) => confirm(action, None),
        Err(e) => {
            report.fail(Failure::new(
                reference,
                Some(&id),
                FailureKind::from(&e),
                e.to_string(),
            ));
            shared.progress.advance(1);
            return (report, None);
        }
    };
    match confirmed {
        Confirmed::Go => {}
        Confirmed::Done => {
            report.already_gone += 1;
            shared.progress.advance(1);
            return (report, None);
        }
        Confirmed::Skip(reason) => {
            report
                .skipped
                .push(Skipped::new(reference, &action.digest, None, reason));
            shared.progress.advance(1);
            return (report, None);
        }
    }
    let entry = JournalEntry::new(
        reference,
        Removal::planned(action, &id, &action.digest),
        None,
        shared.options.now,
    );
    if let Err(e) = shared.record(&[entry]) {
        return (report, Some(e));
    }
    let target = match action.kind {
        ActionKind::Archive => StorageClass::Archive,
        _ => StorageClass::Standard,
    };
    let answer = shared
        .call(
            shared
                .registry
                .update_image_storage_class(reference, &action.digest, target),
        )
        .await;
    match answer {
        Ok(_) if target == StorageClass::Archive => report.images_archived += 1,
        Ok(_) => report.images_reactivated += 1,
        Err(RegistryError::Service {
            code: ServiceCode::ImageNotFoundException,
            ..
        }) => report.skipped.push(Skipped::new(
            reference,
            &action.digest,
            None,
            "the image is gone since the plan".into(),
        )),
        Err(e) => report.fail(Failure::new(
            reference,
            Some(&id),
            FailureKind::from(&e),
            e.to_string(),
        )),
    }
    shared.progress.advance(1);
    (report, None)
}

#[cfg(test)]
mod tests;
