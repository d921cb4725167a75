//! End-to-end suite: runs the built `ticket-agent` binary, as a user would, against the
//! EasyVista simulator started in the test process, on real folders and a real ledger.

mod export;
mod flow;
mod harness;
mod kill;
mod secrets;
mod service;
