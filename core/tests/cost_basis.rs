//! The entry prices the sequencer keeps (`Batcher::cost_basis`) follow the state exactly: after
//! every command of the random stream (orders of every type, fill-or-kill rollbacks, cancels,
//! batches sealed and rolled), every trader's tracked lots are the lots of its leaf, and a
//! position's cost stays within what its lots could have cost at the prices traded.

use zkperp_core::testkit::CommandStream;
use zkperp_state::units::AccountId;

#[test]
fn tracked_lots_are_the_leaves_lots_after_every_command() {
    let stream = CommandStream::new(21);
    let mut batcher = stream.sequencer_config().genesis().expect("genesis");
    let mut opened = 0;
    for n in 0..1_500u64 {
        let command = stream.command(n, batcher.engine());
        batcher.execute(n, &command);
        let entries = batcher.cost_basis();
        let state = batcher.engine().state();
        for (id, account) in state.accounts() {
            if *id == AccountId::INSURANCE_FUND || *id == AccountId::FEES {
                continue;
            }
            for (m, position) in account.leaf.positions.iter().enumerate() {
                let entry = entries.entry(*id, m);
                assert_eq!(
                    entry.lots,
                    position.size.get(),
                    "command {n}, {id:?}, market {m}"
                );
                // The stream trades within a few percent of the marks (at most 2^40 ticks).
                assert_eq!(entry.cost.signum(), entry.lots.signum(), "command {n}");
                assert!(entry.cost.abs() <= entry.lots.abs() << 40, "command {n}");
            }
        }
        opened = opened.max(entries.open().count());
    }
    assert!(
        opened >= 4,
        "the stream opened positions: at most {opened} at once"
    );
}
