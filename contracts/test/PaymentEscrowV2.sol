// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {PaymentEscrow} from "../src/PaymentEscrow.sol";

/// @notice Test upgrade target: PaymentEscrow with a version number and the same storage layout.
contract PaymentEscrowV2 is PaymentEscrow {
    /// @notice The implementation's version.
    function version() external pure returns (uint256) {
        return 2;
    }
}
