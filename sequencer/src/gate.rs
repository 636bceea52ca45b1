//! The gate between the seal worker and the proving pipeline: a sealed batch passes only once
//! the command that closed it is in the journal.

use std::sync::{Arc, Mutex};

use zkperp_state::batch::SealedBatch;

/// Where sealed batches go past the [`Gate`], in order. Dropped when the seal worker fails:
/// whoever waits on it learns that nothing more will come.
pub type BatchSink = Box<dyn FnMut(Arc<SealedBatch>) + Send>;

/// Holds each sealed batch until the command that closed it is in the journal, then passes
/// it on, in order. A group commit executes its commands before its one journal write: a batch
/// one of them closed may be sealed before that write, and if the write fails the commands
/// are lost (the sequencer halts, and a restart replays the journal without them). Such a
/// batch must never reach the prover, or the L1 could take a batch no replay re-creates.
pub struct Gate {
    inner: Mutex<GateInner>,
}

struct GateInner {
    /// Batches up to this number were closed by journaled commands.
    journaled: u64,
    waiting: std::collections::VecDeque<Arc<SealedBatch>>,
    /// `None` once the worker failed.
    sink: Option<BatchSink>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Gate")
            .field("journaled", &inner.journaled)
            .field("waiting", &inner.waiting.len())
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate in front of `sink`; batches up to `journaled` are already on disk.
    pub fn new(sink: BatchSink, journaled: u64) -> Self {
        Gate {
            inner: Mutex::new(GateInner {
                journaled,
                waiting: Default::default(),
                sink: Some(sink),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A batch the worker sealed, or why it stopped: the batches it sealed before go on,
    /// and the sink is dropped.
    pub fn sealed(&self, batch: Result<Arc<SealedBatch>, String>) {
        let mut inner = self.lock();
        match batch {
            Ok(batch) => {
                inner.waiting.push_back(batch);
                inner.pass();
            }
            Err(_) => {
                inner.pass();
                inner.sink = None;
            }
        }
    }

    /// The newest batch whose closing command is journaled: every batch up to it goes to the
    /// sink once sealed.
    pub fn journaled_through(&self) -> u64 {
        self.lock().journaled
    }

    /// The commands that closed batches up to `number` are in the journal.
    pub fn journaled(&self, number: u64) {
        let mut inner = self.lock();
        inner.journaled = inner.journaled.max(number);
        inner.pass();
    }
}

impl GateInner {
    fn pass(&mut self) {
        while self
            .waiting
            .front()
            .is_some_and(|b| b.batch_number <= self.journaled)
        {
            let batch = self.waiting.pop_front().expect("checked");
            if let Some(sink) = self.sink.as_mut() {
                sink(batch);
            }
        }
    }
}
