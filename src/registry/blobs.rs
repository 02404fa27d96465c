//! What the images of a repository store: for each image whose manifest was read, the
//! blobs (config and layers) it references, each blob named by a small number within
//! the repository and stored once with its size.
//!
//! The manifests are parsed as they are read, and only this is kept: a million images
//! of five blobs each hold a few bytes per blob reference instead of a kilobyte of
//! manifest text per image, and the storage accounting indexes a vector by blob
//! number instead of hashing digests.

use foldhash::{HashMap, HashMapExt};
use serde::Deserialize;

use crate::model::Digest;

/// The blobs referenced by the images of one repository whose manifests were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageBlobs {
    /// The size of each distinct blob, by its number.
    sizes: Vec<u64>,
    /// For each image whose manifest was read, the numbers of its config and layers
    /// (in manifest order). An image missing here could not be read.
    of_image: HashMap<Digest, Box<[u32]>>,
}

impl ImageBlobs {
    /// The number of distinct blobs: their numbers are `0..len()`.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// True when no blob is known (no manifest was read, or none references a blob).
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// The size of blob `id`, in bytes.
    pub fn size(&self, id: u32) -> u64 {
        self.sizes[id as usize]
    }

    /// The blobs of the image `digest`; `None` when its manifest was not read.
    pub fn of(&self, digest: &Digest) -> Option<&[u32]> {
        self.of_image.get(digest).map(|b| &**b)
    }

    /// The number of images whose manifest was read.
    pub fn images_read(&self) -> usize {
        self.of_image.len()
    }
}

/// Builds the [`ImageBlobs`] of a repository, one manifest at a time; the blobs'
/// digests are only held until [`build`](Self::build).
#[derive(Debug, Default)]
pub struct ImageBlobsBuilder {
    ids: HashMap<Box<str>, u32>,
    blobs: ImageBlobs,
}

impl ImageBlobsBuilder {
    /// An empty builder, with room for about `images` images.
    pub fn with_capacity(images: usize) -> Self {
        Self {
            // Images of a repository usually share their base layers: about two
            // distinct blobs per image (its config and a layer of its own).
            ids: HashMap::with_capacity(images * 2),
            blobs: ImageBlobs {
                sizes: Vec::with_capacity(images * 2),
                of_image: HashMap::with_capacity(images),
            },
        }
    }

    /// Adds the image `digest` with its raw `manifest`; an error that names the image
    /// (and the image left unread) when the manifest does not parse as an image
    /// manifest. A blob listed
    /// by several manifests has the size the last one gives.
    pub fn add(&mut self, digest: Digest, manifest: &str) -> Result<(), String> {
        let listed = manifest_blobs(manifest).map_err(|e| format!("image {digest}: {e}"))?;
        let ids: Box<[u32]> = listed
            .into_iter()
            .map(|(blob, size)| {
                let id = match self.ids.get(blob) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(self.blobs.sizes.len())
                            .expect("fewer than 2^32 blobs in a repository");
                        self.ids.insert(blob.into(), id);
                        self.blobs.sizes.push(0);
                        id
                    }
                };
                self.blobs.sizes[id as usize] = size;
                id
            })
            .collect();
        self.blobs.of_image.insert(digest, ids);
        Ok(())
    }

    /// The blobs of the images added.
    pub fn build(self) -> ImageBlobs {
        self.blobs
    }
}

impl FromIterator<(Digest, String)> for ImageBlobs {
    /// The blobs of these images and their raw manifests; a manifest that does not
    /// parse leaves its image unread.
    fn from_iter<I: IntoIterator<Item = (Digest, String)>>(iter: I) -> Self {
        let mut b = ImageBlobsBuilder::default();
        for (digest, manifest) in iter {
            // Unread: its figures are estimated.
            let _ = b.add(digest, &manifest);
        }
        b.build()
    }
}

/// The blobs an image manifest (OCI or Docker v2) references: its config and layers.
#[derive(Deserialize)]
struct ImageManifest<'a> {
    #[serde(borrow)]
    config: Option<Descriptor<'a>>,
    #[serde(default, borrow)]
    layers: Vec<Descriptor<'a>>,
}

#[derive(Deserialize)]
struct Descriptor<'a> {
    // Borrowed from the manifest: a digest has no escapes (one that had would not
    // parse, and the manifest would count as unread). A million manifests, five
    // blobs each, allocate nothing here.
    #[serde(borrow)]
    digest: &'a str,
    #[serde(default)]
    size: u64,
}

/// The (digest, size) of each blob `manifest` references: its config, then its
/// layers; an error when it does not parse as an image manifest.
pub fn manifest_blobs(manifest: &str) -> Result<Vec<(&str, u64)>, String> {
    let m: ImageManifest<'_> =
        serde_json::from_str(manifest).map_err(|e| format!("not an image manifest: {e}"))?;
    Ok(m.config
        .into_iter()
        .chain(m.layers)
        .map(|d| (d.digest, d.size))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u32) -> Digest {
        Digest::parse(format!("sha256:{n:064x}")).unwrap()
    }

    #[test]
    fn docker_v2_and_oci_manifests_list_their_config_and_layers() {
        let m = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"x","size":7023,"digest":"sha256:b5b2"},"layers":[{"mediaType":"y","size":32654,"digest":"sha256:e692"},{"size":16724,"digest":"sha256:3c3a"}]}"#;
        assert_eq!(
            manifest_blobs(m).unwrap(),
            [
                ("sha256:b5b2", 7023),
                ("sha256:e692", 32654),
                ("sha256:3c3a", 16724)
            ]
        );
        assert!(manifest_blobs("[]").is_err());
    }

    #[test]
    fn a_blob_shared_by_images_is_numbered_once() {
        let mut b = ImageBlobsBuilder::with_capacity(2);
        b.add(
            d(1),
            r#"{"config":{"digest":"sha256:c1","size":10},"layers":[{"digest":"sha256:base","size":100}]}"#,
        )
        .unwrap();
        b.add(
            d(2),
            r#"{"config":{"digest":"sha256:c2","size":20},"layers":[{"digest":"sha256:base","size":100},{"digest":"sha256:own","size":5}]}"#,
        )
        .unwrap();
        let blobs = b.build();
        assert_eq!(blobs.len(), 4);
        assert_eq!(blobs.images_read(), 2);
        let one = blobs.of(&d(1)).unwrap();
        let two = blobs.of(&d(2)).unwrap();
        assert_eq!(one.len(), 2);
        assert_eq!(two.len(), 3);
        // The base layer: the same number in both, stored once.
        assert_eq!(one[1], two[1]);
        assert_ne!(one[0], two[0]);
        assert_eq!(
            [one[0], one[1], two[0], two[2]].map(|id| blobs.size(id)),
            [10, 100, 20, 5]
        );
        assert_eq!(blobs.of(&d(3)), None);
    }

    #[test]
    fn a_manifest_that_does_not_parse_leaves_its_image_unread() {
        let mut b = ImageBlobsBuilder::default();
        assert!(b.add(d(1), "{not json").is_err());
        assert!(b.add(d(2), "[]").is_err());
        let blobs: ImageBlobs = [(d(3), r#"{"layers":[]}"#.to_owned())]
            .into_iter()
            .chain([(d(4), "{".to_owned())])
            .collect();
        assert_eq!(b.build().images_read(), 0);
        assert_eq!(blobs.images_read(), 1);
        assert_eq!(blobs.of(&d(3)), Some(&[][..]));
        assert_eq!(blobs.of(&d(4)), None);
    }
}
