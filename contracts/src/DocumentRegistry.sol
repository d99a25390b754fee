// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDocumentResolver} from "./IDocumentResolver.sol";
import {IntegraVault} from "./IntegraVault.sol";
import {ResolverHooks} from "./ResolverHooks.sol";

/// @title DocumentRegistry
/// @notice Document identity for Integra: each `integraHash` maps to an owner, a content hash and an
/// optional resolver that is told about registrations and ownership transfers. Registration costs
/// exactly `registrationFee()` in the native coin; the fees stay here until rescued by
/// `emergencyWithdraw`.
/// @dev Pause matrix: `registerDocument` and `setResolver` stop while paused;
/// `transferDocumentOwnership` keeps working (it is a transfer), and so do its resolver hooks.
contract DocumentRegistry is IntegraVault, ResolverHooks {
    /// @dev One registered document. `owner == address(0)` means "not registered".
    struct Document {
        address owner;
        uint64 registeredAt;
        bytes32 documentHash;
        address resolver;
    }

    /// @custom:storage-location erc7201:integra.storage.DocumentRegistry
    struct DocumentRegistryStorage {
        mapping(bytes32 integraHash => Document) documents;
        uint256 registrationFee;
    }

    // keccak256(abi.encode(uint256(keccak256("integra.storage.DocumentRegistry")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x0338c50314813a1999f023918e22a5c5d8217014285b537c96b0888063c8d100;

    /// @notice A document was registered.
    event DocumentRegistered(bytes32 indexed integraHash, address indexed owner, bytes32 documentHash, address resolver);
    /// @notice Ownership of a document moved from `from` to `to`.
    event DocumentOwnershipTransferred(bytes32 indexed integraHash, address indexed from, address indexed to);
    /// @notice The document's resolver changed (zero: no resolver).
    event ResolverSet(bytes32 indexed integraHash, address indexed resolver);
    /// @notice The registration fee changed.
    event RegistrationFeeSet(uint256 oldFee, uint256 newFee);

    /// @notice An `integraHash` must not be zero.
    error InvalidIntegraHash();
    /// @notice The document is already registered.
    error DocumentAlreadyRegistered(bytes32 integraHash);
    /// @notice The document is not registered.
    error DocumentNotRegistered(bytes32 integraHash);
    /// @notice `msg.value` must equal the registration fee.
    error IncorrectFee(uint256 expected, uint256 received);
    /// @notice Only the document's owner may do this.
    error NotDocumentOwner(bytes32 integraHash, address caller);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the proxy: roles and the registration fee.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE`.
    /// @param pauser Receives `PAUSER_ROLE`.
    /// @param emergency Receives `EMERGENCY_ROLE`.
    /// @param upgrader Receives `UPGRADER_ROLE`.
    /// @param registrationFee_ The fee, in wei, that `registerDocument` requires.
    function initialize(address admin, address pauser, address emergency, address upgrader, uint256 registrationFee_)
        external
        initializer
    {
        __IntegraVault_init(admin, pauser, emergency, upgrader);
        _setRegistrationFee(registrationFee_);
    }

    /// @notice Registers a document owned by the caller. Pays exactly `registrationFee()`.
    /// @dev Blocked while paused. Calls the resolver's `onDocumentRegistered` hook if one is given.
    /// @param integraHash The document's identity; non-zero and not registered yet.
    /// @param documentHash The hash of the document's content.
    /// @param resolver The document's resolver, or zero for none.
    function registerDocument(bytes32 integraHash, bytes32 documentHash, address resolver)
        external
        payable
        whenNotPaused
        nonReentrant
    {
        if (integraHash == bytes32(0)) revert InvalidIntegraHash();
        DocumentRegistryStorage storage $ = _storage();
        if ($.documents[integraHash].owner != address(0)) revert DocumentAlreadyRegistered(integraHash);
        uint256 fee = $.registrationFee;
        if (msg.value != fee) revert IncorrectFee(fee, msg.value);

        $.documents[integraHash] = Document({
            owner: msg.sender,
            registeredAt: uint64(block.timestamp),
            documentHash: documentHash,
            resolver: resolver
        });
        emit DocumentRegistered(integraHash, msg.sender, documentHash, resolver);

        _callResolverHook(
            integraHash,
            resolver,
            abi.encodeCall(IDocumentResolver.onDocumentRegistered, (integraHash, msg.sender, documentHash))
        );
    }

    /// @notice Hands the document to `newOwner`.
    /// @dev Works while paused (a transfer is never blocked). Calls the resolver's
    /// `onDocumentTransferred` hook.
    /// @param integraHash The document; the caller must own it.
    /// @param newOwner The new owner; must not be zero.
    function transferDocumentOwnership(bytes32 integraHash, address newOwner) external nonReentrant {
        Document storage doc = _ownedDocument(integraHash);
        if (newOwner == address(0)) revert ZeroAddress();

        doc.owner = newOwner;
        emit DocumentOwnershipTransferred(integraHash, msg.sender, newOwner);

        _callResolverHook(
            integraHash,
            doc.resolver,
            abi.encodeCall(IDocumentResolver.onDocumentTransferred, (integraHash, msg.sender, newOwner))
        );
    }

    /// @notice Changes the document's resolver.
    /// @dev Blocked while paused.
    /// @param integraHash The document; the caller must own it.
    /// @param resolver The new resolver, or zero for none.
    function setResolver(bytes32 integraHash, address resolver) external whenNotPaused {
        _ownedDocument(integraHash).resolver = resolver;
        emit ResolverSet(integraHash, resolver);
    }

    /// @notice Changes the registration fee for future registrations.
    /// @dev Only `DEFAULT_ADMIN_ROLE`. Works while paused.
    /// @param fee The new fee in wei (zero makes registration free).
    function setRegistrationFee(uint256 fee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRegistrationFee(fee);
    }

    /// @notice Reads a document. All fields are zero if it is not registered.
    /// @param integraHash The document's identity.
    /// @return owner The document's owner.
    /// @return documentHash The hash of the document's content.
    /// @return resolver The document's resolver (zero: none).
    /// @return registeredAt The block timestamp of registration.
    function getDocument(bytes32 integraHash)
        external
        view
        returns (address owner, bytes32 documentHash, address resolver, uint64 registeredAt)
    {
        Document storage doc = _storage().documents[integraHash];
        return (doc.owner, doc.documentHash, doc.resolver, doc.registeredAt);
    }

    /// @notice The fee, in wei, that `registerDocument` requires.
    function registrationFee() external view returns (uint256) {
        return _storage().registrationFee;
    }

    function _setRegistrationFee(uint256 fee) private {
        DocumentRegistryStorage storage $ = _storage();
        emit RegistrationFeeSet($.registrationFee, fee);
        $.registrationFee = fee;
    }

    /// @dev The caller's registered document, or a revert saying why not.
    function _ownedDocument(bytes32 integraHash) private view returns (Document storage doc) {
        doc = _storage().documents[integraHash];
        if (doc.owner == address(0)) revert DocumentNotRegistered(integraHash);
        if (doc.owner != msg.sender) revert NotDocumentOwner(integraHash, msg.sender);
    }

    function _storage() private pure returns (DocumentRegistryStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
