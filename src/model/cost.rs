//! Money and sizes: amounts in US dollars, storage prices per GB-month, and byte
//! sizes as people write them (`500MiB`, `2GiB`).
//!
//! Amounts are whole millionths of a dollar, so plans compare, hash and round-trip
//! exactly; JSON shows them as numbers of dollars.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The bytes of a GB as AWS bills storage: 2^30.
pub const GB: u64 = 1 << 30;

/// An amount in US dollars, held in millionths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd {
    micros: i64,
}

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd { micros: 0 };

    /// An amount of `micros` millionths of a dollar.
    pub const fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    /// The amount in millionths of a dollar.
    pub const fn micros(self) -> i64 {
        self.micros
    }

    /// The amount in dollars.
    pub fn dollars(self) -> f64 {
        self.micros as f64 / 1e6
    }

    /// True when zero.
    pub fn is_zero(&self) -> bool {
        self.micros == 0
    }

    /// The amount divided by `n` (rounded to the nearest millionth).
    pub fn divided_by(self, n: i64) -> Self {
        Self {
            micros: (self.micros + n / 2) / n.max(1),
        }
    }
}

impl std::ops::Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        Usd {
            micros: self.micros.saturating_add(other.micros),
        }
    }
}

impl std::ops::AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, |a, b| a + b)
    }
}

/// `$1.23`; amounts under a cent but not zero are `<$0.01`.
impl std::fmt::Display for Usd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.micros > 0 && self.micros < 5_000 {
            return f.write_str("<$0.01");
        }
        let cents = (self.micros + 5_000).div_euclid(10_000);
        write!(f, "${}.{:02}", cents / 100, cents % 100)
    }
}

impl Serialize for Usd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.dollars())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let dollars = f64::deserialize(d)?;
        if !dollars.is_finite() || dollars.abs() > 1e12 {
            return Err(serde::de::Error::custom("not an amount of dollars"));
        }
        Ok(Usd {
            micros: (dollars * 1e6).round() as i64,
        })
    }
}

impl JsonSchema for Usd {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Usd".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "description": "US dollars (to the millionth)."
        })
    }
}

/// A storage price: dollars per GB (2^30 bytes) per month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    /// Millionths of a dollar per GB-month.
    pub micros_per_gb_month: u64,
}

impl Price {
    /// A price of `usd` dollars per GB-month; an error unless it is a number from 0
    /// to 1000.
    pub fn per_gb_month(usd: f64) -> Result<Self, String> {
        if !usd.is_finite() || !(0.0..=1000.0).contains(&usd) {
            return Err(format!(
                "`{usd}` is not a price in dollars per GB-month (a number from 0 to 1000, such as 0.10)"
            ));
        }
        Ok(Self {
            micros_per_gb_month: (usd * 1e6).round() as u64,
        })
    }

    /// What storing `bytes` costs a month.
    pub fn per_month(self, bytes: u64) -> Usd {
        self.per_month_u128(u128::from(bytes))
    }

    /// What storing `bytes` costs a month (or `bytes` byte-days costs a day).
    pub fn per_month_u128(self, bytes: u128) -> Usd {
        let micros =
            (bytes * u128::from(self.micros_per_gb_month) + u128::from(GB) / 2) / u128::from(GB);
        Usd::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// The price in dollars per GB-month.
    pub fn dollars(self) -> f64 {
        self.micros_per_gb_month as f64 / 1e6
    }
}

/// The storage prices a plan's saving is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    /// ECR's standard storage class.
    pub standard: Price,
    /// ECR's archive storage class.
    pub archive: Price,
}

/// The date ECR's published prices in [`Prices::DEFAULT`] were checked.
pub const PRICES_CHECKED_ON: &str = "2026-03-22";

impl Prices {
    /// ECR's published storage prices (us-east-1, the same in most regions): standard
    /// storage $0.10 per GB-month; archive storage $0.10 per GB-month for the first
    /// 150 TB a month (and $0.07 above, which this default does not model). Checked on
    /// [`PRICES_CHECKED_ON`].
    pub const DEFAULT: Prices = Prices {
        standard: Price {
            micros_per_gb_month: 100_000,
        },
        archive: Price {
            micros_per_gb_month: 100_000,
        },
    };
}

impl Default for Prices {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A repository's limits on one plan's deletions (`max_delete` in the desired state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteLimit {
    /// At most this many images deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    /// At most this many bytes freed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// Parses a size: bytes (`1048576`), or a number with a unit: `B`, `KB`, `MB`, `GB`,
/// `TB` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), such as
/// `500MiB` or `2GiB` (a space before the unit is allowed; units are case-blind).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!(
            "`{text}` is not a size: write bytes, or a number and a unit, such as 500MiB or 2GiB"
        )
    };
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n.checked_mul(scale).ok_or_else(bad);
    }
    let f: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (f * scale as f64).round();
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 || scale == 1 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_a_number_and_a_unit() {
        assert_eq!(parse_size("500MiB"), Ok(500 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2 gib"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("3GB"), Ok(3_000_000_000));
        for bad in [
            "",
            "MiB",
            "2 GiBs",
            "-1",
            "1.5",
            "99999999999999999999TiB",
            "2PiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_round_to_cents_and_round_trip_through_json() {
        assert_eq!(Usd::from_micros(1_234_999).to_string(), "$1.23");
        assert_eq!(Usd::from_micros(1_235_000).to_string(), "$1.24");
        assert_eq!(Usd::from_micros(4_000).to_string(), "<$0.01");
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
        let a = Usd::from_micros(1_230_000);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "1.23");
        assert_eq!(serde_json::from_str::<Usd>(&json).unwrap(), a);
    }

    #[test]
    fn a_price_is_per_gb_of_two_to_the_thirty_bytes() {
        let p = Price::per_gb_month(0.10).unwrap();
        assert_eq!(p.per_month(GB), Usd::from_micros(100_000));
        assert_eq!(p.per_month(10 * GB + GB / 2), Usd::from_micros(1_050_000));
        assert_eq!(p.per_month(0), Usd::ZERO);
        assert!(Price::per_gb_month(-1.0).is_err());
        assert!(Price::per_gb_month(f64::NAN).is_err());
    }
}
