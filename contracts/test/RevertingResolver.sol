// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "../src/IDocumentResolver.sol";

/// @notice Test resolver: every hook reverts with a custom error.
contract RevertingResolver is IDocumentResolver {
    /// @notice Raised by every hook.
    error HookRefused(bytes4 selector);

    /// @notice Always reverts.
    function onDocumentRegistered(bytes32, address, bytes32) external pure {
        revert HookRefused(msg.sig);
    }

    /// @notice Always reverts.
    function onDocumentTransferred(bytes32, address, address) external pure {
        revert HookRefused(msg.sig);
    }

    /// @notice Always reverts.
    function onTokenTransferred(bytes32, address, address, uint256) external pure {
        revert HookRefused(msg.sig);
    }
}
