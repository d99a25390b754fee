// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IntegraAccess} from "./IntegraAccess.sol";

/// @title EmergencyBrake
/// @notice Pauses every registered Integra contract on its chain in one transaction. The brake must
/// hold `PAUSER_ROLE` on each target (granted separately by each target's admin).
/// @dev Not pausable itself: a paused brake would be a brake that cannot be pulled. `pauseAll` is
/// all-or-nothing: if any target is still unpaused afterwards the whole transaction reverts, so a
/// success means every target is paused.
contract EmergencyBrake is IntegraAccess {
    /// @notice May pull the brake.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @custom:storage-location erc7201:integra.storage.EmergencyBrake
    struct EmergencyBrakeStorage {
        address[] targets;
        // 1-based position in `targets`; 0 means "not a target".
        mapping(address target => uint256 position) positions;
    }

    // keccak256(abi.encode(uint256(keccak256("integra.storage.EmergencyBrake")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x7497a49bffb9270ad5d1c5e0177599864bf27df2d2282147f238c22f85e7b000;

    /// @notice `target` will be paused by `pauseAll`.
    event TargetAdded(address indexed target);
    /// @notice `target` will no longer be paused by `pauseAll`.
    event TargetRemoved(address indexed target);
    /// @notice `pauseAll` left every target paused: `pausedCount` were paused by it,
    /// `alreadyPausedCount` were paused before.
    event PausedAll(address indexed operator, uint256 pausedCount, uint256 alreadyPausedCount);

    /// @notice These targets are not paused after `pauseAll` tried (missing `PAUSER_ROLE`, no
    /// `pause()`/`paused()`, or they reverted). Nothing was changed.
    error TargetsNotPaused(address[] targets);
    /// @notice The address is already a target.
    error TargetAlreadyRegistered(address target);
    /// @notice The address is not a target.
    error UnknownTarget(address target);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Sets up the proxy's roles.
    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (manages targets and roles).
    /// @param guardian Receives `GUARDIAN_ROLE` (may call `pauseAll`).
    /// @param upgrader Receives `UPGRADER_ROLE`.
    function initialize(address admin, address guardian, address upgrader) external initializer {
        __IntegraAccess_init(admin, upgrader);
        _grantNonZero(GUARDIAN_ROLE, guardian);
    }

    /// @notice Adds a contract for `pauseAll` to pause. Only `DEFAULT_ADMIN_ROLE`.
    /// @param target A pausable contract on which this brake holds `PAUSER_ROLE`.
    function addTarget(address target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (target == address(0)) revert ZeroAddress();
        EmergencyBrakeStorage storage $ = _storage();
        if ($.positions[target] != 0) revert TargetAlreadyRegistered(target);
        $.targets.push(target);
        $.positions[target] = $.targets.length;
        emit TargetAdded(target);
    }

    /// @notice Removes a contract from the `pauseAll` list. Only `DEFAULT_ADMIN_ROLE`.
    /// @dev Moves the last target into the freed position, so the order of `targets()` may change.
    /// @param target A registered target.
    function removeTarget(address target) external onlyRole(DEFAULT_ADMIN_ROLE) {
        EmergencyBrakeStorage storage $ = _storage();
        uint256 position = $.positions[target];
        if (position == 0) revert UnknownTarget(target);
        address last = $.targets[$.targets.length - 1];
        $.targets[position - 1] = last;
        $.positions[last] = position;
        $.targets.pop();
        delete $.positions[target];
        emit TargetRemoved(target);
    }

    /// @notice The contracts `pauseAll` pauses.
    function targets() external view returns (address[] memory) {
        return _storage().targets;
    }

    /// @notice Pauses every target that is not paused yet. Only `GUARDIAN_ROLE`.
    /// @dev Reverts `TargetsNotPaused(list)` if any target is still unpaused (or cannot say) at the end,
    /// so success means all targets are paused. Emits `PausedAll`.
    function pauseAll() external onlyRole(GUARDIAN_ROLE) {
        address[] memory list = _storage().targets;
        bool[] memory wasPaused = new bool[](list.length);
        for (uint256 i = 0; i < list.length; ++i) {
            (bool known, bool isPaused) = _pausedState(list[i]);
            wasPaused[i] = known && isPaused;
            if (!wasPaused[i]) _tryPause(list[i]);
        }

        address[] memory failed = new address[](list.length);
        uint256 failedCount;
        uint256 pausedCount;
        uint256 alreadyPausedCount;
        for (uint256 i = 0; i < list.length; ++i) {
            (bool known, bool isPaused) = _pausedState(list[i]);
            if (!known || !isPaused) failed[failedCount++] = list[i];
            else if (wasPaused[i]) ++alreadyPausedCount;
            else ++pausedCount;
        }
        if (failedCount > 0) {
            assembly ("memory-safe") {
                mstore(failed, failedCount)
            }
            revert TargetsNotPaused(failed);
        }
        emit PausedAll(msg.sender, pausedCount, alreadyPausedCount);
    }

    /// @dev Calls `target.pause()`, ignoring failure (judged afterwards by `paused()`). A raw call:
    /// no return data is copied, and a target without code cannot revert the whole brake.
    function _tryPause(address target) private {
        bytes4 selector = bytes4(keccak256("pause()"));
        assembly ("memory-safe") {
            mstore(0x00, selector)
            pop(call(gas(), target, 0, 0x00, 0x04, 0x00, 0x00))
        }
    }

    /// @dev Reads `target.paused()`. `known` is false if the call failed or did not return a bool.
    function _pausedState(address target) private view returns (bool known, bool isPaused) {
        bytes4 selector = bytes4(keccak256("paused()"));
        uint256 value;
        bool ok;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            ok := staticcall(gas(), target, 0x00, 0x04, 0x00, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            value := mload(0x00)
        }
        known = ok && value <= 1;
        isPaused = known && value == 1;
    }

    function _storage() private pure returns (EmergencyBrakeStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }
}
