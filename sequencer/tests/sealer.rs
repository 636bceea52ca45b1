//! Sealing off the lock (`Sequencer::seal_off_thread`: batches closed on the leaves, their trees
//! hashed by the seal worker) against sealing in place, on the random command stream the crash
//! tests use (every order type, cancels, withdrawals, batches rolled by trades): the same
//! outcomes, the same batches (witness and all) in the same order, snapshots taken on the way
//! (the trees come back for them), and a restart from those snapshots is the same exchange.
//! (The state-level twin, with liquidations and deleverages, is in
//! `circuits/tests/random_batches.rs`, whose batches the batch circuit accepts.)
//!
//! And the gate in front of the sink: a sealed batch passes only once the command that closed
//! it is journaled, in order, and a worker that fails drops the sink.

use std::sync::{Arc, Mutex};

use zkperp_core::command::Command;
use zkperp_core::testkit::{fingerprint, CommandStream};
use zkperp_sequencer::gate::Gate;
use zkperp_sequencer::sequencer::Sequencer;
use zkperp_sequencer::snapshot::SnapshotPolicy;
use zkperp_state::batch::SealedBatch;

#[test]
fn batches_sealed_off_the_lock_are_the_batches_sealed_in_place() {
    const COMMANDS: u64 = 2_400;
    let stream = CommandStream::new(21);
    let config = stream.sequencer_config();
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut inline = Sequencer::open(a.path(), &config).expect("open");
    let mut off = Sequencer::open(b.path(), &config).expect("open");
    let got: Arc<Mutex<Vec<Arc<SealedBatch>>>> = Arc::default();
    let sink = got.clone();
    off.seal_off_thread(Box::new(move |batch| {
        sink.lock().expect("sink").push(batch);
    }))
    .expect("the worker starts");
    off.set_snapshot_policy(Some(SnapshotPolicy {
        every_batches: 4,
        keep: 2,
    }));
    let (mut want, mut by_orders, mut snapshots) = (Vec::new(), 0, 0);
    for n in 0..COMMANDS {
        let command = stream.command(n, inline.engine());
        let done = inline.execute(command.clone()).expect("journaled");
        let twin = off.execute(command.clone()).expect("journaled");
        assert_eq!(done.outcome, twin.outcome, "command {n}");
        let numbers: Vec<u64> = done.sealed().map(|b| b.batch_number).collect();
        assert_eq!(
            twin.batch_numbers().collect::<Vec<_>>(),
            numbers,
            "command {n} closes the batches it sealed in place"
        );
        assert_eq!(
            twin.sealed().count(),
            0,
            "nothing is sealed on the caller's thread"
        );
        if matches!(command, Command::Submit { .. }) {
            by_orders += numbers.len();
        }
        want.extend(done.sealed().cloned());
        snapshots += usize::from(off.snapshot_if_due(Vec::new).expect("snapshot").is_some());
    }
    off.settle_seals().expect("settles");
    assert_eq!(
        off.journaled_batches(),
        off.engine().state().batches_sealed(),
        "every batch closed was closed by a journaled command"
    );
    assert_eq!(fingerprint(off.batcher()), fingerprint(inline.batcher()));
    let got: Vec<SealedBatch> = got
        .lock()
        .expect("sink")
        .iter()
        .map(|b| b.as_ref().clone())
        .collect();
    assert_eq!(got.len(), want.len(), "every batch reached the sink once");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g == w,
            "batch {} sealed off the lock differs from the one sealed in place",
            w.batch_number
        );
    }
    assert!(
        want.len() >= 10 && by_orders > 0 && snapshots >= 2,
        "the stream seals batches, some rolled by orders, and snapshots: {} batches, {by_orders} \
         by orders, {snapshots} snapshots",
        want.len()
    );

    // A restart from the newest snapshot (taken with the trees back) and the journal after it.
    let seen = fingerprint(off.batcher());
    drop(off);
    let reopened = Sequencer::open(b.path(), &config).expect("reopen");
    assert_eq!(fingerprint(reopened.batcher()), seen);
}

#[test]
fn the_gate_passes_a_batch_once_it_is_journaled_in_order_and_drops_the_sink_on_failure() {
    // Three real batches, sealed in place.
    let stream = CommandStream::new(3);
    let dir = tempfile::tempdir().expect("tmp");
    let mut seq = Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open");
    let mut batches = Vec::new();
    let mut n = 0;
    while batches.len() < 3 {
        let command = stream.command(n, seq.engine());
        batches.extend(
            seq.execute(command)
                .expect("journaled")
                .sealed()
                .cloned()
                .map(Arc::new),
        );
        n += 1;
    }
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let gate = Gate::new(
        Box::new(move |batch| tx.send(batch.batch_number).expect("receiver")),
        0,
    );
    let passed = || rx.try_iter().collect::<Vec<_>>();
    gate.sealed(Ok(batches[0].clone()));
    gate.sealed(Ok(batches[1].clone()));
    assert_eq!(passed(), Vec::<u64>::new(), "nothing journaled yet");
    gate.journaled(1);
    assert_eq!(passed(), vec![1]);
    assert_eq!(gate.journaled_through(), 1);
    gate.journaled(3);
    assert_eq!(passed(), vec![2], "batch 3 is not sealed yet");
    gate.sealed(Ok(batches[2].clone()));
    assert_eq!(passed(), vec![3]);
    gate.sealed(Err("the trees failed".into()));
    assert!(
        matches!(rx.recv(), Err(std::sync::mpsc::RecvError)),
        "the sink is dropped: its receiver learns nothing more comes"
    );
}

#[test]
fn a_batch_closed_by_a_group_that_never_reached_the_journal_never_reaches_the_sink() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let stream = CommandStream::new(4);
    let dir = tempfile::tempdir().expect("tmp");
    let mut seq = Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open");
    let got: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = got.clone();
    seq.seal_off_thread(Box::new(move |batch| {
        sink.lock().expect("sink").push(batch.batch_number);
    }))
    .expect("the worker starts");
    // The stream ends its first batch at command 200.
    for n in 0..195 {
        let command = stream.command(n, seq.engine());
        seq.execute(command).expect("journaled");
    }
    let group: Vec<Command> = (195..210)
        .map(|n| stream.command(n, seq.engine()))
        .collect();
    assert!(group.iter().any(|c| matches!(c, Command::EndBatch)));
    let mut count = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        seq.execute_group(group, |_, _| {
            count += 1;
            assert!(count < 10, "a command after the EndBatch fails");
        })
    }));
    assert!(result.is_err(), "the group failed before its journal write");
    let closed = seq.engine().state().batches_sealed();
    assert!(closed >= 1, "the group closed a batch in memory");
    assert_eq!(seq.journaled_batches(), closed - 1);
    seq.settle_seals()
        .expect("the worker sealed what it was handed");
    assert!(
        !got.lock().expect("sink").contains(&closed),
        "the batch of the lost group is not handed on"
    );
}
