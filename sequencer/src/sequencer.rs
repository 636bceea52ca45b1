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
    /// A group's journal write failed after its commands ran in memory: the memory is ahead of
    /// the journal, so this sequencer takes no more commands. A restart replays the journal,
    /// which holds every acknowledged command and none of the failed group's.
    #[error("the sequencer halted: {0}; restart it to recover from the journal")]
    Halted(String),
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
    /// Why the sequencer halted, if it did (see [`SequencerError::Halted`]).
    halted: Option<String>,
}

impl Sequencer {
    /// Opens the journal at `path` and replays it onto the genesis state of `config`.
    pub fn open(path: &Path, config: &SequencerConfig) -> Result<Self, SequencerError> {
        Self::open_observed(path, config, |_, _, _| {})
    }

    /// [`Sequencer::open`], showing `observe` every replayed command with what it did and the
    /// builder after it: a restarted process rebuilds from these what it derives from commands
    /// (the API's views, the L1 queues' cursors, the sealed batches still owed to the L1).
    pub fn open_observed(
        path: &Path,
        config: &SequencerConfig,
        mut observe: impl FnMut(&Command, &Batcher<MemoryStore>, &Executed),
    ) -> Result<Self, SequencerError> {
        let journal = Journal::open(path)?;
        let mut batcher = config.genesis()?;
        for (ticket, command) in journal.read_all()?.iter().enumerate() {
            let done = batcher.execute(ticket as u64, command);
            observe(command, &batcher, &done);
        }
        Ok(Sequencer {
            journal,
            batcher,
            halted: None,
        })
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
        self.check_running()?;
        let ticket = self.journal.append(&command)?;
        Ok(self.batcher.execute(ticket, &command))
    }

    /// Group commit: executes `commands` in order, calling `each` after each one, then writes
    /// them all to the journal in one synced write. When this returns `Ok`, every command of the
    /// group survives any crash; nothing of the group may be acknowledged before that.
    ///
    /// Executing before writing is what lets one fsync serve many commands while each still
    /// sees the state its predecessors left. It is safe because execution is deterministic and
    /// the tickets are the journal positions the commands are written at: a replay runs the
    /// same commands with the same tickets. A crash before the write loses only commands no one
    /// was told about. A failed write leaves memory ahead of the journal, so the sequencer
    /// halts ([`SequencerError::Halted`]) rather than acknowledge anything built on the lost
    /// group.
    pub fn execute_group(
        &mut self,
        commands: Vec<Command>,
        mut each: impl FnMut(&Batcher<MemoryStore>, &Executed),
    ) -> Result<Vec<Executed>, SequencerError> {
        self.check_running()?;
        // Halted until the group is on disk: if a command panics, nothing runs after it.
        self.halted = Some("a command panicked while its group ran".into());
        let first = self.journal.len();
        let mut executed = Vec::with_capacity(commands.len());
        for (i, command) in commands.iter().enumerate() {
            let done = self.batcher.execute(first + i as u64, command);
            each(&self.batcher, &done);
            executed.push(done);
        }
        if let Err(e) = self.journal.append_all(&commands) {
            let reason = format!("a group's journal write failed: {e}");
            self.halted = Some(reason.clone());
            return Err(SequencerError::Halted(reason));
        }
        self.halted = None;
        Ok(executed)
    }

    fn check_running(&self) -> Result<(), SequencerError> {
        match &self.halted {
            Some(reason) => Err(SequencerError::Halted(reason.clone())),
            None => Ok(()),
        }
    }
}
