//! What fund-holding contracts hold and owe, per asset, and amounts shown in the asset's units.

use alloy::{
    eips::BlockId,
    primitives::{Address, U256, utils::format_units},
    providers::Provider,
};
use bindings::{PaymentEscrow, interfaces::IERC20Metadata};
use futures::future::join_all;
use serde::Serialize;

use crate::{
    chain::{ChainClient, ChainError, contract_err},
    config::{ContractConfig, ContractKind},
};

/// The symbol shown for a chain's native coin.
pub const NATIVE_SYMBOL: &str = "ETH";

/// One asset held by a contract: what it holds and, for an escrow, what its open payments are owed.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    /// `None` for the native coin.
    pub token: Option<Address>,
    /// The token's `symbol()` (the native coin's symbol for `None`).
    pub symbol: String,
    /// The token's `decimals()` (18 for the native coin).
    pub decimals: u8,
    /// What the contract holds, in base units.
    pub amount: U256,
    /// What the contract's open payments are owed in this asset (`outstanding(token)`), for escrows.
    pub owed: Option<U256>,
}

impl Holding {
    /// How much less the contract holds than it owes (zero when it holds enough).
    pub fn shortfall(&self) -> U256 {
        self.owed
            .map(|o| o.saturating_sub(self.amount))
            .unwrap_or_default()
    }

    /// `amount` of this asset for people: `1.5 ETH`, `250.0 TT`.
    pub fn show(&self, amount: U256) -> String {
        show_amount(amount, self.decimals, &self.symbol)
    }

    /// What is held, and owed (escrows) with any shortfall, for people: `3.0 ETH (owes 5.0
    /// ETH: SHORT 2.0 ETH)`.
    pub fn describe(&self) -> String {
        match self.owed {
            Some(owed) if !self.shortfall().is_zero() => format!(
                "{} (owes {}: SHORT {})",
                self.show(self.amount),
                self.show(owed),
                self.show(self.shortfall())
            ),
            Some(owed) => format!("{} (owes {})", self.show(self.amount), self.show(owed)),
            None => self.show(self.amount),
        }
    }
}

/// An amount in base units for people, with its unit: `show_amount(1.5e18, 18, "ETH")` is `1.5 ETH`.
pub fn show_amount(amount: U256, decimals: u8, symbol: &str) -> String {
    if decimals == 0 {
        return format!("{amount} {symbol}");
    }
    let text = format_units(amount, decimals).unwrap_or_else(|_| amount.to_string());
    // format_units pads to every decimal: keep one digit after the point at least, no more zeros.
    let text = match text.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            format!("{whole}.{}", if frac.is_empty() { "0" } else { frac })
        }
        None => text,
    };
    format!("{text} {symbol}")
}

/// An amount of `token` for people where the records know its units without asking the chain:
/// the native coin in its units (`13.0 ETH`); a token in base units, named by its address.
pub fn show_known(amount: U256, token: Option<Address>) -> String {
    match token.filter(|t| !t.is_zero()) {
        None => show_amount(amount, 18, NATIVE_SYMBOL),
        Some(t) => format!("{amount} base units of {t}"),
    }
}

/// The symbol and decimals of `token` (`None`: the native coin). A token that does not answer
/// is shown by its address with 0 decimals (base units), never guessed.
pub async fn metadata(client: &ChainClient, token: Option<Address>) -> (String, u8) {
    let Some(t) = token else {
        return (NATIVE_SYMBOL.to_string(), 18);
    };
    let erc20 = IERC20Metadata::new(t, client.provider());
    let (symbol_call, decimals_call) = (erc20.symbol(), erc20.decimals());
    let (symbol, decimals) = tokio::join!(symbol_call.call(), decimals_call.call());
    match (symbol, decimals) {
        (Ok(s), Ok(d)) if !s.is_empty() => (s, d),
        _ => (format!("units of {t}"), 0),
    }
}

/// What `contract` holds of the native coin and each token listed for it, and for an escrow what
/// it owes in each.
pub async fn read_holdings(
    client: &ChainClient,
    contract: &ContractConfig,
) -> Result<Vec<Holding>, ChainError> {
    read_holdings_at(client, contract, BlockId::latest()).await
}

/// Like [`read_holdings`], in the state of `block` (a node that keeps no state that old refuses:
/// the error says so). Symbols and decimals are read now.
pub async fn read_holdings_at(
    client: &ChainClient,
    contract: &ContractConfig,
    block: BlockId,
) -> Result<Vec<Holding>, ChainError> {
    let assets: Vec<Option<Address>> = std::iter::once(None)
        .chain(contract.tokens.iter().copied().map(Some))
        .collect();
    let escrow = contract.kind == ContractKind::PaymentEscrow;
    let reads = join_all(assets.iter().map(|token| async move {
        let held = async {
            match token {
                None => client
                    .provider()
                    .get_balance(contract.address)
                    .block_id(block)
                    .await
                    .map_err(|e| client.rpc_err(e)),
                Some(t) => IERC20Metadata::new(*t, client.provider())
                    .balanceOf(contract.address)
                    .block(block)
                    .call()
                    .await
                    .map_err(|e| contract_err(client, e)),
            }
        };
        let owed = async {
            if !escrow {
                return Ok(None);
            }
            PaymentEscrow::new(contract.address, client.provider())
                .outstanding(token.unwrap_or(Address::ZERO))
                .block(block)
                .call()
                .await
                .map(Some)
                .map_err(|e| contract_err(client, e))
        };
        let (held, owed, (symbol, decimals)) = tokio::join!(held, owed, metadata(client, *token));
        Ok::<_, ChainError>(Holding {
            token: *token,
            symbol,
            decimals,
            amount: held?,
            owed: owed?,
        })
    }))
    .await;
    reads.into_iter().collect()
}

/// `holder`'s balance of `token` (`None`: the native coin).
pub async fn balance_of(
    client: &ChainClient,
    holder: Address,
    token: Option<Address>,
) -> Result<U256, ChainError> {
    match token {
        None => client
            .provider()
            .get_balance(holder)
            .await
            .map_err(|e| client.rpc_err(e)),
        Some(t) => IERC20Metadata::new(t, client.provider())
            .balanceOf(holder)
            .call()
            .await
            .map_err(|e| contract_err(client, e)),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn amounts_the_records_know_are_shown_in_units() {
        let thirteen = U256::from(13_000_000_000_000_000_000u128);
        assert_eq!(show_known(thirteen, None), "13.0 ETH");
        assert_eq!(show_known(thirteen, Some(Address::ZERO)), "13.0 ETH");
        let token = Address::repeat_byte(0x11);
        assert_eq!(
            show_known(U256::from(7), Some(token)),
            format!("7 base units of {token}")
        );
    }

    use super::*;

    #[test]
    fn amounts_show_in_units_with_their_symbol() {
        let eth = U256::from(10).pow(U256::from(18));
        assert_eq!(
            show_amount(eth * U256::from(3) / U256::from(2), 18, "ETH"),
            "1.5 ETH"
        );
        assert_eq!(show_amount(U256::from(250) * eth, 18, "TT"), "250.0 TT");
        assert_eq!(show_amount(U256::ZERO, 18, "ETH"), "0.0 ETH");
        assert_eq!(
            show_amount(U256::from(1), 18, "ETH"),
            "0.000000000000000001 ETH"
        );
        assert_eq!(show_amount(U256::from(12_345), 2, "USD"), "123.45 USD");
        assert_eq!(show_amount(U256::from(7), 0, "units"), "7 units");
    }

    #[test]
    fn shortfall_is_what_is_owed_beyond_what_is_held() {
        let h = |amount: u64, owed: Option<u64>| Holding {
            token: None,
            symbol: "ETH".into(),
            decimals: 18,
            amount: U256::from(amount),
            owed: owed.map(U256::from),
        };
        assert_eq!(h(2, Some(12)).shortfall(), U256::from(10));
        assert_eq!(h(12, Some(2)).shortfall(), U256::ZERO);
        assert_eq!(h(5, None).shortfall(), U256::ZERO);
    }
}
