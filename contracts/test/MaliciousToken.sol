// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test ERC-20 (anyone can mint) whose next `transfer` or `transferFrom` first makes one
/// configured call, typically back into the contract moving the token, and bubbles that call's
/// revert, so the outer operation fails with the inner error (e.g. `ReentrancyGuardReentrantCall()`).
contract MaliciousToken is ERC20 {
    /// @notice The contract the attack calls.
    address public attackTarget;
    /// @notice The calldata the attack sends.
    bytes public attackData;
    /// @notice Whether the next transfer attacks (one shot, so the attack cannot recurse).
    bool public armed;

    constructor() ERC20("Malicious Token", "EVIL") {}

    /// @notice Mints `amount` to `to`. Anyone may call.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms a one-shot call to `target` with `data` on the next transfer.
    function setAttack(address target, bytes calldata data) external {
        attackTarget = target;
        attackData = data;
        armed = true;
    }

    /// @notice Attacks if armed, then transfers.
    function transfer(address to, uint256 value) public override returns (bool) {
        _attack();
        return super.transfer(to, value);
    }

    /// @notice Attacks if armed, then transfers.
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _attack();
        return super.transferFrom(from, to, value);
    }

    function _attack() private {
        if (!armed) return;
        armed = false;
        (bool ok, bytes memory reason) = attackTarget.call(attackData);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
    }
}
