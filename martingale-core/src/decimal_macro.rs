//! `dec!`: Decimal literals for users of martingale-core alone.
//!
//! `rust_decimal_macros::dec!` expands to `::rust_decimal::Decimal::...`,
//! which only compiles where `rust_decimal` is a dependency of the calling
//! crate, so it cannot be usefully re-exported. This `dec!` reaches
//! `Decimal` through martingale-core ([`crate::rust_decimal`]) and parses
//! the literal at compile time.

/// A [`Decimal`](crate::rust_decimal::Decimal) from a literal, parsed at
/// compile time: `dec!(43250.17)`, `dec!(-0.001)`, `dec!(1_000)`. An
/// invalid literal (two points, letters, more than 28 decimals or 96 bits
/// of digits) is a compile error. Plain decimal notation only (no
/// exponent); needs only martingale-core in `Cargo.toml`.
///
/// ```
/// use martingale_core::{dec, rust_decimal::Decimal};
/// assert_eq!(dec!(43250.17), Decimal::new(4325017, 2));
/// assert_eq!(dec!(-0.001), Decimal::new(-1, 3));
/// assert_eq!(dec!(1_000), Decimal::from(1000));
/// assert_eq!(dec!(0.10).to_string(), "0.10"); // the scale is kept
/// ```
///
/// ```compile_fail
/// let x = martingale_core::dec!(1.2.3);
/// ```
#[macro_export]
macro_rules! dec {
    ($lit:literal) => {{
        const VALUE: $crate::rust_decimal::Decimal = $crate::decimal_macro::parse(stringify!($lit));
        VALUE
    }};
}

/// Parses a plain decimal literal (what [`dec!`](crate::dec) expands to;
/// evaluated in a `const`, so its panics are compile errors).
#[doc(hidden)]
#[allow(clippy::panic)] // only ever evaluated at compile time, by `dec!`
pub const fn parse(text: &str) -> rust_decimal::Decimal {
    let b = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i < b.len() && b[i] == b'-' {
        negative = true;
        i += 1;
    }
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let mut mantissa: u128 = 0;
    let mut scale: u32 = 0;
    let mut point = false;
    let mut digits = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'.' {
            if point {
                panic!("dec!: more than one decimal point");
            }
            point = true;
        } else if c.is_ascii_digit() {
            mantissa = match mantissa.checked_mul(10) {
                Some(m) => m + (c - b'0') as u128,
                None => panic!("dec!: too many digits"),
            };
            if point {
                scale += 1;
            }
            digits += 1;
        } else if c != b'_' {
            panic!("dec!: not a plain decimal literal");
        }
        i += 1;
    }
    if digits == 0 {
        panic!("dec!: no digits");
    }
    if mantissa >= 1 << 96 {
        panic!("dec!: more than 96 bits of digits");
    }
    if scale > 28 {
        panic!("dec!: more than 28 decimals");
    }
    rust_decimal::Decimal::from_parts(
        mantissa as u32,
        (mantissa >> 32) as u32,
        (mantissa >> 64) as u32,
        negative,
        scale,
    )
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use std::str::FromStr;

    #[test]
    fn parses_like_from_str() {
        for s in [
            "0",
            "1",
            "-1",
            "0.10",
            "43250.17",
            "-0.000001",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ] {
            assert_eq!(super::parse(s), Decimal::from_str(s).unwrap(), "{s}");
            assert_eq!(super::parse(s).scale(), Decimal::from_str(s).unwrap().scale(), "{s}");
        }
        assert_eq!(crate::dec!(1_000.5), Decimal::new(10005, 1));
    }
}
