// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDocumentResolver
/// @notice Hooks the Integra contracts call on document events. A document names its resolver in the
/// DocumentRegistry. Every hook is called with a gas cap inside a failure-tolerant call: a resolver
/// that reverts, runs out of gas or is not a contract never blocks the operation that triggered it.
interface IDocumentResolver {
    /// @notice Called by the DocumentRegistry after a document is registered.
    /// @param integraHash The document's identity.
    /// @param owner The account that registered the document.
    /// @param documentHash The hash of the document's content.
    function onDocumentRegistered(bytes32 integraHash, address owner, bytes32 documentHash) external;

    /// @notice Called by the DocumentRegistry after ownership of a document moves.
    /// @param integraHash The document's identity.
    /// @param from The previous owner.
    /// @param to The new owner.
    function onDocumentTransferred(bytes32 integraHash, address from, address to) external;

    /// @notice Called by the OwnershipTokenizer after the token bound to a document moves, mint included.
    /// @param integraHash The document the token is bound to.
    /// @param from The previous holder (zero on mint).
    /// @param to The new holder.
    /// @param tokenId The token that moved.
    function onTokenTransferred(bytes32 integraHash, address from, address to, uint256 tokenId) external;
}
