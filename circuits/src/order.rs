//! Twin of `zkperp_state::order`: signed orders and the orders-tree slots that bound their fills.
//!
//! ```text
//! word0 = account | market << 32 | side << 40 | max_fee_ppm << 41 | expiry << 61     (101 bits)
//! word1 = size | limit_price << 40 | order_id << 80                                  (120 bits)
//! order hash = Poseidon(tag(Order), word0, word1)      (tag: crate::domain)
//! slot = order_id << 40 | filled
//! ```
//! Every field is range-checked at allocation, which makes the packings linear and injective.
//! A slot holding the same id continues that order; a smaller id means the slot is free (filled
//! 0); a larger id means the order was superseded: [`filled_so_far`] reports it as not valid.
//!
//! Costs (asserted by the tests): an order's fields 228 constraints (7 range checks and a
//! Boolean), its hash 258 (Poseidon of 3); a slot 82; `filled_so_far` 47.

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::order::{Order, OrderSlot, Side};
use zkperp_state::units::{AccountId, BaseLots, MarketId, OrderId, Ppm, PriceTicks, Timestamp};
use zkperp_state::Fr;

use crate::margin::is_nonnegative;
use crate::poseidon::poseidon;
use crate::units::{enforce_unsigned_bits, two_pow};

/// A signed order's fields in-circuit.
#[derive(Debug, Clone)]
pub struct OrderVar {
    pub account: FpVar<Fr>,
    pub market: FpVar<Fr>,
    /// True for a sell.
    pub is_sell: Boolean<Fr>,
    pub size: FpVar<Fr>,
    pub limit_price: FpVar<Fr>,
    pub max_fee: FpVar<Fr>,
    pub expiry: FpVar<Fr>,
    pub order_id: FpVar<Fr>,
}

impl OrderVar {
    /// Allocates an order as a witness with every field range-checked (`None` in setup mode).
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        order: Option<&Order>,
    ) -> Result<Self, SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let field = |get: &dyn Fn(&Order) -> u64, bits: u32| -> Result<FpVar<Fr>, SynthesisError> {
            let v = FpVar::new_witness(cs.clone(), || {
                order.map(|o| Fr::from(get(o))).ok_or_else(missing)
            })?;
            let _bits = enforce_unsigned_bits(&v, bits)?;
            Ok(v)
        };
        Ok(OrderVar {
            account: field(&|o| o.account.get(), AccountId::BITS)?,
            market: field(&|o| o.market.get(), MarketId::BITS)?,
            is_sell: Boolean::new_witness(cs.clone(), || {
                order.map(|o| o.side == Side::Sell).ok_or_else(missing)
            })?,
            // A negative size hashes differently natively and can never fill: it has no witness.
            size: field(
                &|o| u64::try_from(o.size.get()).unwrap_or(u64::MAX),
                BaseLots::BITS,
            )?,
            limit_price: field(&|o| o.limit_price.get(), PriceTicks::BITS)?,
            max_fee: field(&|o| o.max_fee.get(), Ppm::BITS)?,
            expiry: field(&|o| o.expiry.get(), Timestamp::BITS)?,
            order_id: field(&|o| o.order_id.get(), OrderId::BITS)?,
        })
    }

    /// Twin of `Order::words`.
    pub fn words(&self) -> [FpVar<Fr>; 2] {
        let word0 = &self.account
            + &self.market * two_pow(32)
            + FpVar::from(self.is_sell.clone()) * two_pow(40)
            + &self.max_fee * two_pow(41)
            + &self.expiry * two_pow(61);
        let word1 = &self.size + &self.limit_price * two_pow(40) + &self.order_id * two_pow(80);
        [word0, word1]
    }

    /// Twin of `Order::hash`: the message its owner signed, opened by the batch's
    /// `tag(Order)` (`SigningDomainVar::tag`).
    pub fn hash(&self, tag: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        let [w0, w1] = self.words();
        poseidon(&[tag.clone(), w0, w1])
    }
}

/// An orders-tree slot in-circuit.
#[derive(Debug, Clone)]
pub struct OrderSlotVar {
    pub order_id: FpVar<Fr>,
    pub filled: FpVar<Fr>,
}

impl OrderSlotVar {
    /// Allocates a slot as a witness, both fields range-checked to 40 bits.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        slot: Option<&OrderSlot>,
    ) -> Result<Self, SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let order_id = FpVar::new_witness(cs.clone(), || {
            slot.map(|s| Fr::from(s.order_id.get())).ok_or_else(missing)
        })?;
        let _bits = enforce_unsigned_bits(&order_id, OrderId::BITS)?;
        let filled = FpVar::new_witness(cs, || {
            slot.map(|s| Fr::from(u64::try_from(s.filled.get()).unwrap_or(u64::MAX)))
                .ok_or_else(missing)
        })?;
        let _bits = enforce_unsigned_bits(&filled, BaseLots::BITS)?;
        Ok(OrderSlotVar { order_id, filled })
    }

    /// Twin of `OrderSlot::pack`: the slot's leaf in the orders tree.
    pub fn pack(&self) -> FpVar<Fr> {
        &self.order_id * two_pow(40) + &self.filled
    }
}

/// Twin of `order::filled_so_far`: the lots of order `order_id` already filled according to
/// `slot`, and whether the order may fill at all (false when a later order superseded it).
pub fn filled_so_far(
    slot: &OrderSlotVar,
    order_id: &FpVar<Fr>,
) -> Result<(FpVar<Fr>, Boolean<Fr>), SynthesisError> {
    let same = slot.order_id.is_eq(order_id)?;
    // Both ids are below 2^40, so `order_id - slot.order_id - 1` lies in (-2^41, 2^41).
    let older = is_nonnegative(&(order_id - &slot.order_id - FpVar::one()), 41)?;
    let filled = FpVar::from(same.clone()) * &slot.filled;
    Ok((filled, &same | &older))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};
    use zkperp_state::order;
    use zkperp_state::testkit::{btc, Fixture};

    #[test]
    fn order_hashes_match_the_native_ones() {
        let mut f = Fixture::new(2);
        f.deposit(0, 1_000);
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        for _ in 0..20 {
            let side = if rng.gen_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let mut o = f
                .order(
                    0,
                    btc(),
                    side,
                    rng.gen_range(1..(1 << 40)),
                    rng.gen_range(1..(1 << 40)),
                )
                .order;
            o.max_fee = Ppm::new(rng.gen_range(0..1_000_000)).expect("ppm");
            o.order_id = OrderId::new(rng.gen_range(0..(1 << 40))).expect("id");
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = OrderVar::new_witness(cs.clone(), Some(&o)).expect("alloc");
            let domain = zkperp_state::domain::SigningDomain::TEST;
            let tag = crate::domain::SigningDomainVar::new_witness(cs.clone(), &domain)
                .expect("domain")
                .tag(zkperp_state::domain::MessageKind::Order);
            let hash = var.hash(&tag).expect("hash").value().expect("value");
            assert_eq!(hash, o.hash(&domain));
            assert!(cs.is_satisfied().expect("evaluates"));
        }
    }

    #[test]
    fn filled_so_far_matches_the_native_rule() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        for _ in 0..200 {
            let base = rng.gen_range(0..(1u64 << 40) - 4);
            let slot = OrderSlot {
                order_id: OrderId::new(base + rng.gen_range(0..3)).expect("id"),
                filled: BaseLots::new(rng.gen_range(0..(1i128 << 40))).expect("filled"),
            };
            let id = OrderId::new(base + rng.gen_range(0..3)).expect("id");
            let cs = ConstraintSystem::<Fr>::new_ref();
            let s = OrderSlotVar::new_witness(cs.clone(), Some(&slot)).expect("alloc");
            let i = FpVar::new_witness(cs.clone(), || Ok(Fr::from(id.get()))).expect("id");
            let (filled, valid) = filled_so_far(&s, &i).expect("gadget");
            match order::filled_so_far(&slot, id) {
                Some(n) => {
                    assert!(valid.value().expect("value"));
                    assert_eq!(
                        filled.value().expect("value"),
                        Fr::from(u64::try_from(n.get()).expect("non-negative"))
                    );
                }
                None => assert!(!valid.value().expect("value")),
            }
            assert_eq!(s.pack().value().expect("value"), slot.pack());
            assert!(cs.is_satisfied().expect("evaluates"));
        }
    }

    #[test]
    fn out_of_width_ids_are_unsatisfiable() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let s = OrderSlotVar::new_witness(cs.clone(), Some(&OrderSlot::default())).expect("alloc");
        let wide = FpVar::new_witness(cs.clone(), || Ok(two_pow(40))).expect("id");
        let _bits = enforce_unsigned_bits(&wide, OrderId::BITS).expect("check");
        let _ = filled_so_far(&s, &wide).expect("gadget");
        assert!(!cs.is_satisfied().expect("evaluates"));
    }
}

#[cfg(test)]
mod costs {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::testkit::{btc, Fixture};

    #[test]
    fn constraint_counts() {
        let mut f = Fixture::new(1);
        f.deposit(0, 1_000);
        let o = f.order(0, btc(), Side::Buy, 5, 500_000).order;
        let cs = ConstraintSystem::<Fr>::new_ref();
        let var = OrderVar::new_witness(cs.clone(), Some(&o)).expect("alloc");
        let tag = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).expect("tag");
        let fields = cs.num_constraints();
        let _hash = var.hash(&tag).expect("hash");
        let hash = cs.num_constraints() - fields;
        let slot =
            OrderSlotVar::new_witness(cs.clone(), Some(&OrderSlot::default())).expect("alloc");
        let slot_cost = cs.num_constraints() - fields - hash;
        let _ = filled_so_far(&slot, &var.order_id).expect("gadget");
        let filled = cs.num_constraints() - fields - hash - slot_cost;
        // The tag is a variable (the batch's signing domain): its first S-box costs 3
        // constraints that a constant tag would not.
        assert_eq!((fields, hash, slot_cost, filled), (228, 261, 82, 47));
    }
}
