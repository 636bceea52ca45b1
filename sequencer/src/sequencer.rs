//! The sequencer: journal first, then the engine. A command is acknowledged only after it is in
//! the journal on disk, and on restart the journal is replayed into a fresh engine, so no
//! acknowledged order or state change is ever lost and the rebuilt books and state are exactly
//! those before the crash.

use std::path::Path;

use zkperp_state::batch::SealedBatch;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::state::{StateConfig, StateError};
use zkperp_state::tx::TxError;
use zkperp_state::State;

use crate::book::Event;
use crate::engine::{Engine, FeeSchedule, OrderError};
use crate::journal::{Command, Journal, JournalError};

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Book events of a submitted or cancelled order (fills among them are applied).
    Book(Vec<Event>),
    /// The order was refused before the book.
    Refused(OrderError),
    /// A transaction outside the book was applied.
    Applied,
    /// A transaction outside the book was refused by the state machine.
    TxRefused(TxError),
    BatchStarted,
    BatchSealed(Box<SealedBatch>),
    /// A batch command out of place (time going backwards).
    BatchRefused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// The sequencer over an in-memory state rebuilt from its journal.
#[derive(Debug)]
pub struct Sequencer {
    journal: Journal,
    engine: Engine<MemoryStore>,
}

impl Sequencer {
    /// Opens the journal at `path` and replays it onto the genesis state of `config`.
    pub fn open(
        path: &Path,
        config: StateConfig,
        fees: FeeSchedule,
    ) -> Result<Self, SequencerError> {
        let journal = Journal::open(path)?;
        let mut engine = Engine::new(State::genesis(config)?, fees);
        for command in journal.read_all()? {
            execute(&mut engine, &command);
        }
        Ok(Sequencer { journal, engine })
    }

    pub fn engine(&self) -> &Engine<MemoryStore> {
        &self.engine
    }

    /// Commands durably written so far.
    pub fn journal_len(&self) -> u64 {
        self.journal.len()
    }

    /// Writes `command` to the journal (synced), then executes it. When this returns, the
    /// command survives any crash.
    pub fn execute(&mut self, command: Command) -> Result<Outcome, SequencerError> {
        self.journal.append(&command)?;
        Ok(execute(&mut self.engine, &command))
    }
}

/// Runs one command on the engine. Deterministic: the same commands give the same outcomes.
pub fn execute(engine: &mut Engine<MemoryStore>, command: &Command) -> Outcome {
    match command {
        Command::BeginBatch { timestamp } => match engine.begin_batch(*timestamp) {
            Ok(()) => Outcome::BatchStarted,
            Err(e) => Outcome::BatchRefused(e.to_string()),
        },
        Command::EndBatch => match engine.end_batch() {
            Ok(data) => Outcome::BatchSealed(Box::new(data)),
            Err(e) => Outcome::BatchRefused(e.to_string()),
        },
        Command::Submit { order, options } => match engine.submit(*order, *options) {
            Ok(events) => Outcome::Book(events),
            Err(e) => Outcome::Refused(e),
        },
        Command::Cancel { cancel } => match engine.cancel(*cancel) {
            Ok(events) => Outcome::Book(events),
            Err(e) => Outcome::Refused(e),
        },
        Command::Apply { tx } => match engine.apply(tx) {
            Ok(_) => Outcome::Applied,
            Err(e) => Outcome::TxRefused(e),
        },
    }
}
