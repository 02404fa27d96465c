//! Reading a mapping of a positioned YAML tree into one of the [`super::raw`] types,
//! collecting its problems instead of stopping at the first.
//!
//! The types say which keys a mapping takes (serde's field list of the struct) and
//! which are required; each value they hold is an [`At`], a handle on the value as
//! written, which validation reads (and, for a nested mapping, reads the same way).
//! So one bad value never hides the problems of its neighbours, and the keys are
//! written once, in the types.

use std::cell::RefCell;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, MapAccess, Visitor};

use super::yaml::{Node, Value};

/// A value of a desired-state file, at its place: typed `T` for the schema, read by
/// validation from the node it stands for ([`Places::get`]). Only [`read`] produces
/// one.
pub struct At<T> {
    /// The index of the (key, value) pair in [`Places`]; [`MISSING`] when the key is
    /// absent.
    id: usize,
    ty: PhantomData<fn() -> T>,
}

/// The id of a required key that is absent.
const MISSING: usize = usize::MAX;

/// The name [`At`] asks a deserializer for, so that only [`read`]'s deserializer
/// answers it.
const MARK: &str = "$ecr_reconcile::config::At";

impl<T> std::fmt::Debug for At<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("At").field(&self.id).finish()
    }
}

impl<'de, T> de::Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<fn() -> T>);
        impl<T> Visitor<'_> for V<T> {
            type Value = At<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value of a desired-state file")
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<At<T>, E> {
                let id = usize::try_from(id).map_err(|_| E::custom("id out of range"))?;
                Ok(At {
                    id,
                    ty: PhantomData,
                })
            }
        }
        d.deserialize_newtype_struct(MARK, V(PhantomData))
    }
}

/// The schema gives an optional key the default `null` when its type serializes (as
/// schemars does for `Option<T>`): the default, `None`, is all that is ever serialized.
impl<T: serde::Serialize> serde::Serialize for At<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

/// The schema of `T`: the wrapper does not show in the schema.
impl<T: schemars::JsonSchema> schemars::JsonSchema for At<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// The (key, value) pairs that the [`At`]s of one file stand for.
#[derive(Default)]
pub(super) struct Places<'n> {
    pairs: RefCell<Vec<(&'n Node, &'n Node)>>,
}

impl<'n> Places<'n> {
    /// The key and the value written for `at`; `None` when the key is absent.
    pub fn get<T>(&self, at: &At<T>) -> Option<(&'n Node, &'n Node)> {
        self.pairs.borrow().get(at.id).copied()
    }

    /// The value written for `at`, when its key is present.
    pub fn value<T>(&self, at: &At<T>) -> Option<&'n Node> {
        self.get(at).map(|(_, v)| v)
    }

    fn add(&self, key: &'n Node, value: &'n Node) -> usize {
        let mut pairs = self.pairs.borrow_mut();
        pairs.push((key, value));
        pairs.len() - 1
    }
}

/// A problem with the keys of a mapping.
pub(super) enum KeyProblem<'n> {
    /// A key that is not a string.
    NotAName(&'n Node),
    /// A key the type does not take; with the keys it takes, in declaration order.
    Unknown(&'n Node, &'n str, &'static [&'static str]),
}

/// Reads the mapping `node` into `T` (a struct of [`At`] fields). `Err` when `node`
/// is not a mapping. The keys that `T` does not take are left out and returned.
pub(super) fn read<'n, T: DeserializeOwned>(
    places: &Places<'n>,
    node: &'n Node,
) -> Result<(T, Vec<KeyProblem<'n>>), NotAMapping> {
    let Value::Map(entries) = &node.value else {
        return Err(NotAMapping);
    };
    let mut problems = Vec::new();
    let read = T::deserialize(MappingReader {
        places,
        entries,
        problems: &mut problems,
    });
    // The raw types hold only `At` fields, which this reader always fills.
    let value = read.unwrap_or_else(|e| panic!("a raw type reads any mapping: {}", e.0));
    Ok((value, problems))
}

/// The node is not a mapping.
#[derive(Debug)]
pub(super) struct NotAMapping;

/// An error of the raw types' derived code; this reader never causes one.
#[derive(Debug)]
pub(super) struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Error(msg.to_string())
    }
}

struct MappingReader<'a, 'n> {
    places: &'a Places<'n>,
    entries: &'n [(Node, Node)],
    problems: &'a mut Vec<KeyProblem<'n>>,
}

impl<'de> Deserializer<'de> for MappingReader<'_, '_> {
    type Error = Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut found: Vec<(&'static str, usize)> = Vec::with_capacity(fields.len());
        for (key, value) in self.entries {
            let Value::Str(k) = &key.value else {
                self.problems.push(KeyProblem::NotAName(key));
                continue;
            };
            let Some(field) = fields.iter().find(|f| **f == k.as_str()) else {
                self.problems.push(KeyProblem::Unknown(key, k, fields));
                continue;
            };
            let id = self.places.add(key, value);
            // A key given twice (through a merge key) keeps its last value.
            match found.iter_mut().find(|(f, _)| f == field) {
                Some(earlier) => earlier.1 = id,
                None => found.push((field, id)),
            }
        }
        // Every key the type takes is given to it: an absent one as `None` (optional)
        // or as an `At` that validation finds missing (required).
        let absent: Vec<(&'static str, usize)> = fields
            .iter()
            .filter(|f| !found.iter().any(|(g, _)| g == *f))
            .map(|f| (*f, MISSING))
            .collect();
        found.extend(absent);
        visitor.visit_map(Fields {
            fields: found.into_iter(),
            next: None,
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("only structs are read from a mapping"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys of a mapping, each with the id of its value.
struct Fields {
    fields: std::vec::IntoIter<(&'static str, usize)>,
    next: Option<usize>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((name, id)) = self.fields.next() else {
            return Ok(None);
        };
        self.next = Some(id);
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let id = self.next.take().expect("a key before its value");
        seed.deserialize(Handle(id))
    }
}

/// The value of one key, as an [`At`] (or an `Option<At>`) takes it.
struct Handle(usize);

impl<'de> Deserializer<'de> for Handle {
    type Error = Error;

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0 == MISSING {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name != MARK {
            return Err(de::Error::custom(format!(
                "a raw type's field is an `At`, not `{name}`"
            )));
        }
        visitor.visit_u64(self.0 as u64)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::custom("a raw type's field is an `At`"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple struct
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawRepository, RawRule};
    use crate::config::yaml;

    #[test]
    fn keys_come_from_the_type() {
        let root = yaml::parse("tags: [a]\nowner: x\n7: y\n").unwrap();
        let places = Places::default();
        let (repo, problems) = read::<RawRepository>(&places, &root).unwrap();
        assert!(places.value(&repo.tags).is_some());
        assert!(repo.untagged.is_none() && repo.allow_empty.is_none());
        assert!(matches!(
            problems[0],
            KeyProblem::Unknown(
                _,
                "owner",
                &[
                    "tags",
                    "untagged",
                    "allow_empty",
                    "max_delete",
                    "removal",
                    "delete_archived_after"
                ]
            )
        ));
        assert!(matches!(problems[1], KeyProblem::NotAName(_)));
    }

    #[test]
    fn a_required_key_left_out_is_missing() {
        let root = yaml::parse("keep_latest: 3\n").unwrap();
        let places = Places::default();
        let (rule, problems) = read::<RawRule>(&places, &root).unwrap();
        assert!(problems.is_empty());
        assert!(places.get(&rule.pattern).is_none());
        let (_, v) = places.get(rule.keep_latest.as_ref().unwrap()).unwrap();
        assert!(matches!(v.value, Value::Int(3)));
        assert!(read::<RawRule>(&places, &yaml::parse("[1]").unwrap()).is_err());
    }
}
