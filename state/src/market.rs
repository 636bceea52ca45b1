//! Markets: parameters fixed by configuration (public, baked into circuits and contracts) and
//! per-batch state (mark price, cumulative funding index) that the batch publishes.

use serde::{Deserialize, Serialize};

use crate::eddsa::PublicKey;
use crate::field::Fr;
use crate::units::{
    FundingIndex, PpbPerSecond, Ppm, PriceTicks, TickValue, Timestamp, OPEN_INTEREST_BITS, PPM_ONE,
    SIZE_BITS,
};

/// A market's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketParams {
    /// Display name, e.g. `BTC-USD`.
    pub name: String,
    /// Base-asset units in one lot, as a decimal string (API display only).
    pub lot_size: String,
    /// Quote units in one tick, as a decimal string (API display only).
    pub tick_size: String,
    /// Collateral units one lot is worth per tick: `notional = lots * ticks * tick_value`.
    pub tick_value: TickValue,
    /// Initial-margin fraction: trades and withdrawals must leave `TV >= sum |notional| * this`.
    pub initial_margin: Ppm,
    /// Maintenance-margin fraction: below it an account is liquidatable.
    pub maintenance_margin: Ppm,
    /// The cap on funding: `|d(index)| <= rate * mark price * tick_value * elapsed seconds`.
    pub max_funding_rate: PpbPerSecond,
    /// Largest liquidation penalty, as a fraction of the closed notional, paid to the fund.
    pub liquidation_fee: Ppm,
    /// The keys whose signed quotes set the mark price.
    pub oracle_keys: Vec<PublicKey>,
    /// How many quotes (from distinct keys) an oracle tick takes; odd and at least 3.
    pub oracle_quorum: u8,
    /// A quote older than this many seconds at the batch time is stale.
    pub oracle_freshness_secs: u64,
    /// A mark older than this many seconds (since its newest quote) is not used: no trade,
    /// withdrawal, liquidation or deleverage of an account holding this market checks its
    /// margin on it. A forced withdrawal is served on whatever mark there is (the operator
    /// chooses which oracle ticks enter a batch, so a stale mark must never let it refuse).
    pub max_mark_age_secs: u64,
    /// The largest position one account may hold, in base lots: no trade (signed or forced)
    /// leaves either party with `|size|` above it. Closing is always possible (it only lowers
    /// `|size|`); the insurance fund, which never trades, may take liquidated positions past it.
    pub max_position_lots: u64,
    /// The cap on the market's open interest (the sum of every long position, in base lots): no
    /// trade leaves it above. Liquidations and deleverages only lower it.
    pub open_interest_cap_lots: u64,
    /// Margin fractions that grow with the position (as dYdX and Hyperliquid tier them): from
    /// a tier's `from_lots` of `|size|` on, its fractions apply to the whole position instead of
    /// the market's base fractions. Ascending sizes, fractions never lower than the tier below
    /// (so a larger position never needs less margin, and closing always lowers the
    /// requirement), at most [`MAX_MARGIN_TIERS`]. Empty: the base fractions at every size.
    pub margin_tiers: Vec<MarginTier>,
    /// The band around the previous mark that one oracle tick may move the mark within, as a
    /// fraction of the previous mark: the mark is the median of the quotes clamped to
    /// `prev ± floor(prev * band)` (`0 < band < 1`). A larger move is followed over several
    /// ticks; while the band binds the market's `index_price` (the unclamped median) differs
    /// from its mark, and withdrawals check margin on the less favourable of the two.
    pub mark_band: Ppm,
    /// The widest spread of one tick's quotes (highest minus lowest, as a fraction of the
    /// median) at which the oracles agree. A tick whose quotes spread wider sets the market's
    /// `quotes_disagree`: the market is reduce-only (no trade moves a position away from
    /// zero) until a tick whose quotes agree. `0 < spread <= 1`.
    pub max_quote_spread: Ppm,
}

/// A margin tier: the fractions of a position of at least `from_lots` lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginTier {
    pub from_lots: u64,
    pub initial_margin: Ppm,
    pub maintenance_margin: Ppm,
}

/// The most margin tiers a market may have: each costs a 42-constraint comparison per market
/// in every margin check of the circuit.
pub const MAX_MARGIN_TIERS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketConfigError {
    #[error("market {0}: margin fractions must satisfy 0 < maintenance <= initial <= 1")]
    MarginFractions(String),
    #[error("market {0}: tick value must be at least 1")]
    TickValue(String),
    #[error("market {0}: oracle quorum must be odd, at least 3 and at most the number of keys")]
    OracleQuorum(String),
    #[error("market {0}: liquidation fee must be at most 1")]
    LiquidationFee(String),
    #[error("market {0}: an oracle key appears twice (distinct quotes must be distinct keys)")]
    DuplicateOracleKey(String),
    #[error("market {0}: the maximum mark age must be 1..2^32 seconds")]
    MarkAge(String),
    #[error("market {0}: the maximum position must be 1..2^40 lots")]
    MaxPosition(String),
    #[error(
        "market {0}: margin tiers must be at most 4, start above 0 lots and below 2^40, ascend, \
         and never lower a fraction (0 < maintenance <= initial <= 1 in each)"
    )]
    MarginTiers(String),
    #[error("market {0}: the open interest cap must be 1..2^48 lots")]
    OpenInterestCap(String),
    #[error("market {0}: the mark band must be above 0 and below 1")]
    MarkBand(String),
    #[error("market {0}: the largest quote spread must be above 0 and at most 1")]
    QuoteSpread(String),
}

impl MarketParams {
    pub fn validate(&self) -> Result<(), MarketConfigError> {
        let name = || self.name.clone();
        let (im, mm) = (self.initial_margin.get(), self.maintenance_margin.get());
        if mm == 0 || mm > im || im > u64::from(PPM_ONE) {
            return Err(MarketConfigError::MarginFractions(name()));
        }
        if self.tick_value.get() == 0 {
            return Err(MarketConfigError::TickValue(name()));
        }
        let q = usize::from(self.oracle_quorum);
        if q < 3 || q % 2 == 0 || q > self.oracle_keys.len() {
            return Err(MarketConfigError::OracleQuorum(name()));
        }
        if self.liquidation_fee.get() > u64::from(PPM_ONE) {
            return Err(MarketConfigError::LiquidationFee(name()));
        }
        let keys = &self.oracle_keys;
        if (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
            return Err(MarketConfigError::DuplicateOracleKey(name()));
        }
        if self.max_mark_age_secs == 0 || self.max_mark_age_secs >= MAX_MARK_AGE {
            return Err(MarketConfigError::MarkAge(name()));
        }
        if self.max_position_lots == 0 || self.max_position_lots >> SIZE_BITS != 0 {
            return Err(MarketConfigError::MaxPosition(name()));
        }
        if self.open_interest_cap_lots == 0
            || self.open_interest_cap_lots >> OPEN_INTEREST_BITS != 0
        {
            return Err(MarketConfigError::OpenInterestCap(name()));
        }
        if self.mark_band.get() == 0 || self.mark_band.get() >= u64::from(PPM_ONE) {
            return Err(MarketConfigError::MarkBand(name()));
        }
        if self.max_quote_spread.get() == 0 || self.max_quote_spread.get() > u64::from(PPM_ONE) {
            return Err(MarketConfigError::QuoteSpread(name()));
        }
        let mut below = (0, im, mm);
        for tier in &self.margin_tiers {
            let (from, im, mm) = (
                tier.from_lots,
                tier.initial_margin.get(),
                tier.maintenance_margin.get(),
            );
            let ascends = from > below.0 && from >> SIZE_BITS == 0;
            let never_lower = im >= below.1 && mm >= below.2;
            if !ascends || !never_lower || mm > im || im > u64::from(PPM_ONE) {
                return Err(MarketConfigError::MarginTiers(name()));
            }
            below = (from, im, mm);
        }
        if self.margin_tiers.len() > MAX_MARGIN_TIERS {
            return Err(MarketConfigError::MarginTiers(name()));
        }
        Ok(())
    }
}

/// The bound on [`MarketParams::max_mark_age_secs`]: ages are compared in 32 bits in-circuit.
pub const MAX_MARK_AGE: u64 = 1 << 32;

/// A market's public state, updated by oracle and funding ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MarketState {
    /// The median of the last oracle tick; 0 until the first tick (no trade is possible then).
    pub mark_price: PriceTicks,
    /// Cumulative funding per lot of long position.
    pub funding_index: FundingIndex,
    /// Batch time of the last funding tick (or of the first oracle tick).
    pub last_funding: Timestamp,
    /// The newest quote of the last oracle tick (0 before the first): how old the mark is,
    /// and the time no quote of the next tick may be older than.
    pub mark_time: Timestamp,
    /// The sum of every account's long position in the market, in base lots (equal to the sum
    /// of the shorts: every position change moves lots between two accounts). At most the
    /// market's `open_interest_cap_lots`, so below `2^48`.
    pub open_interest: u64,
    /// The median of the last oracle tick's quotes before the band clamped it
    /// (`MarketParams::mark_band`): the mark itself while the band does not bind, 0 before
    /// the first tick.
    pub index_price: PriceTicks,
    /// The last oracle tick's quotes spread wider than `MarketParams::max_quote_spread`: the
    /// market is reduce-only until a tick whose quotes agree.
    pub quotes_disagree: bool,
}

impl MarketState {
    /// Whether the band bound the last oracle tick (the mark is not the median of its quotes).
    pub fn band_binds(&self) -> bool {
        self.index_price != self.mark_price
    }

    /// A market's oracle fields: `index_price | quotes_disagree << 40` ([`ORACLE_BITS`] bits).
    /// [`MarketState::pack`] has no room left for them: [`market_elements`] packs six markets'
    /// into one element.
    pub fn pack_oracle(&self) -> u64 {
        self.index_price.get() | u64::from(self.quotes_disagree) << 40
    }

    /// One field element: `price | (index + 2^63) << 40 | last_funding << 104 |
    /// mark_time << 144 | open_interest << 184` (40 + 64 + 40 + 40 + 48 = 232 bits,
    /// canonical). A market with no open interest packs as it did before the field existed.
    pub fn pack(&self) -> Fr {
        let index_offset = (self.funding_index.get() + (1i128 << 63)) as u128;
        let low = u128::from(self.mark_price.get()) | (index_offset << 40);
        let high = u128::from(self.last_funding.get())
            | u128::from(self.mark_time.get()) << 40
            | u128::from(self.open_interest) << 80;
        Fr::from(low) + Fr::from(high) * Fr::from(1u128 << 104)
    }

    /// The fields [`MarketState::pack`] packed (the oracle fields zero), or `None` for an
    /// element no market packs to (a field out of its width).
    pub fn unpack(x: &Fr) -> Option<MarketState> {
        use ark_ff::{BigInteger, PrimeField};
        let bytes = x.into_bigint().to_bytes_le();
        if bytes[29..].iter().any(|b| *b != 0) {
            return None;
        }
        let low = u128::from_le_bytes(bytes[..16].try_into().ok()?);
        let high = u128::from_le_bytes(bytes[16..32].try_into().ok()?);
        // bits 0..40 price, 40..104 index + 2^63, 104..144 last funding, 144..184 mark time,
        // 184..232 open interest
        let field = |from: u32, bits: u32| -> u128 {
            let mask = (1u128 << bits) - 1;
            if from >= 128 {
                (high >> (from - 128)) & mask
            } else if from + bits <= 128 {
                (low >> from) & mask
            } else {
                ((low >> from) | (high << (128 - from))) & mask
            }
        };
        let index = i128::try_from(field(40, 64)).ok()? - (1i128 << 63);
        Some(MarketState {
            mark_price: PriceTicks::new(u64::try_from(field(0, 40)).ok()?).ok()?,
            funding_index: FundingIndex::new(index).ok()?,
            last_funding: Timestamp::new(u64::try_from(field(104, 40)).ok()?).ok()?,
            mark_time: Timestamp::new(u64::try_from(field(144, 40)).ok()?).ok()?,
            open_interest: u64::try_from(field(184, OPEN_INTEREST_BITS)).ok()?,
            index_price: PriceTicks::default(),
            quotes_disagree: false,
        })
    }

    /// Whether the mark may be used for a margin check at batch time `now` (`MarketParams::
    /// max_mark_age_secs`).
    pub fn is_fresh(&self, now: Timestamp, params: &MarketParams) -> bool {
        now.get().saturating_sub(self.mark_time.get()) <= params.max_mark_age_secs
    }
}

/// Bits of a market's oracle fields ([`MarketState::pack_oracle`]).
pub const ORACLE_BITS: u32 = 41;
/// Markets whose oracle fields share one element (`6 x 41 = 246` bits, canonical).
pub const ORACLES_PER_ELEMENT: usize = 6;

/// The elements that commit to the markets: each market's [`MarketState::pack`], then their
/// oracle fields, market `6 k + j` at bit `41 j` of element `k`. `M + ceil(M / 6)` elements,
/// at most 10 for [`MAX_MARKETS`](crate::units::MAX_MARKETS) (one Poseidon).
pub fn market_elements(markets: &[MarketState]) -> Vec<Fr> {
    let mut out: Vec<Fr> = markets.iter().map(MarketState::pack).collect();
    out.extend(markets.chunks(ORACLES_PER_ELEMENT).map(|chunk| {
        chunk.iter().rev().fold(Fr::from(0u64), |acc, m| {
            acc * Fr::from(1u64 << ORACLE_BITS) + Fr::from(m.pack_oracle())
        })
    }));
    out
}

/// How many elements [`market_elements`] makes of `markets` markets.
pub fn market_elements_len(markets: usize) -> usize {
    markets + markets.div_ceil(ORACLES_PER_ELEMENT)
}

/// The `markets` markets [`market_elements`] packed, or the index of the first market whose
/// elements no market packs to (a field out of its width, or bits set past the last market's
/// oracle fields, which count for the chunk's last market).
pub fn unpack_markets(elements: &[Fr], markets: usize) -> Result<Vec<MarketState>, usize> {
    if elements.len() != market_elements_len(markets) {
        return Err(0);
    }
    let (packs, words) = elements.split_at(markets);
    let mut out = Vec::with_capacity(markets);
    for (k, word) in words.iter().enumerate() {
        let in_chunk = (markets - k * ORACLES_PER_ELEMENT).min(ORACLES_PER_ELEMENT);
        let last = k * ORACLES_PER_ELEMENT + in_chunk - 1;
        let limbs = {
            use ark_ff::PrimeField;
            word.into_bigint().0
        };
        let used = in_chunk * ORACLE_BITS as usize;
        if (used..256).any(|b| limbs[b / 64] >> (b % 64) & 1 == 1) {
            return Err(last);
        }
        for j in 0..in_chunk {
            let i = k * ORACLES_PER_ELEMENT + j;
            let at = j * ORACLE_BITS as usize;
            let field = (0..ORACLE_BITS as usize).fold(0u64, |acc, b| {
                acc | (limbs[(at + b) / 64] >> ((at + b) % 64) & 1) << b
            });
            out.push(MarketState {
                index_price: PriceTicks::new(field & ((1 << 40) - 1)).map_err(|_| i)?,
                quotes_disagree: field >> 40 == 1,
                ..MarketState::unpack(&packs[i]).ok_or(i)?
            });
        }
    }
    Ok(out)
}

/// `Poseidon(market_elements(markets))`: what the state root commits to of the markets.
pub fn markets_hash(markets: &[MarketState]) -> Fr {
    crate::poseidon::poseidon_slice(&market_elements(markets)).expect("1..=MAX_MARKETS markets")
}

/// The state root the L1 tracks: `Poseidon(account tree root, markets hash)`.
pub fn state_root(accounts_root: Fr, markets: &[MarketState]) -> Fr {
    crate::poseidon::poseidon([accounts_root, markets_hash(markets)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_tiers_must_ascend_and_never_lower_a_fraction() {
        let base = crate::testkit::Fixture::new(0).state.config().markets[0].clone();
        let tier = |from_lots: u64, im: u64, mm: u64| MarginTier {
            from_lots,
            initial_margin: Ppm::new(im).expect("ppm"),
            maintenance_margin: Ppm::new(mm).expect("ppm"),
        };
        let with = |tiers: Vec<MarginTier>| MarketParams {
            margin_tiers: tiers,
            ..base.clone()
        };
        // The base fractions are 10% / 5%.
        assert_eq!(with(vec![]).validate(), Ok(()));
        assert_eq!(
            with(vec![
                tier(10, 100_000, 50_000),
                tier(20, 1_000_000, 1_000_000)
            ])
            .validate(),
            Ok(())
        );
        for bad in [
            vec![tier(0, 200_000, 100_000)],
            vec![tier(1 << 40, 200_000, 100_000)],
            vec![tier(10, 90_000, 50_000)],
            vec![tier(10, 200_000, 40_000)],
            vec![tier(10, 200_000, 300_000)],
            vec![tier(10, 1_000_001, 100_000)],
            vec![tier(20, 200_000, 100_000), tier(10, 300_000, 100_000)],
            vec![tier(10, 300_000, 100_000), tier(20, 200_000, 100_000)],
            (1..=5).map(|i| tier(i, 200_000, 100_000)).collect(),
        ] {
            assert!(
                matches!(
                    with(bad.clone()).validate(),
                    Err(MarketConfigError::MarginTiers(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_packed_state_unpacks_to_itself_at_its_edges() {
        use ark_ff::Field;
        let max = |bits: u32| (1u64 << bits) - 1;
        let bound = (1i128 << crate::units::FUNDING_INDEX_BITS) - 1;
        for (price, index, funding, mark, interest) in [
            (0, 0, 0, 0, 0),
            (
                max(crate::units::PRICE_BITS),
                bound,
                max(crate::units::TIMESTAMP_BITS),
                max(crate::units::TIMESTAMP_BITS),
                max(OPEN_INTEREST_BITS),
            ),
            (1, -bound, 7, 9, 11),
        ] {
            let m = MarketState {
                mark_price: PriceTicks::new(price).expect("price"),
                funding_index: FundingIndex::new(index).expect("index"),
                last_funding: Timestamp::new(funding).expect("time"),
                mark_time: Timestamp::new(mark).expect("time"),
                open_interest: interest,
                index_price: PriceTicks::new(price).expect("price"),
                quotes_disagree: interest % 2 == 1,
            };
            assert_eq!(unpack_markets(&market_elements(&[m]), 1), Ok(vec![m]));
        }
        // Open interest is the top field: 2^184 is one lot of it.
        let two_184 = Fr::from(1u128 << 100) * Fr::from(1u128 << 84);
        let one_lot = MarketState::unpack(&(MarketState::default().pack() + two_184));
        assert_eq!(one_lot.map(|m| m.open_interest), Some(1));
        // Bits above the 232 a state packs into, or a field beyond its width, are no state.
        assert_eq!(
            MarketState::unpack(&(Fr::from(1u128 << 116) * Fr::from(1u128 << 116))),
            None
        );
        assert_eq!(MarketState::unpack(&-Fr::from(1u64)), None);
        // Six markets' oracle fields share an element, 41 bits each; a seventh starts another.
        let seven: Vec<MarketState> = (0..7u64)
            .map(|i| MarketState {
                index_price: PriceTicks::new((1 << 40) - 1 - i).expect("price"),
                quotes_disagree: i % 3 == 0,
                ..MarketState::default()
            })
            .collect();
        let elements = market_elements(&seven);
        assert_eq!(elements.len(), 9);
        assert_eq!(unpack_markets(&elements, 7), Ok(seven.clone()));
        // A bit past the last market's fields in a part-filled element is no market.
        let mut past = elements.clone();
        past[8] += Fr::from(1u64 << ORACLE_BITS);
        assert_eq!(unpack_markets(&past, 7), Err(6));
        // Nor is a bit past the six markets' fields of a full one.
        let mut wide = elements;
        wide[7] += Fr::from(2u64).pow([246u64]);
        assert_eq!(unpack_markets(&wide, 7), Err(5));
    }
}
