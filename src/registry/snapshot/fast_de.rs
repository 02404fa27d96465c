//! Deserializers for the fields of the million images of a large snapshot: the same
//! values, and the same errors, as the types' own, faster.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

/// A `Vec` allocated at its length when it holds one item (an image's tags), not
/// at the capacity of 4 that growing from empty gives.
pub fn exact_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ExactVec<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ExactVec<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // As serde's own `Vec` says.
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let Some(first) = seq.next_element()? else {
                return Ok(Vec::new());
            };
            let Some(second) = seq.next_element()? else {
                return Ok(vec![first]);
            };
            let mut items = vec![first, second];
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    d.deserialize_seq(ExactVec(std::marker::PhantomData))
}

/// A `DateTime<Utc>` as chrono deserializes it, with a fast path for the form
/// snapshots are written in (see [`parse_utc_fast`]).
pub fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Utc3339;

    impl Visitor<'_> for Utc3339 {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // As chrono's own visitor says.
            f.write_str("an RFC 3339 formatted date and time string")
        }

        fn visit_str<E: Error>(self, value: &str) -> Result<DateTime<Utc>, E> {
            match parse_utc_fast(value) {
                Some(t) => Ok(t),
                None => value
                    .parse::<DateTime<FixedOffset>>()
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(E::custom),
            }
        }
    }

    d.deserialize_str(Utc3339)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.F]Z` (1 to 9 digits of fraction, seconds below 60)
/// to what chrono parses it to. `None` for anything else, including invalid
/// dates, which are left to chrono and its errors.
fn parse_utc_fast(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let (&b'Z', b) = b.split_last()? else {
        return None;
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nano = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let second = number(&b[17..19])?;
    if second >= 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(&b[0..4])?).ok()?,
        number(&b[5..7])?,
        number(&b[8..10])?,
    )?;
    let time =
        NaiveTime::from_hms_nano_opt(number(&b[11..13])?, number(&b[14..16])?, second, nano)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{digest, snapshot};
    use super::super::{SnapshotError, parse};
    use super::*;
    use crate::model::Tag;

    /// What chrono makes of `s`, as `DateTime<Utc>`'s own deserializer does.
    fn chrono_utc(s: &str) -> Option<DateTime<Utc>> {
        serde_json::from_value::<DateTime<Utc>>(serde_json::Value::String(s.to_owned())).ok()
    }

    #[test]
    fn the_fast_timestamp_parse_agrees_with_chrono() {
        for s in [
            "2026-11-20T12:00:00Z",
            "2026-11-20T12:00:00.5Z",
            "2026-11-20T12:00:00.123456789Z",
            "2024-02-29T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            let fast = parse_utc_fast(s);
            assert!(fast.is_some(), "{s}");
            assert_eq!(fast, chrono_utc(s), "{s}");
        }
        // Left to chrono: other forms, leap seconds, invalid dates and times.
        for s in [
            "2026-11-20t12:00:00Z",
            "2026-11-20 12:00:00Z",
            "2026-11-20T12:00:00z",
            "2026-11-20T12:00:00+00:00",
            "2026-11-20T12:00:00+01:00",
            "2026-11-20T12:00:00.Z",
            "2026-11-20T12:00:00.1234567891Z",
            "2016-12-31T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T23:60:00Z",
            "+2026-11-20T12:00:00Z",
            "2026-1-20T12:00:00Z",
            "2026-11-20T12:00:0Z",
            "2026-11-20T12:00:00",
            "",
        ] {
            assert_eq!(parse_utc_fast(s), None, "{s}");
        }
        // Near misses of the fast form, generated: where the fast path answers, it
        // answers what chrono does.
        let alphabet = b"0123456789-T:.Zz +";
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut answered = 0;
        for _ in 0..200_000 {
            let mut b = b"2024-02-29T23:59:59.123Z".to_vec();
            if next() % 2 == 0 {
                b.drain(19..23);
            }
            for _ in 0..(next() % 3) {
                let i = (next() % b.len() as u64) as usize;
                match next() % 4 {
                    0 => b[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => b[i] = b'0' + (next() % 10) as u8,
                    2 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, b'0' + (next() % 10) as u8),
                }
            }
            let s = std::str::from_utf8(&b).unwrap();
            if let Some(t) = parse_utc_fast(s) {
                answered += 1;
                assert_eq!(Some(t), chrono_utc(s), "{s}");
            }
        }
        assert!(answered > 10_000, "{answered}");
    }

    #[test]
    fn fields_with_fast_deserializers_give_the_same_errors() {
        let bad = [
            (
                r#""tags":"x""#,
                "invalid type: string \"x\", expected a sequence",
            ),
            (
                r#""tags":[1]"#,
                "invalid type: integer `1`, expected a string",
            ),
            (
                r#""pushed_at":1"#,
                "invalid type: integer `1`, expected an RFC 3339 formatted date and time string",
            ),
            (
                r#""pushed_at":"2023-02-29T00:00:00Z""#,
                "input is out of range",
            ),
            (
                r#""pushed_at":"yesterday""#,
                "input contains invalid characters",
            ),
        ];
        for (field, want) in bad {
            let img = format!(
                r#"{{"digest":"{}","pushed_at":"2026-01-01T00:00:00Z",{field}}}"#,
                digest(1)
            )
            .replacen(
                r#""pushed_at":"2026-01-01T00:00:00Z","pushed_at""#,
                r#""pushed_at""#,
                1,
            );
            let text = snapshot(&[("a/one", img)]);
            match parse("s.json", text.as_bytes()) {
                Err(SnapshotError::Syntax { message, .. }) => assert_eq!(message, want, "{field}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        let text = snapshot(&[(
            "a/one",
            format!(
                r#"{{"digest":"{}","tags":["a","b","c"],"pushed_at":"2026-01-01T00:00:00Z"}}"#,
                digest(1)
            ),
        )]);
        let s = parse("s.json", text.as_bytes()).unwrap();
        let tags: Vec<&str> = s.registries[0].repositories[0].images[0]
            .tags
            .iter()
            .map(Tag::as_str)
            .collect();
        assert_eq!(tags, ["a", "b", "c"]);
    }
}
