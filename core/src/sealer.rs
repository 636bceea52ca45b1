//! The seal off the sequencer's lock: a worker thread owns the state's trees and turns each
//! closed batch into its sealed batch, in order, while the sequencer executes the next.
//!
//! Closing a batch ([`State::close_batch`]) is a step on the leaves: the fee credit, the
//! touched accounts, the batch counted. What costs is the tree work: every pending write's
//! orders-tree and account-tree path, the fee write, the salt steps, and every receipt the
//! circuit consumes (626 ms for 1,024 trades on 2 cores, docs/PERFORMANCE.md). That is the
//! worker's ([`Trees::seal`]), so the sequencer's lock is held for the close only, and the next
//! batch's orders match while the last one is hashed.
//!
//! The worker takes the trees at the first seal ([`State::lend_trees`]) and keeps them; each
//! sealed batch goes to the sink, in batch order. [`Sealer::settle`] waits for every closed
//! batch to be sealed and gives the trees back to the state (a snapshot needs its roots). The
//! sealed batch is exactly what [`State::end_batch`] returns for the same batch: the state
//! closes it the same way and the trees seal it the same way (the `sealer` test runs both on
//! random command streams and compares them).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use zkperp_state::batch::SealedBatch;
use zkperp_state::merkle::NodeStore;
use zkperp_state::state::{State, StateError};
use zkperp_state::trees::{ClosedBatch, Trees};

enum Job<S: NodeStore> {
    /// The trees, from the state (before the first batch the worker seals).
    Lend(Trees<S>),
    Seal(ClosedBatch),
    /// Give the trees back once every batch before this is sealed.
    Return(mpsc::SyncSender<Result<Trees<S>, StateError>>),
}

/// Where the worker sends each sealed batch, in order, or why it stopped (then nothing
/// follows).
pub type SealSink = Box<dyn FnMut(Result<Arc<SealedBatch>, String>) + Send>;

/// The seal worker's handle.
pub struct Sealer<S: NodeStore> {
    jobs: Option<mpsc::Sender<Job<S>>>,
    worker: Option<JoinHandle<()>>,
    /// Why the worker stopped, if it failed: every seal after that is refused.
    failed: Arc<Mutex<Option<String>>>,
}

impl<S: NodeStore> std::fmt::Debug for Sealer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn failure(failed: &Mutex<Option<String>>) -> Option<String> {
    failed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

impl<S: NodeStore + Send + 'static> Sealer<S> {
    /// Starts the worker; each batch it seals goes to `sink`.
    pub fn spawn(mut sink: SealSink) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let failed = Arc::new(Mutex::new(None));
        let failed_in = failed.clone();
        let worker = std::thread::Builder::new()
            .name("sealer".into())
            .spawn(move || {
                // One core is left to the matching: on the shared pool the seal's hashing
                // would take every core from the orders arriving meanwhile.
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(cores.saturating_sub(1).max(1))
                    .thread_name(|i| format!("sealer-{i}"))
                    .build();
                let mut trees: Option<Trees<S>> = None;
                let fail = |sink: &mut SealSink, why: String| {
                    tracing::error!("the seal worker stopped: {why}");
                    *failed_in
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.clone());
                    sink(Err(why));
                };
                for job in queue {
                    match job {
                        Job::Lend(lent) => trees = Some(lent),
                        Job::Seal(closed) => {
                            let Some(t) = trees.as_mut() else {
                                fail(&mut sink, "a batch to seal, and no trees".into());
                                return;
                            };
                            let sealed = match pool.as_ref() {
                                Ok(pool) => pool.install(|| t.seal(closed)),
                                Err(_) => t.seal(closed),
                            };
                            match sealed {
                                Ok(batch) => sink(Ok(Arc::new(batch))),
                                Err(e) => {
                                    // Half a seal leaves the trees unusable: stop here.
                                    fail(&mut sink, e.to_string());
                                    return;
                                }
                            }
                        }
                        Job::Return(back) => {
                            let _ = back.send(trees.take().ok_or(StateError::TreesAway));
                        }
                    }
                }
            })?;
        Ok(Sealer {
            jobs: Some(jobs),
            worker: Some(worker),
            failed,
        })
    }
}

impl<S: NodeStore> Sealer<S> {
    fn send(&self, job: Job<S>) -> Result<(), StateError> {
        let stopped = || {
            StateError::Store(
                failure(&self.failed).unwrap_or_else(|| "the seal worker stopped".into()),
            )
        };
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }

    /// Closes the state's open batch and hands it to the worker (the trees too, the first
    /// time); returns its number. The batch reaches the sink once the worker has sealed it.
    pub fn seal(&mut self, state: &mut State<S>) -> Result<u64, StateError> {
        if let Some(why) = failure(&self.failed) {
            return Err(StateError::Store(why));
        }
        if state.trees().is_some() {
            let trees = state.lend_trees().ok_or_else(|| {
                StateError::Store("a savepoint is open: the trees cannot be lent".into())
            })?;
            self.send(Job::Lend(trees))?;
        }
        let closed = state.close_batch()?;
        let number = closed.number();
        self.send(Job::Seal(closed))?;
        Ok(number)
    }

    /// Waits until every batch handed over is sealed and gives the trees back to `state`.
    pub fn settle(&mut self, state: &mut State<S>) -> Result<(), StateError> {
        if state.trees().is_some() {
            return Ok(());
        }
        let (back, trees) = mpsc::sync_channel(1);
        self.send(Job::Return(back))?;
        let trees = trees.recv().map_err(|_| {
            StateError::Store(
                failure(&self.failed).unwrap_or_else(|| "the seal worker stopped".into()),
            )
        })??;
        state.return_trees(trees);
        Ok(())
    }
}

impl<S: NodeStore> Drop for Sealer<S> {
    /// Lets the worker seal what it was handed, then stops it.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
