//! Decimal strings for the API: prices, sizes and collateral as exact decimals, never floats.
//!
//! The state machine counts in integers: sizes in lots, prices in ticks, collateral in units of
//! 10^-6. A market's `lot_size` and `tick_size` (decimal strings in its parameters) say what one
//! lot and one tick are worth, so `size = lots * lot_size` and `price = ticks * tick_size`,
//! computed exactly and printed with the unit's own number of decimals (`0.18` BTC, `44000.0`
//! USD). What a trader signs stays the integers: the API shows both.

use std::fmt;
use std::str::FromStr;

/// A decimal unit `mantissa * 10^-decimals` (for example `0.0001` is `1 * 10^-4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    mantissa: u128,
    decimals: u32,
}

/// One: integers shown as they are.
pub const ONE: Scale = Scale {
    mantissa: 1,
    decimals: 0,
};

/// Collateral: six decimals.
pub const COLLATERAL: Scale = Scale {
    mantissa: 1,
    decimals: 6,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a positive decimal with at most 30 digits")]
pub struct ScaleError(String);

impl FromStr for Scale {
    type Err = ScaleError;

    fn from_str(s: &str) -> Result<Self, ScaleError> {
        let bad = || ScaleError(s.to_string());
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty()
            || int.len() + frac.len() > 30
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let mantissa: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
        if mantissa == 0 {
            return Err(bad());
        }
        Ok(Scale {
            mantissa,
            decimals: frac.len() as u32,
        })
    }
}

impl Scale {
    /// `n` units of this scale, exactly.
    pub fn of(&self, n: i128) -> Decimal {
        Decimal {
            // |n| < 2^127 and the mantissa < 10^30 < 2^100: saturate rather than wrap on the
            // (unreachable for the state's widths, < 2^80) product beyond i128.
            value: n.saturating_mul(self.mantissa as i128),
            decimals: self.decimals,
        }
    }
}

/// Why a decimal amount is not a whole number of units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{0:?} is not a decimal number")]
    Malformed(String),
    #[error("{text} is not a whole number of units of {unit}")]
    NotWhole { text: String, unit: String },
    #[error("{0} is too large")]
    TooLarge(String),
}

impl Scale {
    /// The whole number of units in the decimal `text` (`"0.18"` of `0.0001` is 1,800): exact,
    /// or an error when `text` is not a multiple of the unit. A leading `-` is allowed.
    pub fn units(&self, text: &str) -> Result<i128, AmountError> {
        let malformed = || AmountError::Malformed(text.to_string());
        let (negative, digits) = match text.trim().strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.trim()),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let too_large = || AmountError::TooLarge(text.to_string());
        let frac = frac.trim_end_matches('0');
        if int.len() + frac.len() > 36 {
            return Err(too_large());
        }
        // value = mantissa * 10^-d; unit = m * 10^-e; units = mantissa * 10^(e - d) / m.
        let mantissa: i128 = format!("0{int}{frac}").parse().map_err(|_| malformed())?;
        let (d, e) = (frac.len() as u32, self.decimals);
        let (num, den) = if e >= d {
            let scale = 10i128.checked_pow(e - d).ok_or_else(too_large)?;
            (
                mantissa.checked_mul(scale).ok_or_else(too_large)?,
                self.mantissa as i128,
            )
        } else {
            let scale = 10i128.checked_pow(d - e).ok_or_else(too_large)?;
            (
                mantissa,
                (self.mantissa as i128)
                    .checked_mul(scale)
                    .ok_or_else(too_large)?,
            )
        };
        if num % den != 0 {
            return Err(AmountError::NotWhole {
                text: text.to_string(),
                unit: self.of(1).to_string(),
            });
        }
        Ok(if negative { -(num / den) } else { num / den })
    }
}

/// An exact decimal `value * 10^-decimals`, displayed with exactly `decimals` decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    value: i128,
    decimals: u32,
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.value.unsigned_abs().to_string();
        let sign = if self.value < 0 { "-" } else { "" };
        let d = self.decimals as usize;
        if d == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = d + 1);
        let (int, frac) = padded.split_at(padded.len() - d);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals() {
        let lot: Scale = "0.0001".parse().expect("a decimal");
        assert_eq!(lot.of(1_800).to_string(), "0.1800");
        let tick: Scale = "0.1".parse().expect("a decimal");
        assert_eq!(tick.of(440_000).to_string(), "44000.0");
        assert_eq!(tick.of(-5).to_string(), "-0.5");
        assert_eq!(COLLATERAL.of(1_000_000_000).to_string(), "1000.000000");
        assert_eq!(COLLATERAL.of(-80_000_000).to_string(), "-80.000000");
        assert_eq!(COLLATERAL.of(7).to_string(), "0.000007");
        let big: Scale = "2.5".parse().expect("a decimal");
        assert_eq!(big.of(3).to_string(), "7.5");
        let whole: Scale = "10".parse().expect("a decimal");
        assert_eq!(whole.of(3).to_string(), "30");
        for bad in ["", ".5", "0", "0.000", "-1", "1e3", "1.2.3", " 1"] {
            assert!(bad.parse::<Scale>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decimals_back_to_units_exactly() {
        let lot: Scale = "0.0001".parse().expect("a decimal");
        assert_eq!(lot.units("0.18"), Ok(1_800));
        assert_eq!(lot.units("0.1800"), Ok(1_800));
        assert_eq!(lot.units("-2"), Ok(-20_000));
        assert_eq!(lot.units("3"), Ok(30_000));
        assert!(matches!(
            lot.units("0.00015"),
            Err(AmountError::NotWhole { .. })
        ));
        let tick: Scale = "0.1".parse().expect("a decimal");
        assert_eq!(tick.units("44000.0"), Ok(440_000));
        assert_eq!(
            tick.units("44000.05"),
            Err(AmountError::NotWhole {
                text: "44000.05".into(),
                unit: "0.1".into()
            })
        );
        let half: Scale = "2.5".parse().expect("a decimal");
        assert_eq!(half.units("7.5"), Ok(3));
        assert!(half.units("5.5").is_err());
        assert_eq!(COLLATERAL.units("12.345678"), Ok(12_345_678));
        for bad in ["", ".", "abc", "1e3", "--1", "1.2.3"] {
            assert!(
                matches!(COLLATERAL.units(bad), Err(AmountError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            COLLATERAL.units(&"9".repeat(40)),
            Err(AmountError::TooLarge(_))
        ));
        // Round trip with the display.
        for n in [0i128, 1, 7, 1_800, 123_456_789] {
            assert_eq!(lot.units(&lot.of(n).to_string()), Ok(n));
        }
    }
}
