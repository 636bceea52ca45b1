//! The batch pipeline after sealing: have each sealed batch proven (by the provers of the
//! [`ProvingQueue`], off the async runtime, several batches at once), submit the proofs to the
//! rollup strictly in batch order, and record every batch's status durably.
//!
//! ```text
//!   SealedBatch ──> BatchStore: Sealed ──> ProvingQueue ──> BatchStore: Proven {proof, prover}
//!                  (Pipeline::offer)       (any prover)                  │
//!        BatchStore: Verified {tx, block, gas} <── L1::submit_batch (operator key), in order
//! ```
//!
//! Restart-safe by construction: each step is persisted (synced) before the next begins, a
//! stored proof is never recomputed, and before submitting the pipeline asks the L1 whether
//! the batch is already applied (a crash between the L1 transaction and the status write), in
//! which case it records the L1's event instead of submitting again. A batch the L1 refuses
//! is recorded `Failed` with the contract's reason and stops the pipeline: later batches build
//! on its root and can never apply, so an operator must look.

use alloy::primitives::U256;
use rocksdb::{IteratorMode, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use zkperp_contracts::{alloy, BatchBlob, L1Error, L1};
use zkperp_prover::export;
use zkperp_state::batch::SealedBatch;
use zkperp_state::field::fr_to_decimal;

use crate::proving::{ProvingQueue, TakeError};
use crate::verified::{VerifiedError, VerifiedState};

use crate::storage::At;
pub use crate::storage::BATCHES_CF;

/// Where a batch is on its way to L1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BatchStatus {
    Sealed,
    /// Proven; the proof as the verifier's eight words (0x-hex).
    Proven {
        proof: Vec<String>,
        proving_ms: u64,
        /// The name of the prover whose proof was accepted (absent in records written before
        /// provers had names).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prover: Option<String>,
    },
    /// Applied by the rollup.
    Verified {
        tx: String,
        block: u64,
        /// `None` when recovered from the L1's event after a restart.
        gas: Option<u64>,
    },
    /// The rollup refused it; nothing after it can apply.
    Failed {
        reason: String,
    },
}

impl BatchStatus {
    pub fn name(&self) -> &'static str {
        match self {
            BatchStatus::Sealed => "sealed",
            BatchStatus::Proven { .. } => "proven",
            BatchStatus::Verified { .. } => "verified",
            BatchStatus::Failed { .. } => "failed",
        }
    }
}

/// One batch's record, as the API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub number: u64,
    pub shape: String,
    pub old_root: String,
    pub new_root: String,
    pub timestamp: u64,
    pub transactions: usize,
    pub status: BatchStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error(transparent)]
    Storage(#[from] crate::store::StoreError),
    #[error("batch store entry {number} is corrupt: {reason}")]
    Corrupt { number: u64, reason: String },
    #[error("batch store column family missing")]
    MissingColumnFamily,
    /// The node's own prover found the batch's witness does not satisfy the circuit.
    #[error("batch {number} cannot be proven: {reason}")]
    Unprovable { number: u64, reason: String },
    #[error("batch {number} does not fit the pipeline's shape: {reason}")]
    Shape { number: u64, reason: String },
    #[error("the proving queue closed before batch {0} was proven")]
    ProvingClosed(u64),
    #[error("batch {number} on L1: {source}")]
    L1 {
        number: u64,
        #[source]
        source: L1Error,
    },
    #[error("batch {number} was refused by the rollup ({reason}); the pipeline stops here")]
    Refused { number: u64, reason: String },
    #[error("batch {number}: {source}")]
    Verified {
        number: u64,
        #[source]
        source: VerifiedError,
    },
    #[error("batch {number}: the L1 applied root {l1} but the sequencer sealed {ours}")]
    Diverged {
        number: u64,
        l1: String,
        ours: String,
    },
}

/// Every batch's status, in RocksDB (key: batch number, big-endian; value: JSON), each write
/// synced before it returns; every write is also announced to [`BatchStore::subscribe`]rs (the
/// API's batch channel), after it is on disk.
#[derive(Debug)]
pub struct BatchStore {
    db: Arc<DB>,
    updates: tokio::sync::broadcast::Sender<BatchRecord>,
}

/// Status changes a slow subscriber may fall behind by before it misses some.
const UPDATES_BUFFER: usize = 256;

impl BatchStore {
    /// The batch records in the sequencer's database `at`.
    pub fn open(at: impl At) -> Result<Self, PipelineError> {
        Ok(BatchStore {
            db: at.storage()?.db().clone(),
            updates: tokio::sync::broadcast::channel(UPDATES_BUFFER).0,
        })
    }

    /// Every record written from now on, in write order (a receiver that falls more than
    /// 256 writes behind gets `Lagged` and should re-read [`BatchStore::all`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<BatchRecord> {
        self.updates.subscribe()
    }

    pub fn put(&self, record: &BatchRecord) -> Result<(), PipelineError> {
        let cf = self
            .db
            .cf_handle(BATCHES_CF)
            .ok_or(PipelineError::MissingColumnFamily)?;
        let value = serde_json::to_vec(record).map_err(|e| PipelineError::Corrupt {
            number: record.number,
            reason: e.to_string(),
        })?;
        let mut w = WriteOptions::default();
        w.set_sync(true);
        self.db
            .put_cf_opt(cf, record.number.to_be_bytes(), value, &w)?;
        // No subscriber is not an error.
        let _ = self.updates.send(record.clone());
        Ok(())
    }

    pub fn get(&self, number: u64) -> Result<Option<BatchRecord>, PipelineError> {
        let cf = self
            .db
            .cf_handle(BATCHES_CF)
            .ok_or(PipelineError::MissingColumnFamily)?;
        self.db
            .get_cf(cf, number.to_be_bytes())?
            .map(|bytes| decode(number, &bytes))
            .transpose()
    }

    /// Every record, in batch order.
    pub fn all(&self) -> Result<Vec<BatchRecord>, PipelineError> {
        let cf = self
            .db
            .cf_handle(BATCHES_CF)
            .ok_or(PipelineError::MissingColumnFamily)?;
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (key, value) = item?;
            let number =
                crate::storage::number_of_key(&key).ok_or_else(|| PipelineError::Corrupt {
                    number: 0,
                    reason: "key is not 8 bytes".into(),
                })?;
            out.push(decode(number, &value)?);
        }
        Ok(out)
    }
}

fn decode(number: u64, bytes: &[u8]) -> Result<BatchRecord, PipelineError> {
    serde_json::from_slice(bytes).map_err(|e| PipelineError::Corrupt {
        number,
        reason: e.to_string(),
    })
}

fn words(proof: &[String]) -> Option<[U256; 8]> {
    let mut out = [U256::ZERO; 8];
    if proof.len() != 8 {
        return None;
    }
    for (o, w) in out.iter_mut().zip(proof) {
        *o = w.parse().ok()?;
    }
    Some(out)
}

/// Proves and submits batches of one shape.
#[derive(Debug, Clone)]
pub struct Pipeline {
    store: Arc<BatchStore>,
    provers: Arc<ProvingQueue>,
    /// The shape's index in the rollup's verifier list.
    shape_index: u64,
    l1: L1,
    /// Moved forward by every verified batch, when given.
    verified: Option<Arc<Mutex<VerifiedState>>>,
    /// Where every blob is kept before its batch is submitted, when given (`crate::archive`).
    archive: Option<std::path::PathBuf>,
}

impl Pipeline {
    pub fn new(
        store: Arc<BatchStore>,
        provers: Arc<ProvingQueue>,
        shape_index: u64,
        l1: L1,
    ) -> Self {
        Pipeline {
            store,
            provers,
            shape_index,
            l1,
            verified: None,
            archive: None,
        }
    }

    /// Also writes every batch's blobs into `dir` before submitting it.
    pub fn with_archive(mut self, dir: std::path::PathBuf) -> Self {
        self.archive = Some(dir);
        self
    }

    /// Also keeps `verified` at the last verified batch (leaves and paths for the API).
    pub fn with_verified(mut self, verified: Arc<Mutex<VerifiedState>>) -> Self {
        self.verified = Some(verified);
        self
    }

    pub fn store(&self) -> &BatchStore {
        &self.store
    }

    /// The queue this pipeline's batches are proven through.
    pub fn provers(&self) -> &Arc<ProvingQueue> {
        &self.provers
    }

    fn record(&self, batch: &SealedBatch) -> BatchRecord {
        BatchRecord {
            number: batch.batch_number,
            shape: self.provers.shape().id(),
            old_root: fr_to_decimal(&batch.old_root),
            new_root: fr_to_decimal(&batch.new_root),
            timestamp: batch.timestamp.get(),
            transactions: batch.txs.len(),
            status: BatchStatus::Sealed,
        }
    }

    /// Records `batch` as sealed (unless it is recorded already) and, unless a proof of it is
    /// stored, offers it to the provers at once, so that it is proven while the batches before
    /// it are still being proven or submitted.
    pub fn offer(&self, batch: &SealedBatch) -> Result<(), PipelineError> {
        let record = self.sealed_record(batch)?;
        if record.status == BatchStatus::Sealed {
            self.offer_to_provers(batch)?;
        }
        Ok(())
    }

    fn offer_to_provers(&self, batch: &SealedBatch) -> Result<(), PipelineError> {
        self.provers.offer(batch).map_err(|e| PipelineError::Shape {
            number: batch.batch_number,
            reason: e.to_string(),
        })
    }

    /// The stored record of `batch`, written as `Sealed` first if there is none.
    fn sealed_record(&self, batch: &SealedBatch) -> Result<BatchRecord, PipelineError> {
        Ok(match self.store.get(batch.batch_number)? {
            Some(r) => r,
            None => {
                let r = self.record(batch);
                self.store.put(&r)?;
                r
            }
        })
    }

    /// Takes `batch` as far as the L1: proven (unless a proof is stored), then submitted
    /// (unless the L1 already applied it). Returns the final record, `Verified`.
    pub async fn process(&self, batch: SealedBatch) -> Result<BatchRecord, PipelineError> {
        let record = self.to_l1(&batch).await?;
        if let Some(verified) = &self.verified {
            // Idempotent: a batch the verified state already holds is skipped, so a crash
            // between the status write and this step is repaired by processing it again.
            let mut v = verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            v.apply(&batch).map_err(|source| PipelineError::Verified {
                number: batch.batch_number,
                source,
            })?;
        }
        Ok(record)
    }

    async fn to_l1(&self, batch: &SealedBatch) -> Result<BatchRecord, PipelineError> {
        let number = batch.batch_number;
        let mut record = self.sealed_record(batch)?;
        if let BatchStatus::Verified { .. } = record.status {
            return Ok(record);
        }
        if let BatchStatus::Failed { reason } = &record.status {
            return Err(PipelineError::Refused {
                number,
                reason: reason.clone(),
            });
        }
        if self.recover_if_applied(&mut record).await? {
            return Ok(record);
        }
        let proof = match &record.status {
            BatchStatus::Proven { proof, .. } => words(proof).ok_or(PipelineError::Corrupt {
                number,
                reason: "stored proof is not 8 words".into(),
            })?,
            _ => {
                self.offer_to_provers(batch)?;
                let proved = self.provers.take(number).await.map_err(|e| match e {
                    TakeError::Unprovable { reason, .. } => {
                        PipelineError::Unprovable { number, reason }
                    }
                    TakeError::NotOffered(_) | TakeError::Closed => {
                        PipelineError::ProvingClosed(number)
                    }
                })?;
                let evm = export::evm_proof(&proved.proof);
                record.status = BatchStatus::Proven {
                    proof: evm
                        .iter()
                        .map(|w| format!("0x{}", alloy::hex::encode(w.0)))
                        .collect(),
                    proving_ms: proved.proving_ms,
                    prover: Some(proved.prover.clone()),
                };
                self.store.put(&record)?;
                tracing::info!(target: "pipeline", batch = number, ms = proved.proving_ms, prover = %proved.prover, "proven");
                evm.map(|w| U256::from_be_bytes(w.0))
            }
        };
        let shape_error = |e: &dyn std::fmt::Display| PipelineError::Shape {
            number,
            reason: e.to_string(),
        };
        let published = self.provers.publish(batch).map_err(|e| shape_error(&e))?;
        if let Some(dir) = &self.archive {
            let sealed: Vec<_> = published.blobs.iter().map(|b| b.blob.clone()).collect();
            crate::archive::write(dir, number, &sealed).map_err(|e| shape_error(&e))?;
        }
        let pubdata = published.public.to_bytes();
        let blobs = published
            .blobs
            .iter()
            .map(BatchBlob::of)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| shape_error(&e))?;
        match self
            .l1
            .submit_batch(self.shape_index, pubdata, proof, &blobs)
            .await
        {
            Ok(receipt) => {
                record.status = BatchStatus::Verified {
                    tx: format!("{}", receipt.transaction_hash),
                    block: receipt.block_number.unwrap_or_default(),
                    gas: Some(receipt.gas_used),
                };
                self.store.put(&record)?;
                tracing::info!(target: "pipeline", batch = number, gas = receipt.gas_used, "verified on L1");
                Ok(record)
            }
            Err(e @ L1Error::Reverted { .. }) => {
                // A revert may be a race with our own earlier submission: look once more.
                if self.recover_if_applied(&mut record).await? {
                    return Ok(record);
                }
                let reason = e.reason().unwrap_or("reverted").to_string();
                record.status = BatchStatus::Failed {
                    reason: reason.clone(),
                };
                self.store.put(&record)?;
                tracing::error!(target: "pipeline", batch = number, %reason, "refused by the rollup");
                Err(PipelineError::Refused { number, reason })
            }
            Err(source) => Err(PipelineError::L1 { number, source }),
        }
    }

    /// If the rollup already applied batch `record.number`, records its event as `Verified`
    /// (checking the root is ours) and returns true.
    async fn recover_if_applied(&self, record: &mut BatchRecord) -> Result<bool, PipelineError> {
        let number = record.number;
        let applied = self
            .l1
            .batch_applied(number)
            .await
            .map_err(|source| PipelineError::L1 { number, source })?;
        let Some(event) = applied else {
            return Ok(false);
        };
        if event.new_root.to_string() != record.new_root {
            return Err(PipelineError::Diverged {
                number,
                l1: event.new_root.to_string(),
                ours: record.new_root.clone(),
            });
        }
        record.status = BatchStatus::Verified {
            tx: format!("{}", event.tx),
            block: event.block,
            gas: None,
        };
        self.store.put(record)?;
        Ok(true)
    }

    /// Offers every batch from `sealed` to the provers the moment it arrives ([`offer`]), and
    /// passes it on, in order, to the receiver returned, for [`process`]. Between the two,
    /// later batches are proven while an earlier one is still proving or being submitted. A
    /// batch that could not be offered is passed on all the same: `process` meets the error
    /// again and reports it in its place.
    ///
    /// [`offer`]: Pipeline::offer
    /// [`process`]: Pipeline::process
    pub fn offering(
        &self,
        mut sealed: tokio::sync::mpsc::Receiver<SealedBatch>,
    ) -> tokio::sync::mpsc::UnboundedReceiver<SealedBatch> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let pipeline = self.clone();
        tokio::spawn(async move {
            while let Some(batch) = sealed.recv().await {
                if let Err(e) = pipeline.offer(&batch) {
                    tracing::error!(target: "pipeline", batch = batch.batch_number, error = %e, "not offered to the provers");
                }
                if tx.send(batch).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Runs until `batches` closes: each sealed batch offered to the provers on arrival, and
    /// taken to the L1 in the order received. Stops at the first error (a refused batch blocks
    /// all later ones).
    pub fn spawn(
        self,
        batches: tokio::sync::mpsc::Receiver<SealedBatch>,
    ) -> tokio::task::JoinHandle<Result<u64, PipelineError>> {
        let mut batches = self.offering(batches);
        tokio::spawn(async move {
            let mut done = 0;
            while let Some(batch) = batches.recv().await {
                self.process(batch).await?;
                done += 1;
            }
            Ok(done)
        })
    }
}
