//! Twin of `zkperp_state::merkle`: the sparse Merkle tree of Poseidon, in-circuit.
//!
//! Node `(level + 1, i)` is `Poseidon(node(level, 2i), node(level, 2i + 1))`; a path is the
//! siblings from the leaf level up and the index bits, least significant first (bit `k` set means
//! the node at level `k` is a right child), exactly as the native `MerkleProof::root_for`.
//!
//! Cost per level: one constraint to order the pair (`left = acc + bit * (sibling - acc)`, and
//! `right = acc + sibling - left` for free) and a Poseidon of 2: **241 per level** for
//! [`MerkleProofVar::root_for`] (plus 1 for the root equality in `enforce_root`), **482 per
//! level** for [`MerkleProofVar::enforce_update`] (plus 2: the two root equalities; the two paths
//! share the siblings and the bits, not the hashes). The index bits cost one booleanity
//! constraint each where they are allocated. A depth-32 account tree: 7,713 to open a leaf,
//! 15,426 to update one.
use ark_ff::PrimeField;
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::fp::FpVar,
    select::CondSelectGadget,
};
use ark_relations::gr1cs::{Namespace, SynthesisError};
use zkperp_state::merkle::MerkleProof;
use zkperp_state::Fr;

use crate::eq::enforce_equal;
use crate::poseidon::poseidon2;

/// Twin of `MerkleProof`: the index as `depth` little-endian bits and the `depth` siblings.
#[derive(Debug, Clone)]
pub struct MerkleProofVar {
    pub index_bits: Vec<Boolean<Fr>>,
    pub siblings: Vec<FpVar<Fr>>,
}

impl MerkleProofVar {
    /// A path from parts already in the circuit (for example index bits taken from an account id).
    ///
    /// # Panics
    /// When the bit count and the sibling count differ.
    pub fn new(index_bits: Vec<Boolean<Fr>>, siblings: Vec<FpVar<Fr>>) -> Self {
        assert_eq!(index_bits.len(), siblings.len(), "one index bit per level");
        MerkleProofVar {
            index_bits,
            siblings,
        }
    }

    /// Allocates a path of exactly `depth` levels (the circuit's shape does not depend on the
    /// witness). A native proof of another depth, or whose index does not fit `depth` bits, is
    /// refused (`Unsatisfiable`): the native `verify` refuses it too.
    pub fn new_variable_with_depth(
        cs: impl Into<Namespace<Fr>>,
        depth: usize,
        f: impl FnOnce() -> Result<MerkleProof, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let ns = cs.into();
        let cs = ns.cs();
        let proof = f();
        if let Ok(p) = &proof {
            let index_fits = depth >= 64 || p.index >> depth == 0;
            if p.siblings.len() != depth || !index_fits {
                return Err(SynthesisError::Unsatisfiable);
            }
        }
        let proof = proof.as_ref().map_err(|e| *e);
        let index_bits = (0..depth)
            .map(|level| {
                Boolean::new_variable(
                    cs.clone(),
                    || proof.map(|p| level < 64 && (p.index >> level) & 1 == 1),
                    mode,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let siblings = (0..depth)
            .map(|level| FpVar::new_variable(cs.clone(), || proof.map(|p| p.siblings[level]), mode))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MerkleProofVar {
            index_bits,
            siblings,
        })
    }

    pub fn depth(&self) -> usize {
        self.siblings.len()
    }

    /// The index as a field element (`sum(bit_k 2^k)`, free), to bind it to an account id.
    pub fn index(&self) -> Result<FpVar<Fr>, SynthesisError> {
        Boolean::le_bits_to_fp(&self.index_bits)
    }

    /// Twin of `MerkleProof::root_for`: the root this path gives for `leaf` (241 per level).
    pub fn root_for(&self, leaf: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        let mut acc = leaf.clone();
        for (bit, sibling) in self.index_bits.iter().zip(&self.siblings) {
            let left = FpVar::conditionally_select(bit, sibling, &acc)?;
            let right = &acc + sibling - &left;
            acc = poseidon2(&left, &right)?;
        }
        Ok(acc)
    }

    /// Enforces that `leaf` is at this path's index under `root` (twin of `MerkleProof::verify`
    /// for a path whose depth and index width the circuit fixes).
    pub fn enforce_root(&self, root: &FpVar<Fr>, leaf: &FpVar<Fr>) -> Result<(), SynthesisError> {
        enforce_equal(&self.root_for(leaf)?, root)
    }

    /// One leaf write, the twin of `MerkleUpdate`: `old_leaf` under this path gives `old_root`, and
    /// `new_leaf` under the same path gives `new_root` (482 per level).
    pub fn enforce_update(
        &self,
        old_leaf: &FpVar<Fr>,
        new_leaf: &FpVar<Fr>,
        old_root: &FpVar<Fr>,
        new_root: &FpVar<Fr>,
    ) -> Result<(), SynthesisError> {
        enforce_equal(&self.update(old_leaf, new_leaf, old_root)?, new_root)
    }

    /// As [`Self::enforce_update`], returning the new root instead of comparing it: the form a
    /// chain of writes uses (each write's new root is the next one's old root).
    pub fn update(
        &self,
        old_leaf: &FpVar<Fr>,
        new_leaf: &FpVar<Fr>,
        old_root: &FpVar<Fr>,
    ) -> Result<FpVar<Fr>, SynthesisError> {
        self.enforce_root(old_root, old_leaf)?;
        self.root_for(new_leaf)
    }
}

/// `depth` as the number of index bits a tree of that depth uses (a helper for callers that
/// derive the index bits from an id): the id must fit, which the bits enforce.
pub fn index_bits_of(id: &FpVar<Fr>, depth: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert!(
        depth < Fr::MODULUS_BIT_SIZE as usize - 1,
        "index wider than the field"
    );
    crate::units::enforce_unsigned_bits(id, depth as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::{ConstraintSystem, ConstraintSystemRef};
    use rand::{Rng, SeedableRng};
    use zkperp_state::merkle::{MerkleUpdate, SparseMerkleTree};

    fn witness(cs: &ConstraintSystemRef<Fr>, v: Fr) -> FpVar<Fr> {
        FpVar::new_witness(cs.clone(), || Ok(v)).expect("allocate")
    }

    fn alloc_proof(cs: &ConstraintSystemRef<Fr>, proof: &MerkleProof) -> MerkleProofVar {
        MerkleProofVar::new_variable_with_depth(
            cs.clone(),
            proof.siblings.len(),
            || Ok(proof.clone()),
            AllocationMode::Witness,
        )
        .expect("allocate")
    }

    /// A tree with some random leaves, and the update of one more write.
    fn random_update(depth: u8, seed: u64) -> MerkleUpdate {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut tree = SparseMerkleTree::new(depth).expect("depth");
        let capacity = 1u64 << depth;
        for _ in 0..8 {
            tree.update(rng.gen_range(0..capacity), Fr::from(rng.gen::<u64>()))
                .expect("update");
        }
        tree.update(rng.gen_range(0..capacity), Fr::from(rng.gen::<u64>()))
            .expect("update")
    }

    /// Runs `enforce_update` on `update` and returns (satisfied, constraints of the gadget).
    fn run_update(update: &MerkleUpdate) -> (bool, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let proof = alloc_proof(&cs, &update.proof);
        let old_leaf = witness(&cs, update.old_leaf);
        let new_leaf = witness(&cs, update.new_leaf);
        let old_root = witness(&cs, update.old_root);
        let new_root = witness(&cs, update.new_root);
        let before = cs.num_constraints();
        proof
            .enforce_update(&old_leaf, &new_leaf, &old_root, &new_root)
            .expect("synthesise");
        let cost = cs.num_constraints() - before;
        (cs.is_satisfied().expect("check"), cost)
    }

    #[test]
    fn root_for_agrees_with_native_and_costs_241_per_level() {
        for (depth, seed) in [(1u8, 1u64), (4, 2), (10, 3), (20, 4)] {
            let update = random_update(depth, seed);
            let cs = ConstraintSystem::<Fr>::new_ref();
            let proof = alloc_proof(&cs, &update.proof);
            let leaf = witness(&cs, update.new_leaf);
            let before = cs.num_constraints();
            let root = proof.root_for(&leaf).expect("synthesise");
            assert_eq!(cs.num_constraints() - before, 241 * usize::from(depth));
            assert_eq!(
                root.value().expect("value"),
                update.proof.root_for(update.new_leaf)
            );
            assert_eq!(root.value().expect("value"), update.new_root);
            assert_eq!(
                proof.index().expect("index").value().expect("value"),
                Fr::from(update.proof.index)
            );
            assert!(cs.is_satisfied().expect("check"));
        }
    }

    #[test]
    fn updates_agree_with_native_and_cost_482_per_level() {
        for (depth, seed) in [(3u8, 5u64), (8, 6), (16, 7)] {
            let (ok, cost) = run_update(&random_update(depth, seed));
            assert!(ok);
            assert_eq!(
                cost,
                482 * usize::from(depth) + 2,
                "482 per level and the two root equalities"
            );
        }
    }

    #[test]
    fn a_chain_of_writes_moves_the_root_as_native() {
        let mut tree = SparseMerkleTree::new(6).expect("depth");
        let cs = ConstraintSystem::<Fr>::new_ref();
        let mut root = witness(&cs, tree.root());
        for (index, value) in [(5u64, 10u64), (6, 11), (5, 12), (63, 13)] {
            let update = tree.update(index, Fr::from(value)).expect("update");
            let proof = alloc_proof(&cs, &update.proof);
            let old_leaf = witness(&cs, update.old_leaf);
            let new_leaf = witness(&cs, update.new_leaf);
            root = proof
                .update(&old_leaf, &new_leaf, &root)
                .expect("synthesise");
        }
        assert_eq!(root.value().expect("value"), tree.root());
        assert!(cs.is_satisfied().expect("check"));
    }

    /// Tampering with one witness of a valid update must break it.
    fn tampered(update: &MerkleUpdate, tamper: impl FnOnce(&mut MerkleUpdate)) -> bool {
        let mut bad = update.clone();
        tamper(&mut bad);
        run_update(&bad).0
    }

    #[test]
    fn every_tampered_witness_is_unsatisfied() {
        let update = random_update(8, 9);
        assert!(run_update(&update).0);
        let one = Fr::from(1u64);
        for level in [0usize, 3, 7] {
            assert!(
                !tampered(&update, |u| u.proof.siblings[level] += one),
                "sibling {level}"
            );
            assert!(
                !tampered(&update, |u| u.proof.index ^= 1 << level),
                "index bit {level}"
            );
        }
        assert!(!tampered(&update, |u| u.old_leaf += one), "old leaf");
        assert!(!tampered(&update, |u| u.new_leaf += one), "new leaf");
        assert!(!tampered(&update, |u| u.old_root += one), "old root");
        assert!(!tampered(&update, |u| u.new_root += one), "new root");
    }

    #[test]
    fn paths_of_another_shape_are_refused_at_allocation() {
        let update = random_update(4, 10);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let wrong_depth = MerkleProofVar::new_variable_with_depth(
            cs.clone(),
            5,
            || Ok(update.proof.clone()),
            AllocationMode::Witness,
        );
        assert_eq!(wrong_depth.err(), Some(SynthesisError::Unsatisfiable));
        let mut wide = update.proof.clone();
        wide.index += 16;
        let wide_index = MerkleProofVar::new_variable_with_depth(
            cs.clone(),
            4,
            || Ok(wide),
            AllocationMode::Witness,
        );
        assert_eq!(wide_index.err(), Some(SynthesisError::Unsatisfiable));
    }

    #[test]
    fn index_bits_of_an_id_bind_the_path_to_it() {
        let mut tree = SparseMerkleTree::new(5).expect("depth");
        let update = tree.update(19, Fr::from(3u64)).expect("update");
        for (id, expect_ok) in [(19u64, true), (18, false), (19 + 32, false)] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let id = witness(&cs, Fr::from(id));
            let bits = index_bits_of(&id, 5).expect("bits");
            let siblings = update
                .proof
                .siblings
                .iter()
                .map(|s| witness(&cs, *s))
                .collect();
            let proof = MerkleProofVar::new(bits, siblings);
            let leaf = witness(&cs, update.new_leaf);
            let root = witness(&cs, update.new_root);
            proof.enforce_root(&root, &leaf).expect("synthesise");
            assert_eq!(cs.is_satisfied().expect("check"), expect_ok);
        }
    }
}
