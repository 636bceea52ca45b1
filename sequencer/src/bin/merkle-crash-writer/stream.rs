//! The deterministic stream of update batches the crash writer commits and the crash test
//! recomputes. Shared by path (`#[path]`) between the binary and `tests/crash.rs`, so both sides
//! generate the same batches from the same code.
//!
//! Batch `n` depends only on `(seed, n)` (ChaCha stream `n`), so a writer restarted after a crash
//! continues at its committed count without replaying the batches before it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkperp_state::field::Fr;

/// At most this many leaf updates per batch. Small batches keep the commit (write + fsync) a
/// large share of the writer's time, so kills often land inside a commit.
pub const MAX_BATCH_UPDATES: usize = 4;

/// Leaves below this index are written again and again (overwrites, shared upper nodes); the
/// rest of the updates land anywhere in the tree.
pub const HOT_LEAVES: u64 = 256;

/// The updates of batch `number`: 1..=MAX_BATCH_UPDATES of (leaf index, leaf).
pub fn batch(seed: u64, number: u64, depth: u8) -> Vec<(u64, Fr)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(number);
    let capacity = 1u64 << depth;
    let len = rng.gen_range(1..=MAX_BATCH_UPDATES);
    (0..len)
        .map(|_| {
            let index = if rng.gen_bool(0.5) {
                rng.gen_range(0..HOT_LEAVES.min(capacity))
            } else {
                rng.gen_range(0..capacity)
            };
            (index, Fr::from(rng.gen::<u128>()))
        })
        .collect()
}
