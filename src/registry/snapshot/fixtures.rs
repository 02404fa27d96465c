//! Snapshot texts for the unit tests.

use super::{SnapshotError, parse};

pub(super) fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// A snapshot of the given repositories, each a name and the JSON of its images.
pub(super) fn snapshot(repos: &[(&str, String)]) -> String {
    let repos: Vec<String> = repos
        .iter()
        .map(|(name, images)| format!(r#"{{"name":"{name}","images":[{images}]}}"#))
        .collect();
    format!(
        r#"{{"version":1,"registries":[{{"account":"123456789012","region":"eu-west-1","repositories":[{}]}}]}}"#,
        repos.join(",")
    )
}

pub(super) fn image(n: u32, tags: &str) -> String {
    format!(
        r#"{{"digest":"{}","tags":[{tags}],"pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.manifest.v1+json"}}"#,
        digest(n)
    )
}

pub(super) fn index(n: u32, children: &[u32], manifest: Option<&[u32]>) -> String {
    let list = |ds: &[u32]| {
        ds.iter()
            .map(|&d| format!("\"{}\"", digest(d)))
            .collect::<Vec<_>>()
            .join(",")
    };
    // With a manifest, the index's digest is its hash (as a snapshot requires).
    let (digest, manifest) = manifest.map_or((digest(n), String::new()), |m| {
        let raw = index_manifest(m);
        let escaped = serde_json::to_string(&raw).unwrap();
        (
            crate::hash::sha256(raw.as_bytes()),
            format!(r#","manifest":{escaped}"#),
        )
    });
    format!(
        r#"{{"digest":"{digest}","tags":[],"pushed_at":"2026-01-01T00:00:00Z","manifest_media_type":"application/vnd.oci.image.index.v1+json","children":[{}]{manifest}}}"#,
        list(children)
    )
}

/// The manifest of an index listing the images `children`.
pub(super) fn index_manifest(children: &[u32]) -> String {
    let entries: Vec<String> = children
        .iter()
        .map(|&d| format!(r#"{{"digest":"{}"}}"#, digest(d)))
        .collect();
    format!(r#"{{"manifests":[{}]}}"#, entries.join(","))
}

pub(super) fn invalid(text: &str) -> (String, String) {
    match parse("s.json", text.as_bytes()) {
        Err(SnapshotError::Invalid { at, message, .. }) => (at, message),
        Err(e) => panic!("not an Invalid error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

pub(super) fn images(parts: &[String]) -> String {
    parts.join(",")
}
