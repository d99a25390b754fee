// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {DocumentRegistry} from "../src/DocumentRegistry.sol";
import {IntegraVault} from "../src/IntegraVault.sol";

/// @title PaymentEscrowBuggy
/// @notice FOR THE DRILL ONLY, never deploy: a PaymentEscrow upgrade with the same storage layout
/// (the same ERC-7201 namespace) whose `release` pays the payee without marking the payment
/// settled, so a payer can release the same payment again and again and drain everyone else's
/// deposits. `whenNotPaused` still guards it: a pause stops the drain. A copy of PaymentEscrow,
/// not a subclass, because PaymentEscrow's `release` is not virtual and its helpers are private;
/// the shipped contract stays untouched.
/// @dev Pause matrix: `deposit`, `release` and `refund` stop while paused; `emergencyWithdraw` works
/// only then. Fee-on-transfer and rebasing tokens are not supported: the escrow assumes it receives
/// exactly `amount`.
contract PaymentEscrowBuggy is IntegraVault {
    using SafeERC20 for IERC20;

    /// @dev One payment. `payer == address(0)` means "no such payment".
    struct Payment {
        bytes32 integraHash;
        address payer;
        bool settled;
        address payee;
        address token;
        uint256 amount;
    }

    /// @custom:storage-location erc7201:integra.storage.PaymentEscrow
    struct PaymentEscrowStorage {
        DocumentRegistry registry;
        uint256 lastPaymentId;
        mapping(uint256 paymentId => Payment) payments;
        mapping(address token => uint256 amount) outstanding;
    }

    // keccak256(abi.encode(uint256(keccak256("integra.storage.PaymentEscrow")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0xf9f60bbcd8634b27de747d6a59e1e3e504aee89456125416f67d36af65a38800;

    /// @notice `payer` escrowed `amount` of `token` (zero: native coin) for `payee`.
    event PaymentDeposited(
        uint256 indexed paymentId,
        bytes32 indexed integraHash,
        address indexed payer,
        address payee,
        address token,
        uint256 amount
    );
    /// @notice The payer released the payment to the payee.
    event PaymentReleased(uint256 indexed paymentId);
    /// @notice The payee refunded the payment to the payer.
    event PaymentRefunded(uint256 indexed paymentId);

    /// @notice The document is not registered in the registry.
    error DocumentNotRegistered(bytes32 integraHash);
    /// @notice No payment has this id.
    error UnknownPayment(uint256 paymentId);
    /// @notice The payment was already released or refunded.
    error PaymentAlreadySettled(uint256 paymentId);
    /// @notice Only the payment's payer may release it.
    error NotPayer(uint256 paymentId, address caller);
    /// @notice Only the payment's payee may refund it.
    error NotPayee(uint256 paymentId, address caller);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the proxy: roles and the registry.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE`.
    /// @param pauser Receives `PAUSER_ROLE`.
    /// @param emergency Receives `EMERGENCY_ROLE`.
    /// @param upgrader Receives `UPGRADER_ROLE`.
    /// @param registry_ The DocumentRegistry whose documents payments refer to.
    function initialize(address admin, address pauser, address emergency, address upgrader, address registry_)
        external
        initializer
    {
        if (registry_ == address(0)) revert ZeroAddress();
        __IntegraVault_init(admin, pauser, emergency, upgrader);
        _storage().registry = DocumentRegistry(registry_);
    }

    /// @notice Escrows `amount` of `token` from the caller for `payee`.
    /// @dev Blocked while paused. For an ERC-20 the caller must have approved this contract.
    /// @param integraHash The registered document the payment is for.
    /// @param token The ERC-20 token, or zero for the native coin (then `msg.value` must be `amount`).
    /// @param amount How much; must be positive.
    /// @param payee Who is paid on release; must not be zero.
    /// @return paymentId The new payment's id.
    function deposit(bytes32 integraHash, address token, uint256 amount, address payee)
        external
        payable
        whenNotPaused
        nonReentrant
        returns (uint256 paymentId)
    {
        if (amount == 0) revert ZeroAmount();
        if (payee == address(0)) revert ZeroAddress();
        PaymentEscrowStorage storage $ = _storage();
        (address owner,,,) = $.registry.getDocument(integraHash);
        if (owner == address(0)) revert DocumentNotRegistered(integraHash);
        uint256 expectedValue = token == address(0) ? amount : 0;
        if (msg.value != expectedValue) revert IncorrectNativeValue(expectedValue, msg.value);

        paymentId = ++$.lastPaymentId;
        $.payments[paymentId] = Payment({
            integraHash: integraHash,
            payer: msg.sender,
            settled: false,
            payee: payee,
            token: token,
            amount: amount
        });
        $.outstanding[token] += amount;
        emit PaymentDeposited(paymentId, integraHash, msg.sender, payee, token, amount);

        if (token != address(0)) IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Pays the escrowed funds to the payee.
    /// @dev Blocked while paused. Only the payer.
    /// @param paymentId The payment to release.
    function release(uint256 paymentId) external whenNotPaused nonReentrant {
        Payment storage p = _unsettled(paymentId);
        if (msg.sender != p.payer) revert NotPayer(paymentId, msg.sender);
        // THE BUG: the payment is paid but never settled (no `_settle(p)`), so it can be released
        // again, and `outstanding` keeps counting it.
        emit PaymentReleased(paymentId);
        _sendFunds(p.token, p.payee, p.amount);
    }

    /// @notice Returns the escrowed funds to the payer.
    /// @dev Blocked while paused. Only the payee.
    /// @param paymentId The payment to refund.
    function refund(uint256 paymentId) external whenNotPaused nonReentrant {
        Payment storage p = _unsettled(paymentId);
        if (msg.sender != p.payee) revert NotPayee(paymentId, msg.sender);
        _settle(p);
        emit PaymentRefunded(paymentId);
        _sendFunds(p.token, p.payer, p.amount);
    }

    /// @notice Reads a payment. All fields are zero if the id is unknown.
    /// @param paymentId The payment's id.
    /// @return integraHash The document the payment is for.
    /// @return payer Who deposited.
    /// @return payee Who is paid on release.
    /// @return token The ERC-20 token, or zero for the native coin.
    /// @return amount How much is escrowed.
    /// @return settled Whether it was released or refunded.
    function payments(uint256 paymentId)
        external
        view
        returns (bytes32 integraHash, address payer, address payee, address token, uint256 amount, bool settled)
    {
        Payment storage p = _storage().payments[paymentId];
        return (p.integraHash, p.payer, p.payee, p.token, p.amount, p.settled);
    }

    /// @notice The total of unsettled payments in `token` (zero: native coin). An emergency
    /// withdrawal does not lower it, so `outstanding - balance` is what was rescued.
    function outstanding(address token) external view returns (uint256) {
        return _storage().outstanding[token];
    }

    /// @notice The DocumentRegistry whose documents payments refer to.
    function registry() external view returns (address) {
        return address(_storage().registry);
    }

    /// @dev The payment, or a revert if it does not exist or was settled.
    function _unsettled(uint256 paymentId) private view returns (Payment storage p) {
        p = _storage().payments[paymentId];
        if (p.payer == address(0)) revert UnknownPayment(paymentId);
        if (p.settled) revert PaymentAlreadySettled(paymentId);
    }

    function _settle(Payment storage p) private {
        p.settled = true;
        _storage().outstanding[p.token] -= p.amount;
    }

    function _storage() private pure returns (PaymentEscrowStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
