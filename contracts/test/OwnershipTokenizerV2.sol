// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OwnershipTokenizer} from "../src/OwnershipTokenizer.sol";

/// @notice Test upgrade target: OwnershipTokenizer with a version number and the same storage layout.
contract OwnershipTokenizerV2 is OwnershipTokenizer {
    /// @notice The implementation's version.
    function version() external pure returns (uint256) {
        return 2;
    }
}
