//! Oracle tick: the mark price of a market becomes the median of `quorum` quotes, each signed by a
//! distinct one of the market's oracle keys and no older than the freshness window at the batch
//! time. The quotes arrive sorted by price, so the median is the middle one and checking the
//! order is enough (the circuit does the same: no sorting network).
//!
//! ```text
//! quote message = Poseidon(DOMAIN_ORACLE_QUOTE, market | price << 8 | timestamp << 48)   (88 bits)
//! ```

use serde::{Deserialize, Serialize};

use crate::eddsa::Signature;
use crate::field::Fr;
use crate::merkle::NodeStore;
use crate::order::DOMAIN_ORACLE_QUOTE;
use crate::poseidon::poseidon;
use crate::pubdata::PubData;
use crate::state::Ctx;
use crate::units::{MarketId, PriceTicks, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub market: MarketId,
    pub price: PriceTicks,
    pub timestamp: Timestamp,
}

impl Quote {
    pub fn message(&self) -> Fr {
        let word = u128::from(self.market.get())
            | u128::from(self.price.get()) << 8
            | u128::from(self.timestamp.get()) << 48;
        poseidon([Fr::from(DOMAIN_ORACLE_QUOTE), Fr::from(word)])
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
        if i > 0 && tx.quotes[i - 1].quote.price > q.quote.price {
            return Err(OracleTickError::NotSorted(i));
        }
        key.verify(q.quote.message(), &q.signature)
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
    ctx.publish(PubData::MarkPrice {
        market: tx.market,
        price: median,
    });
    Ok(())
}
