//! Talking to endpoints, seen from the endpoint: a pause of many contracts sends its reads in
//! batches, `batch_size = 1` turns batching off, an endpoint that
//! refuses batches still gets every contract paused, and a rate-limited fallback endpoint does not
//! win over a slow but working one.

use std::time::Duration;

use guardian::config::Manifest;

use crate::{
    response::{multi_chain, named, open, request, run},
    support::proxy::{self, Batches, Behaviour, Counts},
};

/// The names of every pausable contract in the manifest.
fn pausable(manifest: &Manifest) -> Vec<String> {
    manifest
        .contracts
        .iter()
        .filter(|c| c.kind.is_pausable())
        .map(|c| c.name().to_string())
        .collect()
}

/// Points the only chain of `manifest` at `url`, with `batch_size`.
fn through(url: &str, batch_size: usize) -> impl FnOnce(&mut Manifest) {
    let url = url.to_string();
    move |m: &mut Manifest| {
        m.rpc.batch_size = batch_size;
        m.chains.get_mut("local").expect("chain").rpc_urls = vec![url.parse().expect("url")];
    }
}

#[tokio::test]
async fn pausing_many_contracts_batches_its_reads() {
    let devnet = multi_chain(1, 5, None).await;
    let upstream = devnet.anvils[0].url.expose().to_string();
    let names = pausable(&devnet.manifest);
    assert_eq!(names.len(), 20, "5 copies of 4 pausable contracts");
    let selection: Vec<&str> = names.iter().map(String::as_str).collect();

    // Batched (the default): every read travels in a batch.
    let batched = proxy::start(&upstream, Batches::Forward).await;
    let (d, _dir) = open(&devnet.manifest, through(&batched.url, 100)).await;
    let report = run(&d, &request(true, named(&selection)))
        .await
        .expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.transactions, 20);
    let singles = batched.counts.singles.lock().expect("lock").clone();
    assert_eq!(count(&singles, "eth_call"), 0, "{singles:?}");
    // Estimates and signed transactions go one per request (see chain/tx.rs and chain/follow.rs).
    assert_eq!(count(&singles, "eth_estimateGas"), 20);
    assert_eq!(count(&singles, "eth_sendRawTransaction"), 20);
    assert!(
        Counts::get(&batched.counts.batches) >= 3,
        "states, roles, re-reads"
    );

    // batch_size = 1: one request per call.
    let single = proxy::start(&upstream, Batches::Forward).await;
    let (d, _dir) = open(&devnet.manifest, through(&single.url, 1)).await;
    let report = run(&d, &request(false, named(&selection)))
        .await
        .expect("unpause");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(Counts::get(&single.counts.batches), 0);
    let singles = single.counts.singles.lock().expect("lock").clone();
    assert_eq!(count(&singles, "eth_sendRawTransaction"), 20);
    assert_eq!(count(&singles, "eth_estimateGas"), 20);
    assert!(
        count(&singles, "eth_call") >= 3 * 20,
        "state, role and re-read per target"
    );
}

fn count(methods: &[String], method: &str) -> usize {
    methods.iter().filter(|m| *m == method).count()
}

#[tokio::test]
async fn an_endpoint_that_refuses_batches_still_gets_everything_paused() {
    let devnet = multi_chain(1, 2, None).await;
    let upstream = devnet.anvils[0].url.expose().to_string();
    let names = pausable(&devnet.manifest);
    let selection: Vec<&str> = names.iter().map(String::as_str).collect();
    for (refusal, pause) in [
        (Batches::RefuseWithStatus, true),
        (Batches::RefuseWithErrorObject, false),
        (Batches::RefuseLikeGeth, true),
    ] {
        let proxy = proxy::start(&upstream, refusal).await;
        let (d, _dir) = open(&devnet.manifest, through(&proxy.url, 100)).await;
        let report = run(&d, &request(pause, named(&selection)))
            .await
            .unwrap_or_else(|e| panic!("{refusal:?}: {e}"));
        assert!(report.ok(), "{refusal:?}: {report:#?}");
        assert_eq!(report.transactions, names.len(), "{refusal:?}");
        assert!(
            report
                .targets
                .iter()
                .all(|t| t.paused == Some(pause) && t.error.is_none()),
            "{refusal:?}: {report:#?}"
        );
        assert!(
            Counts::get(&proxy.counts.refused) > 0,
            "{refusal:?}: batches were tried"
        );
    }
}

#[tokio::test]
async fn a_fast_rate_limit_error_does_not_beat_a_slow_real_answer() {
    let devnet = multi_chain(1, 1, None).await;
    let upstream = devnet.anvils[0].url.expose().to_string();
    let slow = proxy::start_with(
        &upstream,
        Behaviour {
            delay: Some(Duration::from_millis(150)),
            ..Behaviour::default()
        },
    )
    .await;
    let limited = proxy::start_with(
        &upstream,
        Behaviour {
            rate_limited: true,
            ..Behaviour::default()
        },
    )
    .await;
    let (d, _dir) = open(&devnet.manifest, |m| {
        m.rpc.hedge_after_ms = Some(20);
        m.chains.get_mut("local").expect("chain").rpc_urls = vec![
            slow.url.parse().expect("url"),
            limited.url.parse().expect("url"),
        ];
    })
    .await;
    assert!(d.unreachable.is_empty(), "{:?}", d.unreachable);
    let names = pausable(&devnet.manifest);
    let selection: Vec<&str> = names.iter().map(String::as_str).collect();
    let report = run(&d, &request(true, named(&selection)))
        .await
        .expect("pause");
    assert!(report.ok(), "{report:#?}");
    assert!(
        Counts::get(&limited.counts.rate_limited) > 0,
        "the rate-limited endpoint was asked too"
    );
}
