//! The resource-type mappings of a configuration, each with its compiled templates, looked up
//! by resource type.

use std::collections::HashMap;
use std::sync::Arc;

use ta_domain::{ChangeType, ProvisioningOrder, ResourceTypeMapping, TicketTemplates};

/// A mapping ready to use: its settings and its compiled title and description templates.
#[derive(Debug, Clone)]
pub struct PreparedMapping {
    pub mapping: ResourceTypeMapping,
    pub templates: Arc<TicketTemplates>,
}

/// Every prepared mapping, by resource type identifier.
#[derive(Debug, Clone, Default)]
pub struct MappingSet {
    by_resource_type: HashMap<String, PreparedMapping>,
}

impl MappingSet {
    pub fn new(mappings: impl IntoIterator<Item = PreparedMapping>) -> MappingSet {
        let by_resource_type =
            mappings.into_iter().map(|m| (m.mapping.identifier.clone(), m)).collect();
        MappingSet { by_resource_type }
    }

    pub fn get(&self, resource_type: &str) -> Option<&PreparedMapping> {
        self.by_resource_type.get(resource_type)
    }

    /// The mappings of one connection (compared ignoring case, as settings keys are).
    pub fn for_connection<'a>(
        &'a self,
        connection: &'a str,
    ) -> impl Iterator<Item = &'a PreparedMapping> + 'a {
        self.by_resource_type
            .values()
            .filter(move |m| m.mapping.connection.eq_ignore_ascii_case(connection))
    }

    /// Renders each mapping's templates for a sample order of each change type, so a template
    /// that cannot render (an unknown helper, a bad operator) is found before any real order.
    /// Only the branches a sample order takes are exercised.
    pub fn check_templates(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut mappings: Vec<_> = self.by_resource_type.values().collect();
        mappings.sort_by(|a, b| a.mapping.identifier.cmp(&b.mapping.identifier));
        for prepared in mappings {
            for change in ChangeType::ALL {
                let sample = serde_json::json!({
                    "AssignedResourceTypeId": "0",
                    "ChangeType": change.as_str(),
                    "Owner": {"Id": "0", "InternalDisplayName": "Sample Owner"},
                    "ResourceType": {"Id": "0", "Identifier": prepared.mapping.identifier},
                    "Changes": {},
                    "Resource": {}
                });
                let rendered = ProvisioningOrder::from_value(&sample)
                    .map_err(|e| e.to_string())
                    .and_then(|order| prepared.templates.render(&order).map_err(|e| e.to_string()));
                if let Err(error) = rendered {
                    errors.push(format!(
                        "mapping {} ({change} order): {error}",
                        prepared.mapping.identifier
                    ));
                }
            }
        }
        errors
    }

    pub fn iter(&self) -> impl Iterator<Item = &PreparedMapping> {
        self.by_resource_type.values()
    }

    pub fn len(&self) -> usize {
        self.by_resource_type.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_resource_type.is_empty()
    }
}
