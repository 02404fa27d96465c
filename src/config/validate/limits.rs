//! Validation of the keys about storage: a file's `pricing` and a repository's
//! `max_delete`.

use super::super::raw::{RawMaxDelete, RawPricing};
use super::super::yaml::{Node, Value};
use super::Code;
use super::Cx;
use crate::model::{DeleteLimit, Price, parse_size};

impl<'n> Cx<'n> {
    /// `pricing`: the storage prices of the file's repositories.
    pub(super) fn pricing(&mut self, node: &'n Node) {
        let Some(raw) = self.read::<RawPricing>(node, "`pricing`") else {
            return;
        };
        if let Some(v) = self.value(&raw.standard_per_gb_month)
            && let Some(p) = self.price(v, "`pricing.standard_per_gb_month`")
        {
            self.prices.standard = p;
        }
        if let Some(v) = self.value(&raw.archive_per_gb_month)
            && let Some(p) = self.price(v, "`pricing.archive_per_gb_month`")
        {
            self.prices.archive = p;
        }
    }

    fn price(&mut self, v: &Node, what: &str) -> Option<Price> {
        let usd = match &v.value {
            Value::Int(n) => *n as f64,
            Value::Float(f) => *f,
            _ => {
                self.wrong_type(v, what, "a number of US dollars per GB-month, such as 0.10");
                return None;
            }
        };
        match Price::per_gb_month(usd) {
            Ok(p) => Some(p),
            Err(why) => {
                self.error(
                    Code::InvalidPrice,
                    v.span,
                    format!("{what}: {why}"),
                    "not a price",
                );
                None
            }
        }
    }

    /// A repository's `max_delete`: `images` and `bytes`.
    pub(super) fn max_delete(&mut self, node: &'n Node) -> Option<DeleteLimit> {
        let raw = self.read::<RawMaxDelete>(node, "`max_delete`")?;
        let mut out = DeleteLimit::default();
        if let Some(v) = self.value(&raw.images) {
            match v.value {
                Value::Int(n) if n >= 0 => out.images = u64::try_from(n).ok(),
                _ => self.wrong_type(v, "`max_delete.images`", "a number of images (0 or more)"),
            }
        }
        if let Some(v) = self.value(&raw.bytes) {
            let parsed = match &v.value {
                Value::Int(n) if *n >= 0 => u64::try_from(*n).map_err(|e| e.to_string()),
                Value::Str(s) => parse_size(s),
                _ => Err(format!(
                    "`{}` is not a size: write bytes, or a number and a unit, such as 500MiB or 2GiB",
                    self.raw_text(v.span)
                )),
            };
            match parsed {
                Ok(b) => out.bytes = Some(b),
                Err(why) => {
                    self.error(Code::InvalidSize, v.span, format!("`max_delete.bytes`: {why}"), "not a size")
                        .help = Some("units: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)".into());
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_sources;
    use crate::model::{DeleteLimit, Price};

    fn load(yaml: &str) -> Result<crate::config::DesiredState, Vec<String>> {
        load_sources(vec![("t.yaml".into(), yaml.as_bytes().to_vec())]).map_err(|e| {
            e.diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect()
        })
    }

    #[test]
    fn pricing_and_max_delete_are_read_into_the_repositories() {
        let state = load(
            "version: 1\npricing:\n  standard_per_gb_month: 0.15\n  archive_per_gb_month: 0\nrepositories:\n  a/b:\n    tags: [v1]\n    max_delete: {images: 10, bytes: 2GiB}\n  a/c:\n    tags: [v1]\n    max_delete: {bytes: 1048576}\n",
        )
        .unwrap();
        let r = &state.repositories;
        assert_eq!(r[0].prices.standard, Price::per_gb_month(0.15).unwrap());
        assert_eq!(r[0].prices.archive, Price::per_gb_month(0.0).unwrap());
        assert_eq!(
            r[0].max_delete,
            Some(DeleteLimit {
                images: Some(10),
                bytes: Some(2 << 30)
            })
        );
        assert_eq!(r[1].max_delete.unwrap().bytes, Some(1 << 20));
        assert_eq!(r[1].max_delete.unwrap().images, None);
    }

    #[test]
    fn bad_sizes_prices_and_keys_are_each_reported() {
        let errors = load(
            "version: 1\npricing:\n  standard_per_gb_month: -1\n  archive_per_gb_month: cheap\nrepositories:\n  a/b:\n    tags: [v1]\n    max_delete: {images: -2, bytes: 2 parsecs, files: 3}\n",
        )
        .unwrap_err();
        let has = |code: &str, text: &str| {
            errors
                .iter()
                .any(|e| e.starts_with(code) && e.contains(text))
        };
        assert!(has("config::invalid-price", "-1"), "{errors:?}");
        assert!(
            has("config::wrong-type", "archive_per_gb_month"),
            "{errors:?}"
        );
        assert!(has("config::wrong-type", "max_delete.images"), "{errors:?}");
        assert!(has("config::invalid-size", "2 parsecs"), "{errors:?}");
        assert!(has("config::unknown-key", "files"), "{errors:?}");
    }
}
