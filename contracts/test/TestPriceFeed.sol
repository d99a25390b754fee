// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A Chainlink-style price feed (AggregatorV3Interface's read functions) for local
/// chains: its answer is whatever was last set. Anyone may set it.
contract TestPriceFeed {
    /// @notice How many decimals the answer has.
    uint8 public immutable decimals;
    /// @notice The current answer.
    int256 public answer;
    /// @notice The current round.
    uint80 public round;
    /// @notice When the answer was last set.
    uint256 public updatedAt;

    /// @notice Emitted when the answer is set.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @param decimals_ How many decimals the answer has.
    /// @param answer_ The first answer.
    constructor(uint8 decimals_, int256 answer_) {
        decimals = decimals_;
        _set(answer_);
    }

    /// @notice Sets the answer, as a new round updated now.
    /// @param answer_ The new answer.
    function setAnswer(int256 answer_) external {
        _set(answer_);
    }

    /// @notice What the feed prices.
    function description() external pure returns (string memory) {
        return "TEST / USD";
    }

    /// @notice The aggregator's version.
    function version() external pure returns (uint256) {
        return 4;
    }

    /// @notice The latest round: its id, answer, start, update time and the round it was answered in.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer_, uint256 startedAt, uint256 updatedAt_, uint80 answeredInRound)
    {
        return (round, answer, updatedAt, updatedAt, round);
    }

    function _set(int256 answer_) private {
        answer = answer_;
        round += 1;
        updatedAt = block.timestamp;
        emit AnswerUpdated(answer_, round, block.timestamp);
    }
}
