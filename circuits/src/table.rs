//! Twin of `zkperp_state::table`: the batch's account table in the circuit. Each entry opens an
//! account's leaf under the running accounts root once and writes its final leaf once; its open
//! and close rows join the slots' access rows in the transcript (`crate::transcript`), which
//! proves that the accesses in between chain from one to the other. The entries are in strictly
//! increasing id, so the data-availability list they publish is sorted and says nothing of the
//! order of the batch.
//!
//! ```text
//! entry k   : enabled, id (32 bits, inside the tree), exists before / after, the leaf before
//!             (range-checked) and the leaf after (its mutable fields; the key and L1 address
//!             are the same variables as before's, the salt is before's stepped:
//!             `crate::record::step` with the nonce 2^32 batch + id, 258 constraints)
//! row id    : id when enabled, else 2^32 + 1 + k (an unused entry: no tree work, publishes zeros)
//! order     : row id strictly increasing (a 35-constraint range check per entry)
//! tree      : when enabled, root = path(id).root_for(hash before) -> path(id).root_for(hash after)
//!             (a hash is 0 for a leaf that does not exist)
//! rows      : open  (row id, 0,       imm, state before, state before)
//!             close (row id, 2^T - 1, imm, state after,  state after)
//! publishes : its payload record (`crate::da`): the id (u32::MAX when unused), the hash after
//!             and the ciphertext of the leaf after (`crate::record`; zeros when unused or
//!             empty after)
//! imm       = pk.x, pk.y, l1 address, salt
//! state     = exists, collateral, nonce, order floor, orders root, (size, funding index) per market
//! ```

use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::{fp::FpVar, FieldVar},
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::eddsa::PublicKey;
use zkperp_state::merkle::MerkleProof;
use zkperp_state::units::AccountId;
use zkperp_state::Fr;

use crate::da::EntryRecordVar;
use crate::eq::{conditional_enforce_equal, enforce_product_zero};
use crate::funding::PositionVar;
use crate::leaf::{AccountLeafVar, LeafElements};
use crate::merkle::MerkleProofVar;
use crate::record::{self, step, RecordVar};
use crate::transcript::{close_time, TranscriptRow, OPEN_TIME, VOID_ID};
use crate::units::enforce_unsigned_bits;

/// Bits of a table entry's row id (`2^32 + 1 + k` for an unused entry).
const ROW_ID_BITS: u32 = 34;

/// A leaf's fields no access changes within a batch (creation sets them, through the table's
/// placeholder for an empty leaf).
pub fn row_imm(leaf: &AccountLeafVar) -> Vec<FpVar<Fr>> {
    let point = leaf.public_key.point();
    vec![
        point.x().clone(),
        point.y().clone(),
        leaf.l1_address.clone(),
        leaf.salt.clone(),
    ]
}

/// A leaf's fields an access may change, with whether it exists.
pub fn row_state(exists: &Boolean<Fr>, leaf: &AccountLeafVar) -> Vec<FpVar<Fr>> {
    let mut state = vec![
        FpVar::from(exists.clone()),
        leaf.collateral.clone(),
        leaf.nonce.clone(),
        leaf.order_floor.clone(),
        leaf.orders_root.clone(),
    ];
    for p in &leaf.positions {
        state.push(p.size.clone());
        state.push(p.funding_index.clone());
    }
    state
}

/// An account's leaf with `exists`: the hash the tree holds for it.
fn tree_hash(exists: &Boolean<Fr>, leaf: &AccountLeafVar) -> Result<FpVar<Fr>, SynthesisError> {
    exists.select(&leaf.hash()?, &FpVar::zero())
}

/// One entry's witness: an account the batch touched (`None` in `id`: an unused entry).
#[derive(Debug, Clone)]
pub struct TableEntryWitness {
    pub id: Option<AccountId>,
    /// Whether the account existed, its key and its fields before (a placeholder with the
    /// final key, address and salt when it did not exist).
    pub before: (bool, PublicKey, LeafElements),
    /// The leaf after (its fields but the key, address and salt, which are before's), and
    /// whether it exists.
    pub after: (bool, LeafElements),
    pub proof: MerkleProof,
}

/// What the table adds to the batch.
#[derive(Debug)]
pub struct TableVar {
    /// Two rows per entry, for the transcript.
    pub rows: Vec<TranscriptRow>,
    /// Each entry's payload record, in id order.
    pub records: Vec<EntryRecordVar>,
}

/// The table of `entries` over the accounts root `root` (moved to the root after every entry's
/// write), with `markets` positions per leaf, paths of `depth` levels, close rows at time
/// `2^time_bits - 1`, and the salts stepped for batch number `batch` (64 bits) with `rho` (128
/// bits): both range-checked by the caller.
pub fn table(
    cs: &ConstraintSystemRef<Fr>,
    root: &mut FpVar<Fr>,
    entries: &[TableEntryWitness],
    markets: usize,
    depth: u8,
    time_bits: u32,
    (batch, rho): (&FpVar<Fr>, &FpVar<Fr>),
) -> Result<TableVar, SynthesisError> {
    let mut rows = Vec::with_capacity(2 * entries.len());
    let mut records = Vec::with_capacity(entries.len());
    let mut previous: Option<FpVar<Fr>> = None;
    let open = FpVar::Constant(Fr::from(OPEN_TIME));
    let close = FpVar::Constant(Fr::from(close_time(time_bits)));
    for (k, e) in entries.iter().enumerate() {
        let enabled = Boolean::new_witness(cs.clone(), || Ok(e.id.is_some()))?;
        let id = FpVar::new_witness(cs.clone(), || Ok(Fr::from(e.id.map_or(0, AccountId::get))))?;
        let id_bits = enforce_unsigned_bits(&id, 32)?;
        let depth = usize::from(depth);
        if depth < id_bits.len() {
            // An enabled entry's id is inside the tree.
            let above: FpVar<Fr> = id_bits[depth..]
                .iter()
                .map(|b| FpVar::from(b.clone()))
                .sum();
            enforce_product_zero(&FpVar::from(enabled.clone()), &above)?;
        }
        let unused = FpVar::Constant(Fr::from(VOID_ID + 1 + k as u64));
        let row_id = enabled.select(&id, &unused)?;
        if let Some(p) = &previous {
            let gap = &row_id - p - FpVar::Constant(Fr::from(1u64));
            enforce_unsigned_bits(&gap, ROW_ID_BITS)?;
        }
        previous = Some(row_id.clone());

        let exists_before = Boolean::new_witness(cs.clone(), || Ok(e.before.0))?;
        let exists_after = Boolean::new_witness(cs.clone(), || Ok(e.after.0))?;
        let before = AccountLeafVar::from_elements(
            cs.clone(),
            markets,
            Some(e.before.1),
            Some(e.before.2.clone()),
        )?;
        let mut after = after_leaf(cs, &before, &e.after.1)?;
        // The seal steps the salt (an unused entry's or an empty leaf's step is never written).
        let nonce = record::nonce(batch, &row_id);
        after.salt = step(&before.salt, &nonce, rho)?;
        let hash_before = tree_hash(&exists_before, &before)?;
        let hash_after = tree_hash(&exists_after, &after)?;
        let siblings = MerkleProofVar::new_variable_with_depth(
            cs.clone(),
            depth,
            || Ok(e.proof.clone()),
            AllocationMode::Witness,
        )?
        .siblings;
        let path = MerkleProofVar::new(id_bits[..depth].to_vec(), siblings);
        conditional_enforce_equal(&path.root_for(&hash_before)?, root, &enabled)?;
        *root = enabled.select(&path.root_for(&hash_after)?, root)?;

        // The record: the leaf after under the stepped salt, as its owner will read it.
        let zero = FpVar::zero();
        let sealed = RecordVar::seal(&nonce, &id, &after, &hash_after)?;
        let readable = &enabled & &exists_after;
        records.push(EntryRecordVar {
            id_bits: id_bits.iter().map(|b| b | &!enabled.clone()).collect(),
            hash: enabled.select(&hash_after, &zero)?,
            ciphertext: sealed
                .ciphertext
                .iter()
                .map(|c| readable.select(c, &zero))
                .collect::<Result<_, _>>()?,
        });

        let imm = row_imm(&before);
        let state_before = row_state(&exists_before, &before);
        let state_after = row_state(&exists_after, &after);
        rows.push(TranscriptRow {
            id: row_id.clone(),
            time: open.clone(),
            imm: imm.clone(),
            before: state_before.clone(),
            after: state_before,
        });
        rows.push(TranscriptRow {
            id: row_id,
            time: close.clone(),
            imm,
            before: state_after.clone(),
            after: state_after,
        });
    }
    Ok(TableVar { rows, records })
}

/// The leaf after: `before`'s key, address and salt, and the mutable fields of `leaf` as
/// witnesses. They are not range-checked here: the transcript makes them equal to what the
/// account's last access wrote (or to `before`'s, for an entry no access changed).
fn after_leaf(
    cs: &ConstraintSystemRef<Fr>,
    before: &AccountLeafVar,
    native: &LeafElements,
) -> Result<AccountLeafVar, SynthesisError> {
    let w = |v: Fr| FpVar::new_witness(cs.clone(), || Ok(v));
    Ok(AccountLeafVar {
        public_key: before.public_key.clone(),
        l1_address: before.l1_address.clone(),
        collateral: w(native.collateral)?,
        nonce: w(native.nonce)?,
        order_floor: w(native.order_floor)?,
        positions: native
            .positions
            .iter()
            .map(|(size, index)| {
                Ok(PositionVar {
                    size: w(*size)?,
                    funding_index: w(*index)?,
                })
            })
            .collect::<Result<_, SynthesisError>>()?,
        orders_root: w(native.orders_root)?,
        salt: before.salt.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::GR1CSVar;
    use ark_relations::gr1cs::ConstraintSystem;
    use zkperp_state::batch::SealedBatch;
    use zkperp_state::testkit::*;

    use crate::transcript::check;
    use zkperp_state::leaf::AccountLeaf;

    fn placeholder(markets: usize, imm_of: Option<&AccountLeaf>) -> AccountLeaf {
        crate::witness::placeholder_leaf(markets, imm_of)
    }

    /// An entry's payload record: id, hash, ciphertext.
    type Published = (u64, Fr, Vec<Fr>);

    /// The table and transcript of `batch` with access rows made straight from its receipts
    /// (each write: before -> after; each read: unchanged), `extra` unused entries, and
    /// `tamper` applied to the witness entries.
    fn run(
        f: &Fixture,
        batch: &SealedBatch,
        extra: usize,
        tamper: impl FnOnce(&mut Vec<TableEntryWitness>),
    ) -> (bool, Vec<Published>, Fr) {
        let config = f.state.config();
        let markets = config.markets.len();
        let depth = config.account_tree_depth;
        let mut entries: Vec<TableEntryWitness> = batch
            .table
            .iter()
            .map(|e| crate::witness::table_entry(markets, e))
            .collect();
        for _ in 0..extra {
            entries.push(crate::witness::unused_entry(config));
        }
        tamper(&mut entries);
        let cs = ConstraintSystem::<Fr>::new_ref();
        let mut root =
            FpVar::new_witness(cs.clone(), || Ok(batch.start_accounts_root)).expect("root");
        let time_bits = 10;
        let (number, rho) = (
            FpVar::Constant(Fr::from(batch.batch_number)),
            FpVar::Constant(Fr::from(batch.rho)),
        );
        let t = table(
            &cs,
            &mut root,
            &entries,
            markets,
            depth,
            time_bits,
            (&number, &rho),
        )
        .expect("table");
        let mut rows = t.rows;
        let mut time = 1u64;
        let leaf_var = |exists: bool, leaf: &AccountLeaf| {
            (
                Boolean::new_witness(cs.clone(), || Ok(exists)).expect("bit"),
                AccountLeafVar::new_witness(cs.clone(), markets, Some(leaf)).expect("leaf"),
            )
        };
        let fee = [batch.fee_write.clone()];
        for applied in batch
            .txs
            .iter()
            .map(|a| (&a.receipt.reads[..], &a.receipt.writes[..]))
            .chain([(&[][..], &fee[..])])
        {
            let (reads, writes) = applied;
            for read in reads {
                let leaf = read
                    .leaf
                    .clone()
                    .unwrap_or_else(|| placeholder(markets, None));
                let (exists, var) = leaf_var(read.leaf.is_some(), &leaf);
                let id = if read.in_tree {
                    read.account.get()
                } else {
                    VOID_ID
                };
                rows.push(TranscriptRow {
                    id: FpVar::new_witness(cs.clone(), || Ok(Fr::from(id))).expect("id"),
                    time: FpVar::Constant(Fr::from(time)),
                    imm: row_imm(&var),
                    before: row_state(&exists, &var),
                    after: row_state(&exists, &var),
                });
                time += 1;
            }
            for write in writes {
                let (e_after, after) = leaf_var(true, &write.after);
                let before_leaf = write
                    .before
                    .clone()
                    .unwrap_or_else(|| placeholder(markets, Some(&write.after)));
                let (e_before, before) = leaf_var(write.before.is_some(), &before_leaf);
                rows.push(TranscriptRow {
                    id: FpVar::new_witness(cs.clone(), || Ok(Fr::from(write.account.get())))
                        .expect("id"),
                    time: FpVar::Constant(Fr::from(time)),
                    imm: row_imm(&after),
                    before: row_state(&e_before, &before),
                    after: row_state(&e_after, &after),
                });
                time += 1;
            }
        }
        check(&cs, rows, time_bits).expect("transcript");
        let published = t
            .records
            .iter()
            .map(|r| {
                let id = r.id_bits.iter().rev().fold(0u64, |acc, b| {
                    2 * acc + u64::from(b.value().expect("known"))
                });
                (
                    id,
                    r.hash.value().expect("known"),
                    r.ciphertext.value().expect("known"),
                )
            })
            .collect();
        (
            cs.is_satisfied().expect("satisfiable?"),
            published,
            root.value().expect("root"),
        )
    }

    fn scenario() -> (Fixture, SealedBatch) {
        let mut f = Fixture::new(3);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 2_000_000_000);
        f.state.end_batch().expect("seal");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        f.deposit(2, 500_000_000);
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        f.trade(2, 1, btc(), 500, 500_000).expect("trade");
        f.trade(0, 2, eth(), 300, 3_000_000).expect("trade");
        let batch = f.state.end_batch().expect("seal");
        (f, batch)
    }

    #[test]
    fn the_table_writes_the_batch_once_per_account() {
        let (f, batch) = scenario();
        let (ok, published, root) = run(&f, &batch, 2, |_| {});
        assert!(ok);
        assert_eq!(root, f.state.accounts_root(), "the native end root");
        let markets = f.state.config().markets.len();
        let c = zkperp_state::record::ciphertext_len(markets);
        let mut expected: Vec<Published> = Vec::new();
        for e in &batch.table {
            let leaf = e.after.as_ref().expect("every account exists after");
            let record = zkperp_state::record::Record::seal(batch.batch_number, e.id, leaf);
            expected.push((e.id.get(), record.hash, record.ciphertext));
        }
        for _ in 0..2 {
            expected.push((u64::from(u32::MAX), Fr::from(0u64), vec![Fr::from(0u64); c]));
        }
        assert_eq!(
            published, expected,
            "sorted records sealed to their owners, then the unused entries' zeros"
        );
    }

    #[test]
    fn a_table_that_differs_from_the_accesses_is_refused() {
        let (f, batch) = scenario();
        type Tamper = Box<dyn FnOnce(&mut Vec<TableEntryWitness>)>;
        let cases: Vec<(&str, Tamper)> = vec![
            (
                "a final leaf no access wrote",
                Box::new(|e| e[2].after.1.collateral += Fr::from(1u64)),
            ),
            (
                "an opening leaf the tree does not hold",
                Box::new(|e| e[0].before.2.nonce = Fr::from(7u64)),
            ),
            (
                "an account left out of the table",
                Box::new(|e| e[1].id = None),
            ),
            ("entries out of order", Box::new(|e| e.swap(0, 1))),
            ("an account twice", Box::new(|e| e[4] = e[3].clone())),
            (
                "a created account said to exist before",
                Box::new(|e| {
                    let i = e
                        .iter()
                        .position(|x| !x.before.0)
                        .expect("a created account");
                    e[i].before.0 = true;
                }),
            ),
        ];
        for (name, tamper) in cases {
            assert!(!run(&f, &batch, 2, tamper).0, "{name} was accepted");
        }
    }

    /// The production figure (docs/PERFORMANCE.md): one entry at depth 32 with two markets.
    #[test]
    fn cost_of_an_entry() {
        let (f, batch) = scenario();
        let config = f.state.config();
        let markets = config.markets.len();
        let native = &batch.table;
        let entry = |depth: u8| TableEntryWitness {
            id: Some(native[0].id),
            before: {
                let leaf = native[0].before.clone().expect("existed");
                (true, leaf.public_key, LeafElements::of(&leaf))
            },
            after: (
                true,
                LeafElements::of(&native[0].after.clone().expect("exists")),
            ),
            proof: zkperp_state::merkle::MerkleProof {
                index: native[0].id.get(),
                siblings: vec![Fr::from(0u64); usize::from(depth)],
            },
        };
        for depth in [config.account_tree_depth, 32] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let mut root = FpVar::new_witness(cs.clone(), || Ok(Fr::from(0u64))).expect("root");
            let (number, rho) = (
                FpVar::Constant(Fr::from(7u64)),
                FpVar::Constant(Fr::from(9u64)),
            );
            table(
                &cs,
                &mut root,
                &[entry(depth)],
                markets,
                depth,
                12,
                (&number, &rho),
            )
            .expect("table");
            println!(
                "one table entry at depth {depth}: {} constraints",
                cs.num_constraints()
            );
        }
    }
}
