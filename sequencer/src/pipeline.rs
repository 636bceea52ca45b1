//! The batch pipeline after sealing: prove each sealed batch off the async runtime, submit the
//! proofs to the rollup strictly in batch order, and record every batch's status durably.
//!
//! ```text
//!   SealedBatch ──> BatchStore: Sealed ──> prover thread ──> BatchStore: Proven {proof}
//!                                                                │
//!        BatchStore: Verified {tx, block, gas} <── L1::submit_batch (operator key)
//! ```
//!
//! Restart-safe by construction: each step is persisted (synced) before the next begins, a
//! stored proof is never recomputed, and before submitting the pipeline asks the L1 whether
//! the batch is already applied (a crash between the L1 transaction and the status write), in
//! which case it records the L1's event instead of submitting again. A batch the L1 refuses
//! is recorded `Failed` with the contract's reason and stops the pipeline: later batches build
//! on its root and can never apply, so an operator must look.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alloy::primitives::U256;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use zkperp_contracts::{alloy, L1Error, L1};
use zkperp_prover::{export, BatchProver, ProverError};
use zkperp_state::batch::SealedBatch;
use zkperp_state::field::fr_to_decimal;

use crate::verified::{VerifiedError, VerifiedState};

pub const BATCHES_CF: &str = "batches";

/// Where a batch is on its way to L1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BatchStatus {
    Sealed,
    /// Proven; the proof as the verifier's eight words (0x-hex).
    Proven {
        proof: Vec<String>,
        proving_ms: u64,
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
    #[error("batch store entry {number} is corrupt: {reason}")]
    Corrupt { number: u64, reason: String },
    #[error("batch store column family missing")]
    MissingColumnFamily,
    #[error("proving batch {number}: {source}")]
    Prove {
        number: u64,
        #[source]
        source: ProverError,
    },
    #[error("batch {number} does not fit the pipeline's shape: {reason}")]
    Shape { number: u64, reason: String },
    #[error("the prover thread of batch {0} died")]
    ProverDied(u64),
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
    db: DB,
    updates: tokio::sync::broadcast::Sender<BatchRecord>,
}

/// Status changes a slow subscriber may fall behind by before it misses some.
const UPDATES_BUFFER: usize = 256;

impl BatchStore {
    pub fn open(path: &Path) -> Result<Self, PipelineError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cf = ColumnFamilyDescriptor::new(BATCHES_CF, Options::default());
        Ok(BatchStore {
            db: DB::open_cf_descriptors(&opts, path, vec![cf])?,
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
            let number = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| PipelineError::Corrupt {
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
    prover: Arc<BatchProver>,
    /// The shape's index in the rollup's verifier list.
    shape_index: u64,
    l1: L1,
    /// Moved forward by every verified batch, when given.
    verified: Option<Arc<Mutex<VerifiedState>>>,
}

impl Pipeline {
    pub fn new(store: Arc<BatchStore>, prover: Arc<BatchProver>, shape_index: u64, l1: L1) -> Self {
        Pipeline {
            store,
            prover,
            shape_index,
            l1,
            verified: None,
        }
    }

    /// Also keeps `verified` at the last verified batch (leaves and paths for the API).
    pub fn with_verified(mut self, verified: Arc<Mutex<VerifiedState>>) -> Self {
        self.verified = Some(verified);
        self
    }

    pub fn store(&self) -> &BatchStore {
        &self.store
    }

    fn record(&self, batch: &SealedBatch) -> BatchRecord {
        BatchRecord {
            number: batch.batch_number,
            shape: self.prover.shape().id(),
            old_root: fr_to_decimal(&batch.old_root),
            new_root: fr_to_decimal(&batch.new_root),
            timestamp: batch.timestamp.get(),
            transactions: batch.txs.len(),
            status: BatchStatus::Sealed,
        }
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
        let mut record = match self.store.get(number)? {
            Some(r) => r,
            None => {
                let r = self.record(batch);
                self.store.put(&r)?;
                r
            }
        };
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
                let prover = self.prover.clone();
                let started = Instant::now();
                let to_prove = batch.clone();
                // Proving takes seconds of both cores: never on the async runtime's threads.
                let proof = tokio::task::spawn_blocking(move || {
                    prover.prove(&to_prove, &mut rand::rngs::OsRng)
                })
                .await
                .map_err(|_| PipelineError::ProverDied(number))?
                .map_err(|source| PipelineError::Prove { number, source })?;
                let hex: Vec<String> = export::evm_proof(&proof.proof)
                    .iter()
                    .map(|w| format!("0x{}", alloy::hex::encode(w.0)))
                    .collect();
                record.status = BatchStatus::Proven {
                    proof: hex.clone(),
                    proving_ms: started.elapsed().as_millis() as u64,
                };
                self.store.put(&record)?;
                tracing::info!(target: "pipeline", batch = number, ms = started.elapsed().as_millis() as u64, "proven");
                words(&hex).ok_or(PipelineError::ProverDied(number))?
            }
        };
        let pubdata = batch
            .public_data(self.prover.shape())
            .map_err(|e| PipelineError::Shape {
                number,
                reason: e.to_string(),
            })?
            .to_bytes();
        match self.l1.submit_batch(self.shape_index, pubdata, proof).await {
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

    /// Runs until `batches` closes: each sealed batch, in the order received, to the L1. Stops
    /// at the first error (a refused batch blocks all later ones).
    pub fn spawn(
        self,
        mut batches: tokio::sync::mpsc::Receiver<SealedBatch>,
    ) -> tokio::task::JoinHandle<Result<u64, PipelineError>> {
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
