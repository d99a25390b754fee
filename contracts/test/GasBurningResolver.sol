// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "../src/IDocumentResolver.sol";

/// @notice Test resolver: every hook loops until it runs out of gas.
contract GasBurningResolver is IDocumentResolver {
    /// @notice Burns all gas it is given.
    function onDocumentRegistered(bytes32, address, bytes32) external pure {
        _burn();
    }

    /// @notice Burns all gas it is given.
    function onDocumentTransferred(bytes32, address, address) external pure {
        _burn();
    }

    /// @notice Burns all gas it is given.
    function onTokenTransferred(bytes32, address, address, uint256) external pure {
        _burn();
    }

    function _burn() private pure {
        assembly {
            for {} 1 {} {}
        }
    }
}
