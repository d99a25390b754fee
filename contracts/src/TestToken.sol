// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice An ERC-20 ("Integra Test Token", "ITT", 18 decimals) for local chains: anyone can mint.
/// @dev FOR LOCAL AND TEST CHAINS ONLY. Never deploy it where its balances could be mistaken for value.
contract TestToken is ERC20 {
    constructor() ERC20("Integra Test Token", "ITT") {}

    /// @notice Mints `amount` to `to`. Open to anyone: this token is for local chains only.
    /// @param to Who receives the tokens.
    /// @param amount How many (18 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
