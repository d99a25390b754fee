// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PausableUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";

import {IntegraAccess} from "./IntegraAccess.sol";

/// @title IntegraBase
/// @notice An Integra contract that `PAUSER_ROLE` can pause. What a pause blocks is decided by each
/// contract through `whenNotPaused` on its entry points (see the pause matrix in SYSTEM.md).
abstract contract IntegraBase is IntegraAccess, PausableUpgradeable {
    /// @dev Grants the admin, pauser and upgrader roles; the contract starts unpaused.
    function __IntegraBase_init(address admin, address pauser, address upgrader) internal onlyInitializing {
        __IntegraAccess_init(admin, upgrader);
        __Pausable_init();
        _grantNonZero(PAUSER_ROLE, pauser);
    }

    /// @notice Pauses the contract. Reverts `EnforcedPause()` if it is already paused.
    /// @dev Only `PAUSER_ROLE`. Emits `Paused(account)`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Unpauses the contract. Reverts `ExpectedPause()` if it is not paused.
    /// @dev Only `PAUSER_ROLE`. Emits `Unpaused(account)`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
