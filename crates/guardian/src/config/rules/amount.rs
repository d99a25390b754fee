//! Amounts in a rule's asset units: `"2.5"`, `"10 ether"`, `"30 gwei"`.

use std::str::FromStr;

use alloy::primitives::{U256, utils::Unit};

/// Parses an amount written in an asset's units: `"2.5"`, or for the native coin also with a unit
/// (`"10 ether"`, `"30 gwei"`). Refuses negative and zero amounts and more decimals than the unit has.
pub fn parse_amount(text: &str, decimals: u8, native: bool) -> Result<U256, String> {
    let (number, unit) = amount_shape(text, native)?;
    let unit = unit.unwrap_or(decimals);
    let fraction = number.split_once('.').map_or("", |(_, f)| f);
    if fraction.len() > usize::from(unit) {
        return Err(format!("at most {unit} decimal places here"));
    }
    let amount: U256 = alloy::primitives::utils::parse_units(number, unit)
        .map_err(|e| e.to_string())?
        .get_absolute();
    if amount.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(amount)
}

/// Splits an amount into its number (checked to be a non-negative decimal) and, for the native
/// coin, the decimals of its unit word when it has one.
pub(super) fn amount_shape(text: &str, native: bool) -> Result<(&str, Option<u8>), String> {
    let mut words = text.split_whitespace();
    let number = words.next().unwrap_or_default();
    let unit = match (words.next(), words.next()) {
        (None, _) => None,
        (Some(word), None) if native && !word.chars().all(|c| c.is_ascii_digit()) => Some(
            Unit::from_str(word)
                .map_err(|_| format!("unknown unit `{word}`: use ether, gwei or wei"))?
                .get(),
        ),
        (Some(_), None) if !native => {
            return Err(
                "a token amount is written in the token's own units, without a unit word, e.g. \"2.5\""
                    .into(),
            );
        }
        _ => {
            return Err("write a number and at most one unit, e.g. \"10 ether\" or \"2.5\"".into());
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err("not a positive decimal number".into());
    }
    Ok((number, unit))
}
