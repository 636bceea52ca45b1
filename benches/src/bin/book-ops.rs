//! The order book stream of `benches/book.rs`, run once, for instruction counts: under
//! callgrind, counting only the stream (not the seed book), the figure compares versions of the
//! book without the VM's timing noise (docs/PERFORMANCE.md, Order book):
//!
//! ```text
//! cargo build --release -p zkperp-benches --bin book-ops
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/book.cg \
//!     --toggle-collect='zkperp_benches::book_stream::run' target/release/book-ops [operations]
//! callgrind_annotate /tmp/book.cg | head -n 30
//! ```
//!
//! Instructions per operation are the `PROGRAM TOTALS` over the operations. Without valgrind
//! it prints the rate of one run.

use std::time::Instant;

use zkperp_benches::arg;
use zkperp_benches::book_stream::{run, stream};
use zkperp_core::book::OrderBook;

fn main() {
    let n = arg(1, 200_000) as usize;
    let (seed_orders, ops) = stream(n, 7);
    let mut book = OrderBook::new();
    for o in &seed_orders {
        book.submit(*o, 0);
    }
    let mut events = Vec::with_capacity(64);
    let start = Instant::now();
    let made = run(&mut book, &ops, &mut events);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "operations": n,
            "events": made,
            "resting_after": book.len(),
            "secs": secs,
            "operations_per_sec": n as f64 / secs,
        })
    );
}
