//! The L1 follower: the rollup's queues (deposits, forced withdrawals, forced cancels, forced
//! trades: one per queued kind, `zkperp_state::tx::Kind::queue_index`), read from their events
//! and turned into the state machine's transactions, strictly in each queue's order.
//!
//! The follower never decides anything: each L1 queue entry becomes exactly one transaction
//! (a deposit, credited or refunded by the rules; a forced request, served or refused by the
//! rules), and the batch that carries it is checked by the contract against the queue's running
//! hash (deposits) or the stored request (forced). The only choice made here is a deposit's
//! ephemeral scalar, from which a created account's salt is derived as a secret the owner's key
//! shares (`zkperp_state::record`): it hides the new leaf from brute force and keys its
//! data-availability records (docs/ARCHITECTURE.md). It is drawn once, when the deposit is
//! journaled, so a replay is deterministic.

use std::collections::BTreeMap;

use rand::{CryptoRng, RngCore};
use zkperp_contracts::{
    DepositEvent, ForcedCancelEvent, ForcedEvent, ForcedTradeEvent, L1Error, L1,
};
use zkperp_state::batch::SlotKind;
use zkperp_state::order::Side;
use zkperp_state::record::Ephemeral;
use zkperp_state::tx::forced_cancel::L1ForcedCancel;
use zkperp_state::tx::forced_trade::L1ForcedTrade;
use zkperp_state::tx::{
    Deposit, DepositTarget, ForcedCancel, ForcedTrade, ForcedWithdrawal, L1Deposit,
    L1ForcedWithdrawal, Transaction,
};
use zkperp_state::units::{AccountId, Amount, BaseLots, L1Address, MarketId, OrderId, PriceTicks};

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

/// The deposit transaction of an L1 queue entry.
pub fn deposit_tx(event: &DepositEvent, ephemeral: Ephemeral) -> Result<Transaction, FollowError> {
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
        ephemeral,
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

/// The forced-cancel transaction of an L1 queue entry.
pub fn forced_cancel_tx(event: &ForcedCancelEvent) -> Result<Transaction, FollowError> {
    let unusable = |reason: String| FollowError::Unusable {
        queue: "forced_cancel",
        index: event.index,
        reason,
    };
    Ok(Transaction::ForcedCancel(ForcedCancel {
        request: L1ForcedCancel {
            index: event.index,
            account: AccountId::new(u64::from(event.account))
                .map_err(|e| unusable(e.to_string()))?,
            requester: L1Address(event.requester.into_array()),
            order_id: OrderId::new(event.order_id).map_err(|e| unusable(e.to_string()))?,
        },
    }))
}

/// The forced-trade transaction of an L1 queue entry.
pub fn forced_trade_tx(event: &ForcedTradeEvent) -> Result<Transaction, FollowError> {
    let unusable = |reason: String| FollowError::Unusable {
        queue: "forced_trade",
        index: event.index,
        reason,
    };
    let account = |id: u32| AccountId::new(u64::from(id)).map_err(|e| unusable(e.to_string()));
    let size = i128::from(event.size);
    Ok(Transaction::ForcedTrade(ForcedTrade {
        request: L1ForcedTrade {
            index: event.index,
            account_a: account(event.account_a)?,
            account_b: account(event.account_b)?,
            requester: L1Address(event.requester.into_array()),
            signer: L1Address(event.signer.into_array()),
            market: MarketId::new(u64::from(event.market)).map_err(|e| unusable(e.to_string()))?,
            a_side: if event.a_buys { Side::Buy } else { Side::Sell },
            size: BaseLots::new(size).map_err(|e| unusable(e.to_string()))?,
            price: PriceTicks::new(event.price).map_err(|e| unusable(e.to_string()))?,
        },
    }))
}

/// The kinds the L1 queues, in the order the follower reads them (a batch's order).
pub const QUEUES: [SlotKind; 4] = [
    SlotKind::Deposit,
    SlotKind::ForcedWithdrawal,
    SlotKind::ForcedCancel,
    SlotKind::ForcedTrade,
];

/// One queue entry as read from L1, with its transaction if it is not taken in yet.
struct Entry {
    index: u64,
    deadline: u64,
    block: u64,
    tx: Option<Result<Transaction, FollowError>>,
}

/// What every queue's L1 event tells the follower.
trait QueueEvent {
    fn entry(&self, next: u64, rng: &mut (impl RngCore + CryptoRng)) -> Entry;
}

macro_rules! queue_event {
    ($event:ty, |$e:ident, $rng:ident| $tx:expr) => {
        impl QueueEvent for $event {
            fn entry(&self, next: u64, $rng: &mut (impl RngCore + CryptoRng)) -> Entry {
                let $e = self;
                Entry {
                    index: $e.index,
                    deadline: $e.deadline,
                    block: $e.block,
                    // Only for an entry not taken in: a deposit's salt is drawn once.
                    tx: ($e.index >= next).then(|| $tx),
                }
            }
        }
    };
}

queue_event!(DepositEvent, |e, rng| deposit_tx(e, Ephemeral::random(rng)));
queue_event!(ForcedEvent, |e, _rng| forced_tx(e));
queue_event!(ForcedCancelEvent, |e, _rng| forced_cancel_tx(e));
queue_event!(ForcedTradeEvent, |e, _rng| forced_trade_tx(e));

fn entries<E: QueueEvent>(
    events: &[E],
    next: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<Entry> {
    events.iter().map(|e| e.entry(next, rng)).collect()
}

/// Reads `kind`'s queue: how many entries batches served, then its entries from `from_block`
/// on (the served count first: an entry served after it is read is listed as unserved until
/// the next poll, never the other way round).
async fn read_queue(
    l1: &L1,
    kind: SlotKind,
    from_block: u64,
    next: u64,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Vec<Entry>, u64), FollowError> {
    Ok(match kind {
        SlotKind::Deposit => {
            let served = l1.deposits_consumed().await?;
            (entries(&l1.deposits(from_block).await?, next, rng), served)
        }
        SlotKind::ForcedWithdrawal => {
            let served = l1.forced_answered().await?;
            (
                entries(&l1.forced_requests(from_block).await?, next, rng),
                served,
            )
        }
        SlotKind::ForcedCancel => {
            let served = l1.forced_cancels_answered().await?;
            (
                entries(&l1.forced_cancels(from_block).await?, next, rng),
                served,
            )
        }
        SlotKind::ForcedTrade => {
            let served = l1.forced_trades_answered().await?;
            (
                entries(&l1.forced_trades(from_block).await?, next, rng),
                served,
            )
        }
        other => {
            return Err(FollowError::Unusable {
                queue: other.name(),
                index: 0,
                reason: "the L1 has no queue of this kind".into(),
            })
        }
    })
}

/// A forced request the rollup has not seen answered yet, or a deposit it has not seen
/// consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForcedDue {
    /// The queue: the kind it holds.
    pub queue: SlotKind,
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

/// One L1 queue as followed: the next index not yet taken in, and the entries seen on L1 and
/// not served by a verified batch yet (index -> deadline). The latter includes entries the
/// journal took in before a restart: the first poll scans from the deployment block.
#[derive(Debug)]
struct Followed {
    kind: SlotKind,
    next: u64,
    unserved: BTreeMap<u64, u64>,
}

/// Follows the L1 queues from given cursors (the next index of each the sequencer has not yet
/// taken in), and the entries the rollup has not seen served.
#[derive(Debug)]
pub struct Follower {
    l1: L1,
    queues: Vec<Followed>,
    /// Blocks before this one hold no entry at or after the cursors.
    scan_from: u64,
}

impl Follower {
    /// `next(kind)`: the next index of `kind`'s queue the sequencer has not taken in.
    pub fn new(l1: L1, next: impl Fn(SlotKind) -> u64, scan_from: u64) -> Self {
        Follower {
            l1,
            queues: QUEUES
                .into_iter()
                .map(|kind| Followed {
                    kind,
                    next: next(kind),
                    unserved: BTreeMap::new(),
                })
                .collect(),
            scan_from,
        }
    }

    /// The entry whose deadline freezes the rollup first, as of the last poll: of each queue's
    /// oldest unserved entry, the one due first (each queue is served in order, and its
    /// deadlines never decrease).
    pub fn oldest_unanswered(&self) -> Option<ForcedDue> {
        self.queues
            .iter()
            .filter_map(|q| {
                q.unserved
                    .first_key_value()
                    .map(|(&index, &deadline)| ForcedDue {
                        queue: q.kind,
                        index,
                        deadline,
                    })
            })
            .min_by_key(|d| d.deadline)
    }

    /// The L1's clock (its latest block's timestamp), which deadlines are on.
    pub async fn chain_time(&self) -> Result<u64, FollowError> {
        Ok(self.l1.chain_time().await?)
    }

    /// The next index of `kind`'s queue not yet taken in.
    pub fn next(&self, kind: SlotKind) -> u64 {
        self.queues
            .iter()
            .find(|q| q.kind == kind)
            .map_or(0, |q| q.next)
    }

    /// The new queue entries since the last poll, as transactions in each queue's order, the
    /// queues in batch order.
    pub async fn poll(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<Transaction>, FollowError> {
        // Each queue's served count is read before its entries: an entry served after this
        // read is still listed as unserved until the next poll, never the other way round.
        // Nothing changes here until every read has succeeded.
        let mut read = Vec::with_capacity(self.queues.len());
        for q in &self.queues {
            read.push(read_queue(&self.l1, q.kind, self.scan_from, q.next, rng).await?);
        }
        let mut txs = Vec::new();
        let mut nexts = Vec::with_capacity(self.queues.len());
        for (q, (entries, _)) in self.queues.iter().zip(&mut read) {
            let mut next = q.next;
            for entry in entries.iter_mut().filter(|e| e.index >= q.next) {
                if entry.index != next {
                    return Err(FollowError::Gap {
                        queue: q.kind.name(),
                        expected: next,
                        got: entry.index,
                    });
                }
                if let Some(tx) = entry.tx.take() {
                    txs.push(tx?);
                }
                next += 1;
            }
            nexts.push(next);
        }
        // Every entry is taken or was taken before: later polls need only newer blocks, less
        // the last one scanned (an entry of it may have been mined after the scan began).
        let last = read
            .iter()
            .flat_map(|(entries, _)| entries.iter().map(|e| e.block))
            .max();
        if let Some(block) = last {
            self.scan_from = self.scan_from.max(block);
        }
        for ((q, (entries, served)), next) in self.queues.iter_mut().zip(read).zip(nexts) {
            for entry in entries.iter().filter(|e| e.index >= served) {
                q.unserved.insert(entry.index, entry.deadline);
            }
            q.unserved = q.unserved.split_off(&served);
            q.next = next;
        }
        Ok(txs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_alarm_warns_inside_the_window_and_then_says_overdue() {
        let due = ForcedDue {
            queue: SlotKind::ForcedWithdrawal,
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
