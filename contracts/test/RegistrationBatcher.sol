// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of DocumentRegistry the batcher calls.
interface IRegistering {
    /// @notice Registers one document (anyone may, for the fee).
    function registerDocument(bytes32 integraHash, bytes32 documentHash, address resolver) external payable;

    /// @notice The fee `registerDocument` takes.
    function registrationFee() external view returns (uint256);
}

/// @notice Benchmark helper: many registrations in one transaction, so a history of
/// hundreds of thousands of `DocumentRegistered` events is quick to make on a dev chain.
contract RegistrationBatcher {
    /// @notice The value sent does not pay `count` fees.
    error WrongValue(uint256 expected, uint256 sent);

    /// @notice Registers documents `first` .. `first + count - 1` (their hashes are those numbers)
    /// on `registry`, paying its fee for each; the batcher owns them.
    function registerMany(IRegistering registry, uint256 first, uint256 count) external payable {
        uint256 fee = registry.registrationFee();
        if (msg.value != fee * count) revert WrongValue(fee * count, msg.value);
        for (uint256 i = 0; i < count; i++) {
            bytes32 id = bytes32(first + i);
            registry.registerDocument{value: fee}(id, keccak256(abi.encode(id)), address(0));
        }
    }
}
