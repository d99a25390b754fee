//! alloy bindings generated from the committed artifacts in `contracts/artifacts`.
//!
//! Nothing but `sol!` lives here, so editing the application does not re-expand the macros.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    DocumentRegistry,
    "../../contracts/artifacts/DocumentRegistry.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    OwnershipTokenizer,
    "../../contracts/artifacts/OwnershipTokenizer.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    PaymentEscrow,
    "../../contracts/artifacts/PaymentEscrow.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    AuditResolver,
    "../../contracts/artifacts/AuditResolver.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    EmergencyBrake,
    "../../contracts/artifacts/EmergencyBrake.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    TestToken,
    "../../contracts/artifacts/TestToken.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    ERC1967Proxy,
    "../../contracts/artifacts/ERC1967Proxy.json"
);
sol!(
    #[sol(rpc, abi)]
    #[derive(Debug)]
    IDocumentResolver,
    "../../contracts/artifacts/IDocumentResolver.json"
);

/// Safe v1.4.1 as released (`@safe-global/safe-contracts`): the singleton, the proxy factory,
/// the batch library guardian pins, and the fallback handler.
pub mod safe {
    use alloy::sol;

    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        Safe,
        "../../contracts/artifacts/safe/Safe.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        SafeProxyFactory,
        "../../contracts/artifacts/safe/SafeProxyFactory.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        MultiSendCallOnly,
        "../../contracts/artifacts/safe/MultiSendCallOnly.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        CompatibilityFallbackHandler,
        "../../contracts/artifacts/safe/CompatibilityFallbackHandler.json"
    );
}

/// The standard interfaces Guardian calls on any contract, whatever its implementation: tokens
/// through ERC-20 (with its metadata), pausing and roles through OpenZeppelin's shapes.
pub mod interfaces {
    use alloy::sol;

    sol! {
        /// ERC-20 with the optional metadata functions.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IERC20Metadata {
            event Transfer(address indexed from, address indexed to, uint256 value);
            function balanceOf(address account) external view returns (uint256);
            function allowance(address owner, address spender) external view returns (uint256);
            function approve(address spender, uint256 value) external returns (bool);
            function symbol() external view returns (string);
            function decimals() external view returns (uint8);
        }

        /// OpenZeppelin's Pausable, with the role-gated pause and unpause of the Integra contracts.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IPausable {
            function paused() external view returns (bool);
            function pause() external;
            function unpause() external;
        }

        /// OpenZeppelin's AccessControl.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IAccessControl {
            event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
            event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
            function hasRole(bytes32 role, address account) external view returns (bool);
            function grantRole(bytes32 role, address account) external;
            function revokeRole(bytes32 role, address account) external;
            function renounceRole(bytes32 role, address callerConfirmation) external;
        }

        /// OpenZeppelin's UUPSUpgradeable, as every Integra proxy and implementation has it.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IUUPSUpgradeable {
            event Upgraded(address indexed implementation);
            function proxiableUUID() external view returns (bytes32);
            function upgradeToAndCall(address newImplementation, bytes data) external payable;
        }

        /// The emergency functions of every Integra contract that holds funds.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IIntegraVault {
            function emergencyWithdraw(address token, address recipient, uint256 amount) external;
            function replenish(address token, uint256 amount) external payable;
        }

        /// Chainlink's AggregatorV3Interface, the read side: a price feed.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IAggregatorV3 {
            function decimals() external view returns (uint8);
            function latestRoundData() external view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
        }
    }
}

/// Contracts that exist only for tests: hostile resolvers, tokens and brake targets, V2
/// implementations, and the drill's buggy escrow.
#[cfg(feature = "testing")]
pub mod testing {
    use alloy::sol;

    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        RegistrationBatcher,
        "../../contracts/artifacts/test/RegistrationBatcher.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        RevertingResolver,
        "../../contracts/artifacts/test/RevertingResolver.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        GasBurningResolver,
        "../../contracts/artifacts/test/GasBurningResolver.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        ReentrantResolver,
        "../../contracts/artifacts/test/ReentrantResolver.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        MaliciousToken,
        "../../contracts/artifacts/test/MaliciousToken.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        HostileTarget,
        "../../contracts/artifacts/test/HostileTarget.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        DocumentRegistryV2,
        "../../contracts/artifacts/test/DocumentRegistryV2.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        PaymentEscrowV2,
        "../../contracts/artifacts/test/PaymentEscrowV2.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        OwnershipTokenizerV2,
        "../../contracts/artifacts/test/OwnershipTokenizerV2.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        TestPriceFeed,
        "../../contracts/artifacts/test/TestPriceFeed.json"
    );
}

/// The contracts `guardian demo` plays the exploit with: an escrow upgrade with a bug and the
/// attacker's contract. They live with the test contracts, never in `contracts/src`.
pub mod drill {
    use alloy::sol;

    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        PaymentEscrowBuggy,
        "../../contracts/artifacts/test/PaymentEscrowBuggy.json"
    );
    sol!(
        #[sol(rpc, abi)]
        #[derive(Debug)]
        EscrowDrainer,
        "../../contracts/artifacts/test/EscrowDrainer.json"
    );
}
