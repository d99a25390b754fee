// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {ERC721Upgradeable} from "@openzeppelin/contracts-upgradeable/token/ERC721/ERC721Upgradeable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {DocumentRegistry} from "./DocumentRegistry.sol";
import {IDocumentResolver} from "./IDocumentResolver.sol";
import {IntegraBase} from "./IntegraBase.sol";
import {ResolverHooks} from "./ResolverHooks.sol";

/// @title OwnershipTokenizer
/// @notice An ERC-721 bound to registered documents: a document's owner reserves one token for a
/// recipient, and that recipient claims (mints) it. Token ids start at 1.
/// @dev Pause matrix: `reserveToken` and `claimToken` stop while paused; ERC-721 transfers and
/// approvals keep working (the pause check is deliberately not in `_update`), and every transfer,
/// mint included, calls the document resolver's `onTokenTransferred` hook.
contract OwnershipTokenizer is IntegraBase, ERC721Upgradeable, ResolverHooks, ReentrancyGuardTransient {
    /// @custom:storage-location erc7201:integra.storage.OwnershipTokenizer
    struct OwnershipTokenizerStorage {
        DocumentRegistry registry;
        uint256 lastTokenId;
        mapping(bytes32 integraHash => address recipient) reservedRecipient;
        mapping(bytes32 integraHash => uint256 tokenId) tokenOfDocument;
        mapping(uint256 tokenId => bytes32 integraHash) documentOfToken;
    }

    // keccak256(abi.encode(uint256(keccak256("integra.storage.OwnershipTokenizer")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x0437a6c4362d088889efa9d9885281894804ad0b8aefeb33aa8d9b12a2a76200;

    /// @notice The document's owner reserved its token for `recipient`.
    event TokenReserved(bytes32 indexed integraHash, address indexed recipient);
    /// @notice `recipient` claimed the document's token `tokenId`.
    event TokenClaimed(bytes32 indexed integraHash, address indexed recipient, uint256 tokenId);

    /// @notice The document is not registered in the registry.
    error DocumentNotRegistered(bytes32 integraHash);
    /// @notice Only the document's owner may do this.
    error NotDocumentOwner(bytes32 integraHash, address caller);
    /// @notice The document's token was already reserved (a document gets at most one, ever).
    error TokenAlreadyReserved(bytes32 integraHash);
    /// @notice The caller is not the recipient the token was reserved for.
    error NotReservedRecipient(bytes32 integraHash, address caller);
    /// @notice The document's token was already claimed.
    error TokenAlreadyClaimed(bytes32 integraHash);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the proxy: roles, the ERC-721 name and symbol, and the registry.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE`.
    /// @param pauser Receives `PAUSER_ROLE`.
    /// @param upgrader Receives `UPGRADER_ROLE`.
    /// @param registry_ The DocumentRegistry whose documents the tokens are bound to.
    function initialize(address admin, address pauser, address upgrader, address registry_) external initializer {
        if (registry_ == address(0)) revert ZeroAddress();
        __IntegraBase_init(admin, pauser, upgrader);
        __ERC721_init("Integra Ownership Token", "IOT");
        _storage().registry = DocumentRegistry(registry_);
    }

    /// @notice Reserves the document's token for `recipient`, who may then claim it.
    /// @dev Blocked while paused. At most one reservation per document, ever.
    /// @param integraHash The document; the caller must own it in the registry.
    /// @param recipient Who may claim the token; must not be zero.
    function reserveToken(bytes32 integraHash, address recipient) external whenNotPaused {
        if (recipient == address(0)) revert ZeroAddress();
        OwnershipTokenizerStorage storage $ = _storage();
        (address owner,,,) = $.registry.getDocument(integraHash);
        if (owner == address(0)) revert DocumentNotRegistered(integraHash);
        if (owner != msg.sender) revert NotDocumentOwner(integraHash, msg.sender);
        if ($.reservedRecipient[integraHash] != address(0)) revert TokenAlreadyReserved(integraHash);

        $.reservedRecipient[integraHash] = recipient;
        emit TokenReserved(integraHash, recipient);
    }

    /// @notice Mints the document's reserved token to the caller.
    /// @dev Blocked while paused. Uses `_safeMint`, so a contract recipient must accept ERC-721s.
    /// @param integraHash The document; the caller must be its reserved recipient.
    /// @return tokenId The new token's id (ids start at 1).
    function claimToken(bytes32 integraHash) external whenNotPaused nonReentrant returns (uint256 tokenId) {
        OwnershipTokenizerStorage storage $ = _storage();
        if ($.reservedRecipient[integraHash] != msg.sender) revert NotReservedRecipient(integraHash, msg.sender);
        if ($.tokenOfDocument[integraHash] != 0) revert TokenAlreadyClaimed(integraHash);

        tokenId = ++$.lastTokenId;
        $.tokenOfDocument[integraHash] = tokenId;
        $.documentOfToken[tokenId] = integraHash;
        emit TokenClaimed(integraHash, msg.sender, tokenId);

        _safeMint(msg.sender, tokenId);
    }

    /// @notice The token bound to a document, or 0 if none was claimed.
    function tokenOfDocument(bytes32 integraHash) external view returns (uint256) {
        return _storage().tokenOfDocument[integraHash];
    }

    /// @notice The document a token is bound to, or zero if the token does not exist.
    function documentOfToken(uint256 tokenId) external view returns (bytes32) {
        return _storage().documentOfToken[tokenId];
    }

    /// @notice The reservation for a document.
    /// @return recipient Who may claim the token (zero: not reserved).
    /// @return claimed Whether the token was claimed.
    function reservationOf(bytes32 integraHash) external view returns (address recipient, bool claimed) {
        OwnershipTokenizerStorage storage $ = _storage();
        return ($.reservedRecipient[integraHash], $.tokenOfDocument[integraHash] != 0);
    }

    /// @notice The DocumentRegistry the tokens are bound to.
    function registry() external view returns (address) {
        return address(_storage().registry);
    }

    /// @inheritdoc ERC721Upgradeable
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721Upgradeable, AccessControlUpgradeable)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Every token movement (mint, transfer) tells the document's resolver. No pause check here:
    /// transfers must keep working while paused.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        OwnershipTokenizerStorage storage $ = _storage();
        bytes32 integraHash = $.documentOfToken[tokenId];
        (,, address resolver,) = $.registry.getDocument(integraHash);
        _callResolverHook(
            integraHash,
            resolver,
            abi.encodeCall(IDocumentResolver.onTokenTransferred, (integraHash, from, to, tokenId))
        );
    }

    function _storage() private pure returns (OwnershipTokenizerStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
