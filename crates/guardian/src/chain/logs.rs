//! Event history over long block ranges. Hosted endpoints cap `eth_getLogs` by block range or by
//! result size and refuse anything larger, so a refused range is narrowed by halves until the
//! endpoint answers, and the rest of the history is read in windows of that size.

use alloy::{
    providers::Provider,
    rpc::types::{Filter, Log},
};

use super::{ChainClient, ChainError};

/// The most refusals in a row one history read accepts: enough to narrow from 2^64 blocks to one.
const MAX_REFUSALS: u32 = 64;

/// Every log matching `filter` in blocks `from..=to`, in chain order.
///
/// A refused range is halved; after a success the window doubles again (up to the whole range),
/// so one refusal for a busy stretch does not leave the rest to be read in tiny pieces.
pub async fn logs(
    client: &ChainClient,
    filter: &Filter,
    from: u64,
    to: u64,
) -> Result<Vec<Log>, ChainError> {
    if from > to {
        return Err(ChainError::BeyondHead {
            chain: client.name.clone(),
            block: from,
            head: to,
        });
    }
    let whole = (to - from).saturating_add(1);
    let mut found: Vec<Log> = Vec::new();
    let mut window = whole;
    let mut refusals = 0;
    let mut lo = from;
    loop {
        let hi = lo.saturating_add(window - 1).min(to);
        let range = filter.clone().from_block(lo).to_block(hi);
        match client.provider().get_logs(&range).await {
            Ok(logs) => {
                found.extend(logs);
                if hi >= to {
                    break;
                }
                lo = hi + 1;
                window = window.saturating_mul(2).min(whole);
                refusals = 0;
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
