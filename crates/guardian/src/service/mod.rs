//! A running guardian, composed: what happens to each alert the monitor stores (contacts told,
//! the automatic response run through the incident protocol) and the bug bounty clock's watch.
//! The CLI, the drill, the benchmarks and the tests start these rather than wiring them again.

pub mod bounty_sla;
pub mod dispatch;
