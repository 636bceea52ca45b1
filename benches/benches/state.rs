//! The native state machine's hot paths: Poseidon, EdDSA, a Merkle update at production depth
//! (32), and applying a trade (two signature checks, funding settlement, margin, five tree
//! writes) to a state with production tree depths, and sealing a batch with and without decoys.

use std::hint::black_box;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkperp_state::eddsa::{verify_batch_uncached, PrivateKey};
use zkperp_state::merkle::SparseMerkleTree;
use zkperp_state::order::Side;
use zkperp_state::poseidon::{poseidon, poseidon_slice};
use zkperp_state::testkit::{btc, ts, Fixture, START};
use zkperp_state::Fr;

fn bench_poseidon(c: &mut Criterion) {
    let mut g = c.benchmark_group("poseidon");
    g.bench_function("2 inputs", |b| {
        b.iter(|| poseidon(black_box([Fr::from(1u64), Fr::from(2u64)])))
    });
    let five: Vec<Fr> = (1..=5u64).map(Fr::from).collect();
    g.bench_function("5 inputs", |b| b.iter(|| poseidon_slice(black_box(&five))));
    let eight: Vec<Fr> = (1..=8u64).map(Fr::from).collect();
    g.bench_function("8 inputs (account leaf)", |b| {
        b.iter(|| poseidon_slice(black_box(&eight)))
    });
    g.finish();
}

fn bench_eddsa(c: &mut Criterion) {
    let key = PrivateKey::random(&mut ChaCha20Rng::seed_from_u64(1));
    let pk = key.public_key();
    let msg = Fr::from(123_456_789u64);
    let sig = key.sign(msg);
    let mut g = c.benchmark_group("eddsa-poseidon");
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(msg))));
    g.bench_function("verify", |b| {
        b.iter(|| pk.verify_uncached(black_box(msg), black_box(&sig)))
    });
    g.bench_function("verify, remembered (the memo's answer to a repeat)", |b| {
        b.iter(|| pk.verify(black_box(msg), black_box(&sig)))
    });
    // The batch path, per signature (criterion's throughput line), on one core (ark-ec's
    // multi-scalar multiplication would take every core): 16 traders, each signing several of
    // the items, as in a burst of orders.
    let one_core = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let keys: Vec<PrivateKey> = (0..16u64)
        .map(|i| PrivateKey::random(&mut ChaCha20Rng::seed_from_u64(100 + i)))
        .collect();
    let pks: Vec<_> = keys.iter().map(PrivateKey::public_key).collect();
    for n in [16usize, 64, 256] {
        let items: Vec<_> = (0..n)
            .map(|i| {
                let msg = Fr::from(1_000 + i as u64);
                (pks[i % 16], msg, keys[i % 16].sign(msg))
            })
            .collect();
        let refs: Vec<_> = items.iter().map(|(k, m, s)| (k, *m, s)).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("verify a batch of {n}"), |b| {
            b.iter(|| one_core.install(|| assert!(verify_batch_uncached(black_box(&refs)))))
        });
    }
    g.finish();
}

fn bench_merkle(c: &mut Criterion) {
    let mut tree = SparseMerkleTree::new(32).expect("depth");
    for i in 0..10_000u64 {
        tree.update(i * 7919, Fr::from(i)).expect("update");
    }
    let mut g = c.benchmark_group("merkle depth 32 (10k leaves)");
    let mut i = 0u64;
    g.bench_function("update", |b| {
        b.iter(|| {
            i = (i + 1) % 10_000;
            tree.update(black_box(i * 7919), Fr::from(i + 1))
                .expect("update")
        })
    });
    g.bench_function("proof", |b| {
        b.iter(|| tree.proof(black_box(4242 * 7919)).expect("proof"))
    });
    g.finish();
}

fn bench_trade(c: &mut Criterion) {
    // Production depths: 32-level account tree, 16-level orders trees.
    let mut f = Fixture::with_depths(2, 32, 16);
    f.deposit(0, 1_000_000_000_000);
    f.deposit(1, 1_000_000_000_000);
    let mut g = c.benchmark_group("state machine");
    g.bench_function(
        "apply trade (signatures, funding, margin, 5 tree writes)",
        |b| {
            b.iter_custom(|iters| {
                // Signing the orders is the traders' work, not the exchange's: done before timing.
                let txs: Vec<_> = (0..iters)
                    .map(|_| {
                        let maker = f.order(0, btc(), Side::Buy, 10, 500_000);
                        let taker = f.order(1, btc(), Side::Sell, 10, 500_000);
                        Fixture::trade_tx(maker, taker, 1, 500_000)
                    })
                    .collect();
                let start = Instant::now();
                for tx in &txs {
                    f.state.apply(black_box(tx)).expect("trade");
                }
                start.elapsed()
            })
        },
    );
    g.finish();
}

/// The sequencer's path since the trees moved to the seal (issue 20): `State::execute` runs the
/// rules on the leaves (signatures, funding, margin) and leaves the tree work pending. With the
/// signatures verified beforehand (as the intake's pool does; `PublicKey::verify` then answers
/// from its per-thread memo), what is left is the core's own work per fill.
fn bench_execute(c: &mut Criterion) {
    let mut f = Fixture::with_depths(2, 32, 16);
    f.deposit(0, 1_000_000_000_000);
    f.deposit(1, 1_000_000_000_000);
    let mut g = c.benchmark_group("state machine, trees at the seal");
    for verified in [false, true] {
        let name = if verified {
            "execute trade (signatures verified before: memo lookups, funding, margin)"
        } else {
            "execute trade (two signature checks, funding, margin)"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let txs: Vec<_> = (0..iters)
                    .map(|_| {
                        let maker = f.order(0, btc(), Side::Buy, 10, 500_000);
                        let taker = f.order(1, btc(), Side::Sell, 10, 500_000);
                        if verified {
                            let domain = f.state.config().domain;
                            for o in [&maker, &taker] {
                                let pk = f.state.account(o.order.account).expect("account");
                                let pk = pk.leaf.public_key;
                                pk.verify(o.order.hash(&domain), &o.signature)
                                    .expect("signed");
                            }
                        }
                        Fixture::trade_tx(maker, taker, 1, 500_000)
                    })
                    .collect();
                let start = Instant::now();
                for tx in &txs {
                    f.state.execute(black_box(tx)).expect("trade");
                }
                let elapsed = start.elapsed();
                // The tree work of these fills is the seal's (measured below), not this.
                f.state.hash_pending().expect("hash");
                elapsed
            })
        });
    }
    g.finish();
}

/// `traders` accounts at production depths (accounts 32, orders 16), each funded, their
/// deposits sealed in a first batch.
fn funded(traders: usize) -> Fixture {
    let mut f = Fixture::with_depths(traders, 32, 16);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000_000);
    }
    f.state.end_batch().expect("seal the deposits");
    f
}

/// The seal of a full batch at production depths: 1,024 trades among 256 traders executed on
/// the leaves, then `end_batch` (every write's orders-tree and account-tree path, the fee write,
/// the salt steps of every touched account): the witness the batch circuit consumes.
fn bench_seal_full(c: &mut Criterion) {
    const TRADERS: usize = 256;
    const TRADES: usize = 1_024;
    let mut f = funded(TRADERS);
    let mut batch = 1;
    let mut g = c.benchmark_group("seal (production depths)");
    g.sample_size(10);
    g.bench_function("1,024 trades, 256 traders: tree work and witness", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                batch += 1;
                f.state.begin_batch(ts(START + 60 * batch)).expect("begin");
                f.set_price(btc(), 500_000);
                for i in 0..TRADES {
                    let (a, b) = (i % TRADERS, (i * 7 + 1) % TRADERS);
                    let b = if a == b { (b + 1) % TRADERS } else { b };
                    let maker = f.order(a, btc(), Side::Buy, 1, 500_000);
                    let taker = f.order(b, btc(), Side::Sell, 1, 500_000);
                    f.state
                        .execute(&Fixture::trade_tx(maker, taker, 1, 500_000))
                        .expect("trade");
                }
                let start = Instant::now();
                black_box(f.state.end_batch().expect("seal"));
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// What padding costs the sequencer (issue 18): sealing a batch with one trade alone, and with
/// 64 decoys (idle accounts refreshed at the seal), at production depths.
fn bench_padding(c: &mut Criterion) {
    const ACCOUNTS: usize = 130;
    let mut g = c.benchmark_group("seal (one trade, depth 32)");
    g.sample_size(20);
    for decoys in [0usize, 64] {
        let mut f = funded(ACCOUNTS);
        let mut batch = 1;
        g.bench_function(format!("{decoys} decoys"), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    batch += 1;
                    f.state.begin_batch(ts(START + 60 * batch)).expect("begin");
                    f.set_price(btc(), 500_000);
                    let maker = f.order(0, btc(), Side::Buy, 10, 500_000);
                    let taker = f.order(1, btc(), Side::Sell, 10, 500_000);
                    f.apply(Fixture::trade_tx(maker, taker, 1, 500_000))
                        .expect("trade");
                    let start = Instant::now();
                    let chosen = f.state.decoys(&[7; 32], decoys);
                    f.state.pad_batch(chosen);
                    black_box(f.state.end_batch().expect("seal"));
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_poseidon,
    bench_eddsa,
    bench_merkle,
    bench_trade,
    bench_execute,
    bench_seal_full,
    bench_padding
);
criterion_main!(benches);
