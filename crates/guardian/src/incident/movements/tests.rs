use super::*;
use alloy::primitives::{B256, Bytes, LogData, address, b256};

const ESCROW: Address = address!("0x00000000000000000000000000000000000000e5");
const ATTACKER: Address = address!("0x00000000000000000000000000000000000000a1");
const DRAINER: Address = address!("0x00000000000000000000000000000000000000d1");
const SAFE: Address = address!("0x00000000000000000000000000000000000000fe");
const PAYEE: Address = address!("0x00000000000000000000000000000000000000b0");
const TOKEN: Address = address!("0x00000000000000000000000000000000000000c0");
const EXPLOIT: TxHash = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
const RESCUE: TxHash = b256!("0x2222222222222222222222222222222222222222222222222222222222222222");

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn hex(v: U256) -> String {
    format!("{v:#x}")
}

/// The drill's exploit, as anvil's `callTracer` gives it: the attacker calls its drainer
/// with 1 ETH, the drainer deposits it and releases it three times; a fourth release
/// reverted inside a failed sub-call and moved nothing.
fn drill_trace() -> Value {
    let call = |from: Address, to: Address, value: U256| json!({"type": "CALL", "from": from, "to": to, "value": hex(value)});
    let release = || {
        json!({"type": "CALL", "from": DRAINER, "to": ESCROW, "value": "0x0",
               "calls": [call(ESCROW, DRAINER, eth(1))]})
    };
    let mut failed = release();
    failed["error"] = json!("execution reverted");
    json!({
        "type": "CALL", "from": ATTACKER, "to": DRAINER, "value": hex(eth(1)),
        "calls": [
            call(DRAINER, ESCROW, eth(1)),
            release(), release(), release(),
            {"type": "CALL", "from": DRAINER, "to": ESCROW, "value": "0x0", "calls": [failed]},
            {"type": "DELEGATECALL", "from": ESCROW, "to": PAYEE, "value": hex(eth(1))},
        ]
    })
}

fn contracts() -> BTreeMap<(String, Address), String> {
    BTreeMap::from([(("devnet".to_string(), ESCROW), "escrow".to_string())])
}

fn flows(trace: &Value) -> Vec<TxFlows> {
    vec![
        TxFlows {
            chain: "devnet".into(),
            hash: EXPLOIT,
            block: 40,
            sender: ATTACKER,
            called: Some(DRAINER),
            rescue: false,
            transfers: transfers_in_trace(trace),
        },
        TxFlows {
            chain: "devnet".into(),
            hash: RESCUE,
            block: 43,
            sender: PAYEE,
            called: Some(ESCROW),
            rescue: true,
            transfers: vec![Transfer {
                token: None,
                from: ESCROW,
                to: Some(SAFE),
                amount: eth(17),
            }],
        },
    ]
}

#[test]
fn a_trace_gives_each_value_transfer_but_none_of_a_reverted_or_delegate_call() {
    let t = transfers_in_trace(&drill_trace());
    let out: Vec<_> = t.iter().filter(|t| t.from == ESCROW).collect();
    assert_eq!(out.len(), 3, "{t:?}");
    assert!(
        out.iter()
            .all(|t| t.to == Some(DRAINER) && t.amount == eth(1))
    );
    // The attacker's deposit and the drainer's into the escrow are there too.
    assert_eq!(t.len(), 5);
}

#[test]
fn the_drill_s_take_is_with_the_attacker_and_the_withdrawal_is_rescued() {
    let flows = flows(&drill_trace());
    let found = attackers_of(&flows, &contracts(), &BTreeMap::new());
    assert_eq!(
        found,
        vec![
            ("devnet".to_string(), ATTACKER, "sender"),
            ("devnet".to_string(), DRAINER, "contract")
        ]
    );
    let set = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();
    let rows = rows(&flows, &contracts(), &set, &BTreeMap::new());
    // Only what left the escrow: three releases to the drainer, then the rescue.
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for r in &rows[..3] {
        assert_eq!(
            (r.to, r.recovery, r.transaction),
            (Some(DRAINER), Recovery::WithTheAttacker, EXPLOIT)
        );
        assert_eq!(
            (r.amount.as_str(), r.shown.as_str()),
            ("1000000000000000000", "1.0 ETH")
        );
        assert_eq!(r.contract, "escrow");
    }
    assert_eq!(
        (rows[3].to, rows[3].recovery, rows[3].shown.as_str()),
        (Some(SAFE), Recovery::Rescued, "17.0 ETH")
    );
}

#[test]
fn a_recipient_no_sender_called_or_created_is_elsewhere_and_a_balance_drop_has_none() {
    let mut f = flows(&drill_trace());
    f[0].transfers = vec![
        Transfer {
            token: None,
            from: ESCROW,
            to: Some(PAYEE),
            amount: eth(2),
        },
        Transfer {
            token: None,
            from: ESCROW,
            to: None,
            amount: eth(3),
        },
    ];
    let found = attackers_of(&f, &contracts(), &BTreeMap::new());
    assert_eq!(found, vec![("devnet".to_string(), ATTACKER, "sender")]);
    let set = found.iter().map(|(c, a, _)| (c.clone(), *a)).collect();
    let rows = rows(&f, &contracts(), &set, &BTreeMap::new());
    assert_eq!(rows[0].recovery, Recovery::Elsewhere);
    assert_eq!(rows[1].recovery, Recovery::RecipientUnknown);
    // A contract the attacker created is theirs, though it was neither called nor the sender.
    let created = BTreeMap::from([(("devnet".to_string(), PAYEE), ATTACKER)]);
    assert_eq!(attackers_of(&f, &contracts(), &created).len(), 2);
}

#[test]
fn token_transfers_come_from_erc20_logs_with_their_symbol() {
    let transfer = keccak256("Transfer(address,address,uint256)");
    let log = |topics: Vec<B256>| Log {
        inner: alloy::primitives::Log {
            address: TOKEN,
            data: LogData::new_unchecked(topics, Bytes::from(eth(5).to_be_bytes::<32>())),
        },
        ..Default::default()
    };
    let logs = [
        log(vec![transfer, ESCROW.into_word(), DRAINER.into_word()]),
        // An ERC-721 transfer: the token id is a topic, not an amount.
        log(vec![
            transfer,
            ESCROW.into_word(),
            DRAINER.into_word(),
            B256::ZERO,
        ]),
    ];
    let mut f = flows(&drill_trace());
    f[0].transfers = token_transfers(&logs);
    assert_eq!(f[0].transfers.len(), 1);
    let set = BTreeSet::from([("devnet".to_string(), DRAINER)]);
    let assets = BTreeMap::from([(("devnet".to_string(), Some(TOKEN)), ("TT".to_string(), 18))]);
    let rows = rows(&f[..1], &contracts(), &set, &assets);
    assert_eq!(rows[0].shown, "5.0 TT");
    assert_eq!(rows[0].asset.token, Some(TOKEN));
    assert_eq!(rows[0].recovery, Recovery::WithTheAttacker);
}

#[test]
fn the_first_funding_is_the_earliest_value_sent_to_the_address() {
    let tx = |block: &str, idx: &str, from: Address, value: &str, hash: TxHash| {
        json!({"blockNumber": block, "transactionIndex": idx, "from": from, "to": DRAINER,
               "value": value, "hash": hash})
    };
    let txs = [
        tx("0x9", "0x0", PAYEE, "0x1", RESCUE),
        tx("0x5", "0x1", ATTACKER, "0x1", EXPLOIT),
        tx("0x5", "0x0", SAFE, "0x0", RESCUE),
    ];
    assert_eq!(first_funding(&txs, DRAINER), Some((ATTACKER, EXPLOIT)));
    assert_eq!(first_funding(&txs, ATTACKER), None);
}
#[test]
fn the_last_recorded_read_is_given_with_when_it_was_recorded() {
    let m = Movements {
        incident: 1,
        source: Source::Traces,
        attack_transactions: vec![EXPLOIT],
        rescue_transactions: vec![RESCUE],
        movements: Vec::new(),
        attackers: Vec::new(),
        recorded_at: None,
    };
    let entry = |kind: &str, at: i64, details: Value| Entry {
        id: at,
        incident_id: 1,
        at,
        actor: "drill".into(),
        kind: kind.into(),
        details,
        prev_hash: String::new(),
        hash: String::new(),
    };
    let json = serde_json::to_value(&m).expect("json");
    assert_eq!(json["source"], "traces");
    let older = Movements {
        source: Source::LogsAndBalances,
        ..m.clone()
    };
    let timeline = [
        entry(KIND, 5, serde_json::to_value(&older).expect("json")),
        entry(KIND, 7, json),
        entry("note", 9, json!({"text": "later"})),
    ];
    let found = recorded(&timeline).expect("recorded");
    assert_eq!(found.recorded_at, Some(7));
    assert_eq!(found.source, Source::Traces);
    assert_eq!(recorded(&timeline[2..]), None);
}
