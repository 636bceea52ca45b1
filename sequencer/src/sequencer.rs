//! The sequencer: journal first, then the batch builder. A command is acknowledged only after it
//! is in the journal on disk, and on restart the journal is replayed into a fresh builder, so no
//! acknowledged order or state change is ever lost and the rebuilt books, state and held
//! transactions are exactly those before the crash.

use std::sync::Arc;

use zkperp_state::field::fr_to_decimal;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::state::StateError;

use crate::gate::{BatchSink, Gate};
use crate::journal::{Journal, JournalError};
use crate::snapshot::{SnapshotChoice, SnapshotMeta, SnapshotPolicy, Stored, SNAPSHOT_VERSION};
use crate::storage::At;
pub use zkperp_core::batcher::{BatchEvent, Executed, Outcome};
use zkperp_core::batcher::{Batcher, BatcherError};
use zkperp_core::command::Command;
use zkperp_core::config::ConfigError;
pub use zkperp_core::config::SequencerConfig;
use zkperp_core::engine::Engine;

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Batcher(#[from] BatcherError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A group's journal write failed after its commands ran in memory: the memory is ahead of
    /// the journal, so this sequencer takes no more commands. A restart replays the journal,
    /// which holds every acknowledged command and none of the failed group's.
    #[error("the sequencer halted: {0}; restart it to recover from the journal")]
    Halted(String),
}

/// The sequencer over an in-memory state rebuilt from its journal.
#[derive(Debug)]
pub struct Sequencer {
    journal: Journal,
    batcher: Batcher<MemoryStore>,
    /// Why the sequencer halted, if it did (see [`SequencerError::Halted`]).
    halted: Option<String>,
    config_json: String,
    snapshots: Option<SnapshotPolicy>,
    /// Batches sealed when the newest snapshot was taken (or at the position replay began).
    last_snapshot: Option<u64>,
    /// In front of the seal worker's sink, when batches are sealed off the caller's thread
    /// ([`Sequencer::seal_off_thread`]).
    gate: Option<Arc<Gate>>,
}

/// A sequencer being opened: the builder at the snapshot chosen (or genesis), its owner's
/// extras, and the journal's commands after it still to replay ([`Opening::replay`]).
#[derive(Debug)]
pub struct Opening {
    journal: Journal,
    batcher: Batcher<MemoryStore>,
    config_json: String,
    position: u64,
    restored: Option<SnapshotMeta>,
    extras: Option<Vec<u8>>,
    skipped: Vec<(SnapshotMeta, String)>,
}

impl Opening {
    /// The snapshot the builder was restored from (`None`: genesis).
    pub fn restored(&self) -> Option<&SnapshotMeta> {
        self.restored.as_ref()
    }

    /// The bytes stored with that snapshot by its owner ([`Sequencer::snapshot_if_due`]).
    pub fn extras(&self) -> Option<&[u8]> {
        self.extras.as_deref()
    }

    /// Snapshots that could have been used but were not, newest first, with the reason.
    pub fn skipped(&self) -> &[(SnapshotMeta, String)] {
        &self.skipped
    }

    /// The builder as restored, before any replay.
    pub fn batcher(&self) -> &Batcher<MemoryStore> {
        &self.batcher
    }

    /// Replays the journal after the snapshot, showing `observe` every command with what it did
    /// and the builder after it. The batches it seals are sealed off this thread, as the
    /// running sequencer seals them ([`Sequencer::seal_off_thread`]): the trees are hashed on
    /// the seal worker while the next commands replay, and each sealed batch goes to `sealed`,
    /// in order (every replayed command is journaled); `observe` sees
    /// [`zkperp_core::batcher::BatchEvent::Closed`]. When this returns every batch is sealed and
    /// the trees are back.
    pub fn replay(
        self,
        mut observe: impl FnMut(&Command, &Batcher<MemoryStore>, &Executed),
        mut sealed: BatchSink,
    ) -> Result<Sequencer, SequencerError> {
        let Opening {
            journal,
            mut batcher,
            config_json,
            position,
            restored,
            ..
        } = self;
        let commands = journal.read_from(position)?;
        batcher.seal_off_thread(Box::new(move |batch| {
            // A failure stops the worker; the seals after it fail, and so does the settle.
            if let Ok(batch) = batch {
                sealed(batch);
            }
        }))?;
        let mut at = 0;
        for chunk in commands.chunks(REPLAY_CHUNK) {
            check_signatures(&batcher, chunk);
            for command in chunk {
                let done = batcher.execute(position + at, command);
                observe(command, &batcher, &done);
                at += 1;
            }
        }
        batcher.seal_in_place()?;
        Ok(Sequencer {
            journal,
            batcher,
            halted: None,
            config_json,
            snapshots: None,
            last_snapshot: restored.map(|m| m.batches_sealed),
            gate: None,
        })
    }
}

/// Commands whose signatures a replay checks together, on every core, before executing them.
/// Well within the verification memo (`zkperp_state::eddsa::VERIFIED_MEMO`), so that what
/// was checked is still remembered when the commands execute.
const REPLAY_CHUNK: usize = 8_192;

/// Checks the signatures `commands` carry against their accounts' keys as `batcher` holds them,
/// on every core. Nothing is decided here: a success lands in the verification memo, so the
/// engine's own check when the command executes (in order, on one thread) is a lookup; a
/// failure, or an account the chunk itself creates, is checked again there in full.
///
/// A journaled command was checked before it was journaled, but a replay does not take the
/// journal's word for it: the journal is a file on disk, and the rules are the same rules.
///
/// The signatures go through the batch path ([`zkperp_state::eddsa::verify_batch`]) a slice of
/// [`REPLAY_BATCH`] commands per task: a journal of valid signatures costs about half a single
/// check's arithmetic each.
fn check_signatures(batcher: &Batcher<MemoryStore>, commands: &[Command]) {
    use rayon::prelude::*;
    let state = batcher.engine().state();
    let domain = state.config().domain;
    commands.par_chunks(REPLAY_BATCH).for_each(|slice| {
        let items: Vec<_> = slice
            .iter()
            .filter_map(|command| {
                let (account, message, signature) = command.signed(&domain)?;
                let key = &state.account(account)?.leaf.public_key;
                Some((key, message, signature))
            })
            .collect();
        let _ = zkperp_state::eddsa::verify_batch(&items);
    });
}

/// Commands whose signatures a replay checks as one batch.
const REPLAY_BATCH: usize = 256;

impl Sequencer {
    /// Opens the journal at `path` and rebuilds the builder from the newest snapshot and the
    /// commands after it (from genesis if there is none).
    pub fn open(at: impl At, config: &SequencerConfig) -> Result<Self, SequencerError> {
        Self::opening(at, config, SnapshotChoice::Latest)?.replay(|_, _, _| {}, Box::new(|_| {}))
    }

    /// [`Sequencer::open`] from the snapshot `choice` allows, without replaying yet: the caller
    /// restores what it keeps with the snapshot ([`Opening::extras`]), then replays
    /// ([`Opening::replay`]), seeing each replayed command and what it did (a restarted process
    /// rebuilds from these what it derives from commands: the API's views, the sealed batches
    /// still owed to the L1).
    pub fn opening(
        at: impl At,
        config: &SequencerConfig,
        choice: SnapshotChoice,
    ) -> Result<Opening, SequencerError> {
        let mut journal = Journal::open(at)?;
        let padding = journal.padding_secret()?;
        let config_json = config.fingerprint();
        let mut skipped = Vec::new();
        let candidates: Vec<SnapshotMeta> = match choice {
            SnapshotChoice::Genesis => Vec::new(),
            SnapshotChoice::Latest => journal.snapshots()?,
            SnapshotChoice::AtMostBatch(n) => journal
                .snapshots()?
                .into_iter()
                .filter(|m| m.batches_sealed <= n)
                .collect(),
        };
        for meta in candidates.into_iter().rev() {
            match Self::restore(&journal, config, &config_json, &meta) {
                Ok((mut batcher, extras)) => {
                    batcher.set_padding_secret(padding);
                    return Ok(Opening {
                        journal,
                        batcher,
                        config_json,
                        position: meta.position,
                        restored: Some(meta),
                        extras,
                        skipped,
                    });
                }
                Err(why) => skipped.push((meta, why)),
            }
        }
        let mut batcher = config.genesis()?;
        batcher.set_padding_secret(padding);
        Ok(Opening {
            journal,
            batcher,
            config_json,
            position: 0,
            restored: None,
            extras: None,
            skipped,
        })
    }

    fn restore(
        journal: &Journal,
        config: &SequencerConfig,
        config_json: &str,
        meta: &SnapshotMeta,
    ) -> Result<(Batcher<MemoryStore>, Option<Vec<u8>>), String> {
        if meta.position > journal.len() {
            return Err(format!(
                "it is at position {} of a journal of {} commands",
                meta.position,
                journal.len()
            ));
        }
        let stored = journal
            .read_snapshot(meta.position)
            .map_err(|e| e.to_string())?;
        if stored.version != SNAPSHOT_VERSION {
            return Err(format!("it is of format version {}", stored.version));
        }
        if stored.config != config_json {
            return Err("it was taken under another configuration".into());
        }
        if stored.position != meta.position {
            return Err("its index entry names another position".into());
        }
        let batcher = Batcher::restore(
            config.state.clone(),
            config.fees,
            config.shape,
            stored.batcher,
        )
        .map_err(|e| e.to_string())?;
        let state = batcher.engine().state();
        if state.batches_sealed() != meta.batches_sealed
            || fr_to_decimal(&state.root()) != meta.root
        {
            return Err("its state is not the one its index entry records".into());
        }
        let extras = match stored.extras {
            ciborium::Value::Bytes(bytes) => Some(bytes),
            ciborium::Value::Null => None,
            _ => return Err("its extras are not bytes".into()),
        };
        Ok((batcher, extras))
    }

    /// Writes snapshots by `policy` from now on (whenever [`Sequencer::snapshot_if_due`] is
    /// called); `None`: never.
    pub fn set_snapshot_policy(&mut self, policy: Option<SnapshotPolicy>) {
        self.snapshots = policy;
    }

    /// Writes a snapshot at the current journal position if the policy says one is due and no
    /// batch is open; `extras` are stored with it. Returns what was written. A failure here
    /// loses nothing (the journal has every command): the caller reports it and goes on.
    pub fn snapshot_if_due(
        &mut self,
        extras: impl FnOnce() -> Vec<u8>,
    ) -> Result<Option<SnapshotMeta>, SequencerError> {
        let Some(policy) = self.snapshots else {
            return Ok(None);
        };
        let sealed = self.batcher.engine().state().batches_sealed();
        let due = sealed >= self.last_snapshot.unwrap_or(0) + policy.every_batches.max(1);
        if !due || self.halted.is_some() {
            return Ok(None);
        }
        let written = self.snapshot(extras(), policy.keep)?;
        if written.is_some() {
            self.last_snapshot = Some(sealed);
        }
        Ok(written)
    }

    /// Writes a snapshot now (`None` if a batch is open), keeping the newest `keep`.
    pub fn snapshot(
        &mut self,
        extras: Vec<u8>,
        keep: usize,
    ) -> Result<Option<SnapshotMeta>, SequencerError> {
        if self.batcher.is_open() {
            // Not taken: and the trees stay with the seal worker (a snapshot due while batches
            // roll would otherwise wait for each seal under the caller's lock).
            return Ok(None);
        }
        // The roots are the trees': back from the seal worker, every closed batch sealed.
        self.settle_seals()?;
        let Some(batcher) = self.batcher.snapshot() else {
            return Ok(None);
        };
        let state = self.batcher.engine().state();
        let meta = SnapshotMeta {
            position: self.journal.len(),
            batches_sealed: state.batches_sealed(),
            root: fr_to_decimal(&state.root()),
            bytes: 0,
        };
        let stored = Stored {
            version: SNAPSHOT_VERSION,
            position: meta.position,
            config: self.config_json.clone(),
            batcher,
            extras: ciborium::Value::Bytes(extras),
        };
        Ok(Some(self.journal.put_snapshot(&stored, &meta, keep)?))
    }

    /// The snapshots on disk, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>, SequencerError> {
        Ok(self.journal.snapshots()?)
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

    /// The journaled command whose ticket is `ticket`.
    pub fn journaled(&self, ticket: u64) -> Result<Option<Command>, SequencerError> {
        Ok(self.journal.get(ticket)?)
    }

    /// Writes `command` to the journal (synced), then executes it; its sequence number is its
    /// ticket. When this returns, the command survives any crash.
    pub fn execute(&mut self, command: Command) -> Result<Executed, SequencerError> {
        self.check_running()?;
        let ticket = self.journal.append(&command)?;
        let done = self.batcher.execute(ticket, &command);
        self.release_sealed();
        Ok(done)
    }

    /// Seals every batch from now on off the caller's thread, on a worker that owns the trees
    /// ([`zkperp_core::sealer`]): the lock a caller holds around a command is held for the close of
    /// a batch, not its hashing. Each sealed batch goes to `sink`, in order, once the command
    /// that closed it is in the journal ([`crate::gate::Gate`]). Commands report
    /// [`zkperp_core::batcher::BatchEvent::Closed`] instead of `Sealed`.
    pub fn seal_off_thread(&mut self, sink: BatchSink) -> Result<(), SequencerError> {
        let sealed = self.batcher.engine().state().batches_sealed();
        let gate = Arc::new(Gate::new(sink, sealed));
        let to_gate = gate.clone();
        self.batcher
            .seal_off_thread(Box::new(move |batch| to_gate.sealed(batch)))?;
        self.gate = Some(gate);
        Ok(())
    }

    /// Waits for the seal worker to seal every batch closed so far and takes the trees back:
    /// the state's roots can be read again ([`zkperp_core::batcher::Batcher::settle_seals`]).
    pub fn settle_seals(&mut self) -> Result<(), SequencerError> {
        Ok(self.batcher.settle_seals()?)
    }

    /// The newest batch closed by a journaled command: off the thread, every batch up to it
    /// reaches the sink once sealed; a batch closed by a group whose journal write failed never
    /// does (the sequencer halted), so whoever waits for the sink waits for these only.
    pub fn journaled_batches(&self) -> u64 {
        match &self.gate {
            Some(gate) => gate.journaled_through(),
            None => self.batcher.engine().state().batches_sealed(),
        }
    }

    /// Every batch closed so far was closed by a journaled command: the gate lets them pass.
    fn release_sealed(&self) {
        if let Some(gate) = &self.gate {
            gate.journaled(self.batcher.engine().state().batches_sealed());
        }
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
        self.release_sealed();
        Ok(executed)
    }

    fn check_running(&self) -> Result<(), SequencerError> {
        match &self.halted {
            Some(reason) => Err(SequencerError::Halted(reason.clone())),
            None => Ok(()),
        }
    }
}
