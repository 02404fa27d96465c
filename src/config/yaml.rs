//! A YAML document as a tree of nodes that remember where they stand in the file.
//!
//! The desired-state validator reads each mapping of this tree into its raw type
//! ([`super::at`]) and each value from its node, so that it can report every problem
//! in a file at once (serde stops at the first), each at its exact place.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::text::LineIndex;

/// A position in a source text: byte offset and length, plus 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Byte offset from the start of the file.
    pub offset: usize,
    /// Length in bytes (0 for the start of a mapping or sequence).
    pub len: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

/// A YAML value.
#[derive(Debug)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

/// A YAML value with its place in the file.
#[derive(Debug)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it stands.
    pub span: Span,
}

impl Value {
    /// What kind of value this is, for messages ("a string", "a mapping").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The raw tree as serde-saphyr gives it; positions are converted after parsing.
struct RawNode(Spanned<RawValue>);

enum RawValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<RawNode>),
    Map(Vec<(RawNode, RawNode)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<RawValue>::deserialize(d).map(RawNode)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_none<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
                RawValue::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawValue, E> {
                Ok(RawValue::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawValue, E> {
                Ok(RawValue::Int(v))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<RawValue, E> {
                i128::try_from(v)
                    .map(RawValue::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
                Ok(RawValue::Str(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<RawValue, E> {
                Ok(RawValue::Str(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<RawNode>()? {
                    items.push(item);
                }
                Ok(RawValue::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = a.next_key::<RawNode>()? {
                    let value = a.next_value::<RawNode>()?;
                    entries.push((key, value));
                }
                Ok(RawValue::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A span from a serde-saphyr location.
fn span_at(index: &LineIndex<'_>, loc: &Location) -> Span {
    let text = index.text();
    let offset = index.offset(loc.line(), loc.column());
    // The location's length is in characters; convert it to bytes.
    let chars = usize::try_from(loc.span().len()).unwrap_or(0);
    let len = text[offset..]
        .char_indices()
        .nth(chars)
        .map_or(text.len() - offset, |(i, _)| i);
    Span {
        offset,
        len,
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
    }
}

fn convert(raw: RawNode, index: &LineIndex<'_>) -> Node {
    let span = span_at(index, &raw.0.referenced);
    let value = match raw.0.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(|n| convert(n, index)).collect()),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, index), convert(v, index)))
                .collect(),
        ),
    };
    Node { value, span }
}

/// A YAML syntax (or resource-limit) error with its position.
#[derive(Debug)]
pub struct SyntaxError {
    /// The parser's message, without position.
    pub message: String,
    /// Where it happened, when known.
    pub span: Option<Span>,
}

/// The parser options: the default budgets, and YAML 1.2 booleans only, so that
/// `yes`, `no`, `on` and `off` are strings (a tag `on` stays a tag, and
/// `allow_empty: yes` is refused instead of silently meaning true).
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// A key written twice in one mapping: the first is the one that counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    /// The key, as text.
    pub key: String,
    /// Where it stands first.
    pub first: Span,
    /// Where it stands again.
    pub again: Span,
}

/// Parses one YAML document into a tree of positioned nodes; a key written twice in a
/// mapping is an error.
///
/// serde-saphyr's default budget bounds depth, node count, aliases and anchors, so
/// hostile documents (deep nesting, "billion laughs") are refused instead of exhausting
/// memory.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let (root, duplicates) = parse_keeping_first(text)?;
    match duplicates.first() {
        None => Ok(root),
        Some(d) => Err(SyntaxError {
            message: format!("duplicate mapping key `{}`", d.key),
            span: Some(d.again),
        }),
    }
}

/// Parses one YAML document; of a key written twice in a mapping the first entry is
/// kept and each repetition is returned, so that a validator can report it and go on
/// checking the rest of the file.
pub fn parse_keeping_first(text: &str) -> Result<(Node, Vec<DuplicateKey>), SyntaxError> {
    use serde_saphyr::MessageFormatter as _;
    // The user-facing wording: the default one gives advice to the programmer
    // ("set DuplicateKeyPolicy in Options", "use from_str_multiple").
    let index = LineIndex::new(text);
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<RawNode>(text, options) {
        Ok(raw) => {
            let mut root = convert(raw, &index);
            let mut duplicates = Vec::new();
            keep_first(&mut root, &mut duplicates);
            Ok((root, duplicates))
        }
        Err(err) => {
            let message = serde_saphyr::UserMessageFormatter
                .format_message(&err)
                .into_owned();
            let span = err.location().map(|loc| span_at(&index, &loc));
            Err(SyntaxError { message, span })
        }
    }
}

/// A scalar key as text, for comparing keys; none for a sequence or mapping key.
fn key_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("~".to_owned()),
        Value::Float(_) | Value::Seq(_) | Value::Map(_) => None,
    }
}

/// Drops the repetitions of each mapping's keys (the first entry stays), at every
/// depth, and records them.
fn keep_first(node: &mut Node, duplicates: &mut Vec<DuplicateKey>) {
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| keep_first(n, duplicates)),
        Value::Map(entries) => {
            let mut seen: std::collections::HashMap<String, Span> =
                std::collections::HashMap::new();
            entries.retain(|(k, _)| match key_text(k) {
                Some(text) => match seen.get(&text) {
                    Some(first) => {
                        duplicates.push(DuplicateKey {
                            key: text,
                            first: *first,
                            again: k.span,
                        });
                        false
                    }
                    None => {
                        seen.insert(text, k.span);
                        true
                    }
                },
                None => true,
            });
            for (_, v) in entries.iter_mut() {
                keep_first(v, duplicates);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_have_their_positions() {
        let text = "a: 1\nbé: \"x\"\n";
        let node = parse(text).unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        assert_eq!(entries[1].1.span.line, 2);
        assert_eq!(entries[1].1.span.column, 5);
        assert_eq!(
            &text[entries[1].1.span.offset..][..entries[1].1.span.len],
            "\"x\""
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.span.map(|s| (s.line, s.column)), Some((2, 2)));
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.contains("duplicate"), "{}", err.message);
    }

    #[test]
    fn a_repeated_key_keeps_the_first_entry_and_is_recorded() {
        let (root, duplicates) = parse_keeping_first("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
        assert!(matches!(entries[0].1.value, Value::Int(1)));
        let Value::Map(inner) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(inner.len(), 1);
        assert!(matches!(inner[0].1.value, Value::Int(2)));
        let places: Vec<(&str, u32, u32)> = duplicates
            .iter()
            .map(|d| (d.key.as_str(), d.first.line, d.again.line))
            .collect();
        assert_eq!(places, [("a", 1, 5), ("c", 3, 4)]);
    }

    #[test]
    fn only_yaml_1_2_booleans() {
        let node = parse("a: yes\nb: true\nc: on\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        assert!(matches!(&entries[0].1.value, Value::Str(s) if s == "yes"));
        assert!(matches!(entries[1].1.value, Value::Bool(true)));
        assert!(matches!(&entries[2].1.value, Value::Str(s) if s == "on"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&doc).is_err());
    }
}
