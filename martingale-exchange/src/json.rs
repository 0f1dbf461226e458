//! Reading venue JSON exactly: numbers arrive as strings or as JSON
//! numbers and are parsed into `Decimal` from their text, never through
//! `f64`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::ExchangeError;

/// A decimal field (string or number).
pub(crate) fn dec(v: &Value, field: &str) -> Result<Decimal, ExchangeError> {
    let s = match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ExchangeError::Malformed(format!("missing number `{field}`"))),
    };
    parse_dec(&s).ok_or_else(|| ExchangeError::Malformed(format!("`{field}` = {s:?} is not a number")))
}

/// A decimal field that may be empty (`""` reads as zero).
pub(crate) fn dec_or_zero(v: &Value, field: &str) -> Result<Decimal, ExchangeError> {
    match v.get(field) {
        Some(Value::String(s)) if s.is_empty() => Ok(Decimal::ZERO),
        None | Some(Value::Null) => Ok(Decimal::ZERO),
        _ => dec(v, field),
    }
}

/// A decimal from text, plain or scientific.
pub(crate) fn parse_dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok().or_else(|| Decimal::from_scientific(s).ok())
}

/// An integer field (number or numeric string).
pub(crate) fn int(v: &Value, field: &str) -> Result<i64, ExchangeError> {
    match v.get(field) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ExchangeError::Malformed(format!("missing integer `{field}`")))
}

/// A time in milliseconds: an integer, or a fractional number of
/// milliseconds (CoinDCX's `1718386312255.3608`), truncated; as a JSON
/// number or a numeric string.
pub(crate) fn millis(v: &Value, field: &str) -> Result<i64, ExchangeError> {
    use rust_decimal::prelude::ToPrimitive;
    let bad = || ExchangeError::Malformed(format!("`{field}` is not a time in milliseconds"));
    match v.get(field) {
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().ok_or_else(bad),
        Some(Value::Number(_)) | Some(Value::String(_)) => dec(v, field)?.trunc().to_i64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// A text field.
pub(crate) fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str, ExchangeError> {
    v.get(field).and_then(Value::as_str).ok_or_else(|| ExchangeError::Malformed(format!("missing text `{field}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_exactly_from_strings_and_numbers() {
        let v: Value =
            serde_json::from_str(r#"{"a": "0.1", "b": 0.1, "c": "1e-8", "d": "", "e": "12", "f": 13}"#).unwrap();
        assert_eq!(dec(&v, "a").unwrap().to_string(), "0.1");
        assert_eq!(dec(&v, "b").unwrap().to_string(), "0.1");
        assert_eq!(dec(&v, "c").unwrap(), Decimal::new(1, 8));
        assert_eq!(dec_or_zero(&v, "d").unwrap(), Decimal::ZERO);
        assert!(dec(&v, "d").is_err());
        assert_eq!((int(&v, "e").unwrap(), int(&v, "f").unwrap()), (12, 13));
        assert!(text(&v, "zz").is_err());
        let t: Value =
            serde_json::from_str(r#"{"a": 1718386312255.3608, "b": "1718386312255.9", "c": 17, "d": 1e300}"#).unwrap();
        assert_eq!((millis(&t, "a").unwrap(), millis(&t, "b").unwrap()), (1718386312255, 1718386312255));
        assert_eq!(millis(&t, "c").unwrap(), 17);
        assert!(millis(&t, "d").is_err() && millis(&t, "zz").is_err());
    }
}
