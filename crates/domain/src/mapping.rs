//! `EasyVistaResourceTypeMapping`: how the orders of one resource type become tickets.
//!
//! The element is read from the same XML Identity Manager's configuration uses, wherever it
//! stands in the document, so an existing configuration file works unchanged.

use crate::order::ChangeType;

/// The separator between the three catalog codes of `CatalogCode` (U+00A4, currency sign).
pub const CATALOG_CODE_SEPARATOR: char = '\u{a4}';

/// Some copies of the vendor documentation show the separator mis-encoded as U+FFFD; a file
/// saved from them carries that character, so it is accepted too.
const MISENCODED_SEPARATOR: char = '\u{fffd}';

/// One resource type's ticket settings, as the mapping element states them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTypeMapping {
    /// Same identifier as the resource type (`ResourceType.Identifier` of an order).
    pub identifier: String,
    /// The connection in `appsettings.agent.json` that opens the tickets.
    pub connection: String,
    pub catalog_codes: CatalogCodes,
    /// A property name of the order (Owner, Resource, Changes) or a literal EasyVista value.
    pub recipient_id: String,
    pub urgency_id: Option<String>,
    pub severity_id: Option<String>,
    pub impact_id: Option<String>,
    /// Path of the title template, as written in the XML.
    pub title: Option<String>,
    /// Path of the description template, as written in the XML.
    pub description: Option<String>,
    /// A closed ticket reports Verified rather than Executed.
    pub ticket_synchro_is_not_available: bool,
    /// 1-based line of the element, for messages.
    pub line: u32,
    /// Attributes of the element that are none of the above (a misspelling such as `UrgencyID`
    /// would otherwise go unnoticed); the mapping works without them.
    pub unknown_attributes: Vec<String>,
}

/// The attributes of an `EasyVistaResourceTypeMapping` element, spelled as Identity Manager does.
const ATTRIBUTES: &[&str] = &[
    "Identifier",
    "Connection",
    "CatalogCode",
    "RecipientId",
    "UrgencyId",
    "SeverityId",
    "ImpactId",
    "Title",
    "Description",
    "TicketSynchroIsNotAvailable",
];

/// The catalog code for each change type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogCodes {
    pub added: String,
    pub modified: String,
    pub deleted: String,
}

/// How the recipient value is sent to EasyVista.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecipientKind {
    /// `recipient_id`: the employee's EMPLOYEE_ID.
    #[default]
    Id,
    /// `recipient_identification`: the employee number.
    Identification,
    /// `recipient_mail`.
    Mail,
    /// `recipient_name`.
    Name,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("{source_name}: not valid XML: {reason}")]
    NotXml { source_name: String, reason: String },
    #[error("{source_name}, line {line}: EasyVistaResourceTypeMapping{}: {reason}", describe(.identifier))]
    Invalid { source_name: String, line: u32, identifier: Option<String>, reason: String },
    #[error(
        "{source_name}: EasyVistaResourceTypeMapping {identifier:?} is defined twice (lines {first} and {second})"
    )]
    Duplicate { source_name: String, identifier: String, first: u32, second: u32 },
}

fn describe(identifier: &Option<String>) -> String {
    identifier.as_ref().map(|i| format!(" {i:?}")).unwrap_or_default()
}

// === CatalogCodes ===

impl CatalogCodes {
    /// Reads `CatalogCode`: one code for every change type, or three separated by `¤`
    /// for Added, Modified and Deleted, in that order.
    pub fn parse(text: &str) -> Result<CatalogCodes, String> {
        let parts: Vec<&str> =
            text.split([CATALOG_CODE_SEPARATOR, MISENCODED_SEPARATOR]).map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("CatalogCode {text:?} has an empty code"));
        }
        match parts.as_slice() {
            [one] => Ok(CatalogCodes::same(one)),
            [added, modified, deleted] => Ok(CatalogCodes {
                added: (*added).to_owned(),
                modified: (*modified).to_owned(),
                deleted: (*deleted).to_owned(),
            }),
            _ => Err(format!(
                "CatalogCode {text:?} must hold one code or three separated by ¤ (Added¤Modified¤Deleted), not {}",
                parts.len()
            )),
        }
    }

    fn same(code: &str) -> CatalogCodes {
        CatalogCodes { added: code.to_owned(), modified: code.to_owned(), deleted: code.to_owned() }
    }

    pub fn for_change(&self, change: ChangeType) -> &str {
        match change {
            ChangeType::Added => &self.added,
            ChangeType::Modified => &self.modified,
            ChangeType::Deleted => &self.deleted,
        }
    }
}

// === RecipientKind ===

impl std::str::FromStr for RecipientKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "id" => Ok(RecipientKind::Id),
            "identification" => Ok(RecipientKind::Identification),
            "mail" | "email" | "e_mail" => Ok(RecipientKind::Mail),
            "name" => Ok(RecipientKind::Name),
            _ => Err(format!(
                "unknown recipient kind {s:?} (expected Id, Identification, Mail or Name)"
            )),
        }
    }
}

// === ResourceTypeMapping ===

impl ResourceTypeMapping {
    /// Every `EasyVistaResourceTypeMapping` element of an XML document, wherever it stands.
    /// `source_name` (usually the file path) is used in every error message.
    pub fn parse_all(
        source_name: &str,
        xml: &str,
    ) -> Result<Vec<ResourceTypeMapping>, MappingError> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| MappingError::NotXml {
            source_name: source_name.to_owned(),
            reason: e.to_string(),
        })?;

        let mut mappings: Vec<ResourceTypeMapping> = Vec::new();
        for node in doc.descendants().filter(|n| n.has_tag_name("EasyVistaResourceTypeMapping")) {
            let line = doc.text_pos_at(node.range().start).row;
            let mapping = Self::from_element(&node, line).map_err(|(identifier, reason)| {
                MappingError::Invalid {
                    source_name: source_name.to_owned(),
                    line,
                    identifier,
                    reason,
                }
            })?;
            if let Some(first) = mappings.iter().find(|m| m.identifier == mapping.identifier) {
                return Err(MappingError::Duplicate {
                    source_name: source_name.to_owned(),
                    identifier: mapping.identifier,
                    first: first.line,
                    second: line,
                });
            }
            mappings.push(mapping);
        }
        Ok(mappings)
    }

    fn from_element(
        node: &roxmltree::Node<'_, '_>,
        line: u32,
    ) -> Result<ResourceTypeMapping, (Option<String>, String)> {
        let attr = |name: &str| {
            node.attribute(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let identifier = attr("Identifier");
        let fail = |reason: String| (identifier.clone(), reason);
        let required = |name: &str| {
            attr(name).ok_or_else(|| fail(format!("the {name} attribute is required")))
        };

        let catalog_codes = CatalogCodes::parse(&required("CatalogCode")?).map_err(fail)?;
        let ticket_synchro_is_not_available = match attr("TicketSynchroIsNotAvailable") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(v) => {
                return Err(fail(format!(
                    "TicketSynchroIsNotAvailable {v:?} is not true or false"
                )));
            }
        };

        Ok(ResourceTypeMapping {
            identifier: required("Identifier")?,
            connection: required("Connection")?,
            catalog_codes,
            recipient_id: required("RecipientId")?,
            urgency_id: attr("UrgencyId"),
            severity_id: attr("SeverityId"),
            impact_id: attr("ImpactId"),
            title: attr("Title"),
            description: attr("Description"),
            ticket_synchro_is_not_available,
            line,
            unknown_attributes: node
                .attributes()
                .filter(|a| a.namespace().is_none() && !ATTRIBUTES.contains(&a.name()))
                .map(|a| a.name().to_owned())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example element, inside a configuration file as Identity Manager has it.
    const DOCUMENTED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ConfigurationFile xmlns="urn:schemas-usercube-com:configuration">
  <EasyVistaResourceTypeMapping Identifier="Badge_User_NominativeUser" Connection="EasyVistaManual"
    TicketSynchroIsNotAvailable="true" RecipientId="EVEmployeeId" CatalogCode="42"
    UrgencyId="1" ImpactId="2" SeverityId="3"
    Title="C:/identitymanagerDemo/Conf/EasyVista/TitleTemplate.txt"
    Description="C:/identitymanagerDemo/Conf/EasyVista/DescriptionTemplate.txt" />
</ConfigurationFile>"#;

    #[test]
    fn documented_mapping_element_loads_with_every_property() {
        let mappings = ResourceTypeMapping::parse_all("conf.xml", DOCUMENTED).unwrap();
        assert_eq!(
            mappings,
            [ResourceTypeMapping {
                identifier: "Badge_User_NominativeUser".into(),
                connection: "EasyVistaManual".into(),
                catalog_codes: CatalogCodes::parse("42").unwrap(),
                recipient_id: "EVEmployeeId".into(),
                urgency_id: Some("1".into()),
                severity_id: Some("3".into()),
                impact_id: Some("2".into()),
                title: Some("C:/identitymanagerDemo/Conf/EasyVista/TitleTemplate.txt".into()),
                description: Some(
                    "C:/identitymanagerDemo/Conf/EasyVista/DescriptionTemplate.txt".into()
                ),
                ticket_synchro_is_not_available: true,
                line: 3,
                unknown_attributes: Vec::new(),
            }]
        );
    }

    #[test]
    fn a_misspelled_attribute_is_noted_and_the_mapping_still_loads() {
        let xml = r#"<Root><EasyVistaResourceTypeMapping Identifier="Badge" Connection="EV"
            RecipientId="7" CatalogCode="42" UrgencyID="2" /></Root>"#;
        let mappings = ResourceTypeMapping::parse_all("conf.xml", xml).unwrap();
        assert_eq!(mappings[0].unknown_attributes, ["UrgencyID"]);
        assert_eq!(mappings[0].urgency_id, None);
    }

    #[test]
    fn three_catalog_codes_follow_added_modified_deleted() {
        let codes = CatalogCodes::parse("42¤25¤43").unwrap();
        assert_eq!(codes.for_change(ChangeType::Added), "42");
        assert_eq!(codes.for_change(ChangeType::Modified), "25");
        assert_eq!(codes.for_change(ChangeType::Deleted), "43");
    }

    #[test]
    fn one_catalog_code_serves_every_change_type() {
        let codes = CatalogCodes::parse("42").unwrap();
        for change in ChangeType::ALL {
            assert_eq!(codes.for_change(change), "42");
        }
    }

    #[test]
    fn misencoded_separator_of_older_documentation_is_accepted() {
        let codes = CatalogCodes::parse("42\u{fffd}25\u{fffd}43").unwrap();
        assert_eq!(codes.for_change(ChangeType::Modified), "25");
    }

    #[test]
    fn two_or_empty_catalog_codes_are_refused() {
        assert!(CatalogCodes::parse("42¤25").unwrap_err().contains("not 2"));
        assert!(CatalogCodes::parse("42¤¤43").unwrap_err().contains("empty code"));
    }

    #[test]
    fn missing_required_attribute_names_file_line_and_mapping() {
        let xml = r#"<Root>
  <EasyVistaResourceTypeMapping Identifier="Badge" Connection="EV" RecipientId="X" />
</Root>"#;
        let err = ResourceTypeMapping::parse_all("mappings.xml", xml).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mappings.xml, line 2: EasyVistaResourceTypeMapping \"Badge\": the CatalogCode attribute is required"
        );
    }

    #[test]
    fn duplicate_identifiers_are_refused() {
        let xml = r#"<Root>
  <EasyVistaResourceTypeMapping Identifier="A" Connection="EV" RecipientId="X" CatalogCode="1"/>
  <EasyVistaResourceTypeMapping Identifier="A" Connection="EV" RecipientId="X" CatalogCode="2"/>
</Root>"#;
        let err = ResourceTypeMapping::parse_all("m.xml", xml).unwrap_err();
        assert!(matches!(err, MappingError::Duplicate { first: 2, second: 3, .. }), "{err}");
    }

    #[test]
    fn broken_xml_names_the_file() {
        let err = ResourceTypeMapping::parse_all("m.xml", "<Root>").unwrap_err();
        assert!(err.to_string().starts_with("m.xml: not valid XML"), "{err}");
    }
}
