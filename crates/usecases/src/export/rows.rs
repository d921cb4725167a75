//! Rows straight from the JSON text of a page: each record is read into a reused list of
//! borrowed entries, never a map, and its columns are found there by the rules of
//! [`super::lookup`]. Where each column sits is worked out once per record layout. No I/O.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One key of a record and its value, in the record's order; an object's entries follow it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry<'a> {
    key: Cow<'a, str>,
    depth: u32,
    value: Leaf<'a>,
}

#[derive(Debug, Clone, PartialEq)]
enum Leaf<'a> {
    Null,
    Text(Cow<'a, str>),
    /// A number, a boolean or a list.
    Other(Value),
    /// An object, whose entries run up to `end` (exclusive).
    Object {
        end: usize,
    },
}

/// Calls `each` with the entries of every record of a JSON list of objects, in order.
pub(crate) fn for_each_record<'de>(
    json: &'de [u8],
    each: impl FnMut(&[Entry<'de>]),
) -> Result<(), serde_json::Error> {
    // Checked once for the whole page, so no string is checked again on its own.
    let text = std::str::from_utf8(json).map_err(|e| {
        <serde_json::Error as serde::de::Error>::custom(format_args!("not UTF-8: {e}"))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_seq(Records { each })?;
    deserializer.end()
}

/// Where the wanted columns sit in records laid out as the last one was.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// (depth, key, is an object) of each entry of the record the slots were found for.
    shape: Vec<(u32, String, bool)>,
    /// The entry of each column, then of `LAST_UPDATE`.
    slots: Vec<Option<usize>>,
}

impl Layout {
    /// The entry of each of `columns` and then of `stamp` in `record`, worked out again only
    /// when the record is laid out differently from the one before.
    pub(crate) fn slots(
        &mut self,
        record: &[Entry],
        columns: &[String],
        stamp: &str,
    ) -> &[Option<usize>] {
        let same = self.slots.len() == columns.len() + 1
            && self.shape.len() == record.len()
            && self.shape.iter().zip(record).all(|((depth, key, object), entry)| {
                *depth == entry.depth
                    && *object == matches!(entry.value, Leaf::Object { .. })
                    && *key == entry.key
            });
        if !same {
            self.shape = record
                .iter()
                .map(|e| (e.depth, e.key.to_string(), matches!(e.value, Leaf::Object { .. })))
                .collect();
            self.slots = columns
                .iter()
                .map(String::as_str)
                .chain([stamp])
                .map(|name| find(record, 0..record.len(), name))
                .collect();
        }
        &self.slots
    }

    /// Forgets the layout, so the next record works out the slots again.
    pub(crate) fn reset(&mut self) {
        self.shape.clear();
        self.slots.clear();
    }
}

/// The columns of a record in its own order, nested objects as `OUTER.INNER`, as
/// [`super::flatten_columns`] names them.
pub(crate) fn columns_of(record: &[Entry]) -> Vec<String> {
    fn walk(record: &[Entry], range: std::ops::Range<usize>, prefix: &str, out: &mut Vec<String>) {
        for at in children(record, range) {
            let entry = &record[at];
            let name = if prefix.is_empty() {
                entry.key.to_string()
            } else {
                format!("{prefix}.{}", entry.key)
            };
            match entry.value {
                Leaf::Object { end } if end > at + 1 => walk(record, at + 1..end, &name, out),
                _ => out.push(name),
            }
        }
    }
    let mut columns = Vec::new();
    walk(record, 0..record.len(), "", &mut columns);
    columns
}

/// Appends the text of the entry at `at` as [`super::write_cell`] writes a value.
pub(crate) fn write_entry(cell: &mut String, record: &[Entry], at: usize) {
    use std::fmt::Write;

    match &record[at].value {
        Leaf::Null => {}
        Leaf::Text(text) => cell.push_str(text),
        // Writing into a String cannot fail.
        Leaf::Other(value) => {
            let _ = write!(cell, "{value}");
        }
        Leaf::Object { .. } => {
            let _ = write!(cell, "{}", to_value(record, at));
        }
    }
}

/// The text of the entry at `at` when it is a string.
pub(crate) fn entry_text<'r>(record: &'r [Entry], at: usize) -> Option<&'r str> {
    match &record[at].value {
        Leaf::Text(text) => Some(text),
        _ => None,
    }
}

/// The entry a column names, by the rules of [`super::lookup`]: the key itself, else the first
/// key equal to it in any case, else `OUTER.INNER` inside nested objects, splitting at the
/// first dot that leads somewhere.
fn find(record: &[Entry], range: std::ops::Range<usize>, name: &str) -> Option<usize> {
    let mut matches = children(record, range.clone());
    if let Some(at) = matches.clone().find(|&at| record[at].key == name) {
        return Some(at);
    }
    if let Some(at) = matches.find(|&at| record[at].key.eq_ignore_ascii_case(name)) {
        return Some(at);
    }
    name.match_indices('.').find_map(|(dot, _)| {
        let outer = find(record, range.clone(), &name[..dot])?;
        match record[outer].value {
            Leaf::Object { end } => find(record, outer + 1..end, &name[dot + 1..]),
            _ => None,
        }
    })
}

/// The entries directly inside `range`, skipping what nested objects hold.
fn children<'r>(
    record: &'r [Entry<'_>],
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = usize> + Clone + 'r {
    let mut at = range.start;
    std::iter::from_fn(move || {
        let this = at;
        (this < range.end).then(|| {
            at = match record[this].value {
                Leaf::Object { end } => end,
                _ => this + 1,
            };
            this
        })
    })
}

/// The entry at `at` back as a JSON value.
fn to_value(record: &[Entry], at: usize) -> Value {
    match &record[at].value {
        Leaf::Null => Value::Null,
        Leaf::Text(text) => Value::String(text.to_string()),
        Leaf::Other(value) => value.clone(),
        Leaf::Object { end } => Value::Object(
            children(record, at + 1..*end)
                .map(|inner| (record[inner].key.to_string(), to_value(record, inner)))
                .collect::<Map<_, _>>(),
        ),
    }
}

// === the deserializers ===

/// The list of records.
struct Records<F> {
    each: F,
}

impl<'de, F: FnMut(&[Entry<'de>])> Visitor<'de> for Records<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut entries = Vec::with_capacity(64);
        loop {
            entries.clear();
            if seq.next_element_seed(Object { entries: &mut entries, depth: 0 })?.is_none() {
                return Ok(());
            }
            (self.each)(&entries);
        }
    }
}

/// A record, or an object inside one: its entries are appended at `depth`.
struct Object<'v, 'de> {
    entries: &'v mut Vec<Entry<'de>>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for Object<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            map.next_value_seed(Field { entries: &mut *self.entries, depth: self.depth, key })?;
        }
        Ok(())
    }
}

/// A key, borrowed from the page unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text.to_owned())))
    }
}

/// The value of one key, appended as an entry.
struct Field<'v, 'de> {
    entries: &'v mut Vec<Entry<'de>>,
    depth: u32,
    key: Cow<'de, str>,
}

impl<'de> Field<'_, 'de> {
    fn push<E>(self, value: Leaf<'de>) -> Result<(), E> {
        self.entries.push(Entry { key: self.key, depth: self.depth, value });
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Field<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<(), E> {
        self.push(Leaf::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        self.push(Leaf::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<(), E> {
        self.push(Leaf::Text(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.push(Leaf::Null)
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.push(Leaf::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        self.push(Leaf::Other(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.push(Leaf::Other(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        self.push(Leaf::Other(Value::from(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        // As serde_json's own Value reads a float.
        self.push(Leaf::Other(
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        self.push(Leaf::Other(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let at = self.entries.len();
        self.entries.push(Entry {
            key: self.key,
            depth: self.depth,
            value: Leaf::Object { end: at + 1 },
        });
        Object { entries: &mut *self.entries, depth: self.depth + 1 }.visit_map(map)?;
        let end = self.entries.len();
        self.entries[at].value = Leaf::Object { end };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::{flatten_columns, row_cells};

    /// The cells of each record of `page` for `columns`, read the fast way.
    fn rows(page: &Value, columns: &[String]) -> Vec<Vec<String>> {
        let text = page.to_string();
        let mut layout = Layout::default();
        let mut rows = Vec::new();
        for_each_record(text.as_bytes(), |record| {
            let slots = layout.slots(record, columns, "LAST_UPDATE");
            let row = slots[..columns.len()]
                .iter()
                .map(|slot| {
                    let mut cell = String::new();
                    if let Some(at) = slot {
                        write_entry(&mut cell, record, *at);
                    }
                    cell
                })
                .collect();
            rows.push(row);
        })
        .unwrap();
        rows
    }

    /// The cells of each record of `page` as the map-based export writes them.
    fn expected(page: &Value, columns: &[String]) -> Vec<Vec<String>> {
        let records: Vec<crate::export::Record> = serde_json::from_value(page.clone()).unwrap();
        records.iter().map(|record| row_cells(record, columns)).collect()
    }

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn records_give_the_cells_and_columns_the_map_based_export_gives() {
        let page = json!([
            {"EMPLOYEE_ID": "7", "LAST_NAME": "Morley, \"Gaby\"\n", "NAME": "Zoë",
             "LOCATION": {"LOCATION_ID": 1, "LOCATION_PATH": "Europe/France/Paris", "SITE": {"CODE": "P1"}},
             "MANAGER": {}, "GROUPS": ["a", {"b": 1.5}], "ACTIVE": true, "MANAGER_ID": null, "RATE": -2.50},
            {"LOCATION": "flat", "EMPLOYEE_ID": 8},
            {"employee_id": "9", "EMPLOYEE_ID": "10", "A.B": "dotted", "A": {"B": "nested"}},
        ]);
        let first: crate::export::Record = serde_json::from_value(page[0].clone()).unwrap();
        let text = page.to_string();
        let mut flattened = Vec::new();
        for_each_record(text.as_bytes(), |record| flattened.push(columns_of(record))).unwrap();
        assert_eq!(flattened[0], flatten_columns(&first));

        let mut columns = flattened[0].clone();
        columns.extend(names(&[
            "location",
            "Location.Site",
            "location.site.code",
            "a.b",
            "A.B.C",
            "employee_id",
            "MISSING",
            "",
        ]));
        assert_eq!(rows(&page, &columns), expected(&page, &columns));
    }

    #[test]
    fn a_column_is_found_again_when_the_layout_changes() {
        let page = json!([
            {"ID": "1", "NAME": "a"},
            {"NAME": "b", "ID": "2"},
            {"NAME": "c", "ID": "3"},
            {"NAME": {"FIRST": "d"}, "ID": "4"},
            {"name": "e", "ID": "5"},
        ]);
        let columns = names(&["ID", "NAME", "NAME.FIRST"]);
        assert_eq!(rows(&page, &columns), expected(&page, &columns));
    }

    #[test]
    fn escaped_text_and_keys_are_read() {
        let page = json!([{"K\u{e9}\"Y": "line\r\nnext \\ \u{1F600}", "T": "\t"}]);
        let columns = names(&["K\u{e9}\"Y", "T"]);
        assert_eq!(rows(&page, &columns), expected(&page, &columns));
    }

    #[test]
    fn a_list_that_holds_something_else_than_records_is_refused() {
        assert!(for_each_record(br#"[{"A": 1}, 2]"#, |_| {}).is_err());
        assert!(for_each_record(br#"{"A": 1}"#, |_| {}).is_err());
        assert!(for_each_record(br#"[{"A": 1}"#, |_| {}).is_err());
        assert!(for_each_record(b"[{\"A\": \"\xff\"}]", |_| {}).is_err());
    }
}
