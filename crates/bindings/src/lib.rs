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

/// Contracts that exist only for tests: hostile resolvers, tokens and brake targets, and V2
/// implementations.
#[cfg(feature = "testing")]
pub mod testing {
    use alloy::sol;

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
}
