//! Twin of `zkperp_state::tx::trade`: a fill between two signed orders, every rule gated by
//! the slot's `enabled` bit.
//!
//! Rules, numbered as natively:
//! 1. different accounts, neither the fee account nor the insurance fund; same market, which
//!    has a mark price;
//!    opposite sides;
//! 2. `0 < size`; the price within both limits;
//! 3. neither order expired (`expiry >= batch time`);
//! 4. each order signed by its account's key (the key in the account's leaf);
//! 5. each order not superseded in its slot, and `filled + size <= order size`; the slot is
//!    proven against the leaf's orders root and rewritten;
//! 6. `0 <= fee` and `fee * 10^6 <= max_fee * notional`;
//! 7. funding settled on both accounts, then `size` lots and `notional` collateral move and the
//!    fees go to the batch's fee total;
//! 8. both accounts obey the margin rule (initial fractions) after the fill;
//! 9. neither account's position in the market is above its position limit after it;
//! 10. the market's open interest moves by both longs' change, and is at most its cap.
//!
//! Each account is one leaf write (maker first, as natively), proven against the root the
//! previous write left.

use zkperp_state::order::Order;
use zkperp_state::order::OrderSlot;
use zkperp_state::order::Side;
use zkperp_state::tx::Trade;
use zkperp_state::units::MarketId;
use zkperp_state::units::Ppm;
use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::domain::MessageKind;
use zkperp_state::field::fr_from_i128;
use zkperp_state::margin::Fraction;
use zkperp_state::order::SignedOrder;
use zkperp_state::units::{
    AccountId, BaseLots, Collateral, OrderId, PriceTicks, Timestamp, PPM_ONE,
};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use crate::batch::BatchVar;
use crate::eddsa::SignatureVar;
use crate::eq::{conditional_enforce_equal, conditional_enforce_not_equal};
use crate::funding::settle_funding;
use crate::limits::{
    conditional_enforce_open_interest_cap, conditional_enforce_position_limit,
    conditional_enforce_reduce_only,
    move_open_interest, position_move, PositionMoveVar,
};
use crate::margin::{
    conditional_enforce_fresh_marks, conditional_enforce_margin_rule, margin_summary,
};
use crate::market::{market_selector, select_by, select_param};
use crate::merkle::MerkleProofVar;
use crate::order::{filled_so_far, OrderSlotVar, OrderVar};
use crate::units::{conditional_enforce_unsigned_bits, enforce_signed_bits, enforce_unsigned_bits};
use crate::witness::{account_witness, dummy_account, dummy_key, zero_proof, AccountWitness, OrderSlotWitness};

/// Bits of `max_fee * notional - fee * 10^6` when it is non-negative: `2^20 * 2^96`.
const FEE_BOUND_BITS: u32 = 117;

/// What both sides of the fill share.
struct Fill {
    market_flags: Vec<Boolean<Fr>>,
    size: FpVar<Fr>,
    price: FpVar<Fr>,
    notional: FpVar<Fr>,
}

pub fn execute_trade(
    b: &mut BatchVar,
    w: &TradeWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let t = &w.trade;
    let maker = order_var(b, &t.maker)?;
    let taker = order_var(b, &t.taker)?;

    // 1.
    let fees_id = FpVar::Constant(Fr::from(AccountId::FEES.get()));
    conditional_enforce_not_equal(&maker.0.account, &taker.0.account, enabled)?;
    conditional_enforce_not_equal(&maker.0.account, &fees_id, enabled)?;
    conditional_enforce_not_equal(&taker.0.account, &fees_id, enabled)?;
    let fund_id = FpVar::Constant(Fr::from(AccountId::INSURANCE_FUND.get()));
    conditional_enforce_not_equal(&maker.0.account, &fund_id, enabled)?;
    conditional_enforce_not_equal(&taker.0.account, &fund_id, enabled)?;
    conditional_enforce_equal(&maker.0.market, &taker.0.market, enabled)?;
    let market_flags = market_selector(&maker.0.market, b.markets_count())?;
    let mark = select_by(&market_flags, &b.marks())?;
    conditional_enforce_not_equal(&mark, &FpVar::zero(), enabled)?;
    let opposite = maker.0.is_sell.clone() ^ taker.0.is_sell.clone();
    opposite.conditional_enforce_equal(&Boolean::TRUE, enabled)?;

    // 2.
    let size = FpVar::new_witness(cs.clone(), || {
        Ok(Fr::from(u64::try_from(t.size.get()).unwrap_or(u64::MAX)))
    })?;
    enforce_unsigned_bits(&size, BaseLots::BITS)?;
    conditional_enforce_not_equal(&size, &FpVar::zero(), enabled)?;
    let price = FpVar::new_witness(cs.clone(), || Ok(Fr::from(t.price.get())))?;
    enforce_unsigned_bits(&price, PriceTicks::BITS)?;
    let tick_value = select_param(&market_flags, &b.config.markets, |m| m.tick_value.get());
    let notional = &size * &price * tick_value;

    let fill = Fill {
        market_flags,
        size,
        price,
        notional,
    };
    let (maker_fee, maker_move) = party(b, &fill, &maker, &w.maker, t.maker_fee, enabled)?;
    let (taker_fee, taker_move) = party(b, &fill, &taker, &w.taker, t.taker_fee, enabled)?;
    // A disabled slot's fees are not counted, whatever its witness says.
    b.fees = &b.fees + enabled.select(&(maker_fee + taker_fee), &FpVar::zero())?;

    // 10.
    let change = maker_move.long_change + taker_move.long_change;
    move_open_interest(&mut b.markets, &fill.market_flags, &change, enabled)?;
    conditional_enforce_open_interest_cap(
        &b.markets,
        &fill.market_flags,
        &b.config.markets,
        enabled,
    )?;
    Ok(())
}

fn order_var(
    b: &BatchVar,
    signed: &SignedOrder,
) -> Result<(OrderVar, SignatureVar), SynthesisError> {
    let order = OrderVar::new_witness(b.cs.clone(), Some(&signed.order))?;
    let signature = SignatureVar::new_witness(b.cs.clone(), || Ok(signed.signature))?;
    Ok((order, signature))
}

/// Rules 2-9 for one side; returns its fee and how its position in the market moved.
fn party(
    b: &mut BatchVar,
    fill: &Fill,
    (order, signature): &(OrderVar, SignatureVar),
    w: &PartyWitness,
    fee: Collateral,
    enabled: &Boolean<Fr>,
) -> Result<(FpVar<Fr>, PositionMoveVar), SynthesisError> {
    let cs = b.cs.clone();
    let (_, leaf) = b.read_leaf(&w.account, true, &order.account)?;

    // 2. A buyer pays at most its limit, a seller takes at least its limit.
    let room = order.is_sell.select(
        &(&fill.price - &order.limit_price),
        &(&order.limit_price - &fill.price),
    )?;
    conditional_enforce_unsigned_bits(&room, PriceTicks::BITS, enabled)?;
    // 3.
    conditional_enforce_unsigned_bits(&(&order.expiry - &b.now), Timestamp::BITS, enabled)?;
    // 4.
    leaf.public_key.conditional_enforce_valid(
        &order.hash(&b.domain.tag(MessageKind::Order))?,
        signature,
        enabled,
    )?;

    // 5. The slot of the order id is proven against the orders root, then rewritten.
    let slot = OrderSlotVar::new_witness(cs.clone(), Some(&w.order_slot.slot))?;
    let depth = usize::from(b.config.order_tree_depth);
    let id_bits = enforce_unsigned_bits(&order.order_id, OrderId::BITS)?;
    let slot_siblings = b
        .path(&w.order_slot.proof, b.config.order_tree_depth)?
        .siblings;
    let slot_path = MerkleProofVar::new(id_bits[..depth].to_vec(), slot_siblings);
    conditional_enforce_equal(
        &slot_path.root_for(&slot.pack())?,
        &leaf.orders_root,
        enabled,
    )?;
    let (filled, may_fill) = filled_so_far(&slot, &order.order_id)?;
    may_fill.conditional_enforce_equal(&Boolean::TRUE, enabled)?;
    // Not below the account's order floor: both are 40-bit, so the difference is 40-bit
    // exactly when it is non-negative.
    conditional_enforce_unsigned_bits(
        &(&order.order_id - &leaf.order_floor),
        OrderId::BITS,
        enabled,
    )?;
    let new_filled = filled + &fill.size;
    conditional_enforce_unsigned_bits(&(&order.size - &new_filled), BaseLots::BITS + 1, enabled)?;
    let new_slot = OrderSlotVar {
        order_id: order.order_id.clone(),
        filled: new_filled,
    };
    let orders_root = slot_path.root_for(&new_slot.pack())?;

    // 6.
    let fee = FpVar::new_witness(cs, || Ok(fr_from_i128(fee.get())))?;
    enforce_unsigned_bits(&fee, Collateral::BITS)?;
    let bound = &order.max_fee * &fill.notional - &fee * Fr::from(PPM_ONE);
    conditional_enforce_unsigned_bits(&bound, FEE_BOUND_BITS, enabled)?;

    // 7. Funding first, then the fill: a buy adds `size` lots and pays `notional`.
    let params = &b.config.markets;
    let marks = b.marks();
    let (collateral, positions) =
        settle_funding(&leaf.collateral, &leaf.positions, &b.funding_indices())?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let before = margin_summary(&collateral, &sizes, &marks, params, Fraction::Initial)?;
    // signed size: +size for a buy, -size for a sell
    let signed_size = &fill.size - FpVar::from(order.is_sell.clone()) * &fill.size * Fr::from(2u64);
    let mut after_positions = positions;
    for (p, flag) in after_positions.iter_mut().zip(&fill.market_flags) {
        p.size = &p.size + flag.select(&signed_size, &FpVar::zero())?;
        enforce_signed_bits(&p.size, BaseLots::BITS)?;
    }
    let signed_notional =
        &fill.notional - FpVar::from(order.is_sell.clone()) * &fill.notional * Fr::from(2u64);
    let after_collateral = collateral - signed_notional - &fee;
    enforce_signed_bits(&after_collateral, Collateral::BITS)?;

    // 8.
    let after_sizes: Vec<FpVar<Fr>> = after_positions.iter().map(|p| p.size.clone()).collect();
    let after = margin_summary(
        &after_collateral,
        &after_sizes,
        &marks,
        params,
        Fraction::Initial,
    )?;
    conditional_enforce_fresh_marks(&sizes, &after_sizes, &b.markets, params, &b.now, enabled)?;
    conditional_enforce_margin_rule(&before, &after, enabled)?;

    // 9.
    let moved = position_move(
        &select_by(&fill.market_flags, &sizes)?,
        &select_by(&fill.market_flags, &after_sizes)?,
    )?;
    conditional_enforce_position_limit(
        &moved.after_magnitude,
        &fill.market_flags,
        params,
        enabled,
    )?;
    // 11.
    conditional_enforce_reduce_only(&moved, &b.markets, &fill.market_flags, enabled)?;

    let mut new_leaf = leaf.clone();
    new_leaf.collateral = after_collateral;
    new_leaf.positions = after_positions;
    new_leaf.orders_root = orders_root;
    let exists = Boolean::TRUE;
    b.access(&order.account, enabled, (&exists, &leaf), (&exists, &new_leaf))?;
    Ok((fee, moved))
}

#[derive(Debug, Clone)]
pub struct PartyWitness {
    pub account: AccountWitness,
    pub order_slot: OrderSlotWitness,
}

#[derive(Debug, Clone)]
pub struct TradeWitness {
    pub trade: Trade,
    pub maker: PartyWitness,
    pub taker: PartyWitness,
}

fn dummy_party(config: &StateConfig) -> PartyWitness {
    PartyWitness {
        account: dummy_account(config),
        order_slot: OrderSlotWitness {
            slot: OrderSlot::default(),
            proof: zero_proof(config.order_tree_depth),
        },
    }
}

fn dummy_order() -> SignedOrder {
    SignedOrder {
        order: Order {
            account: AccountId::INSURANCE_FUND,
            market: MarketId::default(),
            side: Side::Buy,
            size: BaseLots::ZERO,
            limit_price: PriceTicks::default(),
            max_fee: Ppm::default(),
            expiry: Timestamp::default(),
            order_id: OrderId::default(),
        },
        signature: dummy_key().1,
    }
}

impl Gadget for Trade {
    type Witness = TradeWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = (config, batch);
        let writes = &applied.receipt.writes;
        let party = |account: AccountId| {
            let w = writes
                .iter()
                .find(|w| w.account == account)
                .ok_or(ReceiptError)?;
            let order = w.order_update.as_ref().ok_or(ReceiptError)?;
            Ok::<_, ReceiptError>(PartyWitness {
                account: account_witness(w).ok_or(ReceiptError)?,
                order_slot: OrderSlotWitness {
                    slot: OrderSlot::unpack(&order.old_leaf).ok_or(ReceiptError)?,
                    proof: order.proof.clone(),
                },
            })
        };
        if writes.len() != 2 || writes[0].account != tx.maker.order.account {
            return Err(ReceiptError);
        }
        Ok(TradeWitness {
            trade: *tx,
            maker: party(tx.maker.order.account)?,
            taker: party(tx.taker.order.account)?,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        TradeWitness {
            trade: Trade {
                maker: dummy_order(),
                taker: dummy_order(),
                size: BaseLots::ZERO,
                price: PriceTicks::default(),
                maker_fee: Collateral::ZERO,
                taker_fee: Collateral::ZERO,
            },
            maker: dummy_party(config),
            taker: dummy_party(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_trade(b, w, enabled)
    }
}
