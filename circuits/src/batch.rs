//! The batch circuit: a shape's slots run in order over the state, and the public data they
//! publish is committed to in the proof's one public input.
//!
//! ```text
//! public input: commitment = sha256(pubdata) with the top 3 bits cleared
//!
//! old root = Poseidon(accounts root, markets hash)        (witness accounts root and markets)
//! for each slot of the shape, in batch order (zkperp_state::batch):
//!     the slot's gadget checks its rules when `enabled`, moves the markets, and records each
//!     account access (the leaf it found, the leaf it left) as a transcript row; a disabled
//!     slot changes nothing, its accesses are void, and it publishes a no-op record
//! fee settlement: the fee account gets the sum of the batch's trading fees (always an access)
//! account table: one tree update per touched account, in id order (crate::table), whose open
//!     and close rows and the accesses form a transcript that must chain (crate::transcript)
//! new root = Poseidon(accounts root after the table, markets hash)
//! payload  = the table's records (id, hash, ciphertext) in id order, the deposit slots'
//!            creations and the final markets, as blob elements (crate::da), split into blobs
//!            of 4096
//! claims   = per blob: its versioned hash (a witness the L1 checks with BLOBHASH), z drawn
//!            from the elements' commitment and that hash, y = the blob polynomial at z
//!            (crate::blob)
//! pubdata  = old root | new root | batch number | timestamp | chain id | rollup address | rho |
//!            record bytes | records | blob count | (vh | z | y) per blob
//! every signed message's tag = kind + 2^8 * (chain id << 160 | rollup address)
//! ```
//! The layout is the one `SealedBatch::public_data` produces natively and the L1 contract reads;
//! the differential tests compare the bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ark_ff::PrimeField;
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::fp::FpVar,
    uint8::UInt8,
    GR1CSVar,
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use zkperp_state::batch::{SealedBatch, Shape, SlotKind};
use zkperp_state::da::payload_len;
use zkperp_state::eddsa::PublicKey;
use zkperp_state::merkle::MerkleProof;
use zkperp_state::state::StateConfig;
use zkperp_state::units::{AccountId, Collateral, Timestamp};
use zkperp_state::Fr;

use crate::da::CreationSlotVar;
use crate::domain::SigningDomainVar;
use crate::eq::enforce_equal;
use crate::leaf::{AccountLeafVar, LeafElements};
use crate::market::{markets_hash, MarketStateVar};
use crate::merkle::MerkleProofVar;
use crate::poseidon::poseidon2;
use crate::pubdata::{commitment, constant_be_bytes, field_be_bytes, uint_be_bytes, FieldsVar};
use crate::table::{row_imm, row_state, table};
use crate::transcript::{check, TranscriptRow, VOID_ID};
use crate::units::{enforce_signed_bits, enforce_unsigned_bits};
use crate::witness::{AccountWitness, BatchWitness, WitnessError};
use zkperp_state::layout::{BLOBS, HEADER};

/// An account a forced request names ([`BatchVar::read_named`]).
#[derive(Debug)]
pub struct NamedAccountVar {
    pub exists: Boolean<Fr>,
    /// Its leaf (a placeholder when it does not exist).
    pub leaf: AccountLeafVar,
    /// Whether its access joins the transcript.
    pub real: Boolean<Fr>,
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
    /// Every account access so far, for the transcript (`crate::transcript`).
    pub rows: Vec<TranscriptRow>,
    /// Each deposit slot's creation so far, for the payload (`crate::da`).
    pub creations: Vec<CreationSlotVar>,
    /// The values each account's latest access left, by id (prover side: what the next access
    /// to it is given to read, so a witness stays consistent whatever the slots computed).
    pub current: HashMap<u64, (bool, PublicKey, LeafElements)>,
    /// The values each account's first access found, by id (for [`Trace`]).
    pub firsts: HashMap<u64, (bool, PublicKey, LeafElements)>,
    /// Whether the running slot's reads take its witness's leaves as they are.
    pub pinned: bool,
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

    /// The leaf an access to account `id` finds, allocated with every field range-checked: as
    /// the batch's latest access to `id` left it, or `w`'s leaf for the first access (the
    /// transcript proves either is the account's value at that point of the batch). Returns
    /// whether it exists too (`w_exists` for a first access).
    pub fn read_leaf(
        &self,
        w: &AccountWitness,
        w_exists: bool,
        id: &FpVar<Fr>,
    ) -> Result<(bool, AccountLeafVar), SynthesisError> {
        let latest = small_value(id)
            .filter(|_| !self.pinned)
            .and_then(|id| self.current.get(&id));
        let leaf = match latest {
            Some((_, key, elements)) => AccountLeafVar::from_elements(
                self.cs.clone(),
                self.markets_count(),
                Some(*key),
                Some(elements.clone()),
            )?,
            None => {
                AccountLeafVar::new_witness(self.cs.clone(), self.markets_count(), Some(&w.leaf))?
            }
        };
        Ok((latest.map_or(w_exists, |l| l.0), leaf))
    }

    /// One access to account `id` (range-checked to 32 bits): the account as it was found
    /// (`before`) and as it is left (`after`, whose key, address and salt the account keeps
    /// for the batch), each with whether it exists. A `real` access joins the transcript under
    /// its id; any other (a disabled slot, a request naming an id beyond the tree) is void:
    /// it chains with nothing and its values mean nothing.
    pub fn access(
        &mut self,
        id: &FpVar<Fr>,
        real: &Boolean<Fr>,
        before: (&Boolean<Fr>, &AccountLeafVar),
        after: (&Boolean<Fr>, &AccountLeafVar),
    ) -> Result<(), SynthesisError> {
        enforce_unsigned_bits(id, AccountId::BITS)?;
        let row_id = real.select(id, &FpVar::Constant(Fr::from(VOID_ID)))?;
        let time = self.rows.len() as u64 + 1;
        self.rows.push(TranscriptRow {
            id: row_id,
            time: FpVar::Constant(Fr::from(time)),
            imm: row_imm(after.1),
            before: row_state(before.0, before.1),
            after: row_state(after.0, after.1),
        });
        if real.value().unwrap_or(false) {
            if let Some(id) = small_value(id) {
                if let std::collections::hash_map::Entry::Vacant(first) = self.firsts.entry(id) {
                    // As the row reads it: the state found, under the key, address and salt
                    // the account has for the batch.
                    if let (Some(found), Some(left)) = (values_of(before), values_of(after)) {
                        let mut elements = found.2;
                        elements.l1_address = left.2.l1_address;
                        elements.salt = left.2.salt;
                        first.insert((found.0, left.1, elements));
                    }
                }
                if let Some(left) = values_of(after) {
                    self.current.insert(id, left);
                }
            }
        }
        Ok(())
    }

    /// The account a forced request names (`id_bits`: its id's 32 bits), as this access finds
    /// it: whether it exists (never, for an id beyond the tree), its leaf (a placeholder when
    /// it does not exist), and whether the access is real (`enabled`, inside the tree; an id
    /// beyond the tree reads nothing, so its access is void).
    pub fn read_named(
        &self,
        w: &AccountWitness,
        w_exists: bool,
        id: &FpVar<Fr>,
        id_bits: &[Boolean<Fr>],
        enabled: &Boolean<Fr>,
    ) -> Result<NamedAccountVar, SynthesisError> {
        let in_tree = self.in_tree(id_bits)?;
        let (exists, leaf) = self.read_leaf(w, w_exists, id)?;
        let exists = Boolean::new_witness(self.cs.clone(), || Ok(exists))?;
        ark_r1cs_std::eq::EqGadget::enforce_equal(&(&exists & &!in_tree.clone()), &Boolean::FALSE)?;
        Ok(NamedAccountVar {
            exists,
            leaf,
            real: enabled & &in_tree,
        })
    }

    /// Whether an id (its 32 bits) names a leaf of the account tree.
    pub fn in_tree(&self, id_bits: &[Boolean<Fr>]) -> Result<Boolean<Fr>, SynthesisError> {
        let depth = usize::from(self.config.account_tree_depth);
        if depth < id_bits.len() {
            Ok(!Boolean::kary_or(&id_bits[depth..])?)
        } else {
            Ok(Boolean::TRUE)
        }
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

/// An account's values in an access (whether it exists, its key, its fields), when known.
fn values_of(
    (exists, leaf): (&Boolean<Fr>, &AccountLeafVar),
) -> Option<(bool, PublicKey, LeafElements)> {
    let key = PublicKey::from_point(leaf.public_key.point().value().ok()?).ok()?;
    Some((exists.value().ok()?, key, leaf.elements_value()?))
}

/// The value of `x` when it is known and fits a `u64`.
fn small_value(x: &FpVar<Fr>) -> Option<u64> {
    let v = x.value().ok()?.into_bigint();
    v.0[1..].iter().all(|l| *l == 0).then_some(v.0[0])
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

/// What synthesis records when asked ([`BatchCircuit::trace`]): every account the slots
/// accessed, as their first access found it and their last left it (whether it exists, its
/// key, its fields), by id.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub finals: BTreeMap<u64, (bool, PublicKey, LeafElements)>,
    /// As each account's first access found it.
    pub firsts: BTreeMap<u64, (bool, PublicKey, LeafElements)>,
}

/// Where synthesis puts the [`Trace`].
pub type TraceCell = Arc<std::sync::Mutex<Trace>>;

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
    /// When set, synthesis records every account's final values here, as the
    /// circuit computed them (zeros for writes a slot did not make): see [`Self::trace_writes`].
    pub trace: Option<TraceCell>,
}

impl BatchCircuit {
    /// The circuit proving `batch` in `shape`.
    pub fn new(
        config: Arc<StateConfig>,
        shape: Shape,
        batch: &SealedBatch,
    ) -> Result<Self, WitnessError> {
        let publication = batch.publish(&shape)?;
        let witness = BatchWitness::new(&config, &shape, batch, &publication)?;
        let commitment = Some(publication.public.commitment());
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
    /// The accounts' final values the circuit computes from its witness, whether or not the
    /// witness satisfies it: what a test needs to give a rule-breaking witness a table that
    /// matches what its slots wrote (a dishonest prover's consistent witness).
    pub fn trace(&self) -> Result<Trace, SynthesisError> {
        let cell = Arc::new(std::sync::Mutex::new(Trace::default()));
        let mut c = self.clone();
        c.trace = Some(cell.clone());
        let cs = ark_relations::gr1cs::ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs)?;
        let out = cell.lock().map_err(|_| SynthesisError::AssignmentMissing)?;
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
        let now_bytes = uint_be_bytes(&now, HEADER.width("TIMESTAMP"))?;
        enforce_unsigned_bits(&now, Timestamp::BITS)?;
        let number = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.batch_number)))?;
        let number_bytes = uint_be_bytes(&number, HEADER.width("BATCH_NUMBER"))?;
        // Range-checked to 128 bits by its bytes.
        let rho = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.rho)))?;
        let rho_bytes = uint_be_bytes(&rho, HEADER.width("RHO"))?;
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
            rows: Vec::with_capacity(self.shape.accesses()),
            creations: Vec::with_capacity(self.shape.count(SlotKind::Deposit)),
            current: HashMap::new(),
            firsts: HashMap::new(),
            pinned: false,
        };
        for slot in &w.slots {
            let enabled = Boolean::new_witness(cs.clone(), || Ok(slot.enabled))?;
            b.pinned = slot.pinned;
            slot.witness.synthesize(&mut b, &enabled)?;
        }
        b.pinned = false;
        settle_fees(&mut b, &w.fee_account)?;
        // The account table: one tree update per touched account, and the transcript that
        // ties every access to it.
        let time_bits = (b.rows.len() as u64 + 2)
            .next_power_of_two()
            .trailing_zeros();
        let mut root = b.accounts_root.clone();
        let table = table(
            &cs,
            &mut root,
            &w.table,
            self.config.markets.len(),
            self.config.account_tree_depth,
            time_bits,
            (&number, &rho),
        )?;
        let mut rows = std::mem::take(&mut b.rows);
        rows.extend(table.rows);
        check(&cs, rows, time_bits)?;
        let new_root = poseidon2(&root, &markets_hash(&b.markets)?)?;
        // The payload and the claims binding it to the transaction's blobs.
        let markets = self.config.markets.len();
        let packed = crate::market::market_elements(&b.markets);
        let elements = crate::da::elements(&table.records, &b.creations, &packed)?;
        if b.records.len() != self.shape.records_len()
            || elements.len() != payload_len(&self.shape, markets)
            || w.versioned_hashes.len() != self.shape.blobs(markets)
        {
            return Err(SynthesisError::Unsatisfiable);
        }
        let mut claims = crate::da::claims(&cs, &elements, &w.versioned_hashes)?;
        if let Some(trace) = &self.trace {
            let mut out = trace
                .lock()
                .map_err(|_| SynthesisError::AssignmentMissing)?;
            out.finals = b.current.clone().into_iter().collect();
            out.firsts = b.firsts.clone().into_iter().collect();
        }
        let (chain_id_bytes, rollup_bytes) = domain_bytes.split_at(HEADER.width("CHAIN_ID"));
        let record_bytes = self.shape.records_len() as u64;
        let mut bytes = FieldsVar::all(&HEADER)
            .bytes("OLD_ROOT", field_be_bytes(&old_root)?)
            .bytes("NEW_ROOT", field_be_bytes(&new_root)?)
            .bytes("BATCH_NUMBER", number_bytes)
            .bytes("TIMESTAMP", now_bytes)
            .bytes("CHAIN_ID", chain_id_bytes.to_vec())
            .bytes("ROLLUP", rollup_bytes.to_vec())
            .bytes("RHO", rho_bytes)
            .bytes(
                "RECORD_BYTES",
                constant_be_bytes(record_bytes, HEADER.width("RECORD_BYTES")),
            )
            .finish();
        bytes.append(&mut b.records);
        let count = w.versioned_hashes.len() as u64;
        bytes.extend(
            FieldsVar::all(&BLOBS)
                .bytes("COUNT", constant_be_bytes(count, BLOBS.width("COUNT")))
                .finish(),
        );
        bytes.append(&mut claims);
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
    let (_, leaf) = b.read_leaf(w, true, &id)?;
    let mut after = leaf.clone();
    after.collateral = &after.collateral + &b.fees;
    enforce_signed_bits(&after.collateral, Collateral::BITS)?;
    let exists = Boolean::TRUE;
    b.access(&id, &Boolean::TRUE, (&exists, &leaf), (&exists, &after))
}
