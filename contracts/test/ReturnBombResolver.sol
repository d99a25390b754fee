// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "../src/IDocumentResolver.sol";

/// @notice Test resolver: every hook reverts with a large blob of return data, which a caller that
/// copies return data would pay for in memory expansion.
contract ReturnBombResolver is IDocumentResolver {
    /// @notice Bytes of revert data per hook (about 24k gas of memory for the resolver itself).
    uint256 public constant BOMB_SIZE = 80_000;

    /// @notice Reverts with `BOMB_SIZE` bytes.
    function onDocumentRegistered(bytes32, address, bytes32) external pure {
        _bomb();
    }

    /// @notice Reverts with `BOMB_SIZE` bytes.
    function onDocumentTransferred(bytes32, address, address) external pure {
        _bomb();
    }

    /// @notice Reverts with `BOMB_SIZE` bytes.
    function onTokenTransferred(bytes32, address, address, uint256) external pure {
        _bomb();
    }

    function _bomb() private pure {
        assembly {
            revert(0, BOMB_SIZE)
        }
    }
}
