//! Ticket outcomes and the provisioning state each one reports to Identity Manager.
//!
//! One rule decides what a finished ticket means; every caller goes through [`report`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ticket::TicketNumber;

/// Identity Manager's provisioning states, with the numeric values it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ProvisioningState {
    None = 0,
    Pending = 1,
    Transmitted = 2,
    Errored = 3,
    Verified = 4,
    AwaitingApproval = 5,
    Inactive = 6,
    Error = 7,
    Executed = 8,
}

/// What became of a ticket, as far as the agent can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketOutcome {
    /// Still being worked on in EasyVista.
    Open,
    /// Closed: the work was done.
    Closed,
    /// Ended without the work: canceled by the service desk.
    Canceled,
    /// Ended without the work: rejected.
    Rejected,
    /// The ticket no longer exists in EasyVista.
    Lost,
    /// Open for longer than the configured period.
    Stale,
}

/// Choices an operator makes about reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutcomePolicy {
    /// The state a failed ticket reports. Identity Manager's documentation says `Error`; its
    /// state table suggests `Errored` for agent-side failures, so this is a setting.
    pub failure_state: ProvisioningState,
    /// A ticket open longer than this is reported stale. `None` (the default) never does.
    pub stale_after: Option<Duration>,
}

/// The provisioning state to report for one order, with a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateReport {
    pub state: ProvisioningState,
    pub message: String,
}

// === ProvisioningState ===

impl ProvisioningState {
    pub const ALL: [ProvisioningState; 9] = [
        Self::None,
        Self::Pending,
        Self::Transmitted,
        Self::Errored,
        Self::Verified,
        Self::AwaitingApproval,
        Self::Inactive,
        Self::Error,
        Self::Executed,
    ];

    pub fn value(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Pending => "Pending",
            Self::Transmitted => "Transmitted",
            Self::Errored => "Errored",
            Self::Verified => "Verified",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Inactive => "Inactive",
            Self::Error => "Error",
            Self::Executed => "Executed",
        }
    }

    pub fn from_value(value: u8) -> Option<ProvisioningState> {
        Self::ALL.into_iter().find(|s| s.value() == value)
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ProvisioningState {
    type Err = String;

    /// A state by name (`Error`, `Awaiting Approval`, any case) or by its number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(n) = wanted.parse::<u8>() {
            return Self::from_value(n)
                .ok_or_else(|| format!("no provisioning state has the value {n}"));
        }
        Self::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| format!("unknown provisioning state {s:?}"))
    }
}

// === TicketOutcome ===

impl TicketOutcome {
    pub fn is_final(self) -> bool {
        self != TicketOutcome::Open
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
            Self::Lost => "lost",
            Self::Stale => "stale",
        }
    }
}

impl fmt::Display for TicketOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === OutcomePolicy ===

impl Default for OutcomePolicy {
    fn default() -> Self {
        OutcomePolicy { failure_state: ProvisioningState::Error, stale_after: None }
    }
}

impl OutcomePolicy {
    /// An open ticket becomes stale once it has been open longer than the configured period.
    pub fn settle(
        &self,
        outcome: TicketOutcome,
        opened_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> TicketOutcome {
        match (outcome, self.stale_after) {
            (TicketOutcome::Open, Some(limit)) if now - opened_at > limit => TicketOutcome::Stale,
            _ => outcome,
        }
    }
}

/// The provisioning state an outcome reports, or `None` while the ticket is open.
///
/// Closed gives Executed, or Verified when the resource type cannot be synchronized
/// (`TicketSynchroIsNotAvailable`); every other end gives the policy's failure state.
pub fn report(
    outcome: TicketOutcome,
    ticket: &TicketNumber,
    ticket_synchro_is_not_available: bool,
    policy: &OutcomePolicy,
) -> Option<StateReport> {
    let failed = |message: String| Some(StateReport { state: policy.failure_state, message });
    match outcome {
        TicketOutcome::Open => None,
        TicketOutcome::Closed if ticket_synchro_is_not_available => Some(StateReport {
            state: ProvisioningState::Verified,
            message: format!("ticket {ticket} closed; resource type is not synchronized"),
        }),
        TicketOutcome::Closed => Some(StateReport {
            state: ProvisioningState::Executed,
            message: format!("ticket {ticket} closed"),
        }),
        TicketOutcome::Canceled => failed(format!("ticket {ticket} was canceled in EasyVista")),
        TicketOutcome::Rejected => failed(format!("ticket {ticket} was rejected in EasyVista")),
        TicketOutcome::Lost => {
            failed(format!("ticket {ticket} disappeared from EasyVista (not found)"))
        }
        TicketOutcome::Stale => match policy.stale_after {
            Some(period) => {
                failed(format!("ticket {ticket} is still open after more than {}", spoken(period)))
            }
            None => failed(format!("ticket {ticket} was open for too long")),
        },
    }
}

/// A period as a reader says it: whole days, else whole hours, else minutes.
fn spoken(period: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if period.num_days() >= 1 && period.num_hours() % 24 == 0 {
        plural(period.num_days(), "day")
    } else if period.num_hours() >= 1 {
        plural(period.num_hours(), "hour")
    } else {
        plural(period.num_minutes().max(1), "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc() -> TicketNumber {
        TicketNumber::new("I251203_000001").unwrap()
    }

    #[test]
    fn states_keep_identity_managers_numbers() {
        let numbered: Vec<(u8, &str)> =
            ProvisioningState::ALL.iter().map(|s| (s.value(), s.name())).collect();
        assert_eq!(
            numbered,
            [
                (0, "None"),
                (1, "Pending"),
                (2, "Transmitted"),
                (3, "Errored"),
                (4, "Verified"),
                (5, "AwaitingApproval"),
                (6, "Inactive"),
                (7, "Error"),
                (8, "Executed"),
            ]
        );
        assert_eq!(
            "Awaiting Approval".parse::<ProvisioningState>(),
            Ok(ProvisioningState::AwaitingApproval)
        );
        assert_eq!("3".parse::<ProvisioningState>(), Ok(ProvisioningState::Errored));
        assert!("9".parse::<ProvisioningState>().is_err());
    }

    #[test]
    fn closed_gives_executed_or_verified_when_not_synchronized() {
        let policy = OutcomePolicy::default();
        assert_eq!(
            report(TicketOutcome::Closed, &rfc(), false, &policy).unwrap().state,
            ProvisioningState::Executed
        );
        assert_eq!(
            report(TicketOutcome::Closed, &rfc(), true, &policy).unwrap().state,
            ProvisioningState::Verified
        );
    }

    #[test]
    fn every_other_end_gives_the_failure_state_with_a_reason() {
        let policy = OutcomePolicy::default();
        for outcome in [
            TicketOutcome::Canceled,
            TicketOutcome::Rejected,
            TicketOutcome::Lost,
            TicketOutcome::Stale,
        ] {
            let report = report(outcome, &rfc(), true, &policy).unwrap();
            assert_eq!(report.state, ProvisioningState::Error, "{outcome}");
            assert!(report.message.contains("I251203_000001"), "{}", report.message);
        }
        let lost = report(TicketOutcome::Lost, &rfc(), false, &policy).unwrap();
        assert_eq!(lost.message, "ticket I251203_000001 disappeared from EasyVista (not found)");

        let errored = OutcomePolicy { failure_state: ProvisioningState::Errored, ..policy };
        assert_eq!(
            report(TicketOutcome::Canceled, &rfc(), false, &errored).unwrap().state,
            ProvisioningState::Errored
        );
    }

    #[test]
    fn open_reports_nothing() {
        assert_eq!(report(TicketOutcome::Open, &rfc(), false, &OutcomePolicy::default()), None);
    }

    #[test]
    fn stale_only_when_configured_and_past_the_period() {
        let opened = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let later = opened + Duration::days(20);
        assert_eq!(
            OutcomePolicy::default().settle(TicketOutcome::Open, opened, later),
            TicketOutcome::Open
        );

        let policy =
            OutcomePolicy { stale_after: Some(Duration::days(15)), ..OutcomePolicy::default() };
        assert_eq!(policy.settle(TicketOutcome::Open, opened, later), TicketOutcome::Stale);
        assert_eq!(
            policy.settle(TicketOutcome::Open, opened, opened + Duration::days(10)),
            TicketOutcome::Open
        );
        assert_eq!(policy.settle(TicketOutcome::Closed, opened, later), TicketOutcome::Closed);
    }

    #[test]
    fn a_stale_ticket_says_how_long_it_was_open_in_words() {
        let policy =
            |period| OutcomePolicy { stale_after: Some(period), ..OutcomePolicy::default() };
        let message =
            |period| report(TicketOutcome::Stale, &rfc(), false, &policy(period)).unwrap().message;
        assert_eq!(
            message(chrono::Duration::days(30)),
            "ticket I251203_000001 is still open after more than 30 days"
        );
        assert!(message(chrono::Duration::hours(36)).ends_with("more than 36 hours"));
        assert!(message(chrono::Duration::minutes(1)).ends_with("more than 1 minute"));
    }
}
