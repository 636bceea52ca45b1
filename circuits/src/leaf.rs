//! Twin of `zkperp_state::leaf`: the account leaf in-circuit, allocated with every field
//! range-checked to its width, and its hash.
//!
//! ```text
//! leaf hash      = Poseidon(pk.x, pk.y, l1_address, collateral, nonce + order_floor * 2^32,
//!                           orders_root, positions_hash, salt)
//! positions_hash = Poseidon(pack(position_0), .., pack(position_{M-1}))
//! pack(position) = (size + 2^40) * 2^64 + (funding_index + 2^63)
//! ```
//! The nonce element is linear too: nonce (32 bits) and order floor (40 bits) are range-checked.
//! Packing is linear (free) because both fields were range-checked at allocation: the shifted
//! size fits 41 bits and the shifted index 64, so the packing is injective and below `r`.
//!
//! Costs (asserted by the tests for two markets: 539 to allocate, 642 to hash): key 20
//! (subgroup check), L1 address 161, collateral 66, nonce 33, order floor 41, per position 43 + 66; hashing
//! Poseidon(8) 402 plus Poseidon(M) of the positions.

use ark_r1cs_std::{alloc::AllocVar, boolean::Boolean, fields::fp::FpVar, GR1CSVar};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::field::fr_from_i128;
use zkperp_state::leaf::AccountLeaf;
use zkperp_state::units::{BaseLots, Collateral, FundingIndex, Nonce, OrderId};
use zkperp_state::Fr;

use crate::eddsa::PublicKeyVar;
use crate::funding::PositionVar;
use crate::poseidon::{poseidon, poseidon_slice};
use crate::units::{enforce_signed_bits, enforce_unsigned_bits, two_pow};

/// An account leaf in-circuit.
#[derive(Debug, Clone)]
pub struct AccountLeafVar {
    pub public_key: PublicKeyVar,
    pub l1_address: FpVar<Fr>,
    pub collateral: FpVar<Fr>,
    pub nonce: FpVar<Fr>,
    /// Orders with an id below it cannot fill (40 bits).
    pub order_floor: FpVar<Fr>,
    pub positions: Vec<PositionVar>,
    pub orders_root: FpVar<Fr>,
    pub salt: FpVar<Fr>,
}

/// A leaf's fields (but its key) as the field elements the circuit allocates: signed values as
/// `r - |x|`. What a prover carries from one access of an account to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafElements {
    pub l1_address: Fr,
    pub collateral: Fr,
    pub nonce: Fr,
    pub order_floor: Fr,
    /// `(size, funding index)` per market.
    pub positions: Vec<(Fr, Fr)>,
    pub orders_root: Fr,
    pub salt: Fr,
}

impl LeafElements {
    /// The leaf hash of these fields under `key` (twin of `AccountLeaf::hash`, for values a
    /// circuit computed, which need not fit the native types).
    pub fn hash(&self, key: &zkperp_state::eddsa::PublicKey) -> Fr {
        let packed: Vec<Fr> = self
            .positions
            .iter()
            .map(|(size, index)| {
                (*size + two_pow(BaseLots::BITS)) * two_pow(64) + (*index + two_pow(63))
            })
            .collect();
        zkperp_state::poseidon::poseidon([
            key.x(),
            key.y(),
            self.l1_address,
            self.collateral,
            self.nonce + self.order_floor * two_pow(Nonce::BITS),
            self.orders_root,
            zkperp_state::poseidon::poseidon_slice(&packed).expect("1..=MAX_MARKETS positions"),
            self.salt,
        ])
    }

    pub fn of(leaf: &AccountLeaf) -> Self {
        LeafElements {
            l1_address: leaf.l1_address.to_field(),
            collateral: fr_from_i128(leaf.collateral.get()),
            nonce: Fr::from(leaf.nonce.get()),
            order_floor: Fr::from(leaf.order_floor.get()),
            positions: leaf
                .positions
                .iter()
                .map(|p| {
                    (
                        fr_from_i128(p.size.get()),
                        fr_from_i128(p.funding_index.get()),
                    )
                })
                .collect(),
            orders_root: leaf.orders_root,
            salt: leaf.salt,
        }
    }
}

/// `pack(position)` (twin of `Position::pack`).
pub fn pack_position(p: &PositionVar) -> FpVar<Fr> {
    (&p.size + two_pow(BaseLots::BITS)) * two_pow(64) + (&p.funding_index + two_pow(63))
}

/// Twin of `leaf::positions_hash`.
pub fn positions_hash(positions: &[PositionVar]) -> Result<FpVar<Fr>, SynthesisError> {
    let packed: Vec<FpVar<Fr>> = positions.iter().map(pack_position).collect();
    poseidon_slice(&packed)
}

impl AccountLeafVar {
    /// The values of the fields, when known (a prover's).
    pub fn elements_value(&self) -> Option<LeafElements> {
        Some(LeafElements {
            l1_address: self.l1_address.value().ok()?,
            collateral: self.collateral.value().ok()?,
            nonce: self.nonce.value().ok()?,
            order_floor: self.order_floor.value().ok()?,
            positions: self
                .positions
                .iter()
                .map(|p| Some((p.size.value().ok()?, p.funding_index.value().ok()?)))
                .collect::<Option<_>>()?,
            orders_root: self.orders_root.value().ok()?,
            salt: self.salt.value().ok()?,
        })
    }

    /// Allocates a leaf with `markets` positions as a witness, range-checking every field
    /// (`leaf` is `None` when building the constraint system without a witness).
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        markets: usize,
        leaf: Option<&AccountLeaf>,
    ) -> Result<Self, SynthesisError> {
        Self::from_elements(
            cs,
            markets,
            leaf.map(|l| l.public_key),
            leaf.map(LeafElements::of),
        )
    }

    /// Allocation from the field elements a prover claims; the range checks here are what stop
    /// a dishonest prover (tests feed out-of-width elements through this).
    pub(crate) fn from_elements(
        cs: ConstraintSystemRef<Fr>,
        markets: usize,
        key: Option<zkperp_state::eddsa::PublicKey>,
        e: Option<LeafElements>,
    ) -> Result<Self, SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let w = |v: Option<Fr>| FpVar::new_witness(cs.clone(), || v.ok_or_else(missing));
        let public_key = PublicKeyVar::new_witness(cs.clone(), || key.ok_or_else(missing))?;
        let l1_address = w(e.as_ref().map(|e| e.l1_address))?;
        enforce_unsigned_bits(&l1_address, 160)?;
        let collateral = w(e.as_ref().map(|e| e.collateral))?;
        enforce_signed_bits(&collateral, Collateral::BITS)?;
        let nonce = w(e.as_ref().map(|e| e.nonce))?;
        enforce_unsigned_bits(&nonce, Nonce::BITS)?;
        let order_floor = w(e.as_ref().map(|e| e.order_floor))?;
        enforce_unsigned_bits(&order_floor, OrderId::BITS)?;
        let mut positions = Vec::with_capacity(markets);
        for m in 0..markets {
            let p = e.as_ref().and_then(|e| e.positions.get(m).copied());
            let size = w(p.map(|p| p.0))?;
            enforce_signed_bits(&size, BaseLots::BITS)?;
            let funding_index = w(p.map(|p| p.1))?;
            enforce_signed_bits(&funding_index, FundingIndex::BITS)?;
            positions.push(PositionVar {
                size,
                funding_index,
            });
        }
        Ok(AccountLeafVar {
            public_key,
            l1_address,
            collateral,
            nonce,
            order_floor,
            positions,
            orders_root: w(e.as_ref().map(|e| e.orders_root))?,
            salt: w(e.as_ref().map(|e| e.salt))?,
        })
    }

    /// `new`'s mutable fields when `cond`, else `old`'s; the key, address and salt are `old`'s
    /// (an access changes them only by creating the account).
    pub fn select_state(
        cond: &Boolean<Fr>,
        new: &Self,
        old: &Self,
    ) -> Result<Self, SynthesisError> {
        Ok(AccountLeafVar {
            public_key: old.public_key.clone(),
            l1_address: old.l1_address.clone(),
            collateral: cond.select(&new.collateral, &old.collateral)?,
            nonce: cond.select(&new.nonce, &old.nonce)?,
            order_floor: cond.select(&new.order_floor, &old.order_floor)?,
            positions: new
                .positions
                .iter()
                .zip(&old.positions)
                .map(|(n, o)| {
                    Ok(PositionVar {
                        size: cond.select(&n.size, &o.size)?,
                        funding_index: cond.select(&n.funding_index, &o.funding_index)?,
                    })
                })
                .collect::<Result<_, SynthesisError>>()?,
            orders_root: cond.select(&new.orders_root, &old.orders_root)?,
            salt: old.salt.clone(),
        })
    }

    /// Twin of `AccountLeaf::hash`.
    pub fn hash(&self) -> Result<FpVar<Fr>, SynthesisError> {
        let point = self.public_key.point();
        poseidon(&[
            point.x().clone(),
            point.y().clone(),
            self.l1_address.clone(),
            self.collateral.clone(),
            &self.nonce + &self.order_floor * two_pow(Nonce::BITS),
            self.orders_root.clone(),
            positions_hash(&self.positions)?,
            self.salt.clone(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::testkit::{btc, eth, Fixture};

    /// Leaves with positions, negative collateral, orders and funding, from the state machine.
    fn leaves() -> Vec<AccountLeaf> {
        let mut f = Fixture::new(2);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 1_000_000_000);
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        f.trade(1, 0, eth(), 300, 3_000_000).expect("trade");
        f.state.accounts().map(|(_, a)| a.leaf.clone()).collect()
    }

    #[test]
    fn leaf_hashes_match_the_native_ones() {
        for leaf in leaves() {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = AccountLeafVar::new_witness(cs.clone(), 2, Some(&leaf)).expect("alloc");
            assert_eq!(
                var.hash().expect("hash").value().expect("value"),
                leaf.hash()
            );
            assert!(cs.is_satisfied().expect("evaluates"));
        }
    }

    #[test]
    fn out_of_width_fields_are_unsatisfiable() {
        let leaf = leaves().pop().expect("a leaf");
        let honest = LeafElements::of(&leaf);
        type Tamper = Box<dyn Fn(&mut LeafElements)>;
        let tampers: Vec<(&str, Tamper)> = vec![
            ("collateral 2^63", Box::new(|e| e.collateral = two_pow(63))),
            (
                "collateral -2^63",
                Box::new(|e| e.collateral = -two_pow(63)),
            ),
            ("size 2^40", Box::new(|e| e.positions[0].0 = two_pow(40))),
            (
                "size near the modulus",
                Box::new(|e| e.positions[1].0 = -two_pow(200)),
            ),
            (
                "funding index 2^63",
                Box::new(|e| e.positions[0].1 = two_pow(63)),
            ),
            ("nonce 2^32", Box::new(|e| e.nonce = two_pow(32))),
            // Without its range check a floor could borrow the nonce's bits: nonce 2^32 - 1
            // and floor f hash as nonce 2^32 - 1 + 2^32 f.
            (
                "order floor 2^40",
                Box::new(|e| e.order_floor = two_pow(40)),
            ),
            (
                "nonce borrowing the floor's bits",
                Box::new(|e| {
                    e.nonce = two_pow(32);
                    e.order_floor -= Fr::from(1u64);
                }),
            ),
            (
                "l1 address 2^160",
                Box::new(|e| e.l1_address = two_pow(160)),
            ),
        ];
        for (name, tamper) in tampers {
            let mut e = honest.clone();
            tamper(&mut e);
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = AccountLeafVar::from_elements(cs.clone(), 2, Some(leaf.public_key), Some(e))
                .expect("alloc");
            let _hash = var.hash().expect("hash");
            assert!(
                !cs.is_satisfied().expect("evaluates"),
                "{name} must be refused"
            );
        }
        let cs = ConstraintSystem::<Fr>::new_ref();
        let _var =
            AccountLeafVar::from_elements(cs.clone(), 2, Some(leaf.public_key), Some(honest))
                .expect("alloc");
        assert!(cs.is_satisfied().expect("evaluates"));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let leaf = leaves().pop().expect("a leaf");
        let base = leaf.hash();
        let mut variants = Vec::new();
        let mut l = leaf.clone();
        l.salt += Fr::from(1u64);
        variants.push(l);
        let mut l = leaf.clone();
        l.nonce = Nonce::new(l.nonce.get() + 1).expect("nonce");
        variants.push(l);
        let mut l = leaf.clone();
        l.order_floor = zkperp_state::units::OrderId::new(l.order_floor.get() + 1).expect("floor");
        variants.push(l);
        let mut l = leaf.clone();
        l.positions[1].funding_index =
            FundingIndex::new(l.positions[1].funding_index.get() + 1).expect("index");
        variants.push(l);
        for v in variants {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = AccountLeafVar::new_witness(cs.clone(), 2, Some(&v)).expect("alloc");
            let h = var.hash().expect("hash").value().expect("value");
            assert_eq!(h, v.hash());
            assert_ne!(h, base);
        }
    }

    #[test]
    fn setup_without_a_witness_builds_the_same_shape() {
        let leaf = leaves().pop().expect("a leaf");
        let with = ConstraintSystem::<Fr>::new_ref();
        let _hash = AccountLeafVar::new_witness(with.clone(), 2, Some(&leaf))
            .expect("alloc")
            .hash()
            .expect("hash");
        let without = ConstraintSystem::<Fr>::new_ref();
        without.set_mode(ark_relations::gr1cs::SynthesisMode::Setup);
        let _hash = AccountLeafVar::new_witness(without.clone(), 2, None)
            .expect("alloc")
            .hash()
            .expect("hash");
        assert_eq!(with.num_constraints(), without.num_constraints());
    }
}

#[cfg(test)]
mod costs {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::testkit::Fixture;

    #[test]
    fn constraint_counts_with_two_markets() {
        let f = Fixture::new(0);
        let leaf = f
            .state
            .account(zkperp_state::units::AccountId::FEES)
            .expect("fee account")
            .leaf
            .clone();
        let cs = ConstraintSystem::<Fr>::new_ref();
        let var = AccountLeafVar::new_witness(cs.clone(), 2, Some(&leaf)).expect("alloc");
        let alloc = cs.num_constraints();
        let _hash = var.hash().expect("hash");
        assert_eq!((alloc, cs.num_constraints() - alloc), (539, 642));
    }
}
