//! A sequencer command: everything that can change the sequencer's state, as the journal
//! records it (the journal, in `zkperp-sequencer`) and the batcher runs it ([`crate::batcher`]).

use serde::{Deserialize, Serialize};
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::Signature;
use zkperp_state::order::SignedOrder;
use zkperp_state::tx::{CancelOrder, Transaction};
use zkperp_state::units::{AccountId, Timestamp};
use zkperp_state::Fr;

use crate::engine::OrderOptions;

/// Everything that can change the sequencer's state, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Starts a batch at this time (the clock of every rule that looks at time).
    BeginBatch {
        timestamp: Timestamp,
    },
    /// Seals the batch.
    EndBatch,
    Submit {
        order: SignedOrder,
        options: OrderOptions,
    },
    Cancel {
        cancel: CancelOrder,
    },
    /// A transaction that does not go through the book: deposits, forced requests, oracle and
    /// funding ticks, withdrawals, liquidations, deleveraging.
    Apply {
        tx: Transaction,
    },
}

impl Command {
    /// The trader's signature the command carries (an order's, a cancel's): the account whose
    /// key must have made it, the message and the signature. What can be checked before the
    /// command reaches the sequencer (on every core: the intake, a replay); the sequencer's
    /// own check then answers from the verification memo (`PublicKey::verify`).
    pub fn signed(&self, domain: &SigningDomain) -> Option<(AccountId, Fr, &Signature)> {
        match self {
            Command::Submit { order, .. } => Some((
                order.order.account,
                order.order.hash(domain),
                &order.signature,
            )),
            Command::Cancel { cancel } => Some((
                cancel.account,
                CancelOrder::message(domain, cancel.account, cancel.order_id),
                &cancel.signature,
            )),
            _ => None,
        }
    }
}
