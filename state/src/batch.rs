//! Batches: the fixed shape a batch circuit proves, and how a sealed batch's transactions fill it.
//!
//! A circuit has a fixed number of slots per transaction kind. Its slots run in one fixed order
//! of kinds ([`SlotKind::ALL`]), so a batch fits a shape only if its transactions were applied in
//! that order of kinds (any order within a kind) and no kind has more transactions than slots:
//!
//! ```text
//! oracle ticks | funding ticks | liquidations | deleverages | deposits | forced withdrawals |
//! forced cancels | trades | withdrawals | cancels | fee settlement (always one write)
//! ```
//!
//! Why this order: ticks set the batch's prices before anything is valued at them; the
//! liquidations they trigger come next (the liquidation engine reacts to a new mark); then the
//! L1 queues; then the continuous flow of trades; withdrawals and cancels, which a sequencer can
//! hold until the batch seals, last. Fees of the batch's trades are credited to the fee account
//! once, at the end, so a trade slot updates two leaves rather than three (docs/CIRCUITS.md).
//!
//! Unused slots are no-ops. In the public data a no-op slot of a kind that publishes a record
//! takes the record's length: `0x00 | u16 n | n zero bytes`. The data-availability entries are
//! not the slots' but the account table's (`crate::table`): one `(account, leaf hash at the end)`
//! per account the batch touched, in ascending id, padded with zero entries to the shape's table
//! size (a zero leaf hash is never a real leaf's hash), so the order of the batch, and with it
//! who traded with whom, is not published.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::blob::BlobClaim;
use crate::domain::SigningDomain;
use crate::field::Fr;
use crate::market::MarketState;
use crate::pubdata::{BatchPublicData, L1Record, Record};
use crate::state::{AccountWrite, Receipt};
use crate::table::TableEntry;
use crate::tx::{Kind, Transaction};
use crate::units::AccountId;
use crate::units::Timestamp;

macro_rules! declare_slots {
    ($($variant:ident($ty:ident) $module:ident $field:ident $letter:literal,)*) => {
        /// The kind of a batch slot, in batch order (the order of [`crate::for_each_kind!`]).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum SlotKind {
            $($variant,)*
        }

        impl SlotKind {
            /// Every kind, in the order a batch runs them.
            pub const ALL: [SlotKind; [$(SlotKind::$variant),*].len()] = [$(SlotKind::$variant),*];
            pub const COUNT: usize = Self::ALL.len();

            pub fn of(tx: &Transaction) -> SlotKind {
                tx.kind()
            }

            /// Bytes of the L1 record a slot of this kind publishes (0: none).
            pub const fn record_len(self) -> usize {
                match self {
                    $(SlotKind::$variant => <<crate::tx::$ty as Kind>::Record as L1Record>::LEN,)*
                }
            }

            /// Accounts a transaction of this kind reads or writes at most.
            pub const fn accounts(self) -> usize {
                match self {
                    $(SlotKind::$variant => <crate::tx::$ty as Kind>::ACCOUNTS,)*
                }
            }

            /// The kind's name in logs, metrics and JSON: its module's name, `cancel_order`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(SlotKind::$variant => stringify!($module),)*
                }
            }

            /// The name in prose: `cancel order`.
            pub fn title(self) -> String {
                self.name().replace('_', " ")
            }

            /// The kind's letter in a shape's id (`t` in `t4`).
            pub const fn letter(self) -> &'static str {
                match self {
                    $(SlotKind::$variant => $letter,)*
                }
            }

            pub fn from_letter(letter: &str) -> Option<SlotKind> {
                Self::ALL.into_iter().find(|k| k.letter() == letter)
            }
        }

        /// Slots per kind, and the accounts a batch may touch: one batch circuit (and one
        /// verifying key) per shape.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Shape {
            $(pub $field: u16,)*
            /// Entries of the account table (`crate::table`): the distinct accounts one batch
            /// may touch, each proven with one tree update. 0: as many as the slots' accesses
            /// ([`Shape::accesses`]), so any batch of the slots fits.
            pub accounts: u16,
        }

        impl Shape {
            pub fn count(&self, kind: SlotKind) -> usize {
                usize::from(match kind {
                    $(SlotKind::$variant => self.$field,)*
                })
            }

            /// The slots of `kind`, to change.
            pub fn count_mut(&mut self, kind: SlotKind) -> &mut u16 {
                match kind {
                    $(SlotKind::$variant => &mut self.$field,)*
                }
            }
        }
    };
}

crate::for_each_kind!(declare_slots);

impl Shape {
    /// Every slot, in batch order.
    pub fn slots(&self) -> impl Iterator<Item = SlotKind> + '_ {
        SlotKind::ALL
            .into_iter()
            .flat_map(|k| std::iter::repeat_n(k, self.count(k)))
    }

    /// Bytes of the records section.
    pub fn records_len(&self) -> usize {
        self.slots().map(SlotKind::record_len).sum()
    }

    /// Accounts the slots read or write at most, plus the fee account.
    pub fn accesses(&self) -> usize {
        self.slots().map(SlotKind::accounts).sum::<usize>() + 1
    }

    /// Entries of the account table, and of the data-availability record.
    pub fn table_len(&self) -> usize {
        match self.accounts {
            0 => self.accesses(),
            k => usize::from(k),
        }
    }

    /// Bytes of the whole public data with `markets` markets.
    pub fn pubdata_len(&self, markets: usize) -> usize {
        BatchPublicData::HEADER_LEN + self.records_len() + 4 + BlobClaim::LEN * self.blobs(markets)
    }

    /// Blobs of a batch with `markets` markets (`crate::da`).
    pub fn blobs(&self, markets: usize) -> usize {
        crate::blob::blob_count(crate::da::payload_len(self, markets))
    }

    /// The smallest shape `batch` fits (when its kinds are in batch order).
    pub fn tight(batch: &SealedBatch) -> Shape {
        let mut shape = Shape::default();
        for applied in &batch.txs {
            let count = shape.count_mut(applied.tx.kind());
            *count = count.saturating_add(1);
        }
        shape
    }

    /// A stable name for key files and logs: every kind's letter and count in batch order,
    /// then the table's entries when set, e.g. `o1-f1-l1-x1-d2-fw1-fc1-ft1-t4-w2-c1-a8`.
    pub fn id(&self) -> String {
        let mut parts: Vec<String> = SlotKind::ALL
            .into_iter()
            .map(|k| format!("{}{}", k.letter(), self.count(k)))
            .collect();
        if self.accounts != 0 {
            parts.push(format!("{}{}", ACCOUNTS_LETTER, self.accounts));
        }
        parts.join("-")
    }
}

/// The letter of the account table's size in a shape's id (`a8`).
const ACCOUNTS_LETTER: &str = "a";

impl std::str::FromStr for Shape {
    type Err = String;

    /// Parses [`Shape::id`]'s form, e.g. `o1-f1-l1-x1-d2-fw1-fc1-ft1-t4-w2-c1` (missing kinds are 0).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut shape = Shape::default();
        for part in text.split('-').filter(|p| !p.is_empty()) {
            let split = part
                .find(|c: char| c.is_ascii_digit())
                .ok_or_else(|| format!("`{part}`: expected a kind letter and a count, e.g. t4"))?;
            let (kind, count) = part.split_at(split);
            let count: u16 = count
                .parse()
                .map_err(|_| format!("`{part}`: the count must be a number up to 65535"))?;
            if kind == ACCOUNTS_LETTER {
                shape.accounts = count;
                continue;
            }
            let Some(kind) = SlotKind::from_letter(kind) else {
                let letters: Vec<&str> = SlotKind::ALL.iter().map(|k| k.letter()).collect();
                return Err(format!(
                    "`{kind}` is not a slot kind ({})",
                    letters.join(" ")
                ));
            };
            *shape.count_mut(kind) = count;
        }
        Ok(shape)
    }
}

/// Why a batch does not fit a shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error(
        "transaction {index} ({kind}) comes after a {after}: batches run kinds in a fixed order"
    )]
    OutOfOrder {
        index: usize,
        kind: &'static str,
        after: &'static str,
    },
    #[error("{count} {kind} transactions, the shape has {capacity} slots")]
    TooMany {
        kind: &'static str,
        count: usize,
        capacity: usize,
    },
    #[error("the batch touches {count} accounts, the shape's table has {capacity} entries")]
    TooManyAccounts { count: usize, capacity: usize },
}

/// One applied transaction and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedTx {
    pub tx: Transaction,
    pub receipt: Receipt,
}

/// A batch as the state machine sealed it: everything its proof and its public data need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBatch {
    #[serde(with = "crate::field::serde_fr")]
    pub old_root: Fr,
    #[serde(with = "crate::field::serde_fr")]
    pub new_root: Fr,
    /// 1 for the first batch after genesis: the L1 accepts each number once, in order.
    pub batch_number: u64,
    pub timestamp: Timestamp,
    /// The deployment whose signatures the batch's transactions carry: published in the
    /// header, where the L1 contract checks it is its own.
    pub domain: SigningDomain,
    /// The account tree root and the markets when the batch began.
    #[serde(with = "crate::field::serde_fr")]
    pub start_accounts_root: Fr,
    pub start_markets: Vec<MarketState>,
    /// The markets when the batch was sealed: with the account writes, the whole new state
    /// (`new_root = state_root(accounts root after the writes, markets)`).
    pub markets: Vec<MarketState>,
    pub txs: Vec<AppliedTx>,
    /// The batch's trading fees credited to the fee account, and that write.
    #[serde(with = "crate::field::serde_i128")]
    pub fees: i128,
    pub fee_write: AccountWrite,
    /// `ρ_b`, public in the header (`crate::record::batch_rho`).
    #[serde(with = "crate::field::serde_u128")]
    pub rho: u128,
    /// The last writes: every touched account that exists steps its salt
    /// (`crate::record::step`), in ascending id.
    pub salt_steps: Vec<AccountWrite>,
    /// The account table: every account the batch touched, once, in ascending id, with its
    /// leaf before the batch and after it and its path for that one write (`crate::table`).
    /// The account tree's only writes of the batch: the last entry's gives the accounts root.
    pub table: Vec<TableEntry>,
}

impl SealedBatch {
    /// Checks the batch fits `shape`: kinds in batch order, no kind over its slots.
    pub fn check_shape(&self, shape: &Shape) -> Result<(), ShapeError> {
        let mut last = SlotKind::ALL[0];
        let mut counts = [0usize; SlotKind::ALL.len()];
        for (index, applied) in self.txs.iter().enumerate() {
            let kind = SlotKind::of(&applied.tx);
            if kind < last {
                return Err(ShapeError::OutOfOrder {
                    index,
                    kind: kind.name(),
                    after: last.name(),
                });
            }
            last = kind;
            counts[kind as usize] += 1;
        }
        for kind in SlotKind::ALL {
            let (count, capacity) = (counts[kind as usize], shape.count(kind));
            if count > capacity {
                return Err(ShapeError::TooMany {
                    kind: kind.name(),
                    count,
                    capacity,
                });
            }
        }
        let (count, capacity) = (self.table.len(), shape.table_len());
        if count > capacity {
            return Err(ShapeError::TooManyAccounts { count, capacity });
        }
        Ok(())
    }

    /// Every account the batch's transactions and fee settlement read or wrote (inside the
    /// tree: a refused request may name an id beyond it, which reads nothing), and every decoy,
    /// in ascending id: the account table's ids (`crate::table`).
    pub fn touched(&self) -> BTreeSet<AccountId> {
        self.table.iter().map(|e| e.id).collect()
    }

    /// Every write of the batch in the order made: its transactions', the fee settlement, the
    /// salt steps.
    pub fn writes(&self) -> impl Iterator<Item = &AccountWrite> {
        self.txs
            .iter()
            .flat_map(|t| t.receipt.writes.iter())
            .chain(std::iter::once(&self.fee_write))
            .chain(&self.salt_steps)
    }

    /// The accounts root the batch ends at: its last table entry's write.
    pub fn end_accounts_root(&self) -> Fr {
        self.table
            .last()
            .map_or(self.start_accounts_root, |e| e.proof.root_for(e.new_hash()))
    }

    /// The transactions of each slot of `shape`, in batch order (`None`: a no-op slot).
    pub fn slots<'a>(
        &'a self,
        shape: &Shape,
    ) -> Result<Vec<(SlotKind, Option<&'a AppliedTx>)>, ShapeError> {
        self.check_shape(shape)?;
        let mut out = Vec::new();
        let mut txs = self.txs.iter().peekable();
        for kind in SlotKind::ALL {
            for _ in 0..shape.count(kind) {
                let tx = txs.next_if(|t| SlotKind::of(&t.tx) == kind);
                out.push((kind, tx));
            }
        }
        Ok(out)
    }

    /// The public data of this batch in `shape`'s layout, with its blobs' claims
    /// (`SealedBatch::publish` makes both).
    pub(crate) fn public_data_with(
        &self,
        shape: &Shape,
        blobs: Vec<BlobClaim>,
    ) -> Result<BatchPublicData, ShapeError> {
        let mut records = Vec::new();
        for (kind, applied) in self.slots(shape)? {
            let len = kind.record_len();
            let record = applied.and_then(|a| a.receipt.pubdata.first());
            if len > 0 {
                records.push(match record {
                    Some(r) => Record::Data(r.clone()),
                    None => Record::NoOp(len),
                });
            }
        }
        Ok(BatchPublicData {
            old_root: self.old_root,
            new_root: self.new_root,
            batch_number: self.batch_number,
            timestamp: self.timestamp,
            domain: self.domain,
            rho: self.rho,
            records,
            blobs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    /// Four traders; in one batch 0 trades with 1 and 2 with 3, in the other 0 with 3 and 2
    /// with 1 (same sizes, prices, fees): the L1 sees the same accounts in the same order, and
    /// nothing in the data-availability list pairs them.
    #[test]
    fn the_published_accounts_say_nothing_of_the_pairs() {
        let published = |pairs: [(usize, usize); 2]| {
            let mut f = Fixture::new(4);
            for t in 0..4 {
                f.deposit(t, 1_000_000_000);
            }
            f.state.end_batch().expect("seal");
            f.state.begin_batch(ts(START + 60)).expect("begin");
            for (buyer, seller) in pairs {
                f.trade(buyer, seller, btc(), 100, 500_000).expect("trade");
            }
            let batch = f.state.end_batch().expect("seal");
            let shape = Shape::tight(&batch);
            let published = batch.publish(&shape).expect("fits");
            (published, (0..4).map(|t| f.id(t)).collect::<Vec<_>>())
        };
        let (one, ids) = published([(0, 1), (2, 3)]);
        let (other, _) = published([(0, 3), (2, 1)]);
        // Each trader ends where it would with the other pairing: the calldata and the blobs
        // are the same, byte for byte.
        assert_eq!(one.public.to_bytes(), other.public.to_bytes());
        assert_eq!(one.blobs, other.blobs);
        let mut expected = ids;
        expected.push(AccountId::FEES);
        expected.sort();
        let listed: Vec<AccountId> = one.payload.records.iter().flatten().map(|r| r.id).collect();
        assert_eq!(listed, expected, "each touched account once, ascending");
    }

    #[test]
    fn shape_ids_round_trip() {
        let shape = Shape {
            oracle_ticks: 1,
            funding_ticks: 2,
            liquidations: 3,
            deleverages: 4,
            deposits: 5,
            forced_withdrawals: 6,
            forced_cancels: 10,
            forced_trades: 11,
            trades: 7,
            withdrawals: 8,
            cancels: 9,
            accounts: 12,
        };
        assert_eq!(shape.id().parse::<Shape>(), Ok(shape));
        assert!(shape.id().ends_with("-a12"));
        assert_eq!("t4".parse::<Shape>().map(|s| s.table_len()), Ok(4 * 2 + 1));
        assert_eq!("t4".parse::<Shape>().map(|s| s.trades), Ok(4));
        assert!("q4".parse::<Shape>().is_err());
        assert!("t".parse::<Shape>().is_err());
        assert!("t70000".parse::<Shape>().is_err());
        // A two-letter kind is not read as a one-letter one.
        assert_eq!(
            "f1-fw2-fc3-ft4".parse::<Shape>().map(|s| (
                s.funding_ticks,
                s.forced_withdrawals,
                s.forced_cancels,
                s.forced_trades
            )),
            Ok((1, 2, 3, 4))
        );
    }
}
