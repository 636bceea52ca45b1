//! Every rule of every transaction kind: a case that passes and a case that must be refused
//! (and leaves the state root untouched).

mod bands;
mod cancel_order;
mod deleverage;
mod deposit;
mod domain;
mod forced_cancel;
mod forced_trade;
mod forced_withdrawal;
mod funding_tick;
mod insurance_fund;
mod limits;
pub mod liquidation;
mod marks;
mod oracle_tick;
mod trade;
mod withdrawal;
