//! The constraint budget at production depths (account tree 32, orders tree 16, two markets):
//! a trade slot plus the table entry of one new account (a market maker's fill against a new
//! taker) must stay within 100,000 constraints (issue 3; Loopring's spot trade is about
//! 130,000). The figures are printed for docs/PERFORMANCE.md and `zkperp circuit-stats`.

use std::sync::Arc;

use zkperp_circuits::stats::{batch_constraints, slot_costs, table_entry_cost};
use zkperp_state::batch::Shape;
use zkperp_state::testkit::Fixture;

#[test]
fn slots_fit_their_budgets_at_production_depths() {
    let f = Fixture::with_depths(1, 32, 16);
    let config = Arc::new(f.state.config().clone());
    let costs = slot_costs(&config).expect("counts");
    for c in &costs {
        eprintln!("{:>14}: {:>7} constraints", c.kind, c.constraints);
    }
    let trade = costs.iter().find(|c| c.kind == "trade").expect("trade");
    let entry = table_entry_cost(&config).expect("count");
    eprintln!("   table entry: {entry:>7} constraints");
    assert!(
        trade.constraints + entry <= 100_000,
        "trade slot {} + a table entry {entry}",
        trade.constraints
    );
    let empty = batch_constraints(&config, Shape::default()).expect("count");
    eprintln!("an empty batch (header, fee settlement, commitment): {empty}");
    assert!(empty > 0);
}
