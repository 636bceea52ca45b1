//! Forced trade: two accounts agree on a trade at a price, and its party A submits it on L1, so
//! a trader the sequencer censors can still close (or move) a position without the order book
//! (StarkEx perpetual offers the same). Party A's authority is its L1 transaction; party B's is
//! an EIP-712 signature by B's L1 owner key over the terms, which the contract checks at the
//! door along with everything it can see (distinct accounts, neither a system account, a market
//! with a published mark, `0 < size, price < 2^40`, a signature that is canonical, unexpired and
//! unused). It has its own L1 queue, consumed in order, and is answered either way:
//! *served* when both accounts exist, the requester is A's L1 owner, the signer is B's, and
//! after the trade both accounts keep their positions and balances within their widths (a risk
//! limit) and obey the margin rule at initial fractions, and the market's risk limits hold
//! after it (neither position above the position limit, the open interest at most its cap:
//! `crate::limits`; a forced trade must not be a way around them); *refused* otherwise, leaving both
//! untouched. Those are the only grounds, each shown in the proof. A stale mark is never one:
//! the margin rule reads the marks as they are (the operator chooses which oracle ticks enter a
//! batch), and no fee is charged (the sequencer did not match it).
//!
//! What the contract already refused cannot reach the state: a request with the same account
//! twice, a system account, an unknown or unpriced market, or a size of zero is a transaction
//! error here (and unsatisfiable in the circuit), never a refusal.
//!
//! One difference from the circuit, on the safe side (as for forced withdrawals): a pending
//! funding settlement that would overflow the balance width (about 9.2 trillion USD) refuses
//! the request here and makes the batch unprovable there.

use crate::layout::{Writer, FORCED_TRADE};
use serde::{Deserialize, Serialize};

use crate::funding::settle_funding;
use crate::leaf::AccountLeaf;
use crate::limits::{
    enforce_open_interest_cap, enforce_position_limit, open_interest_after, open_interest_change,
};
use crate::margin::{enforce_margin_rule, margin_summary, Fraction};
use crate::merkle::NodeStore;
use crate::order::Side;
use crate::pubdata::{L1Record, PubData};
use crate::state::Ctx;
use crate::tx::Kind;
use crate::units::{notional, AccountId, BaseLots, L1Address, MarketId, PriceTicks};

/// A forced trade as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1ForcedTrade {
    /// Position in the forced-trade queue.
    pub index: u64,
    /// The requester's account.
    pub account_a: AccountId,
    /// The counterparty's account.
    pub account_b: AccountId,
    /// The L1 sender of the request (must own `account_a`).
    pub requester: L1Address,
    /// The L1 key whose EIP-712 signature over the terms the contract checked (must own
    /// `account_b`).
    pub signer: L1Address,
    pub market: MarketId,
    /// A's side: `Buy` means A buys `size` lots from B.
    pub a_side: Side,
    pub size: BaseLots,
    pub price: PriceTicks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedTrade {
    pub request: L1ForcedTrade,
}

/// One side of a forced trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Party {
    /// The requester.
    A,
    /// The counterparty that signed.
    B,
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Party::A => "party A",
            Party::B => "party B",
        })
    }
}

/// Why a forced trade was refused: the listed grounds, and only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TradeRefusal {
    #[error("{0}'s account does not exist")]
    NoSuchAccount(Party),
    #[error("{0}'s account is not owned by the L1 key that authorised the trade")]
    NotOwner(Party),
    #[error("{0}'s position or balance would leave its width (a risk limit)")]
    Width(Party),
    #[error("{0} would break the margin rule")]
    Margin(Party),
    #[error("{0}'s position would be above the market's position limit")]
    PositionLimit(Party),
    #[error("the market's open interest would be above its cap")]
    OpenInterestCap,
}

/// What the L1 contract refuses at the door: such a request never reaches the queue, so the
/// state machine refuses it as a transaction (and the circuit cannot prove it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForcedTradeError {
    #[error("both parties are the same account")]
    SameAccount,
    #[error("a system account (the insurance fund or the fee account) cannot trade")]
    SystemAccount,
    #[error("unknown market")]
    UnknownMarket,
    #[error("the market has no mark price yet")]
    MarketNotOpen,
    #[error("the size must be positive")]
    NonPositiveSize,
}

/// What the rules decide for `r` against the current state: both leaves and the market's open
/// interest after the trade, or why it is refused.
fn outcome<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    r: &L1ForcedTrade,
) -> Result<([AccountLeaf; 2], u64), TradeRefusal> {
    // Both are read (their leaves, or empty slots, go to the circuit) before either is judged.
    let a = ctx.read(r.account_a);
    let b = ctx.read(r.account_b);
    let params = ctx.config().markets.clone();
    let markets = ctx.markets().to_vec();
    let market = &params[r.market.index()];
    let notional = notional(r.size, r.price, market.tick_value);
    let mut after = Vec::with_capacity(2);
    for (party, leaf, owner, side) in [
        (Party::A, a, r.requester, r.a_side),
        (Party::B, b, r.signer, r.a_side.opposite()),
    ] {
        let leaf = leaf.ok_or(TradeRefusal::NoSuchAccount(party))?;
        if leaf.l1_address != owner {
            return Err(TradeRefusal::NotOwner(party));
        }
        after.push((party, leaf, side));
    }
    let mut leaves = Vec::with_capacity(2);
    let mut moves = Vec::with_capacity(2);
    for (party, mut leaf, side) in after {
        let width = |_| TradeRefusal::Width(party);
        settle_funding(&mut leaf, &markets).map_err(width)?;
        let before = margin_summary(
            leaf.collateral,
            &leaf.positions,
            &markets,
            &params,
            Fraction::Initial,
        );
        let sign = side.sign();
        let position = &mut leaf.positions[r.market.index()];
        let held = position.size;
        position.size = position.size.checked_add(sign * r.size.get()).map_err(width)?;
        moves.push((held, position.size));
        leaf.collateral = leaf.collateral.checked_add(-sign * notional).map_err(width)?;
        let after = margin_summary(
            leaf.collateral,
            &leaf.positions,
            &markets,
            &params,
            Fraction::Initial,
        );
        enforce_margin_rule(&before, &after).map_err(|_| TradeRefusal::Margin(party))?;
        enforce_position_limit(leaf.positions[r.market.index()].size, market)
            .map_err(|_| TradeRefusal::PositionLimit(party))?;
        leaves.push(leaf);
    }
    // Below its width whenever the cap holds: a refusal, never an error.
    let interest = open_interest_after(&markets[r.market.index()], open_interest_change(&moves))
        .map_err(|_| TradeRefusal::OpenInterestCap)?;
    enforce_open_interest_cap(interest, market).map_err(|_| TradeRefusal::OpenInterestCap)?;
    let b = leaves.pop().expect("two parties");
    let a = leaves.pop().expect("two parties");
    Ok(([a, b], interest))
}

/// Answers the next forced trade (the queue's order is checked by `tx::execute`): `Ok(None)`
/// when served, `Ok(Some(why))` when refused.
pub fn execute_forced_trade<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &ForcedTrade,
) -> Result<Option<TradeRefusal>, ForcedTradeError> {
    let r = &tx.request;
    if r.account_a == r.account_b {
        return Err(ForcedTradeError::SameAccount);
    }
    let system = [AccountId::INSURANCE_FUND, AccountId::FEES];
    if system.contains(&r.account_a) || system.contains(&r.account_b) {
        return Err(ForcedTradeError::SystemAccount);
    }
    if ctx.config().market(r.market).is_none() {
        return Err(ForcedTradeError::UnknownMarket);
    }
    if ctx.markets()[r.market.index()].mark_price.get() == 0 {
        return Err(ForcedTradeError::MarketNotOpen);
    }
    if r.size.get() <= 0 {
        return Err(ForcedTradeError::NonPositiveSize);
    }
    let decision = outcome(ctx, r).and_then(|([a, b], interest)| {
        for (party, id, leaf) in [(Party::A, r.account_a, a), (Party::B, r.account_b, b)] {
            *ctx.account(id).map_err(|_| TradeRefusal::NoSuchAccount(party))? = leaf;
        }
        ctx.markets_mut()[r.market.index()].open_interest = interest;
        Ok(())
    });
    ctx.publish(PubData::ForcedTrade(ForcedTradeRecord {
        request: *r,
        served: decision.is_ok(),
    }));
    Ok(decision.err())
}

/// `0x08 | u64 index | u32 account_a | u32 account_b | address requester | address signer |
/// u8 market | u8 a_buys | u64 size | u64 price | u8 served`: the answer to the request (the
/// L1 checks the fields are the request's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedTradeRecord {
    pub request: L1ForcedTrade,
    pub served: bool,
}

impl ForcedTradeRecord {
    pub const KIND: u8 = 0x08;
}

impl L1Record for ForcedTradeRecord {
    const LEN: usize = FORCED_TRADE.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let r = &self.request;
        Writer::new(&FORCED_TRADE, out)
            .put("KIND", &[Self::KIND])
            .put("INDEX", &r.index.to_be_bytes())
            .put("ACCOUNT_A", &(r.account_a.get() as u32).to_be_bytes())
            .put("ACCOUNT_B", &(r.account_b.get() as u32).to_be_bytes())
            .put("REQUESTER", &r.requester.0)
            .put("SIGNER", &r.signer.0)
            .put("MARKET", &[r.market.index() as u8])
            .put("A_BUYS", &[u8::from(r.a_side == Side::Buy)])
            .put("SIZE", &(r.size.get() as u64).to_be_bytes())
            .put("PRICE", &r.price.get().to_be_bytes())
            .put("SERVED", &[u8::from(self.served)]);
    }
}

impl Kind for ForcedTrade {
    type Record = ForcedTradeRecord;
    type Error = ForcedTradeError;
    const ACCOUNTS: usize = 2;

    fn queue_index(&self) -> Option<u64> {
        Some(self.request.index)
    }

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_forced_trade(ctx, self).map(|_| ())
    }
}
