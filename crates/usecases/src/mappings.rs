//! The resource-type mappings of a configuration, each with its compiled templates, looked up
//! by resource type.

use std::collections::HashMap;
use std::sync::Arc;

use ta_domain::{ResourceTypeMapping, TicketTemplates};

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
