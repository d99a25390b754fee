//! Event history over long block ranges. Hosted endpoints cap `eth_getLogs` by block range or by
//! result size and refuse anything larger, so a refused range is narrowed by halves until the
//! endpoint answers, and the rest of the history is read in windows of that size.

use alloy::{
    providers::Provider,
    rpc::types::{Filter, Log},
};

use super::{ChainClient, ChainError};

/// The most refusals one history read accepts before it gives up (halving from 2^64 blocks
/// reaches a single block in 64).
const MAX_REFUSALS: u32 = 64;

/// Every log matching `filter` in blocks `from..=to`, in chain order.
pub async fn logs(
    client: &ChainClient,
    filter: &Filter,
    from: u64,
    to: u64,
) -> Result<Vec<Log>, ChainError> {
    let mut found: Vec<Log> = Vec::new();
    let mut window = to.saturating_sub(from).saturating_add(1);
    let mut refusals = 0;
    let mut lo = from;
    while lo <= to {
        let hi = lo.saturating_add(window - 1).min(to);
        let range = filter.clone().from_block(lo).to_block(hi);
        match client.provider().get_logs(&range).await {
            Ok(logs) => {
                found.extend(logs);
                if hi == u64::MAX {
                    break;
                }
                lo = hi + 1;
            }
            // The endpoint answered, with a refusal: ask for less.
            Err(e) if e.as_error_resp().is_some() && window > 1 && refusals < MAX_REFUSALS => {
                refusals += 1;
                window = window.div_ceil(2);
                tracing::debug!(chain = %client.name, window, "eth_getLogs refused ({e}); narrowing");
            }
            Err(e) => return Err(client.rpc_err(e)),
        }
    }
    found.sort_by_key(|l| (l.block_number, l.log_index));
    Ok(found)
}
