// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test brake target that misbehaves in one way, chosen at deployment, so the brake's tests
/// can show one bad target never stops the others.
contract HostileTarget {
    /// @notice How the target misbehaves.
    enum Mode {
        /// `pause()` burns every unit of gas it is given.
        BurnOnPause,
        /// `pause()` reverts with a reason.
        RevertOnPause,
        /// `pause()` returns normally but nothing is paused (`paused()` stays false).
        LieOnPause,
        /// `paused()` burns every unit of gas it is given.
        BurnOnPaused,
        /// `paused()` returns a huge buffer (a return bomb); `pause()` works.
        BombOnPaused
    }

    /// @notice The misbehaviour.
    Mode public immutable mode;
    bool private _paused;

    constructor(Mode mode_) {
        mode = mode_;
    }

    /// @notice Misbehaves according to `mode`, or pauses.
    function pause() external {
        if (mode == Mode.BurnOnPause) _burn();
        if (mode == Mode.RevertOnPause) revert("hostile target refuses");
        if (mode == Mode.LieOnPause) return;
        _paused = true;
    }

    /// @notice Misbehaves according to `mode`, or says whether `pause()` ran.
    function paused() external view returns (bool) {
        if (mode == Mode.BurnOnPaused) _burn();
        if (mode == Mode.BombOnPaused) {
            bool value = _paused;
            assembly ("memory-safe") {
                mstore(0x00, value)
                return(0x00, 20000)
            }
        }
        return _paused;
    }

    function _burn() private pure {
        assembly {
            for {} 1 {} {}
        }
    }
}
