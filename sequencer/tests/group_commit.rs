//! Group commit (`Sequencer::execute_group`): a group gives each command exactly what it would
//! have got alone, under the same ticket, and is on disk when it returns; a group that fails
//! halts the sequencer and leaves the journal as it was, so a restart recovers exactly the
//! acknowledged commands.

use std::panic::{catch_unwind, AssertUnwindSafe};

use zkperp_core::command::Command;
use zkperp_core::testkit::{fingerprint, CommandStream};
use zkperp_sequencer::sequencer::{Sequencer, SequencerError};

const COMMANDS: u64 = 400;

#[test]
fn a_group_gives_each_command_what_it_gets_alone_and_survives_a_restart() {
    let stream = CommandStream::new(3);
    let (alone_dir, group_dir) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut alone = Sequencer::open(alone_dir.path(), &stream.sequencer_config()).expect("open");
    let mut grouped = Sequencer::open(group_dir.path(), &stream.sequencer_config()).expect("open");
    let mut n = 0;
    let mut size = 1;
    while n < COMMANDS {
        // Groups of 1, 2, 3, ... commands: the stream is generated from the state the one-by-one
        // sequencer is in, which the grouped one must match at every group boundary.
        let mut group: Vec<Command> = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..size {
            if n == COMMANDS {
                break;
            }
            let command = stream.command(n, alone.engine());
            expected.push(alone.execute(command.clone()).expect("alone"));
            group.push(command);
            n += 1;
        }
        let mut seen = 0;
        let got = grouped
            .execute_group(group, |_, _| seen += 1)
            .expect("grouped");
        assert_eq!(seen, got.len(), "`each` sees every command");
        assert_eq!(got, expected, "group of {size} ending at command {n}");
        assert_eq!(fingerprint(grouped.batcher()), fingerprint(alone.batcher()));
        assert_eq!(grouped.journal_len(), n);
        size += 1;
    }
    let seen = fingerprint(grouped.batcher());
    drop(grouped);
    let reopened = Sequencer::open(group_dir.path(), &stream.sequencer_config()).expect("reopen");
    assert_eq!(fingerprint(reopened.batcher()), seen);
}

#[test]
fn a_group_that_fails_halts_the_sequencer_and_writes_nothing() {
    let stream = CommandStream::new(4);
    let dir = tempfile::tempdir().expect("tmp");
    let mut seq = Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open");
    for n in 0..50 {
        let command = stream.command(n, seq.engine());
        seq.execute(command).expect("journaled");
    }
    let acknowledged = fingerprint(seq.batcher());
    let group: Vec<Command> = (50..60).map(|n| stream.command(n, seq.engine())).collect();
    // A command that panics halfway through the group (here: the observer) leaves memory ahead
    // of the journal.
    let mut count = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        seq.execute_group(group, |_, _| {
            count += 1;
            assert!(count < 5, "the fifth command fails");
        })
    }));
    assert!(result.is_err());
    assert_eq!(seq.journal_len(), 50, "nothing of the group is on disk");
    let next = stream.command(50, seq.engine());
    assert!(matches!(
        seq.execute(next.clone()),
        Err(SequencerError::Halted(_))
    ));
    assert!(matches!(
        seq.execute_group(vec![next], |_, _| {}),
        Err(SequencerError::Halted(_))
    ));
    drop(seq);
    let reopened = Sequencer::open(dir.path(), &stream.sequencer_config()).expect("reopen");
    assert_eq!(reopened.journal_len(), 50);
    assert_eq!(fingerprint(reopened.batcher()), acknowledged);
}
