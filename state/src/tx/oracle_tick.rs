//! Oracle tick: the mark price of a market becomes the median of `quorum` quotes, each signed by a
//! distinct one of the market's oracle keys and no older than the freshness window at the batch
//! time, and no older than the newest quote of the market's previous tick
//! (`MarketState::mark_time`), so the operator cannot go back to a price it liked better. (Equal
//! is allowed: two ticks may fall in one second, and an oracle signs one quote per second.) The mark records its newest quote's
//! time, and margin checks refuse a mark older than the market's `max_mark_age_secs`. The
//! quotes arrive sorted by price, so the median is the middle one and checking the order is
//! enough (the circuit does the same: no sorting network).
//!
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
use crate::units::{MarketId, PriceTicks, Timestamp};

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
    let now = ctx.now();
    let market = &mut ctx.markets_mut()[tx.market.index()];
    if market.mark_price.get() == 0 {
        // Funding accrues from the market's first price.
        market.last_funding = now;
    }
    market.mark_price = median;
    market.mark_time = tx
        .quotes
        .iter()
        .map(|q| q.quote.timestamp)
        .max()
        .unwrap_or_default();
    ctx.publish(PubData::OracleTick(MarkPriceRecord {
        market: tx.market,
        price: median,
    }));
    Ok(())
}

/// `0x04 | u8 market | u64 price`: the market's new mark.
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
