//! Typed extraction from the tree: a serde `Deserializer` over a nested view of the settings,
//! with .NET configuration's rules. Struct fields match keys without regard to case, map keys
//! stay as written, text parses into numbers and booleans, `0`, `1`, … children form lists.
//! An error never quotes the value of a secret setting.

use std::fmt;

use secrecy::ExposeSecret;
use serde::de::value::{StrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::tree::{Entry, Scalar, names_a_secret};

/// One node of the nested view: the value set at this path, if any, and the children.
pub(crate) struct Node<'a> {
    /// `Section:Key`, spelled as first written.
    pub(crate) path: String,
    pub(crate) value: Option<&'a Entry>,
    pub(crate) children: Vec<(String, Node<'a>)>,
}

impl<'a> Node<'a> {
    pub(crate) fn new(path: String) -> Node<'a> {
        Node { path, value: None, children: Vec::new() }
    }

    /// The child named `name` (any case), added when missing.
    pub(crate) fn child(&mut self, name: String, path: impl FnOnce() -> String) -> &mut Node<'a> {
        let index = match self
            .children
            .iter()
            .position(|(existing, _)| existing.eq_ignore_ascii_case(&name))
        {
            Some(index) => index,
            None => {
                self.children.push((name, Node::new(path())));
                self.children.len() - 1
            }
        };
        &mut self.children[index].1
    }

    fn scalar(&self) -> Option<&'a Scalar> {
        self.value.map(|entry| &entry.value)
    }

    /// Does this setting hold a secret, or a key whose name says it may be one? Its value is
    /// then never quoted in an error. Wider than the tree's rule for what is read as a secret
    /// ([`names_a_secret`], plus any key containing `key`): an error message loses nothing by
    /// hiding more.
    fn sensitive(&self) -> bool {
        if matches!(self.scalar(), Some(Scalar::Secret(_))) {
            return true;
        }
        let path: Vec<String> = self.path.split(':').map(str::to_owned).collect();
        let name = path.last().map(|key| key.to_lowercase()).unwrap_or_default();
        names_a_secret(&path) || name.contains("key")
    }

    /// Empty: no children and no value, a null, or empty text (.NET binds nothing from those).
    fn is_blank(&self) -> bool {
        self.children.is_empty() && matches!(self.scalar().and_then(Scalar::text), None | Some(""))
    }

    fn text(&self, expected: &str) -> Result<&'a str, ExtractError> {
        if !self.children.is_empty() && self.value.is_none() {
            return Err(self.error(format!("expected {expected}, found a section")));
        }
        self.scalar()
            .and_then(Scalar::text)
            .ok_or_else(|| self.error(format!("expected {expected}, found nothing")))
    }

    fn parse<T: std::str::FromStr>(&self, expected: &str) -> Result<T, ExtractError> {
        self.text(expected)?.trim().parse().map_err(|_| self.error(format!("expected {expected}")))
    }

    fn error(&self, message: String) -> ExtractError {
        ExtractError { path: self.path.clone(), message }
    }

    /// Gives an error from a visitor this node's path, and hides its text when the value is
    /// secret (serde's messages may quote the value).
    fn own(&self, error: ExtractError) -> ExtractError {
        if !error.path.is_empty() {
            return error;
        }
        if self.children.is_empty() && self.sensitive() {
            return self.error("invalid value (not shown: the setting is secret)".into());
        }
        self.error(error.message)
    }

    /// The children in list order, when every name is an index.
    fn as_list(&self) -> Option<Vec<&Node<'a>>> {
        let mut indexed: Vec<(usize, &Node<'a>)> = Vec::with_capacity(self.children.len());
        for (name, node) in &self.children {
            indexed.push((name.parse().ok()?, node));
        }
        indexed.sort_by_key(|(index, _)| *index);
        Some(indexed.into_iter().map(|(_, node)| node).collect())
    }
}

/// Why a section could not be extracted, with the setting concerned.
#[derive(Debug)]
pub(crate) struct ExtractError {
    pub(crate) path: String,
    pub(crate) message: String,
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExtractError {}

impl de::Error for ExtractError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ExtractError { path: String::new(), message: message.to_string() }
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident : $ty:ty, $expected:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
            let number: $ty = self.parse($expected)?;
            visitor.$visit(number).map_err(|error| self.own(error))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &Node<'_> {
    type Error = ExtractError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        if !self.children.is_empty() {
            return match self.as_list() {
                Some(items) => visitor.visit_seq(Items(items.into_iter())),
                None => visitor.visit_map(Children::new(self, None)),
            }
            .map_err(|error| self.own(error));
        }
        match self.scalar() {
            None | Some(Scalar::Null) => visitor.visit_unit(),
            Some(Scalar::Text(text)) => visitor.visit_str(text),
            Some(Scalar::Number(text)) => {
                if let Ok(number) = text.parse::<u64>() {
                    visitor.visit_u64(number)
                } else if let Ok(number) = text.parse::<i64>() {
                    visitor.visit_i64(number)
                } else if let Ok(number) = text.parse::<f64>() {
                    visitor.visit_f64(number)
                } else {
                    visitor.visit_str(text)
                }
            }
            Some(Scalar::Bool(flag)) => visitor.visit_bool(*flag),
            // Lent, not copied: a visitor that keeps the value (a `SecretString` target, through
            // serde's `String` visitor) makes the one copy it keeps, with exactly the text's
            // length, and secrecy turns that `String` into its boxed secret without reallocating.
            // No plain copy of ours is left behind.
            Some(Scalar::Secret(secret)) => visitor.visit_str(secret.expose_secret()),
        }
        .map_err(|error| self.own(error))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        let text = self.text("true or false")?.trim();
        let flag = if text.eq_ignore_ascii_case("true") {
            true
        } else if text.eq_ignore_ascii_case("false") {
            false
        } else {
            return Err(self.error("expected true or false".into()));
        };
        visitor.visit_bool(flag).map_err(|error| self.own(error))
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8, "a whole number";
        deserialize_i16 => visit_i16: i16, "a whole number";
        deserialize_i32 => visit_i32: i32, "a whole number";
        deserialize_i64 => visit_i64: i64, "a whole number";
        deserialize_u8 => visit_u8: u8, "a whole number from 0 to 255";
        deserialize_u16 => visit_u16: u16, "a whole number from 0 to 65535";
        deserialize_u32 => visit_u32: u32, "a whole number, 0 or more";
        deserialize_u64 => visit_u64: u64, "a whole number, 0 or more";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        let mut chars = self.text("one character")?.chars();
        match (chars.next(), chars.next()) {
            (Some(only), None) => visitor.visit_char(only).map_err(|error| self.own(error)),
            _ => Err(self.error("expected one character".into())),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        // The text is lent (`visit_str`), never handed over as a `String` of ours: for a secret,
        // the only copy is the one a `SecretString` target keeps (see `deserialize_any`), and a
        // visitor that refuses the value copies nothing.
        let text = self.text("text")?;
        visitor.visit_str(text).map_err(|error| self.own(error))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        let text = self.text("text")?;
        visitor.visit_bytes(text.as_bytes()).map_err(|error| self.own(error))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        if self.children.is_empty() && matches!(self.scalar(), None | Some(Scalar::Null)) {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        if self.is_blank() {
            return visitor
                .visit_seq(Items(Vec::new().into_iter()))
                .map_err(|error| self.own(error));
        }
        if self.children.is_empty() {
            return Err(self.error("expected a list, found a single value".into()));
        }
        let items =
            self.as_list().unwrap_or_else(|| self.children.iter().map(|(_, node)| node).collect());
        visitor.visit_seq(Items(items.into_iter())).map_err(|error| self.own(error))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        if self.children.is_empty() && !self.is_blank() {
            return Err(self.error("expected a section of keys, found a single value".into()));
        }
        visitor.visit_map(Children::new(self, None)).map_err(|error| self.own(error))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        if self.children.is_empty() && !self.is_blank() {
            return Err(self.error("expected a section of keys, found a single value".into()));
        }
        visitor.visit_map(Children::new(self, Some(fields))).map_err(|error| self.own(error))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        let text = self.text("one of the allowed names")?;
        let variant: StrDeserializer<'_, ExtractError> = text.into_deserializer();
        visitor.visit_enum(variant).map_err(|error| self.own(error))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ExtractError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ExtractError> {
        visitor.visit_unit()
    }
}

/// The children of a section as map entries; for a struct, each key is replaced by the field
/// name it matches without regard to case.
struct Children<'b, 'a> {
    children: std::slice::Iter<'b, (String, Node<'a>)>,
    fields: Option<&'static [&'static str]>,
    pending: Option<&'b Node<'a>>,
}

impl<'b, 'a> Children<'b, 'a> {
    fn new(node: &'b Node<'a>, fields: Option<&'static [&'static str]>) -> Self {
        Children { children: node.children.iter(), fields, pending: None }
    }
}

impl<'de> MapAccess<'de> for Children<'_, '_> {
    type Error = ExtractError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ExtractError> {
        let Some((name, node)) = self.children.next() else {
            return Ok(None);
        };
        self.pending = Some(node);
        let key = self
            .fields
            .and_then(|fields| fields.iter().find(|field| field.eq_ignore_ascii_case(name)))
            .map_or_else(|| name.clone(), |field| field.to_string());
        let key: StringDeserializer<ExtractError> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ExtractError> {
        let node = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(node).map_err(|error| node.own(error))
    }
}

/// List items in index order.
struct Items<'b, 'a>(std::vec::IntoIter<&'b Node<'a>>);

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = ExtractError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ExtractError> {
        match self.0.next() {
            Some(node) => seed.deserialize(node).map(Some).map_err(|error| node.own(error)),
            None => Ok(None),
        }
    }
}
