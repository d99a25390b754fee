//! The one integration-test binary: every test runs against its own real anvil.

mod support;

mod automatic;
mod backfill;
mod batching;
mod cli;
mod contracts;
mod deploy;
mod endpoints;
mod gas;
mod health;
mod monitor;
mod notify;
mod rescue;
mod response;
mod rules;
mod secrets;
mod watch_and_respond;
