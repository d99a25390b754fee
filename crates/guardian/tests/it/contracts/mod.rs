//! Contract behaviour against anvil: the pause matrix, roles, rescues, hooks, upgrades.
