//! Funding tick: the cumulative funding index of a market moves by at most
//! `max_funding_rate * mark price * tick_value * elapsed` (per lot, in collateral units), where
//! `elapsed` is the time since the market's last funding tick. The sequencer picks the rate (from
//! the premium of its book over the mark); the proof only bounds it. Positions pay lazily: each
//! settles the index difference the next time its account is touched.
//!
//! `elapsed` counts at most `2^FUNDING_ELAPSED_BITS - 1` seconds (12 days): a market left without
//! funding ticks longer than that cannot catch up in one jump. Widths: `|d| * 10^9 < 2^64 * 2^30`
//! and the cap `< 2^32 * 2^40 * 2^16 * 2^20 = 2^108`, both far inside `u128` and the field.

use crate::layout::{Writer, MARKET};
use serde::{Deserialize, Serialize};

use crate::merkle::NodeStore;
use crate::pubdata::{L1Record, PubData};
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{
    FundingIndex, MarketId, PpbPerSecond, PriceTicks, TickValue, FUNDING_ELAPSED_BITS, PPB_ONE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingTick {
    pub market: MarketId,
    /// The new cumulative index.
    pub index: FundingIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FundingTickError {
    #[error("unknown market")]
    UnknownMarket,
    #[error("the market has no mark price yet")]
    MarketNotOpen,
    #[error("index moves by {delta}, above the cap {cap_ppb}/1e9 for the elapsed time")]
    OverCap { delta: i128, cap_ppb: u128 },
}

/// The largest `|d(index)| * 10^9` allowed after `elapsed` seconds (clamped).
pub fn funding_cap_ppb(
    rate: PpbPerSecond,
    price: PriceTicks,
    tick_value: TickValue,
    elapsed: u64,
) -> u128 {
    let elapsed = elapsed.min((1 << FUNDING_ELAPSED_BITS) - 1);
    u128::from(rate.get())
        * u128::from(price.get())
        * u128::from(tick_value.get())
        * u128::from(elapsed)
}

pub fn execute_funding_tick<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &FundingTick,
) -> Result<(), FundingTickError> {
    let params = ctx
        .config()
        .market(tx.market)
        .ok_or(FundingTickError::UnknownMarket)?;
    let now = ctx.now();
    let state = ctx.markets()[tx.market.index()];
    if state.mark_price.get() == 0 {
        return Err(FundingTickError::MarketNotOpen);
    }
    let elapsed = now.get().saturating_sub(state.last_funding.get());
    let cap_ppb = funding_cap_ppb(
        params.max_funding_rate,
        state.mark_price,
        params.tick_value,
        elapsed,
    );
    let delta = tx.index.get() - state.funding_index.get();
    if delta.unsigned_abs() * u128::from(PPB_ONE) > cap_ppb {
        return Err(FundingTickError::OverCap { delta, cap_ppb });
    }
    let market = &mut ctx.markets_mut()[tx.market.index()];
    market.funding_index = tx.index;
    market.last_funding = now;
    ctx.publish(PubData::FundingTick(FundingIndexRecord {
        market: tx.market,
        index: tx.index,
    }));
    Ok(())
}

/// `0x05 | u8 market | i64 funding index` (two's complement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingIndexRecord {
    pub market: MarketId,
    pub index: FundingIndex,
}

impl FundingIndexRecord {
    pub const KIND: u8 = 0x05;
}

impl L1Record for FundingIndexRecord {
    const LEN: usize = MARKET.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&MARKET, out)
            .put("KIND", &[Self::KIND])
            .put("ID", &[self.market.get() as u8])
            .put("VALUE", &(self.index.get() as i64).to_be_bytes());
    }
}

impl Kind for FundingTick {
    type Record = FundingIndexRecord;
    type Error = FundingTickError;
    const ACCOUNTS: usize = 0;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_funding_tick(ctx, self)
    }
}
