// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IntegraBase} from "./IntegraBase.sol";

/// @title IntegraVault
/// @notice An Integra contract that holds funds (the native coin or ERC-20 tokens), lets
/// `EMERGENCY_ROLE` move them to a safe address while the contract is paused, and lets anyone put
/// them back with `replenish`.
/// @dev The reentrancy guard lives in transient storage (EIP-1153, cancun): it occupies no storage
/// slot, needs no initialisation and is therefore safe behind a proxy and across upgrades.
abstract contract IntegraVault is IntegraBase, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Funds left the contract through `emergencyWithdraw`.
    /// @param token The ERC-20 token, or the zero address for the native coin.
    /// @param recipient Where the funds went.
    /// @param amount How much was sent.
    /// @param operator The `EMERGENCY_ROLE` holder who withdrew.
    event EmergencyWithdrawal(
        address indexed token, address indexed recipient, uint256 amount, address indexed operator
    );

    /// @notice Funds came back into the contract through `replenish`.
    /// @param token The ERC-20 token, or the zero address for the native coin.
    /// @param from Who returned them.
    /// @param amount How much was returned.
    event Replenished(address indexed token, address indexed from, uint256 amount);

    /// @notice An amount that must be positive was zero.
    error ZeroAmount();
    /// @notice The contract holds less than was asked for.
    error InsufficientBalance(uint256 available, uint256 requested);
    /// @notice `msg.value` must be `amount` for the native coin and zero for an ERC-20.
    error IncorrectNativeValue(uint256 expected, uint256 received);
    /// @notice Sending the native coin failed (the recipient reverted or cannot receive it).
    error NativeTransferFailed();

    /// @dev Grants the admin, pauser, emergency and upgrader roles.
    function __IntegraVault_init(address admin, address pauser, address emergency, address upgrader)
        internal
        onlyInitializing
    {
        __IntegraBase_init(admin, pauser, upgrader);
        _grantNonZero(EMERGENCY_ROLE, emergency);
    }

    /// @notice Sends `amount` of `token` held by this contract to `recipient`. Only while paused.
    /// @dev Only `EMERGENCY_ROLE`; reverts `ExpectedPause()` when not paused. Bookkeeping of the
    /// contract (fees, escrowed payments) is left untouched: this is a rescue, not a settlement.
    /// @param token The ERC-20 token, or the zero address for the native coin.
    /// @param recipient Where to send the funds; must not be zero.
    /// @param amount How much to send; positive and at most the contract's balance.
    function emergencyWithdraw(address token, address recipient, uint256 amount)
        external
        onlyRole(EMERGENCY_ROLE)
        whenPaused
        nonReentrant
    {
        if (recipient == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        emit EmergencyWithdrawal(token, recipient, amount, msg.sender);
        _sendFunds(token, recipient, amount);
    }

    /// @notice Returns funds to the contract, e.g. what an emergency withdrawal rescued, so it holds
    /// what it owes again before it is unpaused. Anyone may call, paused or not.
    /// @dev Changes no bookkeeping (the escrow's `outstanding`, the registry's fees): the funds only
    /// raise the balance. The native coin comes as `msg.value`; an ERC-20 is pulled from the caller
    /// with `transferFrom`, so the caller approves this contract first (fee-on-transfer tokens are not
    /// supported). Guarded against re-entrancy. Emits `Replenished`.
    /// @param token The ERC-20 token, or the zero address for the native coin.
    /// @param amount How much; positive. For the native coin `msg.value` must equal it; for an ERC-20
    /// `msg.value` must be zero.
    function replenish(address token, uint256 amount) external payable nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 expectedValue = token == address(0) ? amount : 0;
        if (msg.value != expectedValue) revert IncorrectNativeValue(expectedValue, msg.value);
        emit Replenished(token, msg.sender, amount);
        if (token != address(0)) IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Pays `amount` of `token` (zero address: native coin) to `to`, after checking the balance.
    /// The native coin goes through a bare `call` that copies no return data, so a recipient cannot
    /// make the payment expensive by returning a large blob.
    function _sendFunds(address token, address to, uint256 amount) internal {
        uint256 available = token == address(0) ? address(this).balance : IERC20(token).balanceOf(address(this));
        if (amount > available) revert InsufficientBalance(available, amount);
        if (token == address(0)) {
            bool ok;
            assembly ("memory-safe") {
                ok := call(gas(), to, amount, 0, 0, 0, 0)
            }
            if (!ok) revert NativeTransferFailed();
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }
}
