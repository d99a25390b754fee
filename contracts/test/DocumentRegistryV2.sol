// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DocumentRegistry} from "../src/DocumentRegistry.sol";

/// @notice Test upgrade target: DocumentRegistry with a version number and the same storage layout.
contract DocumentRegistryV2 is DocumentRegistry {
    /// @notice The implementation's version.
    function version() external pure returns (uint256) {
        return 2;
    }
}
