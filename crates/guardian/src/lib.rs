//! Guardian: deploys the Integra contract suite and runs its emergency controls.

pub mod alert;
pub mod anvil;
pub mod bounty;
pub mod chain;
pub mod cli;
pub mod config;
pub mod demo;
pub mod deploy;
pub mod deployment;
pub mod devnet;
pub mod funds;
pub mod incident;
pub mod mempool;
pub mod monitor;
pub mod notify;
pub mod operator;
pub mod output;
pub mod response;
pub mod roles;
pub mod safe;
pub mod secret;
pub mod serve;
pub mod service;
pub mod status;
pub mod storage;
pub mod tls;
