//! The unpause's solvency check: an escrow that holds less than its open payments are owed is
//! not unpaused (new deposits would pay old payments) unless asked, with a reason.

use alloy::primitives::utils::format_units;
use futures::future::join_all;

use super::{PauseRequest, Target};
use crate::{config::ContractKind, funds::read_holdings, response::ResponseError};

/// Refuses to unpause an escrow that holds less than its open payments are owed: new deposits
/// would pay old payments. `--allow-insolvent` with a reason overrides it.
pub(super) async fn check_solvency(
    request: &PauseRequest,
    targets: &[Target<'_>],
    to_change: &[usize],
) -> Result<(), ResponseError> {
    let escrows: Vec<&Target> = to_change
        .iter()
        .map(|i| &targets[*i])
        .filter(|t| t.contract.kind == ContractKind::PaymentEscrow)
        .collect();
    let books = join_all(escrows.iter().filter_map(|t| {
        t.client
            .map(|client| async move { (t, read_holdings(client, t.contract).await) })
    }))
    .await;
    let mut short = Vec::new();
    for (t, holdings) in books {
        let name = t.contract.name();
        match holdings {
            Err(e) => short.push(format!(
                "cannot read what {name} owes ({e}); unpausing it blind is refused"
            )),
            Ok(holdings) => {
                for h in holdings.iter().filter(|h| !h.shortfall().is_zero()) {
                    let asset = match h.token {
                        None => "--native".to_string(),
                        Some(t) => format!("--token {t}"),
                    };
                    short.push(format!(
                        "{name} owes {}, holds {}: return {} with `guardian replenish --contract {name} {asset} --amount {}`",
                        h.show(h.owed.unwrap_or_default()),
                        h.show(h.amount),
                        h.show(h.shortfall()),
                        format_units(h.shortfall(), h.decimals).unwrap_or_default(),
                    ));
                }
            }
        }
    }
    if short.is_empty() {
        return Ok(());
    }
    if request.allow_insolvent {
        if request
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
        {
            return Err(ResponseError::ReasonRequired("--allow-insolvent"));
        }
        tracing::warn!("unpausing insolvent escrows as asked: {}", short.join("; "));
        return Ok(());
    }
    Err(ResponseError::Insolvent(short))
}
