// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ResolverHooks
/// @notice The one place where Integra contracts call a document's resolver. A hook gets exactly
/// `HOOK_GAS_LIMIT` gas; whatever it does (revert, burn gas, return a huge blob, not be a contract),
/// the calling operation continues and `ResolverHookFailed` records the failure.
/// @dev Stateless: only constants, an event, an error and internal functions.
abstract contract ResolverHooks {
    /// @notice Gas given to each resolver hook call.
    uint256 public constant HOOK_GAS_LIMIT = 100_000;

    /// @dev Gas kept back for the call itself and the work after it.
    uint256 private constant HOOK_GAS_RESERVE = 10_000;

    /// @notice A resolver hook reverted, ran out of gas, or the resolver has no code.
    /// @param integraHash The document the hook was about.
    /// @param resolver The resolver that was called.
    /// @param selector Which hook (an `IDocumentResolver` function selector).
    event ResolverHookFailed(bytes32 indexed integraHash, address indexed resolver, bytes4 selector);

    /// @notice Too little gas is left to give the resolver hook its full `HOOK_GAS_LIMIT`; retry with
    /// more gas. Refusing here stops a caller from starving the hook on purpose.
    error InsufficientGasForHook();

    /// @dev Calls `resolver` with `data` (an abi-encoded `IDocumentResolver` call) if `resolver` is
    /// set. A raw `call` is used rather than `try/catch`: it copies no return data (no return-data
    /// bomb) and does not revert the caller when the resolver has no code, which a high-level call
    /// would do outside the reach of `catch`.
    function _callResolverHook(bytes32 integraHash, address resolver, bytes memory data) internal {
        if (resolver == address(0)) return;
        bool ok;
        if (resolver.code.length > 0) {
            // EIP-150 forwards at most 63/64 of the remaining gas; make sure that is at least the cap.
            if (gasleft() < (HOOK_GAS_LIMIT * 64) / 63 + HOOK_GAS_RESERVE) revert InsufficientGasForHook();
            assembly ("memory-safe") {
                ok := call(HOOK_GAS_LIMIT, resolver, 0, add(data, 0x20), mload(data), 0, 0)
            }
        }
        if (!ok) emit ResolverHookFailed(integraHash, resolver, bytes4(data));
    }
}
