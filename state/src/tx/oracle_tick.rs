//! Oracle tick: the mark price of a market becomes the median of `quorum` quotes, each signed by a
//! distinct one of the market's oracle keys and no older than the freshness window at the batch
//! time, and no older than the newest quote of the market's previous tick
//! (`MarketState::mark_time`), so the operator cannot go back to a price it liked better. (Equal
//! is allowed: two ticks may fall in one second, and an oracle signs one quote per second.) The mark records its newest quote's
//! time, and margin checks refuse a mark older than the market's `max_mark_age_secs`. The
//! quotes arrive sorted by price, so the median is the middle one and checking the order is
//! enough (the circuit does the same: no sorting network).
//!
//! The mark does not jump to the median: it moves at most the market's band
//! (`MarketParams::mark_band`) from the previous mark, and the median is kept as the market's
//! `index_price` (the first tick sets both). The quotes' spread (highest minus lowest) above the
//! market's `max_quote_spread` of the median sets `quotes_disagree`, which makes the market
//! reduce-only; the next tick whose quotes agree clears it.
//!
//! ```text
//! step  = floor(prev * band / 10^6)
//! mark  = clamp(median, prev - step, prev + step)         (median on the first tick)
//! disagree = (max - min) * 10^6 > spread * median
//! ```
//! ```text
//! quote message = Poseidon(tag(OracleQuote), market | price << 8 | timestamp << 48)   (88 bits)
//! ```

use crate::layout::{Writer, MARKET};
use serde::{Deserialize, Serialize};

use crate::domain::{MessageKind, SigningDomain};
use crate::eddsa::Signature;
use crate::field::Fr;
use crate::merkle::NodeStore;
use crate::poseidon::poseidon;
use crate::pubdata::{L1Record, PubData};
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{MarketId, Ppm, PriceTicks, Timestamp, PPM_ONE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub market: MarketId,
    pub price: PriceTicks,
    pub timestamp: Timestamp,
}

impl Quote {
    /// The message an oracle key signs for `domain`'s deployment.
    pub fn message(&self, domain: &SigningDomain) -> Fr {
        let word = u128::from(self.market.get())
            | u128::from(self.price.get()) << 8
            | u128::from(self.timestamp.get()) << 48;
        poseidon([domain.tag(MessageKind::OracleQuote), Fr::from(word)])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedQuote {
    /// Index of the signing key in the market's `oracle_keys`.
    pub oracle: u8,
    pub quote: Quote,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OracleTick {
    pub market: MarketId,
    /// Exactly `oracle_quorum` quotes, sorted by price.
    pub quotes: Vec<SignedQuote>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleTickError {
    #[error("unknown market")]
    UnknownMarket,
    #[error("expected {expected} quotes, got {got}")]
    QuorumSize { expected: usize, got: usize },
    #[error("quote {0} names an unknown oracle key")]
    UnknownOracle(usize),
    #[error("quote {0} repeats an oracle key")]
    DuplicateOracle(usize),
    #[error("quote {0} is for another market")]
    WrongMarket(usize),
    #[error("quote {0} is stale")]
    Stale(usize),
    #[error("quote {0} is from the future")]
    FromTheFuture(usize),
    #[error("quote {0} is older than the last tick's newest quote")]
    NotNewer(usize),
    #[error("quote {0} is not sorted by price")]
    NotSorted(usize),
    #[error("quote {0}'s signature does not verify")]
    BadSignature(usize),
    #[error("the median price is zero")]
    ZeroPrice,
}

pub fn execute_oracle_tick<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &OracleTick,
) -> Result<(), OracleTickError> {
    let params = ctx
        .config()
        .market(tx.market)
        .ok_or(OracleTickError::UnknownMarket)?;
    let quorum = usize::from(params.oracle_quorum);
    if tx.quotes.len() != quorum {
        return Err(OracleTickError::QuorumSize {
            expected: quorum,
            got: tx.quotes.len(),
        });
    }
    let now = ctx.now().get();
    let last = ctx.markets()[tx.market.index()].mark_time;
    for (i, q) in tx.quotes.iter().enumerate() {
        let key = params
            .oracle_keys
            .get(usize::from(q.oracle))
            .ok_or(OracleTickError::UnknownOracle(i))?;
        if tx.quotes[..i].iter().any(|p| p.oracle == q.oracle) {
            return Err(OracleTickError::DuplicateOracle(i));
        }
        if q.quote.market != tx.market {
            return Err(OracleTickError::WrongMarket(i));
        }
        let t = q.quote.timestamp.get();
        if t > now {
            return Err(OracleTickError::FromTheFuture(i));
        }
        if now - t > params.oracle_freshness_secs {
            return Err(OracleTickError::Stale(i));
        }
        if t < last.get() {
            return Err(OracleTickError::NotNewer(i));
        }
        if i > 0 && tx.quotes[i - 1].quote.price > q.quote.price {
            return Err(OracleTickError::NotSorted(i));
        }
        key.verify(q.quote.message(&ctx.config().domain), &q.signature)
            .map_err(|_| OracleTickError::BadSignature(i))?;
    }
    let median = tx.quotes[quorum / 2].quote.price;
    if median.get() == 0 {
        return Err(OracleTickError::ZeroPrice);
    }
    let spread = tx.quotes[quorum - 1].quote.price.get() - tx.quotes[0].quote.price.get();
    let disagree = u128::from(spread) * u128::from(PPM_ONE)
        > u128::from(params.max_quote_spread.get()) * u128::from(median.get());
    let band = params.mark_band;
    let now = ctx.now();
    let market = &mut ctx.markets_mut()[tx.market.index()];
    if market.mark_price.get() == 0 {
        // Funding accrues from the market's first price.
        market.last_funding = now;
    }
    market.mark_price = banded(market.mark_price, median, band);
    market.index_price = median;
    market.quotes_disagree = disagree;
    market.mark_time = tx
        .quotes
        .iter()
        .map(|q| q.quote.timestamp)
        .max()
        .unwrap_or_default();
    let mark = market.mark_price;
    ctx.publish(PubData::OracleTick(MarkPriceRecord {
        market: tx.market,
        price: mark,
    }));
    Ok(())
}

/// The mark a tick whose median is `median` sets after the mark `prev`: the median clamped to
/// `prev ± floor(prev * band / 10^6)`, or the median itself on the first tick (`prev = 0`).
/// Never 0 for a non-zero median: `band < 1`, so `prev - step >= 1`.
pub fn banded(prev: PriceTicks, median: PriceTicks, band: Ppm) -> PriceTicks {
    if prev.get() == 0 {
        return median;
    }
    let step = u128::from(prev.get()) * u128::from(band.get()) / u128::from(PPM_ONE);
    let step = step as u64; // < prev
    let (low, high) = (prev.get() - step, prev.get() + step);
    let clamped = median.get().clamp(low, high);
    // `high` may pass 40 bits only when the median is below it, so the clamp is in range.
    PriceTicks::new(clamped).unwrap_or(median)
}

/// `0x04 | u8 market | u64 price`: the market's new mark (the clamped one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkPriceRecord {
    pub market: MarketId,
    pub price: PriceTicks,
}

impl MarkPriceRecord {
    pub const KIND: u8 = 0x04;
}

impl L1Record for MarkPriceRecord {
    const LEN: usize = MARKET.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&MARKET, out)
            .put("KIND", &[Self::KIND])
            .put("ID", &[self.market.get() as u8])
            .put("VALUE", &self.price.get().to_be_bytes());
    }
}

impl Kind for OracleTick {
    type Record = MarkPriceRecord;
    type Error = OracleTickError;
    const ACCOUNTS: usize = 0;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_oracle_tick(ctx, self)
    }
}
