//! Benchmarks live in `benches/`; run them with `cargo bench -p zkperp-benches`. The figures and
//! the machine that produced them are in docs/PERFORMANCE.md.
