//! The batch circuit: a shape's slots run in order over the state, and the public data they
//! publish is committed to in the proof's one public input.
//!
//! ```text
//! public input: commitment = sha256(pubdata) with the top 3 bits cleared
//!
//! old root = Poseidon(accounts root, markets hash)        (witness accounts root and markets)
//! for each slot of the shape, in batch order (zkperp_state::batch):
//!     the slot's gadget checks its rules when `enabled`, and moves the accounts root and the
//!     markets; a disabled slot changes nothing and publishes a no-op record and zero entries
//! fee settlement: the fee account gets the sum of the batch's trading fees (always one write)
//! new root = Poseidon(accounts root, markets hash)
//! pubdata  = old root | new root | batch number | timestamp | chain id | rollup address |
//!            record bytes | records | write count | (account id | new leaf hash) per write
//! every signed message's tag = kind + 2^8 * (chain id << 160 | rollup address)
//! ```
//! The layout is the one `SealedBatch::public_data` produces natively and the L1 contract reads;
//! the differential tests compare the bytes.

use std::sync::Arc;

use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::fp::FpVar,
    uint8::UInt8,
    GR1CSVar,
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::merkle::MerkleProof;
use zkperp_state::state::StateConfig;
use zkperp_state::units::{AccountId, Collateral, Timestamp};
use zkperp_state::Fr;

use crate::domain::SigningDomainVar;
use crate::eq::{conditional_enforce_equal, enforce_equal};
use crate::leaf::AccountLeafVar;
use crate::market::{markets_hash, MarketStateVar};
use crate::merkle::MerkleProofVar;
use crate::poseidon::poseidon2;
use crate::pubdata::{commitment, constant_be_bytes, field_be_bytes, uint_be_bytes};
use crate::units::{enforce_signed_bits, enforce_unsigned_bits};
use crate::witness::{AccountWitness, BatchWitness, WitnessError};

/// An account a forced request names, allocated but not yet proven
/// ([`BatchVar::alloc_account_or_empty`]).
#[derive(Debug)]
pub struct MaybeAccountVar {
    /// Its leaf (a placeholder when it does not exist).
    pub leaf: AccountLeafVar,
    /// The path to its id.
    pub path: MerkleProofVar,
    exists: Boolean<Fr>,
    in_range: Boolean<Fr>,
}

/// The state a batch threads through its slots, and the public data it accumulates.
#[derive(Debug)]
pub struct BatchVar {
    pub cs: ConstraintSystemRef<Fr>,
    pub config: Arc<StateConfig>,
    pub accounts_root: FpVar<Fr>,
    pub markets: Vec<MarketStateVar>,
    /// The batch time (40 bits).
    pub now: FpVar<Fr>,
    /// The deployment every signature of the batch is bound to (published in the header).
    pub domain: SigningDomainVar,
    /// Trading fees so far, for the fee settlement.
    pub fees: FpVar<Fr>,
    /// The records section, slot by slot.
    pub records: Vec<UInt8<Fr>>,
    /// The data-availability section, write by write.
    pub writes: Vec<UInt8<Fr>>,
}

impl BatchVar {
    pub fn witness<T>(&self, f: impl FnOnce() -> T) -> Result<FpVar<Fr>, SynthesisError>
    where
        T: Into<Fr>,
    {
        FpVar::new_witness(self.cs.clone(), || Ok(f().into()))
    }

    /// A witness range-checked to `bits` unsigned bits (the check every value entering the
    /// circuit gets): its variable and its little-endian bits.
    pub fn unsigned(
        &self,
        value: Fr,
        bits: u32,
    ) -> Result<(FpVar<Fr>, Vec<Boolean<Fr>>), SynthesisError> {
        let x = FpVar::new_witness(self.cs.clone(), || Ok(value))?;
        let le = crate::units::enforce_unsigned_bits(&x, bits)?;
        Ok((x, le))
    }

    pub fn markets_count(&self) -> usize {
        self.config.markets.len()
    }

    /// The mark prices of every market.
    pub fn marks(&self) -> Vec<FpVar<Fr>> {
        self.markets.iter().map(|m| m.mark_price.clone()).collect()
    }

    /// The funding indices of every market.
    pub fn funding_indices(&self) -> Vec<FpVar<Fr>> {
        self.markets
            .iter()
            .map(|m| m.funding_index.clone())
            .collect()
    }

    /// Allocates an account's leaf (range-checked) and its path in the account tree, binding the
    /// path's index to `id`.
    pub fn account(
        &self,
        w: &AccountWitness,
        id: &FpVar<Fr>,
    ) -> Result<(AccountLeafVar, MerkleProofVar), SynthesisError> {
        let leaf =
            AccountLeafVar::new_witness(self.cs.clone(), self.markets_count(), Some(&w.leaf))?;
        let proof = self.path(&w.proof, self.config.account_tree_depth)?;
        enforce_equal(&proof.index()?, id)?;
        Ok((leaf, proof))
    }

    /// The account a forced request names (`id_bits`: its id's 32 bits), read under the
    /// current root when `enabled`: its leaf when `exists`, its empty slot otherwise, so a
    /// refusal for a missing account is shown, not claimed. An id beyond the tree names no
    /// account (`exists` must be false). Returns the leaf (a placeholder when it does not
    /// exist) and the path to the id.
    pub fn account_or_empty(
        &self,
        w: &AccountWitness,
        exists: &Boolean<Fr>,
        id_bits: &[Boolean<Fr>],
        enabled: &Boolean<Fr>,
    ) -> Result<(AccountLeafVar, MerkleProofVar), SynthesisError> {
        let account = self.alloc_account_or_empty(w, exists, id_bits)?;
        self.prove_account_or_empty(&account, enabled)?;
        Ok((account.leaf, account.path))
    }

    /// [`Self::account_or_empty`]'s allocation alone, for a gadget that must prove the
    /// account under a root a later write makes (a second party, proven after the first is
    /// written): prove it then with [`Self::prove_account_or_empty`].
    pub fn alloc_account_or_empty(
        &self,
        w: &AccountWitness,
        exists: &Boolean<Fr>,
        id_bits: &[Boolean<Fr>],
    ) -> Result<MaybeAccountVar, SynthesisError> {
        let depth = usize::from(self.config.account_tree_depth);
        let in_range = if depth < id_bits.len() {
            !Boolean::kary_or(&id_bits[depth..])?
        } else {
            Boolean::TRUE
        };
        ark_r1cs_std::eq::EqGadget::enforce_equal(&(exists & &!in_range.clone()), &Boolean::FALSE)?;
        let leaf =
            AccountLeafVar::new_witness(self.cs.clone(), self.markets_count(), Some(&w.leaf))?;
        let siblings = self
            .path(&w.proof, self.config.account_tree_depth)?
            .siblings;
        let path = MerkleProofVar::new(id_bits[..depth].to_vec(), siblings);
        Ok(MaybeAccountVar {
            leaf,
            path,
            exists: exists.clone(),
            in_range,
        })
    }

    /// Proves an allocated account (or its empty slot) under the current root when `enabled`.
    pub fn prove_account_or_empty(
        &self,
        account: &MaybeAccountVar,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let hash = account.leaf.hash()?;
        let present = account
            .exists
            .select(&hash, &FpVar::Constant(Fr::from(0u64)))?;
        conditional_enforce_equal(
            &account.path.root_for(&present)?,
            &self.accounts_root,
            &(enabled & &account.in_range),
        )
    }

    /// Allocates a Merkle path of `depth` levels.
    pub fn path(&self, proof: &MerkleProof, depth: u8) -> Result<MerkleProofVar, SynthesisError> {
        MerkleProofVar::new_variable_with_depth(
            self.cs.clone(),
            usize::from(depth),
            || Ok(proof.clone()),
            AllocationMode::Witness,
        )
    }

    /// One leaf write: when `enabled`, `old_hash` must be at the path's index under the current
    /// accounts root, which becomes the root with `new_hash` there; the write's data-availability
    /// entry is published (zeros when not enabled).
    pub fn write_account(
        &mut self,
        proof: &MerkleProofVar,
        old_hash: &FpVar<Fr>,
        new_hash: &FpVar<Fr>,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let old_root = proof.root_for(old_hash)?;
        conditional_enforce_equal(&old_root, &self.accounts_root, enabled)?;
        let new_root = proof.root_for(new_hash)?;
        self.accounts_root = enabled.select(&new_root, &self.accounts_root)?;
        let id = enabled.select(&proof.index()?, &FpVar::Constant(Fr::from(0u64)))?;
        let hash = enabled.select(new_hash, &FpVar::Constant(Fr::from(0u64)))?;
        self.writes.extend(uint_be_bytes(&id, 4)?);
        self.writes.extend(field_be_bytes(&hash)?);
        Ok(())
    }

    /// As [`Self::write_account`] for a caller that has already proven the old leaf under the
    /// current root with this path: only the new root and the entry.
    pub fn write_proven_account(
        &mut self,
        proof: &MerkleProofVar,
        new_hash: &FpVar<Fr>,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let new_root = proof.root_for(new_hash)?;
        self.accounts_root = enabled.select(&new_root, &self.accounts_root)?;
        let id = enabled.select(&proof.index()?, &FpVar::Constant(Fr::from(0u64)))?;
        let hash = enabled.select(new_hash, &FpVar::Constant(Fr::from(0u64)))?;
        self.writes.extend(uint_be_bytes(&id, 4)?);
        self.writes.extend(field_be_bytes(&hash)?);
        Ok(())
    }

    /// A write the slot kind reserves but this transaction does not make: 36 zero bytes.
    pub fn skip_write(&mut self) {
        self.writes.extend(constant_be_bytes(0, 36));
    }

    /// Appends a slot's record: `bytes` when `enabled` (the gadget made them zero otherwise,
    /// except the kind byte), else `0x00 | u16 len-3 | zeros`.
    pub fn record(
        &mut self,
        kind: u8,
        body: Vec<UInt8<Fr>>,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        self.record_with_kind(gated_byte(kind, enabled, false), body, enabled)
    }

    /// As [`Self::record`] with a kind byte the gadget computed (zero when disabled).
    pub fn record_with_kind(
        &mut self,
        kind: UInt8<Fr>,
        body: Vec<UInt8<Fr>>,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        let len = body.len() + 1;
        self.records.push(kind);
        let rest = (len - 3) as u16;
        self.records
            .push(gated_byte((rest >> 8) as u8, enabled, true));
        self.records.push(gated_byte(rest as u8, enabled, true));
        // Bytes 1 and 2 of the body are replaced by the no-op length when disabled: the gadgets
        // zero every body byte of a disabled slot, so OR-ing the length in is exact.
        for (i, b) in body.into_iter().enumerate() {
            match i {
                0 | 1 => {
                    let j = self.records.len() - 2 + i;
                    let len_byte = self.records[j].clone();
                    self.records[j] = b | len_byte;
                }
                _ => self.records.push(b),
            }
        }
        Ok(())
    }
}

/// A constant byte when `enabled` is `!negate`, else zero (its bits are `enabled` or `!enabled`).
fn gated_byte(value: u8, enabled: &Boolean<Fr>, negate: bool) -> UInt8<Fr> {
    let on = if negate {
        !enabled.clone()
    } else {
        enabled.clone()
    };
    let bits: Vec<Boolean<Fr>> = (0..8)
        .map(|i| {
            if (value >> i) & 1 == 1 {
                on.clone()
            } else {
                Boolean::FALSE
            }
        })
        .collect();
    UInt8::from_bits_le(&bits)
}

/// Where [`BatchCircuit::trace_writes`] collects `(account id, new leaf hash)` per write.
pub type WriteTrace = Arc<std::sync::Mutex<Vec<(u64, Fr)>>>;

/// The batch circuit for one shape.
#[derive(Debug, Clone)]
pub struct BatchCircuit {
    pub config: Arc<StateConfig>,
    pub shape: Shape,
    pub witness: BatchWitness,
    /// The public input (zero for key generation, where it is not read). `None` makes the
    /// public input whatever the witness commits to: how tests play a dishonest prover who
    /// publishes data matching a witness that breaks a rule (never used for keys or proofs).
    pub commitment: Option<Fr>,
    /// When set, synthesis records every write's `(account id, new leaf hash)` here, as the
    /// circuit computed them (zeros for writes a slot did not make): see [`Self::trace_writes`].
    pub trace: Option<WriteTrace>,
}

impl BatchCircuit {
    /// The circuit proving `batch` in `shape`.
    pub fn new(
        config: Arc<StateConfig>,
        shape: Shape,
        batch: &SealedBatch,
    ) -> Result<Self, WitnessError> {
        let witness = BatchWitness::new(&config, &shape, batch)?;
        let commitment = Some(batch.public_data(&shape)?.commitment());
        Ok(BatchCircuit {
            config,
            shape,
            witness,
            commitment,
            trace: None,
        })
    }

    /// The circuit of `shape` with a placeholder witness: for key generation and counting.
    pub fn blank(config: Arc<StateConfig>, shape: Shape) -> Result<Self, WitnessError> {
        let witness = BatchWitness::dummy(&config, &shape)?;
        Ok(BatchCircuit {
            config,
            shape,
            witness,
            commitment: Some(Fr::from(0u64)),
            trace: None,
        })
    }
}

impl BatchCircuit {
    /// The writes the circuit computes from its witness, `(account id, new leaf hash)` in
    /// order, whether or not the witness satisfies it: what a test needs to give a
    /// rule-breaking witness consistent paths for the writes after it.
    pub fn trace_writes(&self) -> Result<Vec<(u64, Fr)>, SynthesisError> {
        let trace = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut c = self.clone();
        c.trace = Some(trace.clone());
        let cs = ark_relations::gr1cs::ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs)?;
        let out = trace
            .lock()
            .map_err(|_| SynthesisError::AssignmentMissing)?;
        Ok(out.clone())
    }
}

impl ConstraintSynthesizer<Fr> for BatchCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let input = match self.commitment {
            Some(c) => Some(FpVar::new_input(cs.clone(), || Ok(c))?),
            None => None,
        };
        let w = &self.witness;
        let accounts_root = FpVar::new_witness(cs.clone(), || Ok(w.start_accounts_root))?;
        let markets = w
            .start_markets
            .iter()
            .map(|m| MarketStateVar::new_witness(cs.clone(), m))
            .collect::<Result<Vec<_>, _>>()?;
        if markets.len() != self.config.markets.len() {
            return Err(SynthesisError::Unsatisfiable);
        }
        let old_root = poseidon2(&accounts_root, &markets_hash(&markets)?)?;
        let now = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.timestamp.get())))?;
        let now_bytes = uint_be_bytes(&now, 8)?;
        enforce_unsigned_bits(&now, Timestamp::BITS)?;
        let number = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.batch_number)))?;
        let number_bytes = uint_be_bytes(&number, 8)?;
        let domain = SigningDomainVar::new_witness(cs.clone(), &w.domain)?;
        let domain_bytes = domain.header_bytes.clone();

        let mut b = BatchVar {
            cs: cs.clone(),
            config: self.config.clone(),
            accounts_root,
            markets,
            now,
            domain,
            fees: FpVar::Constant(Fr::from(0u64)),
            records: Vec::with_capacity(self.shape.records_len()),
            writes: Vec::with_capacity(36 * self.shape.writes()),
        };
        for slot in &w.slots {
            let enabled = Boolean::new_witness(cs.clone(), || Ok(slot.enabled))?;
            slot.witness.synthesize(&mut b, &enabled)?;
        }
        settle_fees(&mut b, &w.fee_account)?;
        let new_root = poseidon2(&b.accounts_root, &markets_hash(&b.markets)?)?;

        if b.records.len() != self.shape.records_len() || b.writes.len() != 36 * self.shape.writes()
        {
            return Err(SynthesisError::Unsatisfiable);
        }
        if let Some(trace) = &self.trace {
            let values = b.writes.value().unwrap_or_default();
            let mut out = trace
                .lock()
                .map_err(|_| SynthesisError::AssignmentMissing)?;
            *out = values
                .chunks(36)
                .map(|e| {
                    let id = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                    let hash = zkperp_state::field::fr_from_be_bytes(
                        &e[4..].try_into().unwrap_or([0; 32]),
                    )
                    .unwrap_or_default();
                    (u64::from(id), hash)
                })
                .collect();
        }
        let mut bytes = field_be_bytes(&old_root)?;
        bytes.extend(field_be_bytes(&new_root)?);
        bytes.extend(number_bytes);
        bytes.extend(now_bytes);
        bytes.extend(domain_bytes);
        bytes.extend(constant_be_bytes(self.shape.records_len() as u64, 4));
        bytes.append(&mut b.records);
        bytes.extend(constant_be_bytes(self.shape.writes() as u64, 4));
        bytes.append(&mut b.writes);
        let computed = commitment(&bytes)?;
        let input = match input {
            Some(input) => input,
            None => FpVar::new_input(cs.clone(), || computed.value())?,
        };
        enforce_equal(&computed, &input)
    }
}

/// The fee settlement: the fee account's collateral grows by the batch's fees (twin of the
/// write `State::end_batch` makes).
fn settle_fees(b: &mut BatchVar, w: &AccountWitness) -> Result<(), SynthesisError> {
    let id = FpVar::Constant(Fr::from(AccountId::FEES.get()));
    let (leaf, proof) = b.account(w, &id)?;
    let old_hash = leaf.hash()?;
    let mut after = leaf;
    after.collateral = &after.collateral + &b.fees;
    enforce_signed_bits(&after.collateral, Collateral::BITS)?;
    let new_hash = after.hash()?;
    b.write_account(&proof, &old_hash, &new_hash, &Boolean::TRUE)
}
