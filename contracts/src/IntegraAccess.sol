// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";

/// @title IntegraAccess
/// @notice Roles and upgrade authorisation shared by every Integra contract: each one sits behind a
/// UUPS proxy, and only `UPGRADER_ROLE` may move it to a new implementation.
/// @dev Holds no storage of its own; OpenZeppelin's upgradeable bases use ERC-7201 namespaces.
abstract contract IntegraAccess is Initializable, AccessControlUpgradeable, UUPSUpgradeable {
    /// @notice May pause and unpause the contract.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice May withdraw funds from a paused contract that holds them.
    bytes32 public constant EMERGENCY_ROLE = keccak256("EMERGENCY_ROLE");
    /// @notice May upgrade the contract's implementation.
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");

    /// @notice An address argument that must be set was zero.
    error ZeroAddress();

    /// @dev Grants `DEFAULT_ADMIN_ROLE` to `admin` and `UPGRADER_ROLE` to `upgrader`.
    function __IntegraAccess_init(address admin, address upgrader) internal onlyInitializing {
        __AccessControl_init();
        _grantNonZero(DEFAULT_ADMIN_ROLE, admin);
        _grantNonZero(UPGRADER_ROLE, upgrader);
    }

    /// @dev Grants `role` to `account`, refusing the zero address (a role given to nobody is lost).
    function _grantNonZero(bytes32 role, address account) internal {
        if (account == address(0)) revert ZeroAddress();
        _grantRole(role, account);
    }

    /// @dev UUPS hook: only `UPGRADER_ROLE` may upgrade.
    function _authorizeUpgrade(address) internal view override onlyRole(UPGRADER_ROLE) {}
}
