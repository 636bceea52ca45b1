//! The L1 follower: the rollup's deposit and forced-withdrawal queues, read from its events and
//! turned into the state machine's transactions, strictly in queue order.
//!
//! The follower never decides anything: each L1 queue entry becomes exactly one transaction
//! (a deposit, credited or refunded by the rules; a forced withdrawal, served or refused by the
//! rules), and the batch that carries it is checked by the contract against the queue's running
//! hash (deposits) or the stored request (forced). The only choice made here is a deposit's
//! salt: a fresh random field element, hiding the new account's leaf from brute force
//! (docs/ARCHITECTURE.md). It is chosen once, when the deposit is journaled, so a replay is
//! deterministic.

use std::collections::BTreeMap;

use rand::RngCore;
use zkperp_contracts::{DepositEvent, ForcedEvent, L1Error, L1};
use zkperp_state::tx::{
    Deposit, DepositTarget, ForcedWithdrawal, L1Deposit, L1ForcedWithdrawal, Transaction,
};
use zkperp_state::units::{AccountId, Amount, L1Address};
use zkperp_state::Fr;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The L1 returned a queue with a hole or out of order: never skip an entry.
    #[error("L1 {queue} queue: expected index {expected}, got {got}")]
    Gap {
        queue: &'static str,
        expected: u64,
        got: u64,
    },
    #[error("L1 {queue} entry {index}: {reason}")]
    Unusable {
        queue: &'static str,
        index: u64,
        reason: String,
    },
}

/// A random salt for a new account's leaf: 248 random bits, always below the field modulus.
pub fn random_salt(rng: &mut impl RngCore) -> Fr {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes[..31]);
    zkperp_state::field::fr_from_le_bytes(&bytes).unwrap_or_default()
}

/// The deposit transaction of an L1 queue entry.
pub fn deposit_tx(event: &DepositEvent, salt: Fr) -> Result<Transaction, FollowError> {
    let amount = Amount::new(event.amount).map_err(|e| FollowError::Unusable {
        queue: "deposit",
        index: event.index,
        reason: e.to_string(),
    })?;
    Ok(Transaction::Deposit(Deposit {
        request: L1Deposit {
            index: event.index,
            l1_address: L1Address(event.l1_address.into_array()),
            public_key: event.public_key.0,
            account: DepositTarget::from(event.account),
            amount,
        },
        salt,
    }))
}

/// The forced-withdrawal transaction of an L1 queue entry.
pub fn forced_tx(event: &ForcedEvent) -> Result<Transaction, FollowError> {
    let unusable = |reason: String| FollowError::Unusable {
        queue: "forced",
        index: event.index,
        reason,
    };
    Ok(Transaction::ForcedWithdrawal(ForcedWithdrawal {
        request: L1ForcedWithdrawal {
            index: event.index,
            account: AccountId::new(u64::from(event.account))
                .map_err(|e| unusable(e.to_string()))?,
            requester: L1Address(event.requester.into_array()),
            amount: Amount::new(event.amount).map_err(|e| unusable(e.to_string()))?,
        },
    }))
}

/// The L1 queue an entry with a deadline is in: an unserved entry of either freezes the
/// rollup (`Rollup.freeze`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Forced,
    Deposit,
}

impl Queue {
    pub fn name(self) -> &'static str {
        match self {
            Queue::Forced => "forced",
            Queue::Deposit => "deposit",
        }
    }
}

/// A forced request the rollup has not seen answered yet, or a deposit it has not seen
/// consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedDue {
    pub queue: Queue,
    pub index: u64,
    /// L1 seconds: from this one on, anyone may freeze the rollup (`Rollup.freeze`).
    pub deadline: u64,
}

/// How close the first entry due is to freezing the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineAlarm {
    /// Less than the warning window is left.
    Near { due: ForcedDue, secs_left: u64 },
    /// The deadline is reached: anyone may freeze the rollup.
    Overdue { due: ForcedDue, secs_over: u64 },
}

/// Whether `due` calls for an alarm at L1 time `now`, warning `warn_secs` ahead.
pub fn deadline_alarm(due: ForcedDue, now: u64, warn_secs: u64) -> Option<DeadlineAlarm> {
    if now >= due.deadline {
        Some(DeadlineAlarm::Overdue {
            due,
            secs_over: now - due.deadline,
        })
    } else if due.deadline - now <= warn_secs {
        Some(DeadlineAlarm::Near {
            due,
            secs_left: due.deadline - now,
        })
    } else {
        None
    }
}

/// Follows the two L1 queues from given cursors (the next index of each the sequencer has not
/// yet taken in), and the forced requests the rollup has not seen answered.
#[derive(Debug)]
pub struct Follower {
    l1: L1,
    next_deposit: u64,
    next_forced: u64,
    /// Blocks before this one hold no entry at or after the cursors.
    scan_from: u64,
    /// Forced requests seen on L1 and not answered by a verified batch yet, by index, with
    /// their deadlines. Includes requests the journal took in before a restart: the first
    /// poll scans from the deployment block.
    unanswered: BTreeMap<u64, u64>,
    /// Deposits seen on L1 and not consumed by a verified batch yet, likewise.
    unconsumed: BTreeMap<u64, u64>,
}

impl Follower {
    pub fn new(l1: L1, next_deposit: u64, next_forced: u64, scan_from: u64) -> Self {
        Follower {
            l1,
            next_deposit,
            next_forced,
            scan_from,
            unanswered: BTreeMap::new(),
            unconsumed: BTreeMap::new(),
        }
    }

    /// The entry whose deadline freezes the rollup first, as of the last poll: the oldest
    /// unanswered forced request or the oldest unconsumed deposit, whichever is due first
    /// (each queue is served in order, and its deadlines never decrease).
    pub fn oldest_unanswered(&self) -> Option<ForcedDue> {
        let first = |queue, map: &BTreeMap<u64, u64>| {
            map.first_key_value().map(|(&index, &deadline)| ForcedDue {
                queue,
                index,
                deadline,
            })
        };
        [
            first(Queue::Forced, &self.unanswered),
            first(Queue::Deposit, &self.unconsumed),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|d| d.deadline)
    }

    /// The L1's clock (its latest block's timestamp), which deadlines are on.
    pub async fn chain_time(&self) -> Result<u64, FollowError> {
        Ok(self.l1.chain_time().await?)
    }

    pub fn next_deposit(&self) -> u64 {
        self.next_deposit
    }

    pub fn next_forced(&self) -> u64 {
        self.next_forced
    }

    /// The new queue entries since the last poll, as transactions in queue order: deposits
    /// first, then forced requests (the order the batch layout wants them in).
    pub async fn poll(&mut self, rng: &mut impl RngCore) -> Result<Vec<Transaction>, FollowError> {
        // Read before the queues: a request answered after this read is still listed as
        // unanswered until the next poll, never the other way round. Nothing changes here
        // until every read has succeeded.
        let answered = self.l1.forced_answered().await?;
        let consumed = self.l1.deposits_consumed().await?;
        let deposits = self.l1.deposits(self.scan_from).await?;
        let forced = self.l1.forced_requests(self.scan_from).await?;
        let mut txs = Vec::new();
        let mut next_deposit = self.next_deposit;
        let mut next_forced = self.next_forced;
        for event in deposits.iter().filter(|e| e.index >= self.next_deposit) {
            if event.index != next_deposit {
                return Err(FollowError::Gap {
                    queue: "deposit",
                    expected: next_deposit,
                    got: event.index,
                });
            }
            txs.push(deposit_tx(event, random_salt(rng))?);
            next_deposit += 1;
        }
        for event in forced.iter().filter(|e| e.index >= self.next_forced) {
            if event.index != next_forced {
                return Err(FollowError::Gap {
                    queue: "forced",
                    expected: next_forced,
                    got: event.index,
                });
            }
            txs.push(forced_tx(event)?);
            next_forced += 1;
        }
        // Every entry is taken or was taken before: later polls need only newer blocks, less
        // the last one scanned (an entry of it may have been mined after the scan began).
        let last = deposits
            .iter()
            .map(|e| e.block)
            .chain(forced.iter().map(|e| e.block))
            .max();
        if let Some(block) = last {
            self.scan_from = self.scan_from.max(block);
        }
        for event in forced.iter().filter(|e| e.index >= answered) {
            self.unanswered.insert(event.index, event.deadline);
        }
        self.unanswered = self.unanswered.split_off(&answered);
        for event in deposits.iter().filter(|e| e.index >= consumed) {
            self.unconsumed.insert(event.index, event.deadline);
        }
        self.unconsumed = self.unconsumed.split_off(&consumed);
        self.next_deposit = next_deposit;
        self.next_forced = next_forced;
        Ok(txs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_alarm_warns_inside_the_window_and_then_says_overdue() {
        let due = ForcedDue {
            queue: Queue::Forced,
            index: 3,
            deadline: 10_000,
        };
        assert_eq!(deadline_alarm(due, 8_999, 1_000), None);
        assert_eq!(
            deadline_alarm(due, 9_000, 1_000),
            Some(DeadlineAlarm::Near {
                due,
                secs_left: 1_000
            })
        );
        assert_eq!(
            deadline_alarm(due, 9_999, 1_000),
            Some(DeadlineAlarm::Near { due, secs_left: 1 })
        );
        assert_eq!(
            deadline_alarm(due, 10_000, 1_000),
            Some(DeadlineAlarm::Overdue { due, secs_over: 0 }),
            "the rollup may be frozen at the deadline itself"
        );
        assert_eq!(
            deadline_alarm(due, 10_007, 1_000),
            Some(DeadlineAlarm::Overdue { due, secs_over: 7 })
        );
        assert_eq!(
            deadline_alarm(due, 5_000, 0),
            None,
            "no warning window: only overdue"
        );
    }
}
