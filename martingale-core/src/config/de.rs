//! A serde `Deserializer` over a [`Node`] tree: numbers reach `Decimal`
//! exactly, and every error names the field path (`strategy.take_profit`)
//! and what was expected, in words, instead of a position in text the user
//! may never have written (e.g. JSON built from Python keyword arguments).
//!
//! Invariants: a number is handed to a `Decimal` only as the exact plain text
//! of [`exact_text`] (never as an `f64`); a number-looking string is checked
//! the same way; integer fields take integers only (`2.5` and `"5"` are
//! refused with the range expected). Known limit: the hints for types are
//! keyed by the serde type names of the bot file (`TakeProfit`, ...).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::document::{exact_number_text, looks_numeric, Node, NumberError};

/// A deserialization error: the path of the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    /// Dotted field path, `None` until the innermost deserializer sets it.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Error {
    fn new(message: String) -> Error {
        Error { path: None, message }
    }

    /// Sets the path unless an inner value already did.
    fn at(mut self, path: &str) -> Error {
        if self.path.is_none() {
            self.path = Some(path.to_string());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.as_deref() {
            Some(p) if !p.is_empty() => write!(f, "`{p}`: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// Words for what serde found, without Rust type names.
fn unexpected(u: de::Unexpected<'_>) -> String {
    use de::Unexpected as U;
    match u {
        U::Bool(b) => format!("the boolean {b}"),
        U::Unsigned(n) => format!("the number {n}"),
        U::Signed(n) => format!("the number {n}"),
        U::Float(x) => format!("the number {x}"),
        U::Char(c) => format!("the string {:?}", c.to_string()),
        U::Str(s) => format!("the string {s:?}"),
        U::Bytes(_) => "bytes".into(),
        U::Unit | U::Option => "null".into(),
        U::Map => "a table".into(),
        U::Seq => "an array".into(),
        U::UnitVariant | U::NewtypeVariant | U::TupleVariant | U::StructVariant => "a single word".into(),
        other => other.to_string(),
    }
}

/// Words for what serde expected; `Decimal`'s own text is replaced.
fn expected(e: &dyn de::Expected) -> String {
    let e = e.to_string();
    if e.contains("Decimal") {
        "a decimal number such as \"1.5\"".into()
    } else {
        e
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Error {
        Error::new(format!("expected {}, found {}", expected(exp), unexpected(unexp)))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Error {
        Error::new(format!("expected {}, found {}", expected(exp), unexpected(unexp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Error {
        Error::new(format!("unknown field `{field}`; the fields here are {}", one_of(expected)))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Error {
        Error::new(format!("unknown value {variant:?}; expected {}", one_of(expected)))
    }

    fn missing_field(field: &'static str) -> Error {
        Error::new(format!("missing field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Error {
        Error::new(format!("field `{field}` is given twice"))
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "none".into(),
        [one] => format!("`{one}`"),
        _ => format!("one of {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    }
}

/// How a value of a bot-file type is written, for type mismatches.
fn hint(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "OrderSize" => r#"a size such as {"quote": "100"} or {"base": "0.002"}"#,
        "TakeProfit" | "RawTakeProfit" => {
            r#"a table such as {"percent": "1.5", "base": "average"} or {"steps": [{"percent": "1", "close": "40"}, ...]}"#
        }
        "StopLoss" => r#"a table such as {"percent": "20", "base": "average"}"#,
        "CustomLevel" => r#"a level such as {"deviation": "2", "size": {"quote": "150"}}"#,
        "StrategyConfig" => "a table of strategy fields (base_order, take_profit, ...)",
        "MarketRules" => r#"a table of market rules such as {"tick_size": "0.01", "step_size": "0.00001"}"#,
        "FeeSchedule" => r#"a table such as {"maker": "0.001", "taker": "0.001", "asset": "quote"}"#,
        "FillModel" => r#"a table such as {"path": "adaptive", "limit_fill": "cross"}"#,
        "BotFile" => "a table with `strategy` and `market`",
        _ => return None,
    })
}

/// Deserializes one node, `path` naming it in errors.
pub(crate) struct NodeDe<'a> {
    pub node: &'a Node,
    pub path: String,
}

impl<'a> NodeDe<'a> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn mismatch(&self, what: &str) -> Error {
        Error::new(format!("expected {what}, found {}", self.node.describe())).at(&self.path)
    }

    /// An integer field: the number must be written as an integer in range.
    fn integer(&self, min: i128, max: u64) -> Result<i128, Error> {
        let range = || self.mismatch(&format!("a whole number from {min} to {max}"));
        let Node::Num(raw) = self.node else {
            return Err(range());
        };
        match raw.parse::<i128>() {
            Ok(v) if v >= min && v <= i128::from(max) => Ok(v),
            _ => Err(range()),
        }
    }

    fn number_text(&self, raw: &str) -> Result<String, Error> {
        exact_number_text(raw).map_err(|e| Error::new(format!("{raw} {e}")).at(&self.path))
    }
}

macro_rules! integer_methods {
    ($($method:ident $visit:ident $t:ty => $via:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let v = self.integer(i128::from(<$t>::MIN), u64::try_from(<$t>::MAX).unwrap_or(u64::MAX))?;
            let v = <$via>::try_from(v).map_err(|_| self.mismatch("a whole number"))?;
            visitor.$visit::<Error>(v).map_err(|e| e.at(&self.path))
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path.clone();
        let r = match self.node {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Num(raw) => {
                let is_int = !raw.contains(['.', 'e', 'E']);
                if let (true, Ok(v)) = (is_int, raw.parse::<u64>()) {
                    visitor.visit_u64(v)
                } else if let (true, Ok(v)) = (is_int, raw.parse::<i64>()) {
                    visitor.visit_i64(v)
                } else {
                    visitor.visit_str(&self.number_text(raw)?)
                }
            }
            Node::Str(s) if looks_numeric(s) => {
                let digits = if s.contains('_') { s.replace('_', "") } else { s.clone() };
                match exact_number_text(&digits) {
                    Ok(plain) => visitor.visit_str(&plain),
                    // Not a number after all (e.g. "1-2"): let the visitor judge.
                    Err(NumberError::Malformed) => visitor.visit_str(s),
                    Err(e) => Err(Error::new(format!("{s} {e}"))),
                }
            }
            Node::Str(s) => visitor.visit_str(s),
            Node::Seq(items) => visitor.visit_seq(Seq { items: items.iter(), path: &self.path, index: 0 }),
            Node::Map(entries) => visitor.visit_map(Map { entries: entries.iter(), path: &self.path, value: None }),
        };
        r.map_err(|e| e.at(&path))
    }

    integer_methods! {
        deserialize_u8 visit_u64 u8 => u64,
        deserialize_u16 visit_u64 u16 => u64,
        deserialize_u32 visit_u64 u32 => u64,
        deserialize_u64 visit_u64 u64 => u64,
        deserialize_i8 visit_i64 i8 => i64,
        deserialize_i16 visit_i64 i16 => i64,
        deserialize_i32 visit_i64 i32 => i64,
        deserialize_i64 visit_i64 i64 => i64,
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Bool(b) => visitor.visit_bool::<Error>(*b).map_err(|e| e.at(&self.path)),
            _ => Err(self.mismatch("true or false")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Str(s) => visitor.visit_str::<Error>(s).map_err(|e| e.at(&self.path)),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node {
            Node::Seq(items) => {
                visitor.visit_seq(Seq { items: items.iter(), path: &self.path, index: 0 }).map_err(|e| e.at(&self.path))
            }
            _ => Err(self.mismatch("an array")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.node {
            Node::Map(entries) => visitor
                .visit_map(Map { entries: entries.iter(), path: &self.path, value: None })
                .map_err(|e| e.at(&self.path)),
            _ => Err(self.mismatch(hint(name).unwrap_or("a table"))),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_struct("", &[], visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let what = || hint(name).map_or_else(|| one_of(variants), str::to_string);
        match self.node {
            Node::Str(s) if hint(name).is_none() => {
                let de: de::value::StrDeserializer<'_, Error> = s.as_str().into_deserializer();
                visitor.visit_enum(de).map_err(|e| e.at(&self.path))
            }
            Node::Map(entries) if entries.len() == 1 && hint(name).is_some() => {
                let (key, node) = &entries[0];
                let access = Variant { key, node, path: self.child(key), parent: &self.path };
                visitor.visit_enum(access).map_err(|e| e.at(&self.path))
            }
            _ => Err(self.mismatch(&what())),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct identifier i128 u128
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    path: &'a str,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for Seq<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path: path.clone() }).map(Some).map_err(|e| e.at(&path))
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (String, Node)>,
    path: &'a str,
    value: Option<(&'a Node, String)>,
}

impl<'de> de::MapAccess<'de> for Map<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, node)) = self.entries.next() else {
            return Ok(None);
        };
        let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
        let de: de::value::StrDeserializer<'_, Error> = key.as_str().into_deserializer();
        let k = seed.deserialize(de).map_err(|e| e.at(&path))?;
        self.value = Some((node, path));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (node, path) = self.value.take().ok_or_else(|| Error::new("a value without its key".into()))?;
        seed.deserialize(NodeDe { node, path: path.clone() }).map_err(|e| e.at(&path))
    }
}

/// An externally tagged variant written `{"quote": "100"}`.
struct Variant<'a> {
    key: &'a str,
    node: &'a Node,
    path: String,
    parent: &'a str,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = NodeDe<'a>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, NodeDe<'a>), Error> {
        let de: de::value::StrDeserializer<'_, Error> = self.key.into_deserializer();
        let v = seed.deserialize(de).map_err(|e| e.at(self.parent))?;
        Ok((v, NodeDe { node: self.node, path: self.path }))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDe<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.node {
            Node::Null => Ok(()),
            _ => Err(self.mismatch("null")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let path = self.path.clone();
        seed.deserialize(self).map_err(|e| e.at(&path))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
