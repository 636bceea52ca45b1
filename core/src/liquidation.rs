//! The liquidation engine: after every mark-price or funding change, it finds accounts below
//! maintenance and produces, one at a time and the riskiest first, the transaction that deals
//! with each:
//!
//! 1. a [`Liquidation`] of the account's largest position into the insurance fund, with the
//!    largest penalty the rules allow;
//! 2. when the fund cannot absorb a bankrupt account, a [`Deleverage`] against the most
//!    profitable opposite position at the mark (its entry from [`CostBasis`]), at the price
//!    that covers the deficit in proportion to the share of the position closed.
//!
//! Every step is a transaction the state machine checks (the rules), so this module is policy
//! only: which account, which market, which counterparty, how much.
//!
//! ## Finding the accounts without scanning them (issue 21)
//!
//! An account's maintenance health, `H = TV * 10^6 - TR_ppm` (below zero: liquidatable), is
//! exactly linear in the marks while its leaf and the funding indices stay put: with funding
//! settled, `H = 10^6 C + sum_m p_m a_m`, where `a_m = tick_value_m (10^6 s_m - |s_m| f_m)` for a
//! position of `s_m` lots whose maintenance fraction is `f_m` ppm (a tier is chosen by the
//! size, never by the price). [`next_step`] evaluates every account: the specification.
//! [`LiquidationIndex`] gives each healthy account's `H` to its markets in proportion to each
//! position's weight `|a_m| p_m` — `d = floor(H p_m / W)` ticks, `W = sum |a_m| p_m`, the same
//! fraction of every mark — and files the account under the mark at which that share would be
//! spent: `p_m - d` for a long, `p_m + d` for a short. While no mark has crossed its account's
//! trigger, `H' >= H - sum |a_m| d_m >= 0`: nobody else can have crossed. A new mark re-evaluates
//! only the accounts whose trigger it passed (and files them again around it), a funding tick
//! the market's holders, a transaction the accounts it touched; the accounts found below
//! maintenance wait in risk order (the lowest `TV / TR` first).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::Bound::{Excluded, Unbounded};

use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::{AccountLeaf, Position};
use zkperp_state::margin::{is_liquidatable, margin_summary, Fraction, MarginSummary};
use zkperp_state::merkle::NodeStore;
use zkperp_state::tx::{Deleverage, Liquidation, LiquidationError, Transaction, TxError};
use zkperp_state::units::{notional, AccountId, BaseLots, Collateral, MarketId, PPM_ONE};
use zkperp_state::State;

use crate::cost_basis::CostBasis;

/// The lowest account id (the fund's, 0): a range's bound below every account at a mark.
const LOWEST: AccountId = AccountId::INSURANCE_FUND;

fn is_system(id: AccountId) -> bool {
    id == AccountId::INSURANCE_FUND || id == AccountId::FEES
}

/// An account's maintenance summary at the current marks, its funding settled, and how its
/// health moves with each mark.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    summary: MarginSummary,
    /// Per market with a position: `(market, a_m)`, `H`'s slope in that market's mark.
    slopes: Vec<(usize, i128)>,
}

impl Health {
    /// `H = TV * 10^6 - TR_ppm`: below zero, liquidatable.
    fn h(&self) -> i128 {
        self.summary.total_value * i128::from(PPM_ONE) - self.summary.total_risk_ppm
    }

    /// `TV / TR` in ppm (rounded down): the lower, the riskier. Only below maintenance, where
    /// `TR > 0` (no position means no risk, and `H = 10^6 TV`).
    fn risk(&self) -> i128 {
        let MarginSummary {
            total_value,
            total_risk_ppm,
        } = self.summary;
        if total_risk_ppm == 0 {
            return i128::MAX;
        }
        (total_value * i128::from(PPM_ONE))
            .checked_mul(i128::from(PPM_ONE))
            .map_or(i128::MIN, |x| x.div_euclid(total_risk_ppm))
    }
}

/// `leaf`'s health at `state`'s marks, as the rules compute it (`None`: settling its funding
/// would overflow, which the rules refuse too, so the engine leaves it alone).
fn health<S: NodeStore>(state: &State<S>, leaf: &AccountLeaf) -> Option<Health> {
    let mut leaf = leaf.clone();
    settle_funding(&mut leaf, state.markets()).ok()?;
    let params = &state.config().markets;
    let summary = margin_summary(
        leaf.collateral,
        &leaf.positions,
        state.markets(),
        params,
        Fraction::Maintenance,
    );
    // A position's term of `H` is `p * tick_value * (10^6 s - |s| f)`: the fraction `f` is
    // chosen by the size alone, so the term is linear in the mark.
    let slopes = leaf
        .positions
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.size.is_zero())
        .map(|(m, p)| {
            let (s, params) = (p.size.get(), &params[m]);
            let f = Fraction::Maintenance.of(params, s.unsigned_abs() as u64);
            let f = i128::from(f.get());
            let a = i128::from(params.tick_value.get()) * (s * i128::from(PPM_ONE) - s.abs() * f);
            (m, a)
        })
        .collect();
    Some(Health { summary, slopes })
}

/// Every account below maintenance, the riskiest (lowest `TV / TR`) first, ties by id: what
/// the engine deals with, in that order. Evaluates every account.
pub fn below_maintenance<S: NodeStore>(state: &State<S>) -> Vec<AccountId> {
    let mut found: Vec<(i128, AccountId)> = state
        .accounts()
        .filter(|(id, _)| !is_system(**id))
        .filter_map(|(id, a)| health(state, &a.leaf).map(|h| (h, *id)))
        .filter(|(h, _)| is_liquidatable(&h.summary) && !h.slopes.is_empty())
        .map(|(h, id)| (h.risk(), id))
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, id)| id).collect()
}

/// The next transaction the liquidation engine wants applied, or `None` when no account below
/// maintenance can be dealt with. Evaluates every account (the specification
/// [`LiquidationIndex::next_step`] is tested against).
/// `entries`: the open positions' entry prices ([`crate::batcher::Batcher::cost_basis`]).
pub fn next_step<S: NodeStore>(state: &State<S>, entries: &CostBasis) -> Option<Transaction> {
    below_maintenance(state).into_iter().find_map(|id| {
        step(state, id, &mut |m, size| {
            most_profitable(state, entries, m, size)
        })
    })
}

/// The most profitable position at the mark opposite to one of `size` lots in market `m`
/// (ties: the lower account id), with its size, among every trader's.
fn most_profitable<S: NodeStore>(
    state: &State<S>,
    entries: &CostBasis,
    m: usize,
    size: i128,
) -> Option<(AccountId, i128)> {
    let mark = state.markets()[m].mark_price.get();
    state
        .accounts()
        .filter(|(c, _)| !is_system(**c))
        .map(|(c, a)| (*c, a.leaf.positions[m].size.get()))
        .filter(|(_, s)| s.signum() == -size.signum())
        .map(|(c, s)| (entries.entry(c, m).profit(mark), c, s))
        .max_by_key(|(profit, c, _)| (*profit, std::cmp::Reverse(*c)))
        .map(|(_, c, s)| (c, s))
}

/// What the engine does about `id`, below maintenance: liquidate its largest position into
/// the fund, or, when the fund cannot absorb its deficit, deleverage it against the position
/// `counterparty(market, size)` names (the most profitable opposite one). `None`: neither is
/// possible now.
fn step<S: NodeStore>(
    state: &State<S>,
    id: AccountId,
    counterparty: &mut dyn FnMut(usize, i128) -> Option<(AccountId, i128)>,
) -> Option<Transaction> {
    let account = state.account(id)?;
    let tv = health(state, &account.leaf)?.summary.total_value;
    // The largest position by notional.
    let (m, position) = account
        .leaf
        .positions
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.size.is_zero())
        .max_by_key(|(m, p)| {
            let params = &state.config().markets[*m];
            notional(p.size, state.markets()[*m].mark_price, params.tick_value).abs()
        })?;
    let (market, size) = (MarketId::new(m as u64).ok()?, position.size.get());
    let params = &state.config().markets[m];
    let closed = notional(
        position.size,
        state.markets()[m].mark_price,
        params.tick_value,
    )
    .abs();
    let fee =
        (closed * i128::from(params.liquidation_fee.get()) / i128::from(PPM_ONE)).min(tv.max(0));
    let liquidation = Transaction::Liquidation(Liquidation {
        account: id,
        market,
        size: BaseLots::new(size.abs()).ok()?,
        fee: Collateral::new(fee).ok()?,
    });
    match state.check(&liquidation) {
        Ok(()) => Some(liquidation),
        Err(TxError::Liquidation(LiquidationError::FundExhausted)) if tv < 0 => {
            let (deleverager, their_size) = counterparty(m, size)?;
            // The price is the rule's (the closed lots' share of the deficit): only the
            // counterparty and the size are the engine's to choose.
            let tx = Transaction::Deleverage(Deleverage {
                deleveraged: id,
                deleverager,
                market,
                size: BaseLots::new(size.abs().min(their_size.abs())).ok()?,
            });
            state.check(&tx).ok().map(|()| tx)
        }
        Err(_) => None,
    }
}

/// What the index knows of an account: the leaf's sizes and collateral it evaluated, and where
/// it filed the account.
#[derive(Debug)]
struct Filed {
    collateral: Collateral,
    positions: Vec<Position>,
    place: Place,
}

impl Filed {
    /// Whether it was filed from `leaf`'s collateral and positions (what its health reads).
    fn is_of(&self, leaf: &AccountLeaf) -> bool {
        self.collateral == leaf.collateral && self.positions == leaf.positions
    }
}

#[derive(Debug)]
enum Place {
    /// Healthy: the trigger per market (`(market, mark, long)`: re-evaluate when the mark
    /// goes below it for a long, above it for a short).
    Triggers(Vec<(usize, u64, bool)>),
    /// Below maintenance, under this risk key.
    AtRisk(i128),
    /// Nothing to watch: no position, or a leaf the engine leaves alone.
    Idle,
}

/// The accounts below maintenance, found without evaluating every account after each mark
/// (see the module's notes). Derived from the state alone: it is rebuilt, by evaluating every
/// account once, whenever it cannot tell what changed (at start, after a restore, or when a
/// batch was sealed without [`LiquidationIndex::sealing`]).
#[derive(Debug, Default)]
pub struct LiquidationIndex {
    filed: BTreeMap<AccountId, Filed>,
    /// Per market: longs by trigger mark, shorts by trigger mark.
    longs: Vec<BTreeSet<(u64, AccountId)>>,
    shorts: Vec<BTreeSet<(u64, AccountId)>>,
    /// Per market, the accounts with a position in it.
    holders: Vec<BTreeSet<AccountId>>,
    at_risk: BTreeSet<(i128, AccountId)>,
    /// Per market, the funding index and the mark the filed accounts were evaluated at.
    funding: Vec<i128>,
    marks: Vec<u64>,
    /// The state's `batches_sealed` the index has followed up to, the accounts written by
    /// the batches sealed since the last sync, and how many of the open batch's transactions
    /// it has looked at; `None`: build from scratch.
    sealed: Option<u64>,
    touched: BTreeSet<AccountId>,
    seen: usize,
    /// Accounts evaluated since the index was made (a measure of the work it saves).
    evaluations: u64,
    /// The entry prices with the open batch's transactions: the batch they follow, how many
    /// of its transactions they include.
    entries: Option<(u64, usize, CostBasis)>,
    /// Per market, deleveraging's candidates at one mark, and the accounts written since.
    counterparties: Vec<Option<Counterparties>>,
}

/// A market's positions by profit at `mark`, the most profitable first (ties: the lower id),
/// longs in `by_side[0]`, shorts in `by_side[1]`. An account's entry is pushed again whenever
/// it is written (`stale`), so its current profit is always among its entries; an entry that
/// no longer matches the account is dropped when it comes to the top.
#[derive(Debug)]
struct Counterparties {
    mark: u64,
    by_side: [BinaryHeap<(i128, Reverse<AccountId>)>; 2],
    stale: BTreeSet<AccountId>,
}

fn side(size: i128) -> usize {
    usize::from(size < 0)
}

impl LiquidationIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// To be called just before the open batch is sealed: the accounts its transactions wrote
    /// since the last sync are those whose leaves may have changed.
    pub fn sealing<S: NodeStore>(&mut self, state: &State<S>) {
        if let Some(sealed) = self.sealed.as_mut() {
            if *sealed == state.batches_sealed() && state.batch_len() >= self.seen {
                self.touched.extend(state.batch_writes_since(self.seen));
                *sealed += 1;
                self.seen = 0;
            } else {
                self.sealed = None;
            }
        }
    }

    /// Accounts evaluated so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Brings the index up to `state`: the accounts touched since the last sync, the holders
    /// of every market whose funding index moved and the accounts whose trigger the marks
    /// crossed are evaluated again.
    pub fn sync<S: NodeStore>(&mut self, state: &State<S>) {
        let markets = state.markets();
        // The open batch's log shorter than what was looked at: rolled back under the index
        // (it is asked between commands, never inside a savepoint; rebuilt all the same).
        if self.sealed != Some(state.batches_sealed())
            || self.funding.len() != markets.len()
            || state.batch_len() < self.seen
        {
            return self.rebuild(state);
        }
        // A written account is evaluated again if its leaf moved (one whose order alone
        // changed did not).
        let mut touched = std::mem::take(&mut self.touched);
        touched.extend(state.batch_writes_since(self.seen));
        self.seen = state.batch_len();
        let mut again: BTreeSet<AccountId> = touched
            .into_iter()
            .filter(|id| {
                let (filed, account) = (self.filed.get(id), state.account(*id));
                !filed.zip(account).is_some_and(|(f, a)| f.is_of(&a.leaf))
            })
            .collect();
        for (m, market) in markets.iter().enumerate() {
            if market.funding_index.get() != self.funding[m] {
                again.extend(self.holders[m].iter().copied());
                self.funding[m] = market.funding_index.get();
            }
            let mark = market.mark_price.get();
            if mark != self.marks[m] {
                // The accounts below maintenance move with every mark (out of it, or in the
                // risk order): they are few, and looked at once per new mark.
                again.extend(self.at_risk.iter().map(|(_, id)| *id));
                self.marks[m] = mark;
                self.counterparties[m] = None;
            }
            // A long is looked at again when the mark is below its trigger, a short above.
            again.extend(
                self.longs[m]
                    .range((mark.saturating_add(1), LOWEST)..)
                    .map(|(_, id)| *id),
            );
            again.extend(self.shorts[m].range(..(mark, LOWEST)).map(|(_, id)| *id));
        }
        for id in again {
            self.file(state, id);
        }
    }

    fn rebuild<S: NodeStore>(&mut self, state: &State<S>) {
        let markets = state.markets().len();
        *self = LiquidationIndex {
            longs: vec![BTreeSet::new(); markets],
            shorts: vec![BTreeSet::new(); markets],
            holders: vec![BTreeSet::new(); markets],
            funding: state
                .markets()
                .iter()
                .map(|m| m.funding_index.get())
                .collect(),
            marks: state.markets().iter().map(|m| m.mark_price.get()).collect(),
            sealed: Some(state.batches_sealed()),
            seen: state.batch_len(),
            evaluations: self.evaluations,
            counterparties: (0..markets).map(|_| None).collect(),
            ..Default::default()
        };
        let ids: Vec<AccountId> = state.accounts().map(|(id, _)| *id).collect();
        for id in ids {
            self.file(state, id);
        }
    }

    /// Takes `id` out of wherever it was filed.
    fn unfile(&mut self, id: AccountId) -> Option<Filed> {
        let filed = self.filed.remove(&id)?;
        for (m, p) in filed.positions.iter().enumerate() {
            if !p.size.is_zero() {
                self.holders[m].remove(&id);
            }
        }
        match &filed.place {
            Place::Triggers(triggers) => {
                for &(m, mark, long) in triggers {
                    let set = if long {
                        &mut self.longs
                    } else {
                        &mut self.shorts
                    };
                    set[m].remove(&(mark, id));
                }
            }
            Place::AtRisk(risk) => {
                self.at_risk.remove(&(*risk, id));
            }
            Place::Idle => {}
        }
        Some(filed)
    }

    /// Evaluates `id` at the state's marks and files it again.
    fn file<S: NodeStore>(&mut self, state: &State<S>, id: AccountId) {
        self.unfile(id);
        let Some(account) = state.account(id) else {
            return;
        };
        let leaf = &account.leaf;
        self.evaluations += 1;
        for c in self.counterparties.iter_mut().flatten() {
            c.stale.insert(id);
        }
        for (m, p) in leaf.positions.iter().enumerate() {
            if !p.size.is_zero() {
                self.holders[m].insert(id);
            }
        }
        let place = match health(state, leaf) {
            _ if is_system(id) => Place::Idle,
            None => Place::Idle,
            Some(h) if h.slopes.is_empty() => Place::Idle,
            Some(h) if is_liquidatable(&h.summary) => {
                let risk = h.risk();
                self.at_risk.insert((risk, id));
                Place::AtRisk(risk)
            }
            Some(h) => {
                let triggers = triggers(state, &h);
                for &(m, mark, long) in &triggers {
                    let set = if long {
                        &mut self.longs
                    } else {
                        &mut self.shorts
                    };
                    set[m].insert((mark, id));
                }
                Place::Triggers(triggers)
            }
        };
        self.filed.insert(
            id,
            Filed {
                collateral: leaf.collateral,
                positions: leaf.positions.clone(),
                place,
            },
        );
    }

    /// The accounts below maintenance, riskiest first (what [`below_maintenance`] returns),
    /// after [`LiquidationIndex::sync`].
    pub fn below_maintenance<S: NodeStore>(&mut self, state: &State<S>) -> Vec<AccountId> {
        self.sync(state);
        self.at_risk.iter().map(|(_, id)| *id).collect()
    }

    /// [`next_step`], without evaluating every account: the same transaction.
    /// `sealed_entries`: the entry prices as of the last seal (the batcher's); the index adds
    /// the open batch's transactions as they come.
    pub fn next_step<S: NodeStore>(
        &mut self,
        state: &State<S>,
        sealed_entries: &CostBasis,
    ) -> Option<Transaction> {
        self.sync(state);
        let mut after: Option<(i128, AccountId)> = None;
        loop {
            let next = match after {
                None => self.at_risk.iter().next(),
                Some(k) => self.at_risk.range((Excluded(k), Unbounded)).next(),
            };
            let (risk, id) = *next?;
            after = Some((risk, id));
            let found = step(state, id, &mut |m, size| {
                self.most_profitable(state, sealed_entries, m, size)
            });
            if found.is_some() {
                return found;
            }
        }
    }

    /// Brings the entry prices up to every transaction of the open batch.
    fn follow_entries<S: NodeStore>(&mut self, state: &State<S>, sealed: &CostBasis) {
        let (batch, len) = (state.batches_sealed(), state.batch_len());
        match &mut self.entries {
            Some((b, seen, basis)) if *b == batch && *seen <= len => {
                basis.record_all(state.batch_txs_since(*seen));
                *seen = len;
            }
            _ => self.entries = Some((batch, len, sealed.with(state.batch_txs()))),
        }
    }

    /// [`most_profitable`] from the market's candidates (made once per mark), after pushing
    /// again the accounts written since.
    fn most_profitable<S: NodeStore>(
        &mut self,
        state: &State<S>,
        sealed: &CostBasis,
        m: usize,
        size: i128,
    ) -> Option<(AccountId, i128)> {
        let mark = state.markets()[m].mark_price.get();
        self.follow_entries(state, sealed);
        let entries = &self.entries.as_ref().expect("followed above").2;
        let position = |c: AccountId| {
            state
                .account(c)
                .map_or(0, |a| a.leaf.positions[m].size.get())
        };
        let fresh = match self.counterparties[m].take() {
            Some(c) if c.mark == mark => {
                let mut c = c;
                for id in std::mem::take(&mut c.stale) {
                    let s = position(id);
                    if s != 0 && !is_system(id) {
                        c.by_side[side(s)].push((entries.entry(id, m).profit(mark), Reverse(id)));
                    }
                }
                c
            }
            _ => {
                let mut by_side: [BinaryHeap<_>; 2] = Default::default();
                for &id in self.holders[m].iter().filter(|id| !is_system(**id)) {
                    let s = position(id);
                    if s != 0 {
                        by_side[side(s)].push((entries.entry(id, m).profit(mark), Reverse(id)));
                    }
                }
                Counterparties {
                    mark,
                    by_side,
                    stale: BTreeSet::new(),
                }
            }
        };
        let candidates = self.counterparties[m].insert(fresh);
        let heap = &mut candidates.by_side[side(-size)];
        while let Some(&(profit, Reverse(c))) = heap.peek() {
            let s = position(c);
            if s != 0 && side(s) == side(-size) && entries.entry(c, m).profit(mark) == profit {
                return Some((c, s));
            }
            heap.pop();
        }
        None
    }

    /// Whether the index agrees with `state` on every account it filed (a test's check that
    /// no change went unnoticed): each filed leaf's collateral and positions are the state's.
    pub fn is_current<S: NodeStore>(&self, state: &State<S>) -> bool {
        state
            .accounts()
            .all(|(id, a)| self.filed.get(id).is_some_and(|f| f.is_of(&a.leaf)))
    }
}

/// Where a healthy account's triggers lie: each market's share of `H`, in proportion to the
/// position's weight `|a_m| p_m`, spent at `p_m - d` (long) or `p_m + d` (short) with
/// `d = floor(H p_m / W)`. An overflowing product leaves no room (`d = 0`: looked at on any
/// adverse tick).
fn triggers<S: NodeStore>(state: &State<S>, h: &Health) -> Vec<(usize, u64, bool)> {
    let mark = |m: usize| state.markets()[m].mark_price.get();
    let weight: Option<i128> = h.slopes.iter().try_fold(0i128, |w, &(m, a)| {
        w.checked_add(a.checked_abs()?.checked_mul(i128::from(mark(m)))?)
    });
    h.slopes
        .iter()
        .map(|&(m, a)| {
            let p = mark(m);
            let d = match weight {
                Some(w) if w > 0 => h
                    .h()
                    .checked_mul(i128::from(p))
                    .map_or(0, |x| x / w)
                    .clamp(0, i128::from(u64::MAX)) as u64,
                _ => 0,
            };
            if a > 0 {
                (m, p.saturating_sub(d), true)
            } else {
                (m, p.saturating_add(d), false)
            }
        })
        .collect()
}
