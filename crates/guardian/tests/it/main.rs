//! The one integration-test binary: every test runs against its own real anvil.

mod support;

mod automatic;
mod backfill;
mod batching;
mod bounty;
mod bounty_assess;
mod bounty_sla;
mod bounty_triage;
mod channel_health;
mod cli;
mod contracts;
mod demo;
mod deploy;
mod endpoints;
mod ha;
mod health;
mod incident;
mod incident_affected;
mod incident_playbooks;
mod incident_report;
mod layers;
mod mempool;
mod monitor;
mod notify;
mod postgres;
mod preempt;
mod rescue;
mod response;
mod revoke;
mod rules;
mod safe;
mod secrets;
mod upgrade;
mod warroom;
mod watch_and_respond;
