//! From an order and its mapping to the ticket draft that asks a person to do the work.

use ta_domain::{CatalogRef, ExternalReference, ProvisioningOrder, RecipientKind, TicketDraft};

use crate::mappings::PreparedMapping;

/// Per-connection choices about how drafts are addressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftSettings {
    /// Which EasyVista recipient field the resolved RecipientId goes to.
    pub recipient_kind: RecipientKind,
    /// The `origin` sent with every ticket, if any.
    pub origin: Option<String>,
}

/// The draft of the ticket for one order: catalog code by change type, recipient resolved from
/// the order, title and description rendered from the mapping's templates.
pub fn draft_for(
    order: &ProvisioningOrder,
    reference: &ExternalReference,
    prepared: &PreparedMapping,
    settings: &DraftSettings,
) -> Result<TicketDraft, String> {
    let mapping = &prepared.mapping;
    let rendered = prepared.templates.render(order).map_err(|e| e.to_string())?;
    let recipient = order.resolve_recipient(&mapping.recipient_id);
    if recipient.trim().is_empty() {
        return Err(format!(
            "the recipient ({}) of resource type {} is empty",
            mapping.recipient_id, mapping.identifier
        ));
    }
    Ok(TicketDraft {
        external_reference: reference.clone(),
        catalog: CatalogRef::from_value(mapping.catalog_codes.for_change(order.change_type)),
        title: rendered.title,
        description: rendered.description,
        urgency_id: mapping.urgency_id.clone(),
        severity_id: mapping.severity_id.clone(),
        impact_id: mapping.impact_id.clone(),
        recipient,
        recipient_kind: settings.recipient_kind,
        origin: settings.origin.clone(),
    })
}
