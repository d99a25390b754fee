//! The congestion section of docs/performance.md: its tables and reading.

use super::*;

pub(super) fn row_line(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} |",
        r.setting,
        r.method,
        r.blocks
            .map_or("not within limit".into(), |b| b.to_string()),
        r.fee,
        r.note
    )
}

/// The markdown section.
pub(super) fn render(
    args: &CongestionArgs,
    anvil: &str,
    rows: &[Row],
    attacks: &[Attack],
    took: Duration,
    stopped: Option<String>,
) -> String {
    let mut s = format!("{SECTION}\n\n");
    s.push_str(&format!(
        "Command: `{}`. Date: {} UTC. Machine: {} × {} ({}). {anvil}. Took {:.1} min.\n\n",
        crate::command_line(),
        crate::utc_now(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::env::consts::ARCH,
        crate::cpu_model().unwrap_or_else(|| "cpu unknown".into()),
        took.as_secs_f64() / 60.0
    ));
    s.push_str(&format!(
        "Each row is a fresh devnet (1 chain, 1 copy of the suite: 4 pausable contracts behind one brake), 1 s interval mining, block gas limit 1.5M (71 transfers), kept full by 21000-gas transfers from dev accounts {STUFFERS:?} ({QUEUED} queued per account, topped up every 150 ms) at the row's tip and max fee. After {} full blocks the pause starts; *blocks to paused* counts from the head at its start to the block with the last target paused, given up after {} blocks. guardian runs `pause --all` (one `pauseAll` through the brake, default `[rpc]` settings: `fee_cap_gwei` 1000); the script sends `pause()` to each of the 4 contracts from the pauser key at once, consecutive nonces, with alloy's `estimate_eip1559_fees`. Fee paid is the effective gas price from the receipts.\n\n",
        args.climb, args.give_up
    ));
    s.push_str("| setting (stuffing) | method | blocks to paused | fee paid (gwei) | note |\n| --- | --- | --- | --- | --- |\n");
    for r in rows {
        s.push_str(&row_line(r));
        s.push('\n');
    }
    s.push_str("\nanvil (1.7.1 here) orders its pool by max fee per gas, not by effective tip: on anvil a load whose max fee is above guardian's cap cannot be outbid within the cap — the physical limit of a capped price, not a slow send. Real nodes (geth, reth) order by effective tip, where the urgent tip above the highest seen wins within the cap as long as the cap covers base fee plus that tip.\n\n");
    s.push_str(&format!(
        "**Attacker that reacts.** One fresh devnet, 1 s blocks, no stuffing. Per trial (started at an offset spread over the block interval) a bot polls `txpool_content` every 20 ms; on the first transaction calling `pause()` (0x8456cb59) on the escrow or `pauseAll()` on the brake it sends a stand-in for a drain (a 0-value transfer from dev account {BOT} to itself) at double the pause's tip and max fee. *Bot landed first* counts trials where its transaction was mined before the pause (earlier block, or same block at a lower index); *losses* are those trials (a real drain would have run before the pause; the stand-in moves nothing). Private: `[chains.local] private_send_urls = [\"http://127.0.0.1:PORT\"]`, `private_only = true` (fallback after the default 2 blocks), pointing at a local JSON-RPC endpoint run by the bench that records `eth_sendRawTransaction`, answers its hash, and submits the raw transaction to anvil itself immediately followed by its own `evm_mine` — a builder that includes it without ever leaving it in the public pool (interval mining stays on).\n\n"
    ));
    s.push_str("| method | trials | bot landed first | losses | per trial |\n| --- | --- | --- | --- | --- |\n");
    for a in attacks {
        s.push_str(&format!(
            "| {} | {} | {} | {} of {} | {} |\n",
            a.method,
            a.trials,
            a.bot_first,
            a.bot_first,
            a.trials,
            a.notes.join("; ")
        ));
    }
    if let Some(e) = stopped {
        s.push_str(&format!(
            "\n**Incomplete:** part of the run failed: {}\n",
            crate::bench::shorten(&e, 400)
        ));
    }
    let count = |guardian: bool| {
        let of = rows
            .iter()
            .filter(|r| r.method.starts_with("guardian") == guardian);
        let done = of.clone().filter(|r| r.blocks.is_some()).count();
        format!("{done} of {}", of.count())
    };
    s.push_str(&format!(
        "\n**Summary.** Paused within {} blocks: guardian {} setting(s), the script {}. Bot first: {}.\n",
        args.give_up,
        count(true),
        count(false),
        attacks
            .iter()
            .map(|a| format!("{} {} of {}", a.method, a.bot_first, a.trials))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s
}
