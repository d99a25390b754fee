//! The calls of one request (single or batch): which are settled, which are asked again, and the answer.

use alloy::{
    primitives::{Bytes, keccak256},
    rpc::json_rpc::{
        Id, RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest,
    },
};

use super::classify::{ErrorClass, classify};

/// The calls of one request, and what has been learnt about each.
pub(super) struct Calls {
    batch: bool,
    calls: Vec<SerializedRequest>,
    /// Final answers, by position in `calls`.
    settled: Vec<Option<Response>>,
    /// The latest retryable error answer of each call not settled yet.
    fallback: Vec<Option<Response>>,
    /// Calls a batch answer left out with no retryable error in it: they stay unanswered.
    given_up: Vec<bool>,
}

impl Calls {
    pub(super) fn new(req: RequestPacket) -> Self {
        let (batch, calls) = match req {
            RequestPacket::Single(r) => (false, vec![r]),
            RequestPacket::Batch(rs) => (true, rs),
        };
        let n = calls.len();
        Self {
            batch,
            calls,
            settled: vec![None; n],
            fallback: vec![None; n],
            given_up: vec![false; n],
        }
    }

    pub(super) fn open(&self) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|i| self.settled[*i].is_none() && !self.given_up[*i])
            .collect()
    }

    /// The request for the calls at `indexes`.
    pub(super) fn packet(&self, indexes: &[usize]) -> RequestPacket {
        if self.batch {
            RequestPacket::Batch(indexes.iter().map(|i| self.calls[*i].clone()).collect())
        } else {
            RequestPacket::Single(self.calls[0].clone())
        }
    }

    fn position(&self, id: &Id) -> Option<usize> {
        self.calls.iter().position(|c| c.id() == id)
    }

    /// Takes in an endpoint's answer to the calls at `asked`. Returns whether it held an error
    /// worth asking elsewhere, and whether it settled any call.
    pub(super) fn absorb(&mut self, asked: &[usize], answer: ResponsePacket) -> (bool, bool) {
        let responses = match answer {
            ResponsePacket::Single(r) if !self.batch => {
                vec![(0, r)]
            }
            // One error object for a whole batch (an endpoint refusing batches, or rate
            // limiting): every call asked gets it. A lone success answers none of them.
            ResponsePacket::Single(r) if matches!(r.payload, ResponsePayload::Failure(_)) => {
                asked.iter().map(|i| (*i, r.clone())).collect()
            }
            ResponsePacket::Single(_) => Vec::new(),
            ResponsePacket::Batch(rs) => rs
                .into_iter()
                .filter_map(|r| self.position(&r.id).map(|i| (i, r)))
                .collect(),
        };
        let mut retry = false;
        let mut settled_any = false;
        let mut answered = vec![false; self.calls.len()];
        for (i, mut r) in responses {
            if self.settled[i].is_some() {
                continue;
            }
            answered[i] = true;
            r.id = self.calls[i].id().clone();
            let class = match &r.payload {
                ResponsePayload::Success(_) => None,
                ResponsePayload::Failure(e) => {
                    Some(classify(self.calls[i].method(), e.code, &e.message))
                }
            };
            match class {
                None | Some(ErrorClass::Final) => {
                    self.settled[i] = Some(r);
                    settled_any = true;
                }
                Some(ErrorClass::AlreadyKnown) => {
                    if let Some(hash) = accepted(&self.calls[i]) {
                        r.payload = ResponsePayload::Success(hash);
                    }
                    self.settled[i] = Some(r);
                    settled_any = true;
                }
                Some(ErrorClass::Retry) => {
                    retry = true;
                    self.fallback[i] = Some(r);
                }
            }
        }
        if !retry {
            // A batch answer that leaves calls out for no retryable reason (geth's "batch too
            // large" answers the first call only): the caller sees them unanswered.
            for i in asked {
                if !answered[*i] && self.settled[*i].is_none() {
                    self.given_up[*i] = true;
                }
            }
        }
        (retry, settled_any)
    }

    /// The answer: the final one of each call, else its last retryable error; calls with
    /// neither are left out of a batch. `None` when no call has either.
    pub(super) fn into_answer(self) -> Option<ResponsePacket> {
        let answers: Vec<Response> = self
            .settled
            .into_iter()
            .zip(self.fallback)
            .filter_map(|(s, f)| s.or(f))
            .collect();
        if answers.is_empty() {
            None
        } else if self.batch {
            Some(ResponsePacket::Batch(answers))
        } else {
            answers.into_iter().next().map(ResponsePacket::Single)
        }
    }
}

/// The success answer to a broadcast a node already had: the transaction's hash.
fn accepted(call: &SerializedRequest) -> Option<Box<serde_json::value::RawValue>> {
    let (raw,): (Bytes,) = serde_json::from_str(call.params()?.get()).ok()?;
    serde_json::value::to_raw_value(&keccak256(&raw)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_known_answers_with_the_transactions_hash() {
        let raw = Bytes::from(vec![0x02, 0xf8, 0x01, 0x02]);
        let req = alloy::rpc::json_rpc::Request::new(
            "eth_sendRawTransaction",
            Id::Number(7),
            (raw.clone(),),
        )
        .serialize()
        .expect("serialize");
        let mut calls = Calls::new(RequestPacket::Single(req));
        let error = serde_json::from_str::<Response>(
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"already known"}}"#,
        )
        .expect("response");
        let (retry, settled) = calls.absorb(&[0], ResponsePacket::Single(error));
        assert!(!retry && settled);
        let Some(ResponsePacket::Single(answer)) = calls.into_answer() else {
            panic!("single")
        };
        let ResponsePayload::Success(hash) = answer.payload else {
            panic!("success")
        };
        assert_eq!(hash.get(), format!("\"{}\"", keccak256(&raw)));
    }

    #[test]
    fn a_batch_keeps_its_answers_and_asks_again_only_for_the_refused_calls() {
        let req = |id: u64| {
            alloy::rpc::json_rpc::Request::new("eth_blockNumber", Id::Number(id), ())
                .serialize()
                .expect("serialize")
        };
        let mut calls = Calls::new(RequestPacket::Batch(vec![req(1), req(2), req(3)]));
        let answer: ResponsePacket = serde_json::from_str(
            r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},
                {"jsonrpc":"2.0","id":2,"error":{"code":-32005,"message":"rate limit"}},
                {"jsonrpc":"2.0","id":3,"error":{"code":3,"message":"execution reverted"}}]"#,
        )
        .expect("answer");
        let (retry, settled) = calls.absorb(&[0, 1, 2], answer);
        assert!(retry && settled);
        assert_eq!(calls.open(), vec![1]);
        let RequestPacket::Batch(again) = calls.packet(&calls.open()) else {
            panic!("batch")
        };
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id(), &Id::Number(2));
    }
}
