//! The apply report, as text.

use std::io::{self, Write};

use crate::ops::apply::ApplyOutcome;

/// Writes the final report of an apply: counts, every skip and failure, the calls and
/// the journal.
pub fn apply_report(o: &ApplyOutcome, out: &mut dyn Write) -> io::Result<()> {
    let r = &o.report;
    writeln!(out)?;
    writeln!(
        out,
        "Apply {}: {} removals made, {} already gone, {} skipped, {} failed{}: {} tags removed ({} from images that stay), {} images deleted.",
        if r.not_started > 0 {
            "cancelled"
        } else if r.succeeded() {
            "complete"
        } else {
            "finished with failures"
        },
        r.removed,
        r.already_gone,
        r.skipped.len(),
        r.failures.len(),
        if r.not_started > 0 {
            format!(", {} not started", r.not_started)
        } else {
            String::new()
        },
        r.tags_removed,
        r.untagged,
        r.images_deleted,
    )?;
    if r.images_archived + r.images_reactivated > 0 {
        writeln!(
            out,
            "Storage class: {} images archived, {} reactivated (ACTIVATING: pullable again within about 20 minutes).",
            r.images_archived, r.images_reactivated
        )?;
    }
    if let Some(w) = &r.reactivation_wait {
        reactivation_wait(w, out)?;
    }
    for s in &r.skipped {
        let what = s.tag.as_ref().map_or_else(
            || s.digest.short(),
            |t| format!("tag {t} on {}", s.digest.short()),
        );
        writeln!(out, "  skipped {} in {}: {}", what, s.repository, s.reason)?;
    }
    for (code, n) in &r.failures_by_code {
        writeln!(out, "  failed: {n} x {code}")?;
    }
    for f in &r.failures {
        writeln!(
            out,
            "  failed {} in {}: {} ({})",
            f.id, f.repository, f.code, f.reason
        )?;
    }
    let public = &o.api_calls.ecr_public;
    let public = if public.total() == 0 {
        String::new()
    } else {
        format!(
            "; ECR Public: DescribeImages {}, manifest GETs {} (tokens {}), BatchDeleteImage {}, PutImage {}, other {}",
            public.describe_images,
            public.manifest_gets,
            public.token_gets,
            public.batch_delete_image,
            public.put_image,
            public.other
        )
    };
    writeln!(
        out,
        "API calls: DescribeImages {}, BatchGetImage {}, BatchDeleteImage {}, {}other {}{public}; retries {} ({} throttled, {} server errors).",
        o.api_calls.describe_images,
        o.api_calls.batch_get_image,
        o.api_calls.batch_delete_image,
        match o.api_calls.update_image_storage_class {
            0 => String::new(),
            n => format!("UpdateImageStorageClass {n}, "),
        },
        o.api_calls.other,
        o.retries.retries,
        o.retries.throttled,
        o.retries.server_errors
    )?;
    if !o.in_use_calls.is_empty() {
        writeln!(
            out,
            "In-use sources: {} calls ({}).",
            o.in_use_calls.total(),
            o.in_use_calls
        )?;
    }
    if o.retries.throttled > 0 {
        let lowered = o.retries.width_lowered_to.map_or_else(String::new, |w| {
            format!(
                " requests in flight were lowered to {w}, then raised again as requests succeeded;"
            )
        });
        writeln!(
            out,
            "ECR throttled {} answers:{lowered} the throttled requests were retried.",
            o.retries.throttled
        )?;
    }
    writeln!(out, "Journal: {}", o.journal)
}

/// What `apply --wait` saw of the reactivations.
fn reactivation_wait(
    w: &crate::ops::apply::ReactivationWait,
    out: &mut dyn Write,
) -> io::Result<()> {
    let not = match w.not_reactivated {
        0 => String::new(),
        n => format!(", {n} not reactivated (still archived, or gone)"),
    };
    if w.activating == 0 {
        writeln!(
            out,
            "Waited {} s: {} reactivated images active again{not}.",
            w.waited_seconds, w.active
        )?;
    } else {
        writeln!(
            out,
            "Waited {} s: {} reactivated images active again, {} still ACTIVATING{not}: {}",
            w.waited_seconds,
            w.active,
            w.activating,
            w.still_activating.join(", ")
        )?;
    }
    Ok(())
}
