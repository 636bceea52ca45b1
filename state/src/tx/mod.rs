//! The transactions of the protocol, one file each, each exposing one `execute_*` that checks
//! every rule of its kind against a [`Ctx`] and stages the changes. Nothing here writes state:
//! [`crate::state::State::apply`] commits a transaction only when its `execute_*` returned `Ok`.

use serde::{Deserialize, Serialize};

use crate::merkle::NodeStore;
use crate::state::Ctx;

pub mod cancel_order;
pub mod deleverage;
pub mod deposit;
pub mod forced_withdrawal;
pub mod funding_tick;
pub mod liquidation;
pub mod oracle_tick;
pub mod trade;
pub mod withdrawal;

pub use cancel_order::{execute_cancel_order, CancelOrder, CancelOrderError};
pub use deleverage::{execute_deleverage, Deleverage, DeleverageError};
pub use deposit::{execute_deposit, Deposit, DepositError, DepositTarget, L1Deposit, Refund};
pub use forced_withdrawal::{
    execute_forced_withdrawal, ForcedWithdrawal, ForcedWithdrawalError, L1ForcedWithdrawal, Refusal,
};
pub use funding_tick::{execute_funding_tick, FundingTick, FundingTickError};
pub use liquidation::{execute_liquidation, Liquidation, LiquidationError};
pub use oracle_tick::{execute_oracle_tick, OracleTick, OracleTickError, Quote, SignedQuote};
pub use trade::{execute_trade, Role, Trade, TradeError};
pub use withdrawal::{execute_withdrawal, Withdrawal, WithdrawalError};

/// Every state change of the exchange.
// A trade (two signed orders) is the largest variant and the most frequent one: boxing it would
// add an allocation per fill to save space in the rarer variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transaction {
    Deposit(Deposit),
    Trade(Trade),
    Withdrawal(Withdrawal),
    ForcedWithdrawal(ForcedWithdrawal),
    OracleTick(OracleTick),
    FundingTick(FundingTick),
    Liquidation(Liquidation),
    Deleverage(Deleverage),
    CancelOrder(CancelOrder),
}

/// Why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("deposit: {0}")]
    Deposit(#[from] DepositError),
    #[error("trade: {0}")]
    Trade(#[from] TradeError),
    #[error("withdrawal: {0}")]
    Withdrawal(#[from] WithdrawalError),
    #[error("forced withdrawal: {0}")]
    ForcedWithdrawal(#[from] ForcedWithdrawalError),
    #[error("oracle tick: {0}")]
    OracleTick(#[from] OracleTickError),
    #[error("funding tick: {0}")]
    FundingTick(#[from] FundingTickError),
    #[error("liquidation: {0}")]
    Liquidation(#[from] LiquidationError),
    #[error("deleverage: {0}")]
    Deleverage(#[from] DeleverageError),
    #[error("cancel order: {0}")]
    CancelOrder(#[from] CancelOrderError),
    /// The node store failed while committing: the transaction is not applied.
    #[error("storage: {0}")]
    Storage(String),
}

pub(crate) fn execute<S: NodeStore>(ctx: &mut Ctx<'_, S>, tx: &Transaction) -> Result<(), TxError> {
    match tx {
        Transaction::Deposit(t) => {
            execute_deposit(ctx, t)?;
        }
        Transaction::Trade(t) => execute_trade(ctx, t)?,
        Transaction::Withdrawal(t) => execute_withdrawal(ctx, t)?,
        Transaction::ForcedWithdrawal(t) => {
            execute_forced_withdrawal(ctx, t)?;
        }
        Transaction::OracleTick(t) => execute_oracle_tick(ctx, t)?,
        Transaction::FundingTick(t) => execute_funding_tick(ctx, t)?,
        Transaction::Liquidation(t) => execute_liquidation(ctx, t)?,
        Transaction::Deleverage(t) => execute_deleverage(ctx, t)?,
        Transaction::CancelOrder(t) => execute_cancel_order(ctx, t)?,
    }
    Ok(())
}
