//! Deploying the whole suite to one chain: implementations (and the plain brake), proxies,
//! initialisation and wiring, each phase sent as one batch so a deployment spans a handful of blocks.

use alloy::{
    primitives::{Address, Bytes, TxHash, U256},
    sol_types::{SolCall, SolValue},
};
use bindings::{
    AuditResolver, DocumentRegistry, ERC1967Proxy, EmergencyBrake, OwnershipTokenizer,
    PaymentEscrow, TestToken,
};
use serde::Serialize;

use crate::{
    chain::{Call, ChainClient, ChainError, Confirmed, Journal, Preflight, Signer, send_all},
    config::{ContractConfig, ContractKind},
    roles::Role,
};

/// Who gets which role on the new suite. The deployer gets `DEFAULT_ADMIN_ROLE`.
#[derive(Debug, Clone, Copy)]
pub struct SuiteRoles {
    /// `PAUSER_ROLE` on every contract, and `GUARDIAN_ROLE` on the brake.
    pub pauser: Address,
    /// `EMERGENCY_ROLE` on the fund-holding contracts.
    pub emergency: Address,
    /// `UPGRADER_ROLE` on every upgradeable contract (the brake is not upgradeable).
    pub upgrader: Address,
}

/// What to deploy besides the suite itself.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// The registry's fee per registration, in wei.
    pub registration_fee: U256,
    /// Also deploy a `TestToken` (local chains).
    pub test_token: bool,
    /// Appended to every contract name (`registry-2`), so several copies fit in one manifest.
    pub name_suffix: String,
}

impl Default for DeployOptions {
    fn default() -> Self {
        Self {
            registration_fee: U256::from(1_000_000_000_000_000u64),
            test_token: false,
            name_suffix: String::new(),
        }
    }
}

/// One deployed contract.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    /// Name in the manifest.
    pub name: String,
    /// What it is.
    pub kind: ContractKind,
    /// The address to call (the proxy for upgradeable contracts).
    pub address: Address,
    /// The implementation behind the proxy; `None` for plain contracts (the brake, the test token).
    pub implementation: Option<Address>,
    /// Gas of the implementation and proxy deployments together (or of the plain deployment).
    pub gas_used: u64,
    /// The creating transactions.
    pub transactions: Vec<TxHash>,
    /// The block its proxy (or the contract itself) was created in: its history starts there.
    pub block: u64,
}

/// The suite on one chain.
#[derive(Debug, Clone, Serialize)]
pub struct Suite {
    /// Every contract, registry first.
    pub contracts: Vec<Deployed>,
    /// Gas of the wiring transactions (role grants, brake targets).
    pub wiring_gas: u64,
}

impl Suite {
    /// The address of the contract of `kind`.
    pub fn address(&self, kind: ContractKind) -> Option<Address> {
        self.contracts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.address)
    }

    /// The manifest's `[[contracts]]` entries for this suite on chain `chain`; the fund-holding
    /// contracts list the suite's test token, if any, so its balances are watched.
    pub fn manifest_entries(&self, chain: &str) -> Vec<ContractConfig> {
        let token = self.address(ContractKind::TestToken);
        self.contracts
            .iter()
            .map(|c| ContractConfig {
                name: toml::Spanned::new(0..0, c.name.clone()),
                chain: toml::Spanned::new(0..0, chain.to_string()),
                kind: c.kind,
                address: c.address,
                deployed_block: Some(c.block),
                tokens: if c.kind.holds_funds() {
                    token.into_iter().collect()
                } else {
                    Vec::new()
                },
            })
            .collect()
    }
}

const UPGRADEABLE: [(ContractKind, &str); 4] = [
    (ContractKind::DocumentRegistry, "registry"),
    (ContractKind::OwnershipTokenizer, "tokenizer"),
    (ContractKind::PaymentEscrow, "escrow"),
    (ContractKind::AuditResolver, "resolver"),
];

fn bytecode(kind: ContractKind) -> &'static Bytes {
    match kind {
        ContractKind::DocumentRegistry => &DocumentRegistry::BYTECODE,
        ContractKind::OwnershipTokenizer => &OwnershipTokenizer::BYTECODE,
        ContractKind::PaymentEscrow => &PaymentEscrow::BYTECODE,
        ContractKind::AuditResolver => &AuditResolver::BYTECODE,
        // Creation code without its constructor arguments: see `brake_init_code`.
        ContractKind::EmergencyBrake => &EmergencyBrake::BYTECODE,
        ContractKind::TestToken => &TestToken::BYTECODE,
    }
}

/// Init code of the (plain, not upgradeable) `EmergencyBrake` with its two role holders.
pub fn brake_init_code(admin: Address, guardian: Address) -> Bytes {
    let mut code = bytecode(ContractKind::EmergencyBrake).to_vec();
    code.extend((admin, guardian).abi_encode_params());
    code.into()
}

/// Init code of an `ERC1967Proxy` pointing at `implementation` and calling `init` on it.
pub fn proxy_init_code(implementation: Address, init: Bytes) -> Bytes {
    let mut code = ERC1967Proxy::BYTECODE.to_vec();
    code.extend((implementation, init).abi_encode_params());
    code.into()
}

/// Sends one batch and fails on the first call that did not succeed.
async fn batch(
    client: &ChainClient,
    signer: &Signer,
    calls: Vec<Call>,
    journal: Option<Journal<'_>>,
) -> Result<Vec<Confirmed>, ChainError> {
    send_all(client, signer, calls, journal, Preflight::AllOrNothing)
        .await?
        .into_iter()
        .collect()
}

fn created(c: &Confirmed) -> Address {
    // A successful creation receipt always carries the address.
    c.contract_address.unwrap_or_default()
}

/// Deploys and wires the whole suite, with `deployer` as admin.
pub async fn deploy_suite(
    client: &ChainClient,
    deployer: &Signer,
    roles: SuiteRoles,
    opts: &DeployOptions,
    journal: Option<Journal<'_>>,
) -> Result<Suite, ChainError> {
    let admin = deployer.address();
    let sfx = &opts.name_suffix;

    // Phase 1: every implementation, the brake (a plain contract) and the test token at once.
    let mut impl_calls: Vec<Call> = UPGRADEABLE
        .iter()
        .map(|(kind, name)| {
            Call::create(
                format!("deploy {name}{sfx} implementation"),
                bytecode(*kind).clone(),
            )
        })
        .collect();
    impl_calls.push(Call::create(
        format!("deploy brake{sfx}"),
        brake_init_code(admin, roles.pauser),
    ));
    if opts.test_token {
        impl_calls.push(Call::create(
            format!("deploy test-token{sfx}"),
            bytecode(ContractKind::TestToken).clone(),
        ));
    }
    let impls = batch(client, deployer, impl_calls, journal).await?;
    let impl_addr = |kind: ContractKind| {
        UPGRADEABLE
            .iter()
            .position(|(k, _)| *k == kind)
            .map(|i| created(&impls[i]))
            .unwrap_or_default()
    };

    // Phase 2: proxies that depend on nothing else.
    let init_registry = DocumentRegistry::initializeCall {
        admin,
        pauser: roles.pauser,
        emergency: roles.emergency,
        upgrader: roles.upgrader,
        registrationFee_: opts.registration_fee,
    }
    .abi_encode();
    let init_resolver = AuditResolver::initializeCall {
        admin,
        pauser: roles.pauser,
        upgrader: roles.upgrader,
    }
    .abi_encode();
    let proxy = |kind: ContractKind, name: &str, init: Vec<u8>| {
        Call::create(
            format!("deploy {name}{sfx} proxy"),
            proxy_init_code(impl_addr(kind), init.into()),
        )
    };
    let first = batch(
        client,
        deployer,
        vec![
            proxy(ContractKind::DocumentRegistry, "registry", init_registry),
            proxy(ContractKind::AuditResolver, "resolver", init_resolver),
        ],
        journal,
    )
    .await?;
    let registry = created(&first[0]);
    let resolver = created(&first[1]);
    let brake_tx = &impls[UPGRADEABLE.len()];
    let brake = created(brake_tx);

    // Phase 3: proxies wired to the registry.
    let init_tokenizer = OwnershipTokenizer::initializeCall {
        admin,
        pauser: roles.pauser,
        upgrader: roles.upgrader,
        registry_: registry,
    }
    .abi_encode();
    let init_escrow = PaymentEscrow::initializeCall {
        admin,
        pauser: roles.pauser,
        emergency: roles.emergency,
        upgrader: roles.upgrader,
        registry_: registry,
    }
    .abi_encode();
    let second = batch(
        client,
        deployer,
        vec![
            proxy(
                ContractKind::OwnershipTokenizer,
                "tokenizer",
                init_tokenizer,
            ),
            proxy(ContractKind::PaymentEscrow, "escrow", init_escrow),
        ],
        journal,
    )
    .await?;
    let tokenizer = created(&second[0]);
    let escrow = created(&second[1]);

    // Phase 4: the resolver accepts hooks from the registry and the tokenizer; the brake may pause everything.
    let hook_source = Role::HookSource.id();
    let pauser_role = Role::Pauser.id();
    let pausable = [
        ("registry", registry),
        ("tokenizer", tokenizer),
        ("escrow", escrow),
        ("resolver", resolver),
    ];
    let mut wiring = vec![
        Call::new(
            format!("resolver{sfx}: accept hooks from registry"),
            resolver,
            AuditResolver::grantRoleCall {
                role: hook_source,
                account: registry,
            },
        ),
        Call::new(
            format!("resolver{sfx}: accept hooks from tokenizer"),
            resolver,
            AuditResolver::grantRoleCall {
                role: hook_source,
                account: tokenizer,
            },
        ),
    ];
    for (name, target) in pausable {
        wiring.push(Call::new(
            format!("{name}{sfx}: grant PAUSER_ROLE to brake"),
            target,
            DocumentRegistry::grantRoleCall {
                role: pauser_role,
                account: brake,
            },
        ));
        wiring.push(Call::new(
            format!("brake{sfx}: add target {name}"),
            brake,
            EmergencyBrake::addTargetCall { target },
        ));
    }
    let wired = batch(client, deployer, wiring, journal).await?;

    let proxies = [
        (registry, &first[0]),
        (tokenizer, &second[0]),
        (escrow, &second[1]),
        (resolver, &first[1]),
    ];
    let mut contracts: Vec<Deployed> = UPGRADEABLE
        .iter()
        .zip(proxies)
        .enumerate()
        .map(|(i, ((kind, name), (address, proxy_tx)))| Deployed {
            name: format!("{name}{sfx}"),
            kind: *kind,
            address,
            implementation: Some(created(&impls[i])),
            gas_used: impls[i].gas_used + proxy_tx.gas_used,
            transactions: vec![impls[i].tx_hash, proxy_tx.tx_hash],
            block: proxy_tx.block,
        })
        .collect();
    contracts.push(Deployed {
        name: format!("brake{sfx}"),
        kind: ContractKind::EmergencyBrake,
        address: brake,
        implementation: None,
        gas_used: brake_tx.gas_used,
        transactions: vec![brake_tx.tx_hash],
        block: brake_tx.block,
    });
    if opts.test_token {
        let token = &impls[UPGRADEABLE.len() + 1];
        contracts.push(Deployed {
            name: format!("test-token{sfx}"),
            kind: ContractKind::TestToken,
            address: created(token),
            implementation: None,
            gas_used: token.gas_used,
            transactions: vec![token.tx_hash],
            block: token.block,
        });
    }
    Ok(Suite {
        contracts,
        wiring_gas: wired.iter().map(|c| c.gas_used).sum(),
    })
}
