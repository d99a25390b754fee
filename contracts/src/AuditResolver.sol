// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "./IDocumentResolver.sol";
import {IntegraBase} from "./IntegraBase.sol";

/// @title AuditResolver
/// @notice A resolver that records every hook call it receives: it counts them per document and emits
/// `HookRecorded`. Only `HOOK_SOURCE_ROLE` holders (the registry and the tokenizer) may call hooks, so
/// the count cannot be inflated by anyone else.
/// @dev Hooks are not blocked by pause: they run for every operation that still runs, and pausing the
/// resolver must not make hooks fail. Each hook stays far below `HOOK_GAS_LIMIT` (one role lookup, one
/// storage write, one event).
contract AuditResolver is IntegraBase, IDocumentResolver {
    /// @notice May call the hook functions.
    bytes32 public constant HOOK_SOURCE_ROLE = keccak256("HOOK_SOURCE_ROLE");

    /// @custom:storage-location erc7201:integra.storage.AuditResolver
    struct AuditResolverStorage {
        mapping(bytes32 integraHash => uint256 count) hookCount;
    }

    // keccak256(abi.encode(uint256(keccak256("integra.storage.AuditResolver")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x6753882226cbfd99e7d9684de7238acca01ce79d0be833cf79b3b9b670adb300;

    /// @notice `source` called hook `selector` about `integraHash`.
    event HookRecorded(bytes32 indexed integraHash, bytes4 indexed selector, address indexed source);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the proxy's roles. Grant `HOOK_SOURCE_ROLE` to the hook callers afterwards.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE`.
    /// @param pauser Receives `PAUSER_ROLE`.
    /// @param upgrader Receives `UPGRADER_ROLE`.
    function initialize(address admin, address pauser, address upgrader) external initializer {
        __IntegraBase_init(admin, pauser, upgrader);
    }

    /// @notice Records a registration hook. Only `HOOK_SOURCE_ROLE`.
    /// @param integraHash The document registered.
    function onDocumentRegistered(bytes32 integraHash, address, bytes32) external onlyRole(HOOK_SOURCE_ROLE) {
        _record(integraHash);
    }

    /// @notice Records a document-transfer hook. Only `HOOK_SOURCE_ROLE`.
    /// @param integraHash The document transferred.
    function onDocumentTransferred(bytes32 integraHash, address, address) external onlyRole(HOOK_SOURCE_ROLE) {
        _record(integraHash);
    }

    /// @notice Records a token-transfer hook. Only `HOOK_SOURCE_ROLE`.
    /// @param integraHash The document whose token moved.
    function onTokenTransferred(bytes32 integraHash, address, address, uint256)
        external
        onlyRole(HOOK_SOURCE_ROLE)
    {
        _record(integraHash);
    }

    /// @notice How many hook calls were recorded for a document.
    function hookCount(bytes32 integraHash) external view returns (uint256) {
        return _storage().hookCount[integraHash];
    }

    function _record(bytes32 integraHash) private {
        ++_storage().hookCount[integraHash];
        emit HookRecorded(integraHash, msg.sig, msg.sender);
    }

    function _storage() private pure returns (AuditResolverStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
