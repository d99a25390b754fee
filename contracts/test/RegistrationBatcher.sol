// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of DocumentRegistry the batcher calls.
interface IRegistering {
    /// @notice Registers one document (anyone may, for the fee).
    function registerDocument(bytes32 integraHash, bytes32 documentHash, address resolver) external payable;

    /// @notice Points the owner's document at another resolver.
    function setResolver(bytes32 integraHash, address resolver) external;

    /// @notice The fee `registerDocument` takes.
    function registrationFee() external view returns (uint256);
}

/// @notice Benchmark helper: many registrations, or many updates of one document, in one
/// transaction, so a history of hundreds of thousands of suite events is quick to make on a dev
/// chain (updates rewrite one slot: the chain's state does not grow with the history).
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

    /// @notice Sets the resolver of `integraHash` (a document the batcher registered) `count`
    /// times, to addresses `first` .. `first + count - 1`: one `ResolverSet` event each.
    function updateMany(IRegistering registry, bytes32 integraHash, uint256 first, uint256 count) external {
        for (uint256 i = 0; i < count; i++) {
            registry.setResolver(integraHash, address(uint160(first + i)));
        }
    }
}
