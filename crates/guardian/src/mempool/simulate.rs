//! Simulating one pending transaction with what the node offers (`debug_traceCall` with the call
//! tracer, or `eth_simulateV1` with transfer tracing) and reading its [`Effect`] from the answer.
//!
//! The answers are read from JSON with our own small types rather than alloy's: alloy 2.5 has no
//! trace types without another crate, and its simulate types make absent fields default, where a
//! missing `status` must be told apart (it makes the answer [`SimError::Ambiguous`]).

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, Bytes, Log, LogData, U64, U256, address, b256},
    providers::Provider,
    rpc::json_rpc::ErrorPayload,
    transports::{RpcError, TransportErrorKind},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    PendingTx, Simulator,
    effect::{Effect, SimError},
};
use crate::chain::ChainClient;

/// The pseudo-address `eth_simulateV1` emits native transfers from (`traceTransfers`).
pub const TRANSFER_EMITTER: Address = address!("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE");

/// `Transfer(address,address,uint256)`, the topic of those pseudo-logs.
const TRANSFER_TOPIC: B256 =
    b256!("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// Simulates `tx` on the state the next block is built on (the latest block), with the node's
/// `simulator`.
///
/// Not on the `pending` block: nodes (anvil, geth) build it with the pool's transactions in it,
/// `tx` included, so simulating there applies `tx` twice (a pending `release` then reverts as
/// already settled). See [`simulate_at`] to choose the block.
pub async fn simulate(
    client: &ChainClient,
    simulator: Simulator,
    tx: &PendingTx,
) -> Result<Effect, SimError> {
    simulate_at(client, simulator, tx, BlockNumberOrTag::Latest).await
}

/// Like [`simulate`], on the state of `block`.
pub async fn simulate_at(
    client: &ChainClient,
    simulator: Simulator,
    tx: &PendingTx,
    block: BlockNumberOrTag,
) -> Result<Effect, SimError> {
    let call = call_object(tx);
    match simulator {
        Simulator::TraceCall => {
            let tracer = json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}});
            let answer = request(client, "debug_traceCall", json!([call, block, tracer])).await?;
            effect_of_trace(&answer, tx)
        }
        Simulator::SimulateV1 => {
            let payload = json!({"blockStateCalls": [{"calls": [call]}], "traceTransfers": true});
            let answer = request(client, "eth_simulateV1", json!([payload, block])).await?;
            effect_of_simulation(&answer, tx)
        }
    }
}

/// The call `tx` makes, as both simulation methods take it. No nonce: the sender may have
/// pending transactions before this one, which the latest state does not have.
fn call_object(tx: &PendingTx) -> Value {
    let mut call = json!({
        "from": tx.from,
        "input": tx.input,
        "data": tx.input,
        "value": tx.value,
        "gas": format!("{:#x}", tx.gas),
        "maxFeePerGas": format!("{:#x}", tx.max_fee_per_gas),
        "maxPriorityFeePerGas": format!("{:#x}", tx.max_priority_fee_per_gas),
    });
    if let Some(to) = tx.to {
        call["to"] = json!(to);
    }
    call
}

/// Sends one raw request, sorting its errors into the [`SimError`] variants.
pub(crate) async fn request(
    client: &ChainClient,
    method: &'static str,
    params: Value,
) -> Result<Value, SimError> {
    client
        .provider()
        .raw_request::<_, Value>(method.into(), params)
        .await
        .map_err(|e| classify(method, &e))
}

/// [`SimError::Unsupported`] when the node says it lacks `method`, else [`SimError::Failed`].
pub(crate) fn classify(method: &str, e: &RpcError<TransportErrorKind>) -> SimError {
    match e.as_error_resp() {
        Some(payload) if is_unsupported(payload) => {
            SimError::Unsupported(format!("{method} ({})", payload.message))
        }
        _ => SimError::Failed(format!("{method}: {e}")),
    }
}

/// Whether an error answer says the method is missing (geth, erigon, reth, Nethermind and
/// hosted endpoints word it differently; -32601 is the standard code).
pub(crate) fn is_unsupported(payload: &ErrorPayload) -> bool {
    const WORDS: [&str; 6] = [
        "method not found",
        "does not exist",
        "not supported",
        "unsupported",
        "not available",
        "not whitelisted",
    ];
    let message = payload.message.to_lowercase();
    payload.code == -32601 || WORDS.iter().any(|w| message.contains(w))
}

/// One frame of the call tracer.
#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    from: Address,
    to: Option<Address>,
    value: Option<U256>,
    error: Option<String>,
    #[serde(default)]
    calls: Vec<Frame>,
    #[serde(default)]
    logs: Vec<TraceLog>,
}

/// A log in a call-tracer frame; `position` is the index of the subcall it was emitted before.
#[derive(Deserialize)]
struct TraceLog {
    address: Address,
    #[serde(default)]
    topics: Vec<B256>,
    #[serde(default)]
    data: Bytes,
    position: Option<U64>,
}

/// The effect read from a `debug_traceCall` call-tracer answer for `tx`.
fn effect_of_trace(answer: &Value, tx: &PendingTx) -> Result<Effect, SimError> {
    if answer.is_null() {
        return Err(SimError::Ambiguous(
            "debug_traceCall returned no trace".into(),
        ));
    }
    let top: Frame = Frame::deserialize(answer)?;
    // A trace of some other call (a node that ignored our fields) says nothing about this one.
    if top.from != tx.from || (tx.to.is_some() && top.to != tx.to) {
        return Err(SimError::Ambiguous(format!(
            "the trace is of a call from {} to {:?}, not of the transaction",
            top.from, top.to
        )));
    }
    let mut effect = Effect {
        reverted: top.error.is_some(),
        ..Effect::default()
    };
    walk(&top, !effect.reverted, &mut effect)?;
    Ok(effect)
}

/// Adds `frame` and its subcalls to `effect`, in execution order. `live` is false inside a
/// reverted frame: its calls still count, its logs and value do not.
fn walk(frame: &Frame, live: bool, effect: &mut Effect) -> Result<(), SimError> {
    let live = live && frame.error.is_none();
    let kind = frame.kind.to_ascii_uppercase();
    if let Some(to) = frame.to {
        effect.called(to);
        let moves_value = matches!(
            kind.as_str(),
            "CALL" | "CREATE" | "CREATE2" | "SELFDESTRUCT"
        );
        if live && moves_value {
            effect.transfer(frame.from, to, frame.value.unwrap_or_default());
        }
    } else if kind != "CREATE" && kind != "CREATE2" {
        return Err(SimError::Ambiguous(format!("a {kind} frame without `to`")));
    }
    // Older tracers give no position: their logs are taken before the frame's subcalls.
    let at = |log: &TraceLog| {
        let position = log.position.map_or(0, |p| p.saturating_to::<usize>());
        position.min(frame.calls.len())
    };
    for index in 0..=frame.calls.len() {
        if live {
            for log in frame.logs.iter().filter(|l| at(l) == index) {
                let data = LogData::new(log.topics.clone(), log.data.clone())
                    .ok_or_else(|| SimError::Ambiguous("a log with over 4 topics".into()))?;
                effect.logs.push(Log {
                    address: log.address,
                    data,
                });
            }
        }
        if let Some(sub) = frame.calls.get(index) {
            walk(sub, live, effect)?;
        }
    }
    Ok(())
}

/// One call's result in an `eth_simulateV1` block.
#[derive(Deserialize)]
struct SimulatedCall {
    status: Option<String>,
    #[serde(default)]
    logs: Vec<SimulatedLog>,
}

/// A log in a simulated call.
#[derive(Deserialize)]
struct SimulatedLog {
    address: Address,
    #[serde(default)]
    topics: Vec<B256>,
    #[serde(default)]
    data: Bytes,
}

/// The effect read from an `eth_simulateV1` answer (one block with one call).
///
/// The method gives no call tree: [`Effect::calls`] is `tx.to`, then every log emitter and both
/// ends of every native transfer (pseudo-logs from [`TRANSFER_EMITTER`]) except the sender. A
/// contract reached only by a call that emits nothing and moves no value is not seen.
fn effect_of_simulation(answer: &Value, tx: &PendingTx) -> Result<Effect, SimError> {
    let call = answer
        .get(0)
        .and_then(|block| block.get("calls"))
        .and_then(|calls| calls.get(0))
        .ok_or_else(|| SimError::Ambiguous("eth_simulateV1 returned no call result".into()))?;
    let call: SimulatedCall = SimulatedCall::deserialize(call)?;
    let status = call.status.ok_or_else(|| {
        SimError::Ambiguous("eth_simulateV1 returned a call without status".into())
    })?;
    let mut effect = Effect {
        reverted: match status.as_str() {
            "0x1" => false,
            "0x0" => true,
            other => return Err(SimError::Ambiguous(format!("call status {other}"))),
        },
        ..Effect::default()
    };
    if let Some(to) = tx.to {
        effect.called(to);
    }
    if effect.reverted {
        return Ok(effect);
    }
    for log in call.logs {
        if log.address == TRANSFER_EMITTER {
            let [topic, from, to] = log.topics[..] else {
                return Err(SimError::Ambiguous(
                    "a transfer log without 3 topics".into(),
                ));
            };
            let value = U256::try_from_be_slice(&log.data)
                .filter(|_| topic == TRANSFER_TOPIC && log.data.len() == 32)
                .ok_or_else(|| SimError::Ambiguous("a malformed transfer log".into()))?;
            let (from, to) = (Address::from_word(from), Address::from_word(to));
            for end in [from, to] {
                if end != tx.from {
                    effect.called(end);
                }
            }
            effect.transfer(from, to, value);
            continue;
        }
        effect.called(log.address);
        let data = LogData::new(log.topics, log.data)
            .ok_or_else(|| SimError::Ambiguous("a log with over 4 topics".into()))?;
        effect.logs.push(Log {
            address: log.address,
            data,
        });
    }
    Ok(effect)
}

impl From<serde_json::Error> for SimError {
    fn from(e: serde_json::Error) -> Self {
        Self::Ambiguous(format!("unexpected answer: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const A: Address = Address::repeat_byte(0xaa);
    const B: Address = Address::repeat_byte(0xbb);
    const C: Address = Address::repeat_byte(0xcc);
    const IMPL: Address = Address::repeat_byte(0x11);
    const SENDER: Address = Address::repeat_byte(0x55);

    fn tx(to: Address) -> PendingTx {
        PendingTx {
            hash: B256::ZERO,
            from: SENDER,
            to: Some(to),
            input: Bytes::new(),
            value: U256::ZERO,
            nonce: 0,
            gas: 100_000,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
            seen_at: Instant::now(),
        }
    }

    fn log(address: Address, topic: u8, position: &str) -> Value {
        json!({"address": address, "topics": [B256::repeat_byte(topic)], "data": "0x", "position": position})
    }

    #[test]
    fn the_call_tree_gives_calls_logs_in_order_and_value_of_live_calls_only() {
        let trace = json!({
            "type": "CALL", "from": SENDER, "to": A, "value": "0x10",
            "logs": [log(A, 1, "0x0"), log(A, 3, "0x1"), log(A, 5, "0x3")],
            "calls": [
                {"type": "DELEGATECALL", "from": A, "to": IMPL, "value": "0x10",
                 "logs": [log(A, 2, "0x0")]},
                {"type": "CALL", "from": A, "to": B, "value": "0x7",
                 "calls": [{"type": "STATICCALL", "from": B, "to": C}],
                 "logs": [log(B, 4, "0x1")]},
                {"type": "CALL", "from": A, "to": C, "value": "0x5", "error": "execution reverted",
                 "logs": [log(C, 9, "0x0")]}
            ]
        });
        let effect = effect_of_trace(&trace, &tx(A)).expect("effect");
        assert!(!effect.reverted);
        assert_eq!(effect.calls, [A, IMPL, B, C]);
        let topics: Vec<u8> = effect.logs.iter().map(|l| l.topics()[0][0]).collect();
        assert_eq!(
            topics,
            [1, 2, 3, 4, 5],
            "the reverted frame's log is not there"
        );
        assert_eq!(effect.native_out[&SENDER], U256::from(0x10));
        assert_eq!(
            effect.native_out[&A],
            U256::from(7),
            "no delegatecall or reverted value"
        );
        assert_eq!(effect.net_native_outflow(A), U256::ZERO, "0x10 in, 7 out");
        assert_eq!(effect.native_in[&B], U256::from(7));
        assert!(!effect.native_in.contains_key(&C));
    }

    #[test]
    fn a_reverted_top_frame_has_calls_but_no_effect() {
        let trace = json!({
            "type": "CALL", "from": SENDER, "to": A, "value": "0x10", "error": "execution reverted",
            "logs": [log(A, 1, "0x0")],
            "calls": [{"type": "CALL", "from": A, "to": B, "value": "0x1", "logs": [log(B, 2, "0x0")]}]
        });
        let effect = effect_of_trace(&trace, &tx(A)).expect("effect");
        assert!(effect.reverted);
        assert_eq!(effect.calls, [A, B]);
        assert!(effect.logs.is_empty() && effect.native_out.is_empty());
    }

    #[test]
    fn untrustworthy_traces_are_ambiguous() {
        for trace in [
            Value::Null,
            json!({"from": SENDER, "to": A}),
            json!({"type": "CALL", "from": SENDER}),
            json!({"type": "CALL", "from": SENDER, "to": A, "value": "lots"}),
            json!({"type": "CALL", "from": SENDER, "to": B, "value": "0x0"}),
        ] {
            let err = effect_of_trace(&trace, &tx(A)).expect_err("ambiguous");
            assert!(matches!(err, SimError::Ambiguous(_)), "{trace}: {err}");
        }
    }

    fn transfer(from: Address, to: Address, value: u64) -> Value {
        json!({"address": TRANSFER_EMITTER, "topics": [TRANSFER_TOPIC, from.into_word(), to.into_word()],
               "data": B256::from(U256::from(value))})
    }

    #[test]
    fn simulated_transfers_become_native_flows_and_leave_the_logs() {
        let answer = json!([{"calls": [{"status": "0x1", "logs": [
            transfer(SENDER, A, 9),
            {"address": B, "topics": [B256::repeat_byte(1)], "data": "0x01"},
            transfer(A, C, 4),
        ]}]}]);
        let effect = effect_of_simulation(&answer, &tx(A)).expect("effect");
        assert!(!effect.reverted);
        assert_eq!(
            effect.calls,
            [A, B, C],
            "to, emitters, transfer ends but the sender"
        );
        assert_eq!(effect.logs.len(), 1);
        assert_eq!(effect.logs[0].address, B);
        assert_eq!(effect.net_native_outflow(SENDER), U256::from(9));
        assert_eq!(effect.native_out[&A], U256::from(4));
        assert_eq!(effect.native_in[&C], U256::from(4));
    }

    #[test]
    fn a_simulation_without_result_or_status_is_ambiguous_and_a_failed_one_reverted() {
        for answer in [
            json!([]),
            json!([{"calls": []}]),
            json!([{"calls": [{"logs": []}]}]),
            json!([{"calls": [{"status": "0x2"}]}]),
        ] {
            let err = effect_of_simulation(&answer, &tx(A)).expect_err("ambiguous");
            assert!(matches!(err, SimError::Ambiguous(_)), "{answer}: {err}");
        }
        let answer = json!([{"calls": [{"status": "0x0", "logs": [transfer(SENDER, A, 1)]}]}]);
        let effect = effect_of_simulation(&answer, &tx(A)).expect("effect");
        assert!(effect.reverted && effect.native_out.is_empty() && effect.logs.is_empty());
        assert_eq!(effect.calls, [A]);
    }

    #[test]
    fn missing_methods_are_told_apart_from_failures() {
        let payload = |code, message: &str| ErrorPayload {
            code,
            message: message.to_string().into(),
            data: None,
        };
        assert!(is_unsupported(&payload(-32601, "Method not found")));
        assert!(is_unsupported(&payload(
            -32000,
            "the method debug_traceCall does not exist/is not available"
        )));
        assert!(is_unsupported(&payload(-32004, "Method not supported")));
        assert!(!is_unsupported(&payload(
            -32000,
            "insufficient funds for gas * price + value"
        )));
        assert!(!is_unsupported(&payload(3, "execution reverted")));
    }
}
