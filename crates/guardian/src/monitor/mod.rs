//! `guardian monitor`: follows every chain of the manifest block by block, evaluates the rules and
//! raises alerts. This module is being built up; `block` holds what one block yields to the rules,
//! `rules` the configurable rules evaluated on it.

pub mod block;
pub mod rules;
