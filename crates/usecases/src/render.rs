//! Render: what tickets an order file would open, computed without contacting anything.

use serde::Serialize;
use ta_domain::{ExternalReference, OrderFile, TicketDraft};

use crate::draft::{DraftSettings, draft_for};
use crate::fulfill::raw_text;
use crate::mappings::MappingSet;

/// One entry of the file and the ticket it would open, or why it would not.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedOrder {
    pub position: usize,
    pub assignment_id: Option<String>,
    pub resource_type: Option<String>,
    pub change_type: Option<String>,
    pub connection: Option<String>,
    pub ticket: Result<TicketDraft, String>,
}

/// Renders every order of one file, exactly as fulfill would draft its ticket; `drafts` gives
/// the draft settings of the connection an order's mapping names.
pub fn render_file(
    name: &str,
    text: &str,
    mappings: &MappingSet,
    drafts: &dyn Fn(&str) -> DraftSettings,
) -> Result<Vec<RenderedOrder>, String> {
    let file = OrderFile::parse(name, text).map_err(|e| e.to_string())?;
    Ok(file
        .entries
        .iter()
        .map(|entry| {
            let order = match &entry.order {
                Ok(order) => order,
                Err(invalid) => {
                    // What can still be read of an invalid order, as fulfill records it.
                    let text = |pointer: &str| raw_text(entry, pointer);
                    let resource_type = text("/ResourceType/Identifier");
                    return RenderedOrder {
                        position: entry.position,
                        assignment_id: invalid.assigned_resource_type_id.clone(),
                        connection: resource_type
                            .as_deref()
                            .and_then(|id| mappings.get(id))
                            .map(|m| m.mapping.connection.clone()),
                        resource_type,
                        change_type: text("/ChangeType"),
                        ticket: Err(invalid.to_string()),
                    };
                }
            };
            let reference = ExternalReference::derive(
                order.change_type,
                &order.assigned_resource_type_id,
                name,
                entry.position,
                &entry.fingerprint(),
            );
            let prepared = mappings.get(&order.resource_type.identifier);
            let ticket = match prepared {
                Some(prepared) => {
                    draft_for(order, &reference, prepared, &drafts(&prepared.mapping.connection))
                }
                None => Err(format!(
                    "no EasyVistaResourceTypeMapping for resource type {}",
                    order.resource_type.identifier
                )),
            };
            RenderedOrder {
                position: entry.position,
                assignment_id: Some(order.assigned_resource_type_id.clone()),
                resource_type: Some(order.resource_type.identifier.clone()),
                change_type: Some(order.change_type.to_string()),
                connection: prepared.map(|p| p.mapping.connection.clone()),
                ticket,
            }
        })
        .collect())
}
