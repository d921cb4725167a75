//! Following tickets against the simulator: outcomes from statuses, lost tickets, delta cycles
//! and their cost.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{client, config_for, simulator};
use easyvista_sim::{FaultSpec, StatusKind, TicketSeed, routes};
use ta_domain::{StatusClassifier, TicketNumber, TicketOutcome};
use ta_easyvista::EasyVistaClient;
use ta_ports::{FollowReport, FollowRequest, TicketingBackend};

fn seed(sim: &easyvista_sim::RunningSimulator, n: usize) -> Vec<TicketNumber> {
    (0..n)
        .map(|i| {
            let rfc = sim
                .admin()
                .seed_ticket(TicketSeed {
                    external_reference: format!("TA-A-{i}-seed"),
                    ..TicketSeed::default()
                })
                .unwrap();
            TicketNumber::new(&rfc).unwrap()
        })
        .collect()
}

fn outcomes(report: &FollowReport) -> HashMap<String, TicketOutcome> {
    report.observations.iter().map(|o| (o.ticket.to_string(), o.outcome)).collect()
}

#[tokio::test]
async fn outcomes_come_from_the_status_guid_and_the_end_date() {
    let sim = simulator().await;
    let tickets = seed(&sim, 6);
    let admin = sim.admin();
    admin.close_ticket(tickets[1].as_str()).unwrap();
    admin.cancel_ticket(tickets[2].as_str()).unwrap();
    admin.reject_ticket(tickets[3].as_str()).unwrap();
    admin.solve_ticket(tickets[4].as_str()).unwrap();

    let report = client(&sim)
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: None })
        .await
        .unwrap();
    let seen = outcomes(&report);
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[tickets[0].as_str()], TicketOutcome::Open);
    assert_eq!(seen[tickets[1].as_str()], TicketOutcome::Closed);
    assert_eq!(seen[tickets[2].as_str()], TicketOutcome::Canceled);
    assert_eq!(seen[tickets[3].as_str()], TicketOutcome::Rejected);
    assert_eq!(
        seen[tickets[4].as_str()],
        TicketOutcome::Open,
        "solved is in no set and has no end date"
    );
    let closed = report.observations.iter().find(|o| o.ticket == tickets[1]).unwrap();
    assert_eq!(closed.status, "Closed");
    assert!(report.watermark.is_some());
}

#[tokio::test]
async fn with_default_sets_a_terminal_ticket_in_another_status_is_canceled() {
    let sim = simulator().await;
    let tickets = seed(&sim, 2);
    sim.admin().reject_ticket(tickets[0].as_str()).unwrap();
    sim.admin().close_ticket(tickets[1].as_str()).unwrap();
    let mut config = config_for(&sim);
    config.classifier = StatusClassifier::default();
    let client = EasyVistaClient::new(config).unwrap();

    let report =
        client.follow(&FollowRequest { tickets: tickets.clone(), watermark: None }).await.unwrap();
    let seen = outcomes(&report);
    assert_eq!(seen[tickets[0].as_str()], TicketOutcome::Canceled);
    assert_eq!(seen[tickets[1].as_str()], TicketOutcome::Closed);
}

#[tokio::test]
async fn a_deleted_ticket_is_reported_lost() {
    let sim = simulator().await;
    let tickets = seed(&sim, 3);
    sim.admin().delete_ticket(tickets[1].as_str()).unwrap();

    let report = client(&sim)
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: None })
        .await
        .unwrap();
    let seen = outcomes(&report);
    assert_eq!(seen[tickets[1].as_str()], TicketOutcome::Lost);
    assert_eq!(seen[tickets[0].as_str()], TicketOutcome::Open);
    assert_eq!(
        sim.admin().counters().get(routes::GET_REQUEST, 404),
        1,
        "only the missing ticket is read alone"
    );
}

#[tokio::test]
async fn a_full_read_is_batched() {
    let sim = simulator().await;
    let tickets = seed(&sim, 450);
    let mut config = config_for(&sim);
    config.batch_size = 100;
    let client = EasyVistaClient::new(config).unwrap();

    let report =
        client.follow(&FollowRequest { tickets: tickets.clone(), watermark: None }).await.unwrap();
    assert_eq!(report.observations.len(), 450);
    // One probe for the watermark and five batched searches.
    assert_eq!(report.requests, 6);
    assert_eq!(sim.admin().counters().total(routes::LIST_REQUESTS), 6);
    assert_eq!(sim.admin().counters().total(routes::GET_REQUEST), 0);
}

#[tokio::test]
async fn a_delta_cycle_reports_only_changed_tickets_and_every_one_of_them() {
    let sim = simulator().await;
    let tickets = seed(&sim, 300);
    let mut config = config_for(&sim);
    config.delta_overlap = Duration::ZERO;
    let client = EasyVistaClient::new(config).unwrap();
    let first =
        client.follow(&FollowRequest { tickets: tickets.clone(), watermark: None }).await.unwrap();

    tokio::time::sleep(Duration::from_millis(5)).await;
    let changed: Vec<&TicketNumber> = tickets.iter().step_by(7).collect();
    for ticket in &changed {
        sim.admin().close_ticket(ticket.as_str()).unwrap();
    }
    let before = sim.admin().counters().total(routes::LIST_REQUESTS);
    let second = client
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: first.watermark.clone() })
        .await
        .unwrap();

    let seen = outcomes(&second);
    for ticket in &changed {
        assert_eq!(seen.get(ticket.as_str()), Some(&TicketOutcome::Closed), "{ticket}");
    }
    // The bound is inclusive: the ticket updated at the watermark itself comes again.
    assert!(seen.values().filter(|o| **o == TicketOutcome::Open).count() <= 1, "{seen:?}");
    assert_eq!(second.requests, sim.admin().counters().total(routes::LIST_REQUESTS) - before);
    assert!(second.requests <= 2, "{} requests", second.requests);
    assert_ne!(second.watermark, first.watermark);

    // Nothing changed since: the next cycle reports only the overlap, at the cost of one search.
    let third = client
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: second.watermark.clone() })
        .await
        .unwrap();
    assert_eq!(third.requests, 1);
}

#[tokio::test]
async fn a_ticket_updated_during_a_delta_cycle_is_not_missed() {
    let sim = simulator().await;
    let tickets = seed(&sim, 400);
    let mut config = config_for(&sim);
    config.page_size = 20;
    config.delta_overlap = Duration::ZERO;
    let client = EasyVistaClient::new(config).unwrap();
    let first =
        client.follow(&FollowRequest { tickets: tickets.clone(), watermark: None }).await.unwrap();

    tokio::time::sleep(Duration::from_millis(5)).await;
    for ticket in tickets.iter().take(200) {
        sim.admin().set_ticket_status(ticket.as_str(), StatusKind::Suspended).unwrap();
    }
    // Ten pages of 20 changed tickets, slowed down so the updates below land mid-cycle.
    sim.admin()
        .set_fault(routes::LIST_REQUESTS, FaultSpec::latency(Duration::from_millis(25)))
        .unwrap();
    // Once three pages were asked for, the newest and the oldest changed tickets are closed:
    // tickets[199] sat on the first page read newest first, tickets[0] on the first page an
    // ascending sweep would read. Either move shifts the rows behind it.
    let (newest, oldest) = (tickets[199].clone(), tickets[0].clone());
    let admin = sim.admin();
    let pages_before = admin.counters().total(routes::LIST_REQUESTS);
    let mover = tokio::spawn(async move {
        while admin.counters().total(routes::LIST_REQUESTS) < pages_before + 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        admin.close_ticket(newest.as_str()).unwrap();
        admin.close_ticket(oldest.as_str()).unwrap();
        admin.counters().total(routes::LIST_REQUESTS) - pages_before
    });
    let second = client
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: first.watermark.clone() })
        .await
        .unwrap();
    let pages_when_moved = mover.await.unwrap();
    assert!(
        pages_when_moved < second.requests,
        "the tickets moved while the cycle was still paging ({pages_when_moved} of {} pages)",
        second.requests
    );
    let third = client
        .follow(&FollowRequest { tickets: tickets.clone(), watermark: second.watermark.clone() })
        .await
        .unwrap();

    let during = outcomes(&second);
    let after = outcomes(&third);
    // tickets[199] was read before it moved: the cycle saw it suspended, the next one closed.
    assert_eq!(during.get(tickets[199].as_str()), Some(&TicketOutcome::Open));
    assert_eq!(after.get(tickets[199].as_str()), Some(&TicketOutcome::Closed));
    assert_eq!(after.get(tickets[0].as_str()), Some(&TicketOutcome::Closed));
    // No row was skipped by the shift: every changed ticket came in this cycle or the next.
    for ticket in tickets.iter().take(200) {
        assert!(
            during.contains_key(ticket.as_str()) || after.contains_key(ticket.as_str()),
            "{ticket} changed and was not reported"
        );
    }
    // Of the unchanged half, at most the ticket stamped at the bound itself (inclusive) came.
    for seen in [&during, &after] {
        let unchanged = tickets.iter().skip(200).filter(|t| seen.contains_key(t.as_str())).count();
        assert!(unchanged <= 1, "{unchanged} unchanged tickets reported");
    }
}
