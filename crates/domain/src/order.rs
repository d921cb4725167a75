//! Provisioning orders as Identity Manager writes them: a JSON object wrapping
//! `ProvisioningOrdersList`, one entry per assignment to create, change or delete.
//!
//! Parsing never loses an order silently: a file that is not of the expected shape is one error
//! for the whole file, and an entry that is not a valid order is an error for that entry alone,
//! naming the file and the order's position, while the other entries parse on.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What an order asks a person to do with the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One provisioning order, with every field Identity Manager sent kept for the templates.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisioningOrder {
    /// The key Identity Manager uses in result reports.
    pub assigned_resource_type_id: String,
    pub change_type: ChangeType,
    pub workflow_instance_id: Option<String>,
    pub owner: Map<String, Value>,
    pub resource_type: ResourceTypeRef,
    pub changes: Map<String, Value>,
    pub resource: Map<String, Value>,
    /// Fields of the order this model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The resource type an order belongs to; its identifier selects the mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceTypeRef {
    pub id: Option<String>,
    pub identifier: String,
    pub source_entity_type: Option<EntityTypeRef>,
    pub target_entity_type: Option<EntityTypeRef>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entity type named inside a resource type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntityTypeRef {
    pub id: Option<String>,
    pub identifier: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One order file: its orders, each parsed on its own.
#[derive(Debug, Clone)]
pub struct OrderFile {
    pub name: String,
    pub entries: Vec<OrderEntry>,
}

/// One entry of `ProvisioningOrdersList`, at a 1-based position in its file.
#[derive(Debug, Clone)]
pub struct OrderEntry {
    pub position: usize,
    /// The entry exactly as it was in the file, for fingerprints and error reports.
    pub raw: Value,
    pub order: Result<ProvisioningOrder, OrderError>,
}

/// The whole file is unusable: nothing in it was taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderFileError {
    #[error("{file}: not valid JSON: {reason}")]
    NotJson { file: String, reason: String },
    #[error("{file}: not an order file: {reason}")]
    NotOrderList { file: String, reason: String },
}

/// One entry of a file is not a valid order; the others are unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: order #{position}{}: {reason}", describe_id(.assigned_resource_type_id))]
pub struct OrderError {
    pub file: String,
    pub position: usize,
    pub assigned_resource_type_id: Option<String>,
    pub reason: String,
}

fn describe_id(id: &Option<String>) -> String {
    id.as_ref().map(|id| format!(" (AssignedResourceTypeId {id})")).unwrap_or_default()
}

// === ChangeType ===

impl ChangeType {
    pub const ALL: [ChangeType; 3] = [ChangeType::Added, ChangeType::Modified, ChangeType::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "Added",
            ChangeType::Modified => "Modified",
            ChangeType::Deleted => "Deleted",
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChangeType {
    type Err = String;

    /// Exactly the three values Identity Manager documents; anything else is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeType::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            format!("unknown ChangeType {s:?} (expected Added, Modified or Deleted)")
        })
    }
}

// === OrderFile ===

impl OrderFile {
    /// Parses the text of one order file. `name` is used in every error message.
    pub fn parse(name: &str, text: &str) -> Result<OrderFile, OrderFileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root: Value = serde_json::from_str(text).map_err(|e| OrderFileError::NotJson {
            file: name.to_owned(),
            reason: e.to_string(),
        })?;
        let not_list = |reason: &str| OrderFileError::NotOrderList {
            file: name.to_owned(),
            reason: reason.to_owned(),
        };
        let Value::Object(mut root) = root else {
            return Err(not_list("the top level is not a JSON object"));
        };
        let list = take_ci(&mut root, "ProvisioningOrdersList")
            .ok_or_else(|| not_list("no ProvisioningOrdersList property"))?;
        let Value::Array(list) = list else {
            return Err(not_list("ProvisioningOrdersList is not an array"));
        };

        let entries = list
            .into_iter()
            .enumerate()
            .map(|(i, raw)| OrderEntry {
                position: i + 1,
                order: ProvisioningOrder::from_json(&raw).map_err(|(id, reason)| OrderError {
                    file: name.to_owned(),
                    position: i + 1,
                    assigned_resource_type_id: id,
                    reason,
                }),
                raw,
            })
            .collect();
        Ok(OrderFile { name: name.to_owned(), entries })
    }
}

impl OrderEntry {
    /// A stable digest of this entry's content, the same every time the same file is read.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.compact_json())
    }

    /// The entry as compact JSON text, the form its fingerprint is taken of.
    pub fn compact_json(&self) -> String {
        self.raw.to_string()
    }
}

/// The fingerprint of an entry from its compact JSON text (see [`OrderEntry::compact_json`]),
/// for a caller that needs that text too.
pub fn fingerprint_of(compact_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(compact_json.as_bytes());
    hex::encode(hasher.finalize())
}

// === ProvisioningOrder ===

impl ProvisioningOrder {
    /// Reads one order object. On failure returns the order's AssignedResourceTypeId when it
    /// could be read, and the reason.
    fn from_json(raw: &Value) -> Result<ProvisioningOrder, (Option<String>, String)> {
        let Value::Object(fields) = raw else {
            return Err((None, "the order is not a JSON object".into()));
        };
        Self::from_fields(fields.clone())
    }

    fn from_fields(
        mut fields: Map<String, Value>,
    ) -> Result<ProvisioningOrder, (Option<String>, String)> {
        let id = take_id(&mut fields, "AssignedResourceTypeId")
            .map_err(|reason| (None, reason))?
            .ok_or_else(|| (None, "AssignedResourceTypeId is missing".to_owned()))?;
        let fail = |reason: String| (Some(id.clone()), reason);

        let change_type = match take_ci(&mut fields, "ChangeType") {
            Some(Value::String(s)) => s.parse::<ChangeType>().map_err(fail)?,
            Some(other) => return Err(fail(format!("ChangeType is not a string: {other}"))),
            None => return Err(fail("ChangeType is missing".into())),
        };
        let workflow_instance_id = take_id(&mut fields, "WorkflowInstanceId").map_err(fail)?;
        let owner = take_object(&mut fields, "Owner").map_err(fail)?;
        let changes = take_object(&mut fields, "Changes").map_err(fail)?;
        let resource = take_object(&mut fields, "Resource").map_err(fail)?;
        let resource_type = match take_ci(&mut fields, "ResourceType") {
            Some(Value::Object(rt)) => ResourceTypeRef::from_json(rt).map_err(fail)?,
            Some(_) => return Err(fail("ResourceType is not an object".into())),
            None => return Err(fail("ResourceType is missing".into())),
        };

        Ok(ProvisioningOrder {
            assigned_resource_type_id: id,
            change_type,
            workflow_instance_id,
            owner,
            resource_type,
            changes,
            resource,
            extra: fields,
        })
    }

    /// Reads one order entry on its own (as kept in the ledger), outside of any file.
    pub fn from_value(raw: &Value) -> Result<ProvisioningOrder, String> {
        Self::from_json(raw).map_err(|(_, reason)| reason)
    }

    /// Like [`ProvisioningOrder::from_value`], taking the value rather than copying it.
    pub fn from_owned_value(raw: Value) -> Result<ProvisioningOrder, String> {
        match raw {
            Value::Object(fields) => Self::from_fields(fields).map_err(|(_, reason)| reason),
            _ => Err("the order is not a JSON object".into()),
        }
    }

    /// The source entity type's id, as reported in the `OwnerType` result column.
    pub fn owner_type(&self) -> String {
        self.resource_type
            .source_entity_type
            .as_ref()
            .and_then(|t| t.id.clone())
            .unwrap_or_default()
    }

    /// The owner's id, as reported in the `OwnerId` result column.
    pub fn owner_id(&self) -> Option<String> {
        get_ci(&self.owner, "Id").and_then(id_text)
    }

    /// The owner's display name: `InternalDisplayName`, else `Identifier`, else the owner's id.
    pub fn owner_display_name(&self) -> String {
        ["InternalDisplayName", "DisplayName", "Identifier"]
            .iter()
            .find_map(|key| get_ci(&self.owner, key).and_then(scalar_text))
            .or_else(|| self.owner_id())
            .unwrap_or_default()
    }

    /// Resolves a mapping's `RecipientId`: when it names a property of the order's Owner,
    /// Resource or Changes (looked up in that order), that property's value; otherwise the
    /// text itself, taken as a literal EasyVista value.
    pub fn resolve_recipient(&self, recipient_id: &str) -> String {
        [&self.owner, &self.resource, &self.changes]
            .into_iter()
            .find_map(|section| get_ci(section, recipient_id).and_then(scalar_text))
            .unwrap_or_else(|| recipient_id.to_owned())
    }
}

impl ResourceTypeRef {
    fn from_json(mut fields: Map<String, Value>) -> Result<ResourceTypeRef, String> {
        let id = take_id(&mut fields, "Id")?;
        let identifier = match take_ci(&mut fields, "Identifier") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            _ => return Err("ResourceType.Identifier is missing or empty".into()),
        };
        let source_entity_type = EntityTypeRef::take(&mut fields, "SourceEntityType")?;
        let target_entity_type = EntityTypeRef::take(&mut fields, "TargetEntityType")?;
        Ok(ResourceTypeRef {
            id,
            identifier,
            source_entity_type,
            target_entity_type,
            extra: fields,
        })
    }
}

impl EntityTypeRef {
    fn take(fields: &mut Map<String, Value>, key: &str) -> Result<Option<EntityTypeRef>, String> {
        match take_ci(fields, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(mut inner)) => Ok(Some(EntityTypeRef {
                id: take_id(&mut inner, "Id").map_err(|e| format!("{key}.{e}"))?,
                identifier: take_ci(&mut inner, "Identifier").as_ref().and_then(scalar_text),
                extra: inner,
            })),
            Some(_) => Err(format!("ResourceType.{key} is not an object")),
        }
    }
}

// === helpers shared with the template context ===

/// Looks a property up by exact name, then ignoring case, as .NET serializers are lenient.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn take_ci(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(v) = map.shift_remove(key) {
        return Some(v);
    }
    let actual = map.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    map.shift_remove(&actual)
}

/// An id may be written as a JSON string or a number; both become the same text.
fn take_id(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match take_ci(map, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => id_text(&v)
            .map(Some)
            .ok_or_else(|| format!("{key} is neither a string nor a number: {v}")),
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The text of a scalar value (strings as they are, numbers and booleans printed).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn take_object(map: &mut Map<String, Value>, key: &str) -> Result<Map<String, Value>, String> {
    match take_ci(map, key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(format!("{key} is not an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example order of Identity Manager's documentation, plus one field it does not name.
    pub(crate) const DOCUMENTED_ORDER: &str = r#"{
      "ProvisioningOrdersList": [
        {
          "AssignedResourceTypeId": "3930001",
          "ChangeType": "Added",
          "WorkflowInstanceId": "81",
          "Owner": {
            "Id": "21511",
            "InternalDisplayName": "007 - Bond James",
            "Identifier": "007",
            "EmployeeId": "007",
            "PhotoTag": -3065,
            "MainFirstName": "James",
            "MainLastName": "Bond"
          },
          "ResourceType": {
            "Id": "-41",
            "SourceEntityType": { "Id": "51", "Identifier": "Directory_User" },
            "TargetEntityType": { "Id": "70", "Identifier": "PowerShellCsv_User" },
            "Identifier": "PowerShellCsv_User_NominativeUser"
          },
          "Changes": { "identifier": "007", "firstName": "James", "lastName": "Bond" },
          "Resource": { "identifier": "007" },
          "IsTest": true
        }
      ]
    }"#;

    fn only_order(file: &OrderFile) -> &ProvisioningOrder {
        assert_eq!(file.entries.len(), 1);
        file.entries[0].order.as_ref().expect("valid order")
    }

    #[test]
    fn documented_example_parses_and_keeps_unknown_fields() {
        let file = OrderFile::parse("orders.json", DOCUMENTED_ORDER).unwrap();
        let order = only_order(&file);

        assert_eq!(order.assigned_resource_type_id, "3930001");
        assert_eq!(order.change_type, ChangeType::Added);
        assert_eq!(order.workflow_instance_id.as_deref(), Some("81"));
        assert_eq!(order.owner_id().as_deref(), Some("21511"));
        assert_eq!(order.owner["PhotoTag"], serde_json::json!(-3065));
        assert_eq!(order.resource_type.id.as_deref(), Some("-41"));
        assert_eq!(order.resource_type.identifier, "PowerShellCsv_User_NominativeUser");
        let source = order.resource_type.source_entity_type.as_ref().unwrap();
        assert_eq!(source.id.as_deref(), Some("51"));
        assert_eq!(source.identifier.as_deref(), Some("Directory_User"));
        assert_eq!(order.changes["firstName"], "James");
        assert_eq!(order.resource["identifier"], "007");
        assert_eq!(order.extra["IsTest"], serde_json::json!(true));

        let back = serde_json::to_value(order).unwrap();
        assert_eq!(back["IsTest"], serde_json::json!(true), "unknown fields survive serialization");
    }

    #[test]
    fn ids_are_accepted_as_numbers() {
        let text = DOCUMENTED_ORDER
            .replace(
                r#""AssignedResourceTypeId": "3930001""#,
                r#""AssignedResourceTypeId": 3930001"#,
            )
            .replace(r#""Id": "-41""#, r#""Id": -41"#);
        let file = OrderFile::parse("orders.json", &text).unwrap();
        let order = only_order(&file);
        assert_eq!(order.assigned_resource_type_id, "3930001");
        assert_eq!(order.resource_type.id.as_deref(), Some("-41"));
    }

    #[test]
    fn unknown_change_type_is_rejected_naming_file_and_order() {
        let text =
            DOCUMENTED_ORDER.replace(r#""ChangeType": "Added""#, r#""ChangeType": "Renamed""#);
        let file = OrderFile::parse("batch-7.json", &text).unwrap();
        let err = file.entries[0].order.as_ref().unwrap_err();
        let message = err.to_string();
        assert_eq!(
            message,
            "batch-7.json: order #1 (AssignedResourceTypeId 3930001): unknown ChangeType \"Renamed\" \
             (expected Added, Modified or Deleted)"
        );
    }

    #[test]
    fn one_invalid_order_does_not_spoil_the_others() {
        let text = r#"{"ProvisioningOrdersList": [
            {"AssignedResourceTypeId": 1, "ChangeType": "Deleted", "ResourceType": {"Identifier": "A"}},
            {"AssignedResourceTypeId": 2, "ResourceType": {"Identifier": "A"}},
            {"AssignedResourceTypeId": 3, "ChangeType": "Modified", "ResourceType": {"Identifier": "A"}}
        ]}"#;
        let file = OrderFile::parse("f.json", text).unwrap();
        let results: Vec<bool> = file.entries.iter().map(|e| e.order.is_ok()).collect();
        assert_eq!(results, [true, false, true]);
        let err = file.entries[1].order.as_ref().unwrap_err();
        assert_eq!(err.position, 2);
        assert_eq!(err.assigned_resource_type_id.as_deref(), Some("2"));
        assert!(err.reason.contains("ChangeType is missing"));
    }

    #[test]
    fn files_of_the_wrong_shape_are_refused_whole() {
        assert!(matches!(
            OrderFile::parse("x.json", "{not json").unwrap_err(),
            OrderFileError::NotJson { file, .. } if file == "x.json"
        ));
        assert!(matches!(
            OrderFile::parse("x.json", "[1, 2]").unwrap_err(),
            OrderFileError::NotOrderList { .. }
        ));
        let err = OrderFile::parse("x.json", r#"{"Orders": []}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.json: not an order file: no ProvisioningOrdersList property"
        );
    }

    #[test]
    fn recipient_is_a_property_of_owner_resource_or_changes_else_a_literal() {
        let file = OrderFile::parse("orders.json", DOCUMENTED_ORDER).unwrap();
        let order = only_order(&file);
        assert_eq!(order.resolve_recipient("EmployeeId"), "007");
        assert_eq!(order.resolve_recipient("lastName"), "Bond");
        assert_eq!(order.resolve_recipient("employeeid"), "007", "property names ignore case");
        assert_eq!(order.resolve_recipient("18376"), "18376");
    }

    #[test]
    fn fingerprint_is_stable_and_content_sensitive() {
        let a = OrderFile::parse("a.json", DOCUMENTED_ORDER).unwrap();
        let b = OrderFile::parse("a.json", DOCUMENTED_ORDER).unwrap();
        assert_eq!(a.entries[0].fingerprint(), b.entries[0].fingerprint());
        let other = DOCUMENTED_ORDER.replace("\"81\"", "\"82\"");
        let c = OrderFile::parse("a.json", &other).unwrap();
        assert_ne!(a.entries[0].fingerprint(), c.entries[0].fingerprint());
    }

    #[test]
    fn an_entry_read_back_from_its_compact_json_is_the_same_order_with_the_same_fingerprint() {
        let entry = OrderFile::parse("a.json", DOCUMENTED_ORDER).unwrap().entries.remove(0);
        let text = entry.compact_json();
        assert_eq!(fingerprint_of(&text), entry.fingerprint());
        let kept: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ProvisioningOrder::from_value(&kept), ProvisioningOrder::from_owned_value(kept));
        assert_eq!(
            ProvisioningOrder::from_owned_value(Value::Null).unwrap_err(),
            "the order is not a JSON object"
        );
    }
}
