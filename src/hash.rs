//! SHA-256 as the tool writes it everywhere: `sha256:<64 lowercase hex digits>`
//! (image digests, the desired-state digest, saved plans' checksums).

use sha2::{Digest as _, Sha256};

/// The digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    Hasher::new().update(bytes).finish()
}

/// A digest computed piece by piece.
#[derive(Clone, Debug, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.0.update(bytes);
        self
    }

    /// The digest of everything added.
    pub fn finish(&self) -> String {
        format!("sha256:{:x}", self.0.clone().finalize())
    }
}
