//! The account transcript of a batch (issue 18, design (b) of docs/design/da-v2/records.md):
//! every account access of every slot, plus an open and a close row per table entry, routed
//! into `(id, time)` order by a permutation network, where consecutive rows of one account must
//! chain. It replaces a tree update per access by one per touched account: the table entry opens
//! the account's leaf under the root once, and writes its final leaf once.
//!
//! ```text
//! row       = id | time | imm (constant within the batch) | before | after
//! slot rows : one per access, time = the access's constant position in the batch (1 ..= 2^T - 2)
//! table rows: per entry, open  (time 0,       before = after = the leaf the tree holds)
//!                         close (time 2^T - 1, before = after = the leaf the tree will hold)
//! void rows : a disabled access has the id VOID = 2^32 (beyond every account): it reads and
//!             writes nothing, so it chains with nothing and needs no table entry
//! sorted    : key = id 2^T + time strictly increasing            (a 34 + T + 1-bit range check)
//!             same = id_(j+1) == id_j
//!             same and row j+1 not void => imm_(j+1) == imm_j and before_(j+1) == after_j
//!             !same => row j is a close unless void, row j+1 an open unless void
//!             the first row is an open and the last a close, unless void
//! ```
//!
//! So every accessed account has exactly one table entry (a second open or close would repeat a
//! key; an account without one would start or end its run with an access), and its accesses
//! see, in batch order, the leaf the tree held, each one the leaf the previous one wrote, the
//! last one the leaf the table writes. The network is a permutation for any switch setting, so
//! the sorted rows are the same rows; nothing is hashed for a challenge.

use ark_r1cs_std::{boolean::Boolean, eq::EqGadget, fields::fp::FpVar, GR1CSVar};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use zkperp_state::Fr;

use crate::eq::{conditional_enforce_equal, enforce_product_zero};
use crate::permutation::{permute, route, Row};
use crate::units::{enforce_unsigned_bits, two_pow};

/// Bits of a row's id: account ids are below 2^32, the void id is 2^32 and a disabled table
/// entry's is `2^32 + 1 + k` (circuits/src/table.rs), all below 2^34.
const ID_BITS: u32 = 34;

/// The id of a void row (a disabled access).
pub const VOID_ID: u64 = 1 << 32;

/// One access (or a table entry's open or close) to one account.
#[derive(Clone, Debug)]
pub struct TranscriptRow {
    /// The account id (range-checked to 32 bits by whoever produced it).
    pub id: FpVar<Fr>,
    /// The access's position: a constant for a slot's access, 0 for an open, `2^T - 1` for a
    /// close.
    pub time: FpVar<Fr>,
    /// Fields no access changes within the batch (the key, the L1 address).
    pub imm: Vec<FpVar<Fr>>,
    /// The account as this access found it.
    pub before: Vec<FpVar<Fr>>,
    /// The account as this access left it.
    pub after: Vec<FpVar<Fr>>,
}

impl TranscriptRow {
    fn flatten(self) -> Row {
        let mut row = vec![self.id, self.time];
        row.extend(self.imm);
        row.extend(self.before);
        row.extend(self.after);
        row
    }

    fn unflatten(mut row: Row, imm: usize, state: usize) -> Self {
        let after = row.split_off(2 + imm + state);
        let before = row.split_off(2 + imm);
        let imm = row.split_off(2);
        let time = row.pop().expect("time");
        let id = row.pop().expect("id");
        TranscriptRow {
            id,
            time,
            imm,
            before,
            after,
        }
    }
}

/// The time of an open row.
pub const OPEN_TIME: u64 = 0;

/// The time of a close row for `time_bits`-bit times.
pub fn close_time(time_bits: u32) -> u64 {
    (1u64 << time_bits) - 1
}

/// The order the prover routes the rows into: by `(id, time)`; `None` when a value is unknown
/// (key generation).
fn sorting_destinations(rows: &[TranscriptRow], time_bits: u32) -> Option<Vec<usize>> {
    let mut keys: Vec<(Fr, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let key = r.id.value().ok()? * two_pow(time_bits) + r.time.value().ok()?;
            Some((key, i))
        })
        .collect::<Option<_>>()?;
    keys.sort();
    let mut destination = vec![0; rows.len()];
    for (position, (_, i)) in keys.into_iter().enumerate() {
        destination[i] = position;
    }
    Some(destination)
}

/// Checks the transcript of `rows` (slot accesses and table opens and closes, in any order) and
/// returns them sorted by `(id, time)`.
///
/// # Panics
/// When the rows differ in widths (a shape error).
pub fn check(
    cs: &ConstraintSystemRef<Fr>,
    rows: Vec<TranscriptRow>,
    time_bits: u32,
) -> Result<Vec<TranscriptRow>, SynthesisError> {
    let (imm, state) = match rows.first() {
        Some(r) => (r.imm.len(), r.before.len()),
        None => return Ok(rows),
    };
    assert!(
        rows.iter()
            .all(|r| r.imm.len() == imm && r.before.len() == state && r.after.len() == state),
        "transcript rows of one shape"
    );
    let settings = sorting_destinations(&rows, time_bits).map(|d| route(&d));
    let flat = rows.into_iter().map(TranscriptRow::flatten).collect();
    let sorted: Vec<TranscriptRow> = permute(cs, flat, settings.as_deref())?
        .into_iter()
        .map(|r| TranscriptRow::unflatten(r, imm, state))
        .collect();
    let shift = two_pow(time_bits);
    let close = FpVar::Constant(Fr::from(close_time(time_bits)));
    let open = FpVar::Constant(Fr::from(OPEN_TIME));
    let void_id = FpVar::Constant(Fr::from(VOID_ID));
    let real = sorted
        .iter()
        .map(|r| Ok(!r.id.is_eq(&void_id)?))
        .collect::<Result<Vec<Boolean<Fr>>, SynthesisError>>()?;
    let last = sorted.len() - 1;
    enforce_product_zero(&FpVar::from(real[0].clone()), &(&sorted[0].time - &open))?;
    enforce_product_zero(
        &FpVar::from(real[last].clone()),
        &(&sorted[last].time - &close),
    )?;
    for (j, pair) in sorted.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let gap = (&b.id - &a.id) * shift + (&b.time - &a.time) - FpVar::Constant(Fr::from(1u64));
        enforce_unsigned_bits(&gap, ID_BITS + time_bits + 1)?;
        let same = a.id.is_eq(&b.id)?;
        let chained = &same & &real[j + 1];
        for (x, y) in a.imm.iter().zip(&b.imm) {
            conditional_enforce_equal(x, y, &chained)?;
        }
        for (x, y) in a.after.iter().zip(&b.before) {
            conditional_enforce_equal(x, y, &chained)?;
        }
        let ends = &!same.clone() & &real[j];
        enforce_product_zero(&FpVar::from(ends), &(&a.time - &close))?;
        let starts = &!same & &real[j + 1];
        enforce_product_zero(&FpVar::from(starts), &(&b.time - &open))?;
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::gr1cs::ConstraintSystem;

    const T: u32 = 8;

    /// A plain description of a row: id, time, imm, before, after.
    type Plain = (u64, u64, u64, u64, u64);

    fn synth(rows: &[Plain]) -> (bool, usize) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let var = |v: u64| FpVar::new_witness(cs.clone(), || Ok(Fr::from(v))).expect("alloc");
        let rows: Vec<TranscriptRow> = rows
            .iter()
            .map(|&(id, time, imm, before, after)| TranscriptRow {
                id: var(id),
                time: FpVar::Constant(Fr::from(time)),
                imm: vec![var(imm)],
                before: vec![var(before), var(before + 1)],
                after: vec![var(after), var(after + 1)],
            })
            .collect();
        check(&cs, rows, T).expect("check");
        (
            cs.is_satisfied().expect("satisfiable?"),
            cs.num_constraints(),
        )
    }

    const C: u64 = (1 << T) - 1;

    /// Accounts 3 and 9: 9 is accessed at times 1, 4, 5 (100 -> 101 -> 102 -> 103), 3 at time 2
    /// (50 -> 51); table rows for both, listed first (as the batch lists them).
    fn honest() -> Vec<Plain> {
        vec![
            (3, 0, 7, 50, 50),
            (3, C, 7, 51, 51),
            (9, 0, 8, 100, 100),
            (9, C, 8, 103, 103),
            (9, 1, 8, 100, 101),
            (3, 2, 7, 50, 51),
            (9, 4, 8, 101, 102),
            (9, 5, 8, 102, 103),
        ]
    }

    #[test]
    fn a_consistent_transcript_is_accepted() {
        assert!(synth(&honest()).0);
        // Void rows (disabled accesses) anywhere, with any values.
        let mut rows = honest();
        rows.insert(3, (VOID_ID, 3, 0, 1, 2));
        rows.push((VOID_ID, 6, 5, 9, 4));
        assert!(synth(&rows).0);
        // An entry no slot accessed (a refresh): open and close alone.
        let mut rows = honest();
        rows.push((12, 0, 1, 5, 5));
        rows.push((12, C, 1, 5, 5));
        assert!(synth(&rows).0);
    }

    #[test]
    fn every_broken_chain_is_refused() {
        type Tamper = Box<dyn Fn(&mut Vec<Plain>)>;
        let cases: Vec<(&str, Tamper)> = vec![
            ("an access reads a stale value", Box::new(|r| r[6].3 = 100)),
            (
                "the table writes another final leaf",
                Box::new(|r| r[3].3 = 104),
            ),
            (
                "the table opens another leaf than the first access read",
                Box::new(|r| {
                    r[2].3 = 99;
                    r[2].4 = 99;
                }),
            ),
            (
                "an access changes an immutable field",
                Box::new(|r| r[7].2 = 9),
            ),
            ("an access without a table entry", Box::new(|r| r[5].0 = 4)),
            ("two accesses at one time", Box::new(|r| r[7].1 = 4)),
            (
                "a second table entry for one account",
                Box::new(|r| {
                    r.push((9, 0, 8, 103, 103));
                    r.push((9, C, 8, 103, 103));
                }),
            ),
            (
                "a table entry without its close",
                Box::new(|r| {
                    r.remove(1);
                }),
            ),
            (
                "an access after the close time",
                Box::new(|r| r[7].1 = C + 1),
            ),
            (
                "a real access made void, so the next one reads what it wrote",
                Box::new(|r| r[6].0 = VOID_ID),
            ),
            (
                "two void rows at one time",
                Box::new(|r| {
                    r.push((VOID_ID, 3, 0, 0, 0));
                    r.push((VOID_ID, 3, 1, 1, 1));
                }),
            ),
        ];
        for (name, tamper) in cases {
            let mut rows = honest();
            tamper(&mut rows);
            assert!(!synth(&rows).0, "{name} was accepted");
        }
    }

    #[test]
    fn cost_per_row() {
        // Rows of width 1 + 2 + 2 (plus id and time) here; the batch's are wider.
        let (_, c8) = synth(&honest());
        let mut rows = honest();
        for k in 0..8u64 {
            rows.push((20 + k, 0, 1, 5, 5));
            rows.push((20 + k, C, 1, 5, 5));
        }
        let (ok, c24) = synth(&rows);
        assert!(ok);
        println!("8 rows: {c8}, 24 rows: {c24} constraints");
        assert!(c24 > c8);
    }

    /// The production figure (docs/PERFORMANCE.md): `cargo test -p zkperp-circuits --lib
    /// transcript::tests::production_rows -- --ignored --nocapture`. Rows as the batch's account
    /// rows with two markets: id, time, 4 immutable fields (key, L1 address, salt), 8 mutable
    /// ones before and after (collateral, nonce, floor, orders root, size and funding index per
    /// market).
    #[test]
    #[ignore = "synthesizes about a million constraints; run by hand for the figures"]
    fn production_rows() {
        const TB: u32 = 12;
        for accounts in [64u64, 512, 1024] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let var = |v: u64| FpVar::new_witness(cs.clone(), || Ok(Fr::from(v))).expect("alloc");
            let mut rows = Vec::new();
            let mut time = 1u64;
            for id in 0..accounts {
                let row = |t: u64, before: u64, after: u64| TranscriptRow {
                    id: var(id),
                    time: FpVar::Constant(Fr::from(t)),
                    imm: (0..4).map(|k| var(id + k)).collect(),
                    before: (0..8).map(|k| var(before + k)).collect(),
                    after: (0..8).map(|k| var(after + k)).collect(),
                };
                rows.push(row(0, 10, 10));
                rows.push(row((1 << TB) - 1, 12, 12));
                rows.push(row(time, 10, 11));
                rows.push(row(time + 1, 11, 12));
                time += 2;
            }
            let n = rows.len();
            let before = cs.num_constraints();
            check(&cs, rows, TB).expect("check");
            let spent = cs.num_constraints() - before;
            assert!(cs.is_satisfied().expect("satisfiable?"));
            println!(
                "{n} rows of width 22: {spent} constraints, {:.1} per row ({} switches)",
                spent as f64 / n as f64,
                crate::permutation::switch_count(n)
            );
        }
    }
}
