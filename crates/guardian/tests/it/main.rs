//! The one integration-test binary: every test runs against its own real anvil.

mod support;

mod cli;
mod contracts;
mod deploy;
mod gas;
mod rescue;
mod response;
