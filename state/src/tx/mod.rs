//! The transactions of the protocol, one file each. A kind is a unit: its file holds the
//! transaction, its L1 record ([`Kind::Record`]), the writes it reserves in a batch slot, its
//! rules (`execute_*`, checked against a [`Ctx`] that stages the changes) and, in
//! `zkperp-circuits`' file of the same name, its witness, dummy and gadget. Nothing here writes
//! state: [`crate::state::State::apply`] commits a transaction only when its rules passed.
//!
//! The one list of kinds is [`for_each_kind!`](crate::for_each_kind), in batch order: every
//! per-kind type of the code ([`Transaction`], [`TxError`], [`crate::batch::SlotKind`],
//! [`crate::batch::Shape`], [`crate::pubdata::PubData`], the circuit's slot witness) is
//! generated from it, so adding a kind is its files and one line there; no code matches on
//! kinds by hand.

use serde::{Deserialize, Serialize};

use crate::batch::SlotKind;
use crate::merkle::NodeStore;
use crate::pubdata::L1Record;
use crate::state::Ctx;

/// Every transaction kind, in the order a batch runs them (`crate::batch`), as
/// `Variant(Type) module shape_field "shape letter"`. Calls `$callback!` with the list: the
/// macro every per-kind type and dispatch of the workspace is generated from.
///
/// Why this order: ticks set the batch's prices before anything is valued at them; the
/// liquidations they trigger come next; then the L1 queues (forced cancels before the trades,
/// so an order a trader cancelled on L1 cannot fill in the same batch); then the continuous
/// flow of trades; withdrawals and cancels, which a sequencer can hold until the batch seals,
/// last.
#[macro_export]
macro_rules! for_each_kind {
    ($callback:path) => {
        $callback! {
            OracleTick(OracleTick) oracle_tick oracle_ticks "o",
            FundingTick(FundingTick) funding_tick funding_ticks "f",
            Liquidation(Liquidation) liquidation liquidations "l",
            Deleverage(Deleverage) deleverage deleverages "x",
            Deposit(Deposit) deposit deposits "d",
            ForcedWithdrawal(ForcedWithdrawal) forced_withdrawal forced_withdrawals "fw",
            ForcedCancel(ForcedCancel) forced_cancel forced_cancels "fc",
            ForcedTrade(ForcedTrade) forced_trade forced_trades "ft",
            Trade(Trade) trade trades "t",
            Withdrawal(Withdrawal) withdrawal withdrawals "w",
            CancelOrder(CancelOrder) cancel_order cancels "c",
        }
    };
}

/// What every transaction kind is: its footprint in a batch slot and its rules.
pub trait Kind: Sized {
    /// The L1 record a slot of this kind publishes ([`crate::pubdata::NoRecord`]: none).
    type Record: L1Record;
    /// Why a transaction of this kind is refused.
    type Error: std::error::Error + Clone + PartialEq + Eq;
    /// Leaf writes a slot of this kind reserves in the data-availability record.
    const ACCOUNTS: usize;
    /// The index of the L1 queue entry this transaction serves, for kinds the L1 queues. Each
    /// such kind has its own queue, consumed in order: [`execute`] refuses any other index.
    fn queue_index(&self) -> Option<u64> {
        None
    }
    /// Checks every rule against `ctx` and stages the changes (nothing when refused).
    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error>;
}

macro_rules! declare_kinds {
    ($($variant:ident($ty:ident) $module:ident $field:ident $letter:literal,)*) => {
        $(pub mod $module;)*
        $(pub use $module::$ty;)*

        /// Every state change of the exchange.
        // A trade (two signed orders) is the largest variant and the most frequent one: boxing
        // it would add an allocation per fill to save space in the rarer variants.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum Transaction {
            $($variant($ty),)*
        }

        $(impl From<$ty> for Transaction {
            fn from(tx: $ty) -> Self {
                Transaction::$variant(tx)
            }
        })*

        impl Transaction {
            /// The kind of batch slot this transaction takes.
            pub fn kind(&self) -> SlotKind {
                match self {
                    $(Transaction::$variant(_) => SlotKind::$variant,)*
                }
            }

            /// The L1 queue entry it serves, if its kind is queued (see [`Kind::queue_index`]).
            pub fn queue_index(&self) -> Option<u64> {
                match self {
                    $(Transaction::$variant(t) => t.queue_index(),)*
                }
            }
        }

        /// Why a transaction was refused.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum TxError {
            $($variant(<$ty as Kind>::Error),)*
            /// An L1 queue's entry served out of order: each queue is consumed in order.
            QueueOutOfOrder {
                kind: SlotKind,
                expected: u64,
                got: u64,
            },
            /// The node store failed while committing: the transaction is not applied.
            Storage(String),
        }

        $(impl From<<$ty as Kind>::Error> for TxError {
            fn from(e: <$ty as Kind>::Error) -> Self {
                TxError::$variant(e)
            }
        })*

        impl std::fmt::Display for TxError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $(TxError::$variant(e) => write!(f, "{}: {e}", SlotKind::$variant.title()),)*
                    TxError::QueueOutOfOrder {
                        kind,
                        expected,
                        got,
                    } => write!(
                        f,
                        "{}: L1 queue entry {got} consumed out of order: the next is {expected}",
                        kind.title()
                    ),
                    TxError::Storage(e) => write!(f, "storage: {e}"),
                }
            }
        }

        impl std::error::Error for TxError {}

        pub(crate) fn execute<S: NodeStore>(
            ctx: &mut Ctx<'_, S>,
            tx: &Transaction,
        ) -> Result<(), TxError> {
            if let Some(got) = tx.queue_index() {
                let expected = ctx.queue_next(tx.kind());
                if got != expected {
                    return Err(TxError::QueueOutOfOrder {
                        kind: tx.kind(),
                        expected,
                        got,
                    });
                }
            }
            match tx {
                $(Transaction::$variant(t) => t.execute(ctx)?,)*
            }
            if tx.queue_index().is_some() {
                ctx.consume_queue(tx.kind());
            }
            Ok(())
        }
    };
}

for_each_kind!(declare_kinds);

pub use cancel_order::CancelOrderError;
pub use deleverage::DeleverageError;
pub use deposit::{execute_deposit, DepositError, DepositTarget, L1Deposit, Refund};
pub use forced_withdrawal::{
    execute_forced_withdrawal, ForcedWithdrawalError, L1ForcedWithdrawal, Refusal,
};
pub use funding_tick::FundingTickError;
pub use liquidation::LiquidationError;
pub use oracle_tick::{OracleTickError, Quote, SignedQuote};
pub use trade::{Role, TradeError};
pub use withdrawal::WithdrawalError;
