//! The proving queue: sealed batches waiting for a proof, leased to provers (threads of this
//! process, or remote machines through the node's prover API), and every proof checked before
//! it is accepted.
//!
//! ```text
//!   Pipeline::offer(batch) ──> queue: pending ──lease──> a prover (local thread or remote)
//!                                 ^     │                    │
//!                     expired ────┘     │ <──── submit(lease, proof): verified against the
//!                     or released       │       batch's public-data commitment, else refused
//!                                       v
//!   Pipeline::process(batch) <── take(number): the proof, in batch order
//! ```
//!
//! Batches are offered as soon as they are sealed and leased lowest number first, so several
//! provers work on consecutive batches at once while the pipeline still submits them strictly
//! in order. A lease gives one prover the batch for [`ProvingQueue::lease_secs`]; if no valid
//! proof comes back by then the batch is leased again to whoever asks next. A proof is judged
//! by the verifying key alone, never by who sent it: a valid proof is accepted on any lease
//! the batch was given under, even a lapsed one, and an invalid one is refused and its lease
//! ended, so the batch goes to the next prover at once. A remote prover can therefore waste
//! time but never make the node accept a wrong proof or stop the pipeline; only the node's
//! own provers can declare a batch unprovable ([`ProvingQueue::fail`]), which is a
//! sequencer bug the pipeline must stop at.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::Serialize;
use zkperp_prover::{BatchProver, BatchVerifier, Proof};
use zkperp_state::batch::{SealedBatch, Shape};
use zkperp_state::Fr;

/// How long a lease lasts unless the queue is told otherwise.
pub const DEFAULT_LEASE_SECS: u64 = 600;

/// A batch given to one prover.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Unguessable (128 random bits, hex): the handle the proof is submitted under.
    pub id: String,
    pub batch: Arc<SealedBatch>,
    /// When the queue gives the batch to another prover if this one has not answered.
    pub expires_in: Duration,
}

/// A proof the queue accepted.
#[derive(Debug, Clone)]
pub struct Proved {
    pub proof: Proof,
    /// The name the prover leased under.
    pub prover: String,
    /// From the lease to the proof.
    pub proving_ms: u64,
}

/// Why a proof was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Never issued, or its batch is proven already (by this or another lease).
    #[error("no open lease {0} (never issued, or its batch is already proven)")]
    UnknownLease(String),
    /// The proof does not verify for the leased batch; the lease is ended.
    #[error("the proof does not verify for batch {batch}")]
    InvalidProof { batch: u64 },
}

/// Why [`ProvingQueue::take`] returned no proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    #[error("batch {0} was never offered to the proving queue")]
    NotOffered(u64),
    #[error("batch {number} cannot be proven: {reason}")]
    Unprovable { number: u64, reason: String },
    #[error("the proving queue is closed")]
    Closed,
}

/// One batch's place in the queue, for operators (`GET /v1/prover/status`).
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub batch: u64,
    /// `waiting` (for a prover), `leased`, `proven` (waiting for the pipeline) or `failed`.
    pub state: &'static str,
    /// The prover holding the current lease.
    pub prover: Option<String>,
    /// Leases given so far.
    pub leases: u32,
    /// Proofs refused so far.
    pub refused: u32,
    pub offered_secs_ago: u64,
}

#[derive(Debug)]
struct Current {
    id: String,
    prover: String,
    expires: Instant,
}

#[derive(Debug)]
enum Outcome {
    Pending,
    Proved(Box<Proved>),
    Failed(String),
}

#[derive(Debug)]
struct Job {
    batch: Arc<SealedBatch>,
    commitment: Fr,
    offered: Instant,
    current: Option<Current>,
    leases: u32,
    refused: u32,
    outcome: Outcome,
}

#[derive(Debug, Default)]
struct Jobs {
    by_batch: BTreeMap<u64, Job>,
    /// Every lease issued for a batch still in `by_batch`, to its batch and prover.
    leases: HashMap<String, (u64, String, Instant)>,
    closed: bool,
}

impl Jobs {
    /// Forgets `lease`, and frees its batch if the batch is still held under it; returns the
    /// batch's number.
    fn end_lease(&mut self, lease: &str) -> Result<u64, SubmitError> {
        let (number, _, _) = self
            .leases
            .remove(lease)
            .ok_or_else(|| SubmitError::UnknownLease(lease.to_string()))?;
        if let Some(job) = self.by_batch.get_mut(&number) {
            if job.current.as_ref().is_some_and(|c| c.id == lease) {
                job.current = None;
            }
        }
        Ok(number)
    }
}

/// Sealed batches waiting for proofs; see the module documentation.
#[derive(Debug)]
pub struct ProvingQueue {
    verifier: BatchVerifier,
    lease_for: Duration,
    jobs: Mutex<Jobs>,
    /// Woken when a batch becomes leasable (offered, released, refused) or the queue closes.
    work: tokio::sync::Notify,
    /// Woken when a batch is proven or fails.
    done: tokio::sync::Notify,
}

impl ProvingQueue {
    pub fn new(verifier: BatchVerifier, lease_secs: u64) -> Self {
        ProvingQueue {
            verifier,
            lease_for: Duration::from_secs(lease_secs.max(1)),
            jobs: Mutex::new(Jobs::default()),
            work: tokio::sync::Notify::new(),
            done: tokio::sync::Notify::new(),
        }
    }

    pub fn shape(&self) -> &Shape {
        self.verifier.shape()
    }

    /// What `batch` publishes in the queue's shape: its public data and its blobs.
    pub fn publish(
        &self,
        batch: &SealedBatch,
    ) -> Result<zkperp_state::da::Publication, zkperp_state::da::PayloadSourceError> {
        self.verifier.publish(batch)
    }

    pub fn lease_secs(&self) -> u64 {
        self.lease_for.as_secs()
    }

    fn jobs(&self) -> MutexGuard<'_, Jobs> {
        // Every change under the lock is whole before it is released.
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `batch` for proving; a batch already queued is left as it is (and its
    /// commitment is not computed again: the pipeline offers each batch twice, on sealing and
    /// before it waits for the proof).
    pub fn offer(&self, batch: &SealedBatch) -> Result<(), zkperp_state::da::PayloadSourceError> {
        if self.jobs().by_batch.contains_key(&batch.batch_number) {
            return Ok(());
        }
        let commitment = self.verifier.commitment(batch)?;
        let mut jobs = self.jobs();
        jobs.by_batch
            .entry(batch.batch_number)
            .or_insert_with(|| Job {
                batch: Arc::new(batch.clone()),
                commitment,
                offered: Instant::now(),
                current: None,
                leases: 0,
                refused: 0,
                outcome: Outcome::Pending,
            });
        drop(jobs);
        self.work.notify_waiters();
        Ok(())
    }

    /// Leases the lowest-numbered batch that no prover holds (or whose lease lapsed) to
    /// `prover`; `None` when there is none.
    pub fn try_lease(&self, prover: &str) -> Option<Lease> {
        let now = Instant::now();
        let mut jobs = self.jobs();
        if jobs.closed {
            return None;
        }
        let (&number, job) = jobs.by_batch.iter_mut().find(|(_, job)| {
            matches!(job.outcome, Outcome::Pending)
                && job.current.as_ref().is_none_or(|c| c.expires <= now)
        })?;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        job.current = Some(Current {
            id: id.clone(),
            prover: prover.to_string(),
            expires: now + self.lease_for,
        });
        job.leases += 1;
        let batch = job.batch.clone();
        jobs.leases
            .insert(id.clone(), (number, prover.to_string(), now));
        Some(Lease {
            id,
            batch,
            expires_in: self.lease_for,
        })
    }

    /// Waits up to `wait` for a batch to lease to `prover`; `None` if none came or the queue
    /// closed.
    pub async fn lease(&self, prover: &str, wait: Duration) -> Option<Lease> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(lease) = self.try_lease(prover) {
                return Some(lease);
            }
            // A lease that lapses makes its batch leasable with no notification: look again
            // then too.
            let wake = {
                let jobs = self.jobs();
                if jobs.closed {
                    return None;
                }
                jobs.by_batch
                    .values()
                    .filter_map(|j| j.current.as_ref().map(|c| c.expires))
                    .min()
                    .map(tokio::time::Instant::from_std)
                    .map_or(deadline, |t| t.min(deadline))
            };
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Accepts `proof` for the batch leased under `lease` if it verifies; returns the batch's
    /// number. An invalid proof ends the lease (the batch is leasable again at once).
    pub fn submit(&self, lease: &str, proof: Proof) -> Result<u64, SubmitError> {
        let unknown = || SubmitError::UnknownLease(lease.to_string());
        let (number, prover, issued, commitment) = {
            let jobs = self.jobs();
            let &(number, ref prover, issued) = jobs.leases.get(lease).ok_or_else(unknown)?;
            let job = jobs.by_batch.get(&number).ok_or_else(unknown)?;
            if !matches!(job.outcome, Outcome::Pending) {
                return Err(unknown());
            }
            (number, prover.clone(), issued, job.commitment)
        };
        // A pairing check, a few milliseconds: outside the lock.
        let valid = self.verifier.verify(commitment, &proof);
        let mut jobs = self.jobs();
        let Some(job) = jobs.by_batch.get_mut(&number) else {
            return Err(unknown());
        };
        if !matches!(job.outcome, Outcome::Pending) {
            return Err(unknown()); // another prover's proof won meanwhile
        }
        if !valid {
            job.refused += 1;
            let _ = jobs.end_lease(lease);
            drop(jobs);
            self.work.notify_waiters();
            return Err(SubmitError::InvalidProof { batch: number });
        }
        job.outcome = Outcome::Proved(Box::new(Proved {
            proof,
            prover,
            proving_ms: issued.elapsed().as_millis() as u64,
        }));
        job.current = None;
        jobs.leases.retain(|_, (n, _, _)| *n != number);
        drop(jobs);
        self.done.notify_waiters();
        Ok(number)
    }

    /// Gives up `lease` (the prover cannot finish it): the batch is leasable again at once.
    pub fn release(&self, lease: &str) -> Result<u64, SubmitError> {
        let mut jobs = self.jobs();
        let number = jobs.end_lease(lease)?;
        drop(jobs);
        self.work.notify_waiters();
        Ok(number)
    }

    /// Declares the batch of `lease` unprovable: its witness does not satisfy the circuit, so
    /// the sequencer sealed a batch that breaks a rule. Only for the node's own provers, whose
    /// word is trusted (a remote prover can only [`release`](Self::release)).
    pub fn fail(&self, lease: &str, reason: String) -> Result<u64, SubmitError> {
        let mut jobs = self.jobs();
        let number = jobs.end_lease(lease)?;
        if let Some(job) = jobs.by_batch.get_mut(&number) {
            if matches!(job.outcome, Outcome::Pending) {
                job.outcome = Outcome::Failed(reason);
            }
        }
        jobs.leases.retain(|_, (n, _, _)| *n != number);
        drop(jobs);
        self.done.notify_waiters();
        Ok(number)
    }

    /// Waits for the proof of batch `number` (offered before) and removes the batch from the
    /// queue.
    pub async fn take(&self, number: u64) -> Result<Proved, TakeError> {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut jobs = self.jobs();
                let job = jobs
                    .by_batch
                    .get(&number)
                    .ok_or(TakeError::NotOffered(number))?;
                match &job.outcome {
                    Outcome::Pending if jobs.closed => return Err(TakeError::Closed),
                    Outcome::Pending => {}
                    Outcome::Failed(reason) => {
                        return Err(TakeError::Unprovable {
                            number,
                            reason: reason.clone(),
                        })
                    }
                    Outcome::Proved(_) => {
                        let job = jobs.by_batch.remove(&number).expect("just found");
                        jobs.leases.retain(|_, (n, _, _)| *n != number);
                        let Outcome::Proved(proved) = job.outcome else {
                            unreachable!("matched above")
                        };
                        return Ok(*proved);
                    }
                }
            }
            notified.await;
        }
    }

    /// Stops leasing: provers waiting for work, and [`take`](Self::take)s waiting for a
    /// proof, return.
    pub fn close(&self) {
        self.jobs().closed = true;
        self.work.notify_waiters();
        self.done.notify_waiters();
    }

    /// Every batch in the queue, lowest first.
    pub fn status(&self) -> Vec<JobStatus> {
        let now = Instant::now();
        let jobs = self.jobs();
        jobs.by_batch
            .iter()
            .map(|(&batch, job)| {
                let live = job.current.as_ref().filter(|c| c.expires > now);
                JobStatus {
                    batch,
                    state: match (&job.outcome, live) {
                        (Outcome::Proved(_), _) => "proven",
                        (Outcome::Failed(_), _) => "failed",
                        (Outcome::Pending, Some(_)) => "leased",
                        (Outcome::Pending, None) => "waiting",
                    },
                    prover: live.map(|c| c.prover.clone()),
                    leases: job.leases,
                    refused: job.refused,
                    offered_secs_ago: now.duration_since(job.offered).as_secs(),
                }
            })
            .collect()
    }
}

/// A prover thread of this process: leases from `queue`, proves on a blocking thread, submits,
/// until the queue closes. A batch whose witness does not satisfy the circuit is declared
/// unprovable (see [`ProvingQueue::fail`]).
pub fn spawn_local(
    queue: Arc<ProvingQueue>,
    prover: Arc<BatchProver>,
    name: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(lease) = queue.lease(&name, Duration::from_secs(60)).await else {
                if queue.jobs().closed {
                    return;
                }
                continue;
            };
            let batch = lease.batch.clone();
            let p = prover.clone();
            let number = batch.batch_number;
            // Proving takes seconds of every core: never on the async runtime's threads.
            let result =
                tokio::task::spawn_blocking(move || p.prove(&batch, &mut rand::rngs::OsRng)).await;
            match result {
                Ok(Ok(proof)) => {
                    if let Err(e) = queue.submit(&lease.id, proof.proof) {
                        tracing::error!(target: "proving", batch = number, prover = %name, error = %e, "own proof not accepted");
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(target: "proving", batch = number, prover = %name, error = %e, "batch cannot be proven");
                    let _ = queue.fail(&lease.id, e.to_string());
                }
                Err(e) => {
                    // The proving thread panicked: let another prover try.
                    tracing::error!(target: "proving", batch = number, prover = %name, error = %e, "prover thread died");
                    let _ = queue.release(&lease.id);
                }
            }
        }
    })
}
