//! Twin of `zkperp_state::tx::forced_trade`: a trade two accounts agreed on, requested on L1,
//! answered either way, and the answer is the rules', not the sequencer's:
//!
//! ```text
//! door (the contract refused anything else): A != B, neither is 0 or 1, market < count with
//!       a mark, 0 < size < 2^40, price < 2^40
//! for each party p (A with the requester and A's side, B with the signer and the other side):
//!   ok_p = exists_p & owner_p == authoriser_p & fits_p & margin_p & limit_p
//!   fits_p   = |size'_p| < 2^40 & |collateral'_p| < 2^63     (after funding and the fill)
//!   margin_p = TV' >= TR' or the fill reduces risk without lowering TV/TR  (initial fractions)
//!   limit_p  = |size'_p| <= the market's position limit
//! capped = open interest + long change of A and B <= the market's cap
//! served = ok_A & ok_B & capped; served => both leaves rewritten (A first, then B under the
//!          new root) and the open interest moved
//! record = 0x08 | u64 index | u32 A | u32 B | address requester | address signer | u8 market
//!          | u8 a_buys | u64 size | u64 price | u8 served
//! ```
//! Both accounts' leaves (or empty slots) are proven in the tree, so a refusal shows its
//! ground and a trade the rules serve cannot be published as refused. The margin test reads
//! the values after the fill only when they fit their widths (the widths' own test refuses
//! otherwise), so every comparison stays within the bounds its sign test assumes. No mark age
//! is checked (a stale mark is never a ground) and no fee is charged.

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::margin::Fraction;
use zkperp_state::order::Side;
use zkperp_state::pubdata::PubData;
use zkperp_state::state::StateConfig;
use zkperp_state::tx::forced_trade::{ForcedTrade, ForcedTradeRecord, L1ForcedTrade};
use zkperp_state::units::{
    AccountId, BaseLots, Collateral, L1Address, MarketId, PriceTicks,
};
use zkperp_state::Fr;

use crate::batch::{BatchVar, NamedAccountVar};
use crate::leaf::AccountLeafVar;
use crate::eq::conditional_enforce_not_equal;
use crate::funding::settle_funding;
use crate::limits::{
    is_within_open_interest_cap, is_within_position_limit, move_open_interest, position_move,
    PositionMoveVar,
};
use crate::margin::{is_risk_reducing, is_well_margined, margin_summary};
use crate::market::{market_selector, select_by, select_param};
use zkperp_state::layout::FORCED_TRADE;
use crate::pubdata::{byte_of_bits, FieldsVar};
use crate::tx::Gadget;
use crate::units::is_signed_within;
use crate::witness::{account_witness, dummy_account, read_witness, AccountWitness, ReceiptError};

/// `|size'| < 2^41`: a 40-bit position plus or minus a 40-bit fill.
const SIZE_AFTER_BOUND: u32 = 41;
/// `|collateral'| < 2^97`: a 63-bit balance plus or minus a notional below `2^(40+40+16)`.
const COLLATERAL_AFTER_BOUND: u32 = 97;

#[derive(Debug, Clone)]
pub struct ForcedTradeWitness {
    pub request: L1ForcedTrade,
    /// Whether each account exists (its leaf is not empty), A first.
    pub exists: [bool; 2],
    /// Each account's leaf (a placeholder when it does not exist) and path: A's under the
    /// slot's root, B's under the root A's write leaves.
    pub accounts: [AccountWitness; 2],
}

/// One party's side of the fill, decided but not yet written.
struct PartyVar {
    account: NamedAccountVar,
    ok: Boolean<Fr>,
    new_leaf: AccountLeafVar,
    moved: PositionMoveVar,
}

/// What both parties share.
struct Fill {
    flags: Vec<Boolean<Fr>>,
    size: FpVar<Fr>,
    notional: FpVar<Fr>,
}

pub fn execute_forced_trade(
    b: &mut BatchVar,
    w: &ForcedTradeWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let r = &w.request;
    // The index is range-checked by its record bytes below, the market by its selector.
    let index = b.witness(|| r.index)?;
    let (account_a, bits_a) = b.unsigned(Fr::from(r.account_a.get()), AccountId::BITS)?;
    let (account_b, bits_b) = b.unsigned(Fr::from(r.account_b.get()), AccountId::BITS)?;
    let (requester, _) = b.unsigned(r.requester.to_field(), 160)?;
    let (signer, _) = b.unsigned(r.signer.to_field(), 160)?;
    let market = b.witness(|| r.market.get())?;
    let flags = market_selector(&market, b.markets_count())?;
    let a_buys = Boolean::new_witness(cs.clone(), || Ok(r.a_side == Side::Buy))?;
    let size = u64::try_from(r.size.get()).unwrap_or(u64::MAX);
    let (size, _) = b.unsigned(Fr::from(size), BaseLots::BITS)?;
    let (price, _) = b.unsigned(Fr::from(r.price.get()), PriceTicks::BITS)?;

    // What the contract refused at its door cannot be proven.
    let zero = FpVar::zero();
    conditional_enforce_not_equal(&account_a, &account_b, enabled)?;
    for system in [AccountId::INSURANCE_FUND, AccountId::FEES] {
        let id = FpVar::Constant(Fr::from(system.get()));
        conditional_enforce_not_equal(&account_a, &id, enabled)?;
        conditional_enforce_not_equal(&account_b, &id, enabled)?;
    }
    conditional_enforce_not_equal(&select_by(&flags, &b.marks())?, &zero, enabled)?;
    conditional_enforce_not_equal(&size, &zero, enabled)?;

    let tick_value = select_param(&flags, &b.config.markets, |m| m.tick_value.get());
    let fill = Fill {
        notional: &size * &price * tick_value,
        flags,
        size: size.clone(),
    };
    // A is read first and B as A's write leaves the batch: both are decided before either is
    // written, and the accesses are recorded in that order.
    let a_account = b.read_named(&w.accounts[0], w.exists[0], &account_a, &bits_a, enabled)?;
    let a = party(b, &fill, a_account, &requester, &a_buys)?;
    let b_account = b.read_named(&w.accounts[1], w.exists[1], &account_b, &bits_b, enabled)?;
    let counterparty = party(b, &fill, b_account, &signer, &!a_buys.clone())?;

    // The open interest after both: within the cap, or the request is refused.
    let params = b.config.markets.clone();
    let change = &a.moved.long_change + &counterparty.moved.long_change;
    let capped = is_within_open_interest_cap(&b.markets, &fill.flags, &params, &change)?;
    let served = enabled & &Boolean::kary_and(&[a.ok.clone(), counterparty.ok.clone(), capped])?;
    move_open_interest(&mut b.markets, &fill.flags, &change, &served)?;
    for (id, p) in [(&account_a, &a), (&account_b, &counterparty)] {
        let after = AccountLeafVar::select_state(&served, &p.new_leaf, &p.account.leaf)?;
        let exists = &p.account.exists;
        b.access(id, &p.account.real, (exists, &p.account.leaf), (exists, &after))?;
    }

    let gate = |x: &FpVar<Fr>| enabled.select(x, &zero);
    let body = FieldsVar::body(&FORCED_TRADE)
        .uint("INDEX", &gate(&index)?)?
        .uint("ACCOUNT_A", &gate(&account_a)?)?
        .uint("ACCOUNT_B", &gate(&account_b)?)?
        .uint("REQUESTER", &gate(&requester)?)?
        .uint("SIGNER", &gate(&signer)?)?
        .uint("MARKET", &gate(&market)?)?
        .bytes("A_BUYS", vec![byte_of_bits(&[enabled & &a_buys])])
        .uint("SIZE", &gate(&size)?)?
        .uint("PRICE", &gate(&price)?)?
        .bytes("SERVED", vec![byte_of_bits(&[served])])
        .finish();
    b.record(ForcedTradeRecord::KIND, body, enabled)
}

/// One party: owned by `authoriser`, buying when `buys`; whether the rules let it trade, and
/// its leaf after the fill.
fn party(
    b: &BatchVar,
    fill: &Fill,
    account: NamedAccountVar,
    authoriser: &FpVar<Fr>,
    buys: &Boolean<Fr>,
) -> Result<PartyVar, SynthesisError> {
    let leaf = &account.leaf;
    let exists = &account.exists;
    let owner = leaf.l1_address.is_eq(authoriser)?;
    let params = &b.config.markets;
    let marks = b.marks();
    let (collateral, positions) =
        settle_funding(&leaf.collateral, &leaf.positions, &b.funding_indices())?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let before = margin_summary(&collateral, &sizes, &marks, params, Fraction::Initial)?;

    // A buy adds `size` lots and pays `notional`; a sell the opposite.
    let signed_size = buys.select(&fill.size, &fill.size.negate()?)?;
    let signed_notional = buys.select(&fill.notional, &fill.notional.negate()?)?;
    let traded: Vec<FpVar<Fr>> = sizes
        .iter()
        .zip(&fill.flags)
        .map(|(s, f)| Ok(s + f.select(&signed_size, &FpVar::zero())?))
        .collect::<Result<_, SynthesisError>>()?;
    let paid = &collateral - &signed_notional;
    let fits = &is_signed_within(&select_by(&fill.flags, &traded)?, BaseLots::BITS, SIZE_AFTER_BOUND)?
        & &is_signed_within(&paid, Collateral::BITS, COLLATERAL_AFTER_BOUND)?;
    // Past a width the trade is refused; the margin test then reads the values before it.
    let after_sizes: Vec<FpVar<Fr>> = traded
        .iter()
        .zip(&sizes)
        .map(|(t, s)| fits.select(t, s))
        .collect::<Result<_, _>>()?;
    let after_collateral = fits.select(&paid, &collateral)?;
    let after = margin_summary(&after_collateral, &after_sizes, &marks, params, Fraction::Initial)?;
    let margin = &is_well_margined(&after)? | &is_risk_reducing(&before, &after)?;
    let moved = position_move(
        &select_by(&fill.flags, &sizes)?,
        &select_by(&fill.flags, &after_sizes)?,
    )?;
    let limited = is_within_position_limit(&moved.after_magnitude, &fill.flags, params)?;
    let ok = Boolean::kary_and(&[exists.clone(), owner, fits, margin, limited])?;

    let mut new_leaf = leaf.clone();
    new_leaf.collateral = after_collateral;
    new_leaf.positions = positions;
    for (p, s) in new_leaf.positions.iter_mut().zip(after_sizes) {
        p.size = s;
    }
    Ok(PartyVar {
        account,
        ok,
        new_leaf,
        moved,
    })
}

impl Gadget for ForcedTrade {
    type Witness = ForcedTradeWitness;

    fn witness(
        config: &StateConfig,
        _batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let Some(PubData::ForcedTrade(record)) = applied.receipt.pubdata.first() else {
            return Err(ReceiptError);
        };
        let (exists, accounts) = if record.served {
            // Written: each write's path is under the root the one before it left.
            let [a, b] = &applied.receipt.writes[..] else {
                return Err(ReceiptError);
            };
            let a = account_witness(a).ok_or(ReceiptError)?;
            let b = account_witness(b).ok_or(ReceiptError)?;
            ([true, true], [a, b])
        } else {
            // Refused: both read under the slot's root, which nothing changes.
            let [a, b] = &applied.receipt.reads[..] else {
                return Err(ReceiptError);
            };
            let (exists_a, a) = read_witness(config, a);
            let (exists_b, b) = read_witness(config, b);
            ([exists_a, exists_b], [a, b])
        };
        if accounts[0].id != tx.request.account_a || accounts[1].id != tx.request.account_b {
            return Err(ReceiptError);
        }
        Ok(ForcedTradeWitness {
            request: tx.request,
            exists,
            accounts,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        ForcedTradeWitness {
            request: L1ForcedTrade {
                index: 0,
                account_a: AccountId::INSURANCE_FUND,
                account_b: AccountId::INSURANCE_FUND,
                requester: L1Address([0; 20]),
                signer: L1Address([0; 20]),
                market: MarketId::default(),
                a_side: Side::Sell,
                size: BaseLots::ZERO,
                price: PriceTicks::default(),
            },
            exists: [false, false],
            accounts: [dummy_account(config), dummy_account(config)],
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_forced_trade(b, w, enabled)
    }
}
