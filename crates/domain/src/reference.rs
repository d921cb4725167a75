//! The external reference written on each ticket: the one key that lets the agent find the
//! ticket an order already has, after a timeout, a crash or a restart.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::order::ChangeType;

/// EasyVista rejects an `external_reference` longer than this.
pub const MAX_LEN: usize = 50;

/// A ticket's external reference: `TA-<change>-<assignment>-<digest>`, at most 50 characters
/// of `A-Z a-z 0-9 -` only, so it is safe inside an EasyVista search value (no quote, no
/// wildcard, no `_`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ExternalReference(String);

/// The assignment id part is cut to this many characters; the digest keeps references unique.
const ID_PART_MAX: usize = 20;

impl ExternalReference {
    /// Derives the reference of one order from what identifies its delivery: the file it came
    /// in, its position there, and its content fingerprint. The same order read again (after a
    /// crash, before its file was acknowledged) gets the same reference; a different order,
    /// even for the same assignment, gets another.
    pub fn derive(
        change: ChangeType,
        assigned_resource_type_id: &str,
        delivery: &str,
        position: usize,
        fingerprint: &str,
    ) -> ExternalReference {
        let mut hasher = Sha256::new();
        for part in [
            delivery,
            &position.to_string(),
            fingerprint,
            change.as_str(),
            assigned_resource_type_id,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hex::encode(&hasher.finalize()[..8]);
        let id: String = assigned_resource_type_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(ID_PART_MAX)
            .collect();
        let change = &change.as_str()[..1];
        ExternalReference(format!("TA-{change}-{id}-{digest}"))
    }

    /// Accepts a reference read back from storage or EasyVista, if it is one of ours in shape.
    pub fn parse(text: &str) -> Result<ExternalReference, String> {
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(format!("external reference {text:?} must have 1 to {MAX_LEN} characters"));
        }
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "external reference {text:?} may hold only letters, digits and '-'"
            ));
        }
        Ok(ExternalReference(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn change() -> impl Strategy<Value = ChangeType> {
        prop_oneof![Just(ChangeType::Added), Just(ChangeType::Modified), Just(ChangeType::Deleted)]
    }

    proptest! {
        #[test]
        fn always_short_and_search_safe(
            change in change(),
            id in "\\PC{0,80}",
            delivery in "\\PC{0,80}",
            position in 1usize..100_000,
            fingerprint in "[0-9a-f]{64}",
        ) {
            let r = ExternalReference::derive(change, &id, &delivery, position, &fingerprint);
            prop_assert!(r.as_str().len() <= MAX_LEN);
            prop_assert!(r.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            prop_assert_eq!(ExternalReference::parse(r.as_str()), Ok(r.clone()));
        }

        #[test]
        fn the_same_order_always_gets_the_same_reference(
            change in change(),
            id in "[0-9]{1,12}",
            delivery in "[a-z0-9-]{1,30}\\.json",
            position in 1usize..1000,
        ) {
            let a = ExternalReference::derive(change, &id, &delivery, position, "ab");
            let b = ExternalReference::derive(change, &id, &delivery, position, "ab");
            prop_assert_eq!(a, b);
        }

        #[test]
        fn different_orders_get_different_references(
            id in "[0-9]{1,12}",
            delivery in "[a-z0-9-]{1,30}\\.json",
            position in 1usize..1000,
            other_position in 1usize..1000,
        ) {
            let base = ExternalReference::derive(ChangeType::Added, &id, &delivery, position, "f1");
            let deleted_later = ExternalReference::derive(ChangeType::Deleted, &id, "later.json", 1, "f2");
            prop_assert_ne!(&base, &deleted_later);
            let other_content = ExternalReference::derive(ChangeType::Added, &id, &delivery, position, "f2");
            prop_assert_ne!(&base, &other_content);
            if other_position != position {
                let neighbour = ExternalReference::derive(ChangeType::Added, &id, &delivery, other_position, "f1");
                prop_assert_ne!(&base, &neighbour);
            }
        }
    }

    #[test]
    fn added_and_deleted_of_the_same_assignment_differ_even_in_the_same_slot() {
        let added =
            ExternalReference::derive(ChangeType::Added, "3930001", "orders.json", 1, "same");
        let deleted =
            ExternalReference::derive(ChangeType::Deleted, "3930001", "orders.json", 1, "same");
        assert_ne!(added, deleted);
        assert!(added.as_str().starts_with("TA-A-3930001-"), "{added}");
        assert!(deleted.as_str().starts_with("TA-D-3930001-"), "{deleted}");
    }

    #[test]
    fn parse_refuses_unsafe_text() {
        assert!(ExternalReference::parse("a\"b").is_err());
        assert!(ExternalReference::parse("a_b").is_err());
        assert!(ExternalReference::parse(&"x".repeat(51)).is_err());
    }

    /// Orders recorded by one build are looked up by the next: the derivation must not change
    /// between releases, or an upgrade would open a second ticket for an order left creating.
    #[test]
    fn references_stay_those_of_earlier_builds() {
        let reference = ExternalReference::derive(
            ChangeType::Added,
            "3930001",
            "2026-12-03T081500_Orders.json",
            1,
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        );
        assert_eq!(reference.as_str(), "TA-A-3930001-f54a83fc21baeb5f");
    }
}
