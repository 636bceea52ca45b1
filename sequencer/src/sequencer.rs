//! The sequencer: journal first, then the batch builder. A command is acknowledged only after it
//! is in the journal on disk, and on restart the journal is replayed into a fresh builder, so no
//! acknowledged order or state change is ever lost and the rebuilt books, state and held
//! transactions are exactly those before the crash.

use std::path::Path;

use zkperp_state::batch::Shape;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::state::{StateConfig, StateError};
use zkperp_state::State;

pub use crate::batcher::{BatchEvent, Executed, Outcome};
use crate::batcher::{Batcher, BatcherError};
use crate::engine::{Engine, FeeSchedule};
use crate::journal::{Command, Journal, JournalError};

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Batcher(#[from] BatcherError),
}

/// What a sequencer is started with. Changing any of it changes what a replay of the journal
/// produces: it is fixed for the life of a journal.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    pub state: StateConfig,
    pub fees: FeeSchedule,
    /// The slots of the batch circuit: every sealed batch fits it.
    pub shape: Shape,
}

impl SequencerConfig {
    /// A batch builder over the genesis state, with no batch open.
    pub fn genesis(&self) -> Result<Batcher<MemoryStore>, SequencerError> {
        let engine = Engine::new(State::genesis(self.state.clone())?, self.fees);
        Ok(Batcher::new(engine, self.shape)?)
    }
}

/// The sequencer over an in-memory state rebuilt from its journal.
#[derive(Debug)]
pub struct Sequencer {
    journal: Journal,
    batcher: Batcher<MemoryStore>,
}

impl Sequencer {
    /// Opens the journal at `path` and replays it onto the genesis state of `config`.
    pub fn open(path: &Path, config: &SequencerConfig) -> Result<Self, SequencerError> {
        let journal = Journal::open(path)?;
        let mut batcher = config.genesis()?;
        for (ticket, command) in journal.read_all()?.iter().enumerate() {
            batcher.execute(ticket as u64, command);
        }
        Ok(Sequencer { journal, batcher })
    }

    pub fn engine(&self) -> &Engine<MemoryStore> {
        self.batcher.engine()
    }

    pub fn batcher(&self) -> &Batcher<MemoryStore> {
        &self.batcher
    }

    /// Commands durably written so far.
    pub fn journal_len(&self) -> u64 {
        self.journal.len()
    }

    /// Writes `command` to the journal (synced), then executes it; its sequence number is its
    /// ticket. When this returns, the command survives any crash.
    pub fn execute(&mut self, command: Command) -> Result<Executed, SequencerError> {
        let ticket = self.journal.append(&command)?;
        Ok(self.batcher.execute(ticket, &command))
    }
}
