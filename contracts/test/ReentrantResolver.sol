// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "../src/IDocumentResolver.sol";

/// @notice Test resolver: every hook makes one configured call (typically back into the contract
/// that called the hook) and records whether it succeeded, then returns normally.
contract ReentrantResolver is IDocumentResolver {
    /// @notice The contract the hook calls.
    address public target;
    /// @notice The calldata the hook sends to `target`.
    bytes public data;
    /// @notice How many hook calls tried the attack.
    uint256 public attempts;
    /// @notice Whether the last attempt succeeded.
    bool public lastSucceeded;
    /// @notice The first four bytes of the last attempt's revert data (e.g. an error selector).
    bytes4 public lastRevertSelector;

    /// @notice Sets the call every hook makes. A zero `target_` disables it.
    function setAttack(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    /// @notice Makes the configured call.
    function onDocumentRegistered(bytes32, address, bytes32) external {
        _attack();
    }

    /// @notice Makes the configured call.
    function onDocumentTransferred(bytes32, address, address) external {
        _attack();
    }

    /// @notice Makes the configured call.
    function onTokenTransferred(bytes32, address, address, uint256) external {
        _attack();
    }

    /// @notice Accepts ERC-721 tokens, so this contract can also be a claim recipient.
    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return this.onERC721Received.selector;
    }

    function _attack() private {
        address to = target;
        if (to == address(0)) return;
        bytes memory payload = data;
        bool ok;
        bytes4 selector;
        assembly ("memory-safe") {
            ok := call(gas(), to, 0, add(payload, 0x20), mload(payload), 0, 0)
            if iszero(ok) {
                if gt(returndatasize(), 3) {
                    returndatacopy(0, 0, 4)
                    selector := and(mload(0), shl(224, 0xffffffff))
                }
            }
        }
        ++attempts;
        lastSucceeded = ok;
        lastRevertSelector = selector;
    }
}
