//! The transaction gadgets, one file per kind, each the twin of the native `execute_*` of the
//! same name in `zkperp_state::tx`. Each runs against the batch's [`crate::batch::BatchVar`]
//! and gates every rule on its slot's `enabled` bit, so an unused slot is a no-op.

pub mod cancel_order;
pub mod deleverage;
pub mod deposit;
pub mod forced_withdrawal;
pub mod funding_tick;
pub mod liquidation;
pub mod oracle_tick;
pub mod trade;
pub mod withdrawal;
