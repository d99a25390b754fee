// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title EmergencyBrake
/// @notice Pauses the registered Integra contracts of its chain in one transaction. The brake must
/// hold `PAUSER_ROLE` on each target (granted separately by each target's admin).
/// @dev A plain contract: no proxy, no upgrade, no initializer, so nobody can ever turn it into
/// something that unpauses. The only call it makes on a target is `pause()` (plus `paused()` reads):
/// a key holding only `GUARDIAN_ROLE` can pause and can never unpause, withdraw or upgrade anything.
/// Not pausable itself: a paused brake would be a brake that cannot be pulled.
///
/// Best effort with a floor: each target gets a bounded gas allowance (`PAUSE_GAS` for `pause()`,
/// `PAUSED_GAS` for each `paused()` read), so a target that reverts, has no code, lacks the role or
/// burns all its gas is reported with `TargetNotPaused` and the others are still paused. Before every
/// call to a target the brake checks that the call can really receive its whole allowance (EIP-150
/// lets a call forward at most 63/64 of what is left) with enough left to finish; if not, the whole
/// transaction reverts `InsufficientGasForTarget`. So a gas limit is either enough to give every
/// target its allowance or the call fails: no gas limit (and no `eth_estimateGas` answer) can make
/// `pauseAll` succeed while starving targets of the gas they need.
contract EmergencyBrake is AccessControl {
    /// @notice May pull the brake (`pauseAll`, `pauseTargets`).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice Gas given to each target's `pause()`. An Integra contract's `pause()` behind its proxy
    /// uses about 24,500 gas inside `pauseAll` (measured by tracing; about 31,000 if its proxy were
    /// cold); this is four times that, so a heavier future implementation still fits, while a
    /// gas-burning target costs the brake at most this much.
    uint256 public constant PAUSE_GAS = 100_000;
    /// @notice Gas given to each `paused()` read: about 7,300 gas on a cold Integra proxy, 800 warm.
    uint256 public constant PAUSED_GAS = 30_000;
    /// @notice Gas kept back, on top of a call's allowance, for the brake's own work after the call:
    /// the cost of the `CALL` itself, the events and returning. Never handed to a target.
    uint256 public constant RESERVE_GAS = 15_000;

    address[] private _targets;
    // 1-based position in `_targets`; 0 means "not a target".
    mapping(address target => uint256 position) private _positions;

    /// @notice `target` will be paused by `pauseAll`.
    event TargetAdded(address indexed target);
    /// @notice `target` will no longer be paused by the brake.
    event TargetRemoved(address indexed target);
    /// @notice `target` is not paused after the brake tried (it lacks `PAUSER_ROLE` for the brake,
    /// reverted, has no code, ran out of its gas allowance, or does not report `paused() == true`).
    event TargetNotPaused(address indexed target);
    /// @notice A pull of the brake finished: `paused` targets were paused by it, `alreadyPaused` were
    /// paused before, `failed` are not paused (each named by a `TargetNotPaused` event).
    event PausedAll(address indexed operator, uint256 paused, uint256 alreadyPaused, uint256 failed);

    /// @notice An address argument that must be set was zero.
    error ZeroAddress();
    /// @notice The address is already a target.
    error TargetAlreadyRegistered(address target);
    /// @notice The address is not a target.
    error UnknownTarget(address target);
    /// @notice `pauseTargets` was given the same target twice.
    error DuplicateTarget(address target);
    /// @notice Less gas is left than a call to `target` needs to get its whole allowance and still
    /// let the brake finish: send the transaction with a higher gas limit (estimate it).
    error InsufficientGasForTarget(address target, uint256 gasLeft, uint256 gasNeeded);

    /// @notice Deploys the brake with its two roles; add targets with `addTarget`.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (manages targets and roles).
    /// @param guardian Receives `GUARDIAN_ROLE` (may pull the brake).
    constructor(address admin, address guardian) {
        if (admin == address(0) || guardian == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @notice Adds a contract for the brake to pause. Only `DEFAULT_ADMIN_ROLE`.
    /// @param target A pausable contract on which this brake holds `PAUSER_ROLE`.
    function addTarget(address target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (target == address(0)) revert ZeroAddress();
        if (_positions[target] != 0) revert TargetAlreadyRegistered(target);
        _targets.push(target);
        _positions[target] = _targets.length;
        emit TargetAdded(target);
    }

    /// @notice Removes a contract from the brake's targets. Only `DEFAULT_ADMIN_ROLE`.
    /// @dev Moves the last target into the freed position, so the order of `targets()` may change.
    /// @param target A registered target.
    function removeTarget(address target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 position = _positions[target];
        if (position == 0) revert UnknownTarget(target);
        address last = _targets[_targets.length - 1];
        _targets[position - 1] = last;
        _positions[last] = position;
        _targets.pop();
        delete _positions[target];
        emit TargetRemoved(target);
    }

    /// @notice The contracts `pauseAll` pauses.
    function targets() external view returns (address[] memory) {
        return _targets;
    }

    /// @notice Pauses every target that is not paused yet. Only `GUARDIAN_ROLE`.
    /// @dev Never reverts because of a target: each one left unpaused is named by a
    /// `TargetNotPaused` event. Reverts `InsufficientGasForTarget` when the gas limit cannot give
    /// every target its allowance. Emits `PausedAll`.
    /// @return pausedCount Targets paused by this call.
    /// @return alreadyPausedCount Targets that were paused before.
    /// @return failedCount Targets left unpaused.
    function pauseAll()
        external
        onlyRole(GUARDIAN_ROLE)
        returns (uint256 pausedCount, uint256 alreadyPausedCount, uint256 failedCount)
    {
        return _pauseEach(_targets);
    }

    /// @notice Pauses the given registered targets that are not paused yet, exactly like `pauseAll`
    /// does for all of them. Only `GUARDIAN_ROLE`.
    /// @dev Every address is checked before any is paused: an unregistered one reverts
    /// `UnknownTarget`, a repeated one `DuplicateTarget`, and nothing is paused.
    /// @param list Registered targets, each at most once.
    /// @return pausedCount Targets paused by this call.
    /// @return alreadyPausedCount Targets that were paused before.
    /// @return failedCount Targets left unpaused.
    function pauseTargets(address[] calldata list)
        external
        onlyRole(GUARDIAN_ROLE)
        returns (uint256 pausedCount, uint256 alreadyPausedCount, uint256 failedCount)
    {
        for (uint256 i = 0; i < list.length; ++i) {
            if (_positions[list[i]] == 0) revert UnknownTarget(list[i]);
            for (uint256 j = 0; j < i; ++j) {
                if (list[j] == list[i]) revert DuplicateTarget(list[i]);
            }
        }
        return _pauseEach(list);
    }

    /// @dev Pauses each of `list` that is not paused yet, counting the outcomes; emits
    /// `TargetNotPaused` per failure and `PausedAll` at the end.
    function _pauseEach(address[] memory list)
        private
        returns (uint256 pausedCount, uint256 alreadyPausedCount, uint256 failedCount)
    {
        for (uint256 i = 0; i < list.length; ++i) {
            address target = list[i];
            (bool known, bool isPaused) = _pausedState(target);
            if (known && isPaused) {
                ++alreadyPausedCount;
                continue;
            }
            _tryPause(target);
            // Judged by the target's own answer afterwards: a call to an address without code
            // "succeeds", and only `paused()` says whether the pause took.
            (known, isPaused) = _pausedState(target);
            if (known && isPaused) {
                ++pausedCount;
            } else {
                ++failedCount;
                emit TargetNotPaused(target);
            }
        }
        emit PausedAll(msg.sender, pausedCount, alreadyPausedCount, failedCount);
    }

    /// @dev Calls `target.pause()` with `PAUSE_GAS`, ignoring the outcome. A raw call: no return
    /// data is copied, and a target without code cannot revert the brake.
    function _tryPause(address target) private {
        _requireGas(target, PAUSE_GAS);
        bytes4 selector = bytes4(keccak256("pause()"));
        uint256 allowance = PAUSE_GAS;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            pop(call(allowance, target, 0, 0x00, 0x04, 0x00, 0x00))
        }
    }

    /// @dev Reads `target.paused()` with `PAUSED_GAS`. `known` is false if the call failed or did
    /// not return a bool. At most one word of return data is copied.
    function _pausedState(address target) private view returns (bool known, bool isPaused) {
        _requireGas(target, PAUSED_GAS);
        bytes4 selector = bytes4(keccak256("paused()"));
        uint256 allowance = PAUSED_GAS;
        uint256 value;
        bool ok;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            ok := staticcall(allowance, target, 0x00, 0x04, 0x00, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f))
            value := mload(0x00)
        }
        known = ok && value <= 1;
        isPaused = known && value == 1;
    }

    /// @dev Reverts unless a call with `allowance` gas gets all of it (EIP-150 passes on at most 63/64
    /// of the gas left) and `RESERVE_GAS` is left for the brake afterwards.
    function _requireGas(address target, uint256 allowance) private view {
        uint256 needed = allowance + allowance / 63 + RESERVE_GAS;
        uint256 left = gasleft();
        if (left < needed) revert InsufficientGasForTarget(target, left, needed);
    }
}
