//! Every quantity of the protocol, in typed units, with its bit width written once.
//!
//! State, circuits, contracts and the API read the widths from here. The widths are chosen so
//! that no intermediate value of any rule can reach `r / 2 ~ 2^253` (and so no value wraps around
//! the field modulus in the circuits), and so that the native arithmetic fits `i128`:
//!
//! ```text
//! |size|            < 2^40  base lots                      SIZE_BITS
//! price             < 2^40  ticks                          PRICE_BITS
//! tick value        < 2^16  collateral units per lot-tick  TICK_VALUE_BITS
//! notional = size * price * tick value          |.| < 2^96
//! |collateral|      < 2^63  units (6 decimals)             COLLATERAL_BITS
//! markets per account <= 8 = 2^3                           MAX_MARKETS
//! open interest     < 2^48  base lots (sum of longs)       OPEN_INTEREST_BITS
//! TV = collateral + sum(notional_i)             |.| < 2^63 + 2^99 < 2^100
//! TR * 10^6 = sum(|notional_i| * fraction_ppm_i) < 2^99 * 2^20 = 2^119
//! TV * 10^6                                     |.| < 2^100 * 2^20 = 2^120   (fits i128)
//! the ratio test TV_a * TR_b vs TV_b * TR_a     |.| < 2^100 * 2^119 = 2^219  (wide, see margin)
//! funding payment = size * d(index)             |.| < 2^40 * 2^64 = 2^104
//! funding cap  |d(index)| * 10^9 < 2^94  vs  rate_ppb * price * tick value * elapsed
//!                                               < 2^32 * 2^40 * 2^16 * 2^20 = 2^108
//! ```
//! Every value stored in a leaf is range-checked to its width on every write, so a hostile
//! sequencer cannot make one wrap.

use serde::{Deserialize, Serialize};

/// Signed widths are magnitudes: `|x| < 2^BITS`.
pub const SIZE_BITS: u32 = 40;
pub const PRICE_BITS: u32 = 40;
pub const TICK_VALUE_BITS: u32 = 16;
pub const COLLATERAL_BITS: u32 = 63;
pub const FUNDING_INDEX_BITS: u32 = 63;
/// Deposit and withdrawal amounts: `0 < amount < 2^63`.
pub const AMOUNT_BITS: u32 = 63;
/// Fractions in parts per million, `<= 10^6 < 2^20`.
pub const PPM_BITS: u32 = 20;
pub const PPM_ONE: u32 = 1_000_000;
/// Funding rate caps in parts per billion per second.
pub const FUNDING_RATE_BITS: u32 = 32;
pub const PPB_ONE: u64 = 1_000_000_000;
/// Funding accrues for at most `2^20 - 1` seconds (12 days) per tick.
pub const FUNDING_ELAPSED_BITS: u32 = 20;
/// Unix seconds; 2^40 s is 34,000 years.
pub const TIMESTAMP_BITS: u32 = 40;
/// Account ids: the account tree is at most 32 levels deep.
pub const ACCOUNT_ID_BITS: u32 = 32;
pub const MARKET_ID_BITS: u32 = 8;
pub const ORDER_ID_BITS: u32 = 40;
pub const NONCE_BITS: u32 = 32;
/// The most markets one leaf carries positions for.
pub const MAX_MARKETS: usize = 8;
/// A market's open interest (the sum of its long positions, in base lots) and its cap:
/// `< 2^48`, so one trade's change (`< 2^41`) added to it stays far below the field and the
/// packed market state (`zkperp_state::market::MarketState::pack`) stays canonical.
pub const OPEN_INTEREST_BITS: u32 = 48;

const _: () = {
    assert!(SIZE_BITS + PRICE_BITS + TICK_VALUE_BITS == 96);
    // TV * 10^6 and TR * 10^6 must fit i128 with room for a sign.
    assert!(96 + 3 + 1 + PPM_BITS < 127);
    assert!(MAX_MARKETS <= 8);
};

/// A value did not fit its protocol width.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} = {value} is outside its {bits}-bit range")]
pub struct RangeError {
    pub what: &'static str,
    pub value: i128,
    pub bits: u32,
}

fn check_signed(what: &'static str, value: i128, bits: u32) -> Result<(), RangeError> {
    if value.unsigned_abs() >> bits == 0 {
        Ok(())
    } else {
        Err(RangeError { what, value, bits })
    }
}

fn check_unsigned(what: &'static str, value: i128, bits: u32) -> Result<(), RangeError> {
    if value >= 0 && (value as u128) >> bits == 0 {
        Ok(())
    } else {
        Err(RangeError { what, value, bits })
    }
}

macro_rules! signed_unit {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $bits:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name($inner);

        impl $name {
            pub const BITS: u32 = $bits;
            pub const ZERO: Self = $name(0);

            /// Checks `|value| < 2^BITS`.
            pub fn new(value: i128) -> Result<Self, RangeError> {
                check_signed(stringify!($name), value, $bits)?;
                Ok($name(value as $inner))
            }

            pub fn get(self) -> i128 {
                i128::from(self.0)
            }

            pub fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// `self + delta`, range-checked.
            pub fn checked_add(self, delta: i128) -> Result<Self, RangeError> {
                Self::new(self.get() + delta)
            }
        }

        impl TryFrom<i128> for $name {
            type Error = RangeError;
            fn try_from(v: i128) -> Result<Self, RangeError> {
                Self::new(v)
            }
        }

        impl From<$name> for i128 {
            fn from(v: $name) -> i128 {
                v.get()
            }
        }

        /// Serde goes through `i64` (every signed unit fits it): formats that buffer values,
        /// such as internally tagged JSON enums, do not carry `i128`.
        impl TryFrom<i64> for $name {
            type Error = RangeError;
            fn try_from(v: i64) -> Result<Self, RangeError> {
                Self::new(i128::from(v))
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                v.0.into()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

macro_rules! unsigned_unit {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $bits:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name($inner);

        impl $name {
            pub const BITS: u32 = $bits;

            /// Checks `value < 2^BITS`.
            pub fn new(value: u64) -> Result<Self, RangeError> {
                check_unsigned(stringify!($name), i128::from(value), $bits)?;
                Ok($name(value as $inner))
            }

            pub fn get(self) -> u64 {
                u64::from(self.0)
            }
        }

        impl TryFrom<u64> for $name {
            type Error = RangeError;
            fn try_from(v: u64) -> Result<Self, RangeError> {
                Self::new(v)
            }
        }

        impl From<$name> for u64 {
            fn from(v: $name) -> u64 {
                v.get()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

signed_unit!(
    /// Collateral in the stable coin's smallest unit (6 decimals), signed: a long position is
    /// bought with borrowed collateral, so balances go negative while total value stays positive.
    Collateral, i64, COLLATERAL_BITS
);
signed_unit!(
    /// A position or fill size in base lots; positive is long.
    BaseLots, i64, SIZE_BITS
);
signed_unit!(
    /// Cumulative funding paid per lot of long position, in collateral units.
    FundingIndex, i64, FUNDING_INDEX_BITS
);
unsigned_unit!(
    /// A price in ticks of the market.
    PriceTicks, u64, PRICE_BITS
);
unsigned_unit!(
    /// Collateral units that one lot is worth at one tick: `notional = lots * ticks * this`.
    TickValue, u32, TICK_VALUE_BITS
);
unsigned_unit!(
    /// A deposit or withdrawal amount in collateral units.
    Amount, u64, AMOUNT_BITS
);
unsigned_unit!(
    /// Unix time in seconds.
    Timestamp, u64, TIMESTAMP_BITS
);
unsigned_unit!(
    /// Position of an account leaf in the account tree.
    AccountId, u32, ACCOUNT_ID_BITS
);
unsigned_unit!(
    /// Index of a market in the configuration.
    MarketId, u8, MARKET_ID_BITS
);
unsigned_unit!(
    /// A trader-chosen order number; its slot in the orders tree is `id mod 2^depth`.
    OrderId, u64, ORDER_ID_BITS
);
unsigned_unit!(
    /// The withdrawal counter of an account.
    Nonce, u32, NONCE_BITS
);
unsigned_unit!(
    /// A fraction in parts per million (`<= 10^6` is checked where a fraction must be `<= 1`).
    Ppm, u32, PPM_BITS
);
unsigned_unit!(
    /// A funding rate cap in parts per billion per second.
    PpbPerSecond, u32, FUNDING_RATE_BITS
);

impl Amount {
    pub fn as_collateral(self) -> i128 {
        i128::from(self.get())
    }
}

impl AccountId {
    /// The insurance fund: absorbs bankruptcies and takes over liquidated positions.
    pub const INSURANCE_FUND: AccountId = AccountId(0);
    /// The fee account: receives trading fees.
    pub const FEES: AccountId = AccountId(1);

    pub fn index(self) -> u64 {
        self.get()
    }
}

impl MarketId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An L1 (Ethereum) address. In human-readable formats (JSON: the API, configuration files)
/// it is `"0x"` and 40 lowercase hex digits, as every Ethereum tool writes it (a 20-number
/// array is still read, for files written before); in binary formats (the journal's and
/// snapshots' CBOR) it stays 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct L1Address(pub [u8; 20]);

impl Serialize for L1Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&format!("0x{}", hex::encode(self.0)))
        } else {
            serializer.serialize_newtype_struct("L1Address", &self.0)
        }
    }
}

impl<'de> Deserialize<'de> for L1Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Hex(String),
            Bytes([u8; 20]),
        }
        #[derive(Deserialize)]
        #[serde(rename = "L1Address")]
        struct Binary([u8; 20]);
        if !deserializer.is_human_readable() {
            return Binary::deserialize(deserializer).map(|b| L1Address(b.0));
        }
        match Text::deserialize(deserializer)? {
            Text::Bytes(bytes) => Ok(L1Address(bytes)),
            Text::Hex(text) => {
                let digits = text.strip_prefix("0x").unwrap_or(&text);
                let mut bytes = [0u8; 20];
                hex::decode_to_slice(digits, &mut bytes).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{text:?} is not an L1 address (0x and 40 hex digits)"
                    ))
                })?;
                Ok(L1Address(bytes))
            }
        }
    }
}

impl L1Address {
    /// The address as a field element (160 bits, so always canonical).
    pub fn to_field(&self) -> crate::field::Fr {
        let mut be = [0u8; 32];
        be[12..].copy_from_slice(&self.0);
        crate::field::fr_from_be_bytes(&be).expect("160-bit values are below the modulus")
    }
}

/// `size * price * tick_value`: the notional of a position or fill in collateral units.
pub fn notional(size: BaseLots, price: PriceTicks, tick_value: TickValue) -> i128 {
    size.get() * i128::from(price.get()) * i128::from(tick_value.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_l1_address_is_hex_in_json_and_bytes_in_cbor() {
        let a = L1Address([0xab; 20]);
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(json, format!("\"0x{}\"", "ab".repeat(20)));
        assert_eq!(serde_json::from_str::<L1Address>(&json).expect("back"), a);
        let legacy = serde_json::to_string(&[0xabu8; 20]).expect("array");
        assert_eq!(
            serde_json::from_str::<L1Address>(&legacy).expect("legacy"),
            a
        );
        assert!(serde_json::from_str::<L1Address>("\"0x1234\"").is_err());
        let mut cbor = Vec::new();
        ciborium::into_writer(&a, &mut cbor).expect("cbor");
        let mut bytes = Vec::new();
        ciborium::into_writer(&[0xabu8; 20], &mut bytes).expect("cbor");
        assert_eq!(cbor, bytes, "the binary form is unchanged");
        assert_eq!(
            ciborium::from_reader::<L1Address, _>(&cbor[..]).expect("back"),
            a
        );
    }

    #[test]
    fn widths_are_enforced_at_the_edges() {
        assert!(BaseLots::new((1 << 40) - 1).is_ok());
        assert!(BaseLots::new(-((1 << 40) - 1)).is_ok());
        assert!(BaseLots::new(1 << 40).is_err());
        assert!(BaseLots::new(-(1 << 40)).is_err());
        assert!(Collateral::new(i128::from(i64::MAX)).is_ok());
        assert!(Collateral::new(i128::from(i64::MAX) + 1).is_err());
        assert!(Collateral::new(i128::from(i64::MIN)).is_err());
        assert!(PriceTicks::new((1 << 40) - 1).is_ok());
        assert!(PriceTicks::new(1 << 40).is_err());
        assert!(TickValue::new(u64::from(u16::MAX)).is_ok());
        assert!(TickValue::new(1 << 16).is_err());
        assert!(AccountId::new(u64::from(u32::MAX)).is_ok());
        assert!(AccountId::new(1 << 32).is_err());
        assert!(Amount::new(1 << 63).is_err());
    }

    #[test]
    fn extreme_notional_fits_its_budget() {
        let n = notional(
            BaseLots::new(-((1 << 40) - 1)).expect("size"),
            PriceTicks::new((1 << 40) - 1).expect("price"),
            TickValue::new((1 << 16) - 1).expect("tick value"),
        );
        assert!(n.unsigned_abs() < 1 << 96);
        let tr = n.unsigned_abs() * 8 * u128::from(PPM_ONE);
        assert!(tr < 1 << 120);
    }

    #[test]
    fn serde_rejects_out_of_range() {
        assert!(serde_json::from_str::<BaseLots>("1099511627776").is_err());
        assert_eq!(
            serde_json::from_str::<BaseLots>("-5").ok(),
            BaseLots::new(-5).ok()
        );
    }
}
