//! Cancel order: the owner signs `(account, order_id)`, and the order's slot is marked fully
//! filled, so a sequencer that still holds the signed order can never fill it afterwards.
//! (Expiry bounds every order's life; cancellation ends it sooner, and the proof enforces both.)
//!
//! ```text
//! message = Poseidon(tag(CancelOrder), account | order_id << 32)      (72 bits)
//! ```
//! Rules: the signature is the account's; the slot does not already hold a later order (that
//! order superseded this one, so there is nothing to cancel). The slot becomes
//! `(order_id, CANCELLED)` where `CANCELLED = 2^40 - 1` exceeds any order size. Cancelling twice
//! is allowed and changes nothing the second time.

use serde::{Deserialize, Serialize};

use crate::domain::{MessageKind, SigningDomain};
use crate::eddsa::Signature;
use crate::field::Fr;
use crate::merkle::NodeStore;
use crate::pubdata::NoRecord;
use crate::tx::Kind;
use crate::order::OrderSlot;
use crate::poseidon::poseidon;
use crate::state::Ctx;
use crate::units::{AccountId, BaseLots, OrderId};

/// The `filled` value of a cancelled slot: above every order size.
pub const CANCELLED: i128 = (1 << BaseLots::BITS) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrder {
    pub account: AccountId,
    pub order_id: OrderId,
    pub signature: Signature,
}

impl CancelOrder {
    /// `Poseidon(tag(CancelOrder), account | order_id << 32)` (72 bits).
    pub fn message(domain: &SigningDomain, account: AccountId, order_id: OrderId) -> Fr {
        let word = u128::from(account.get()) | u128::from(order_id.get()) << 32;
        poseidon([domain.tag(MessageKind::CancelOrder), Fr::from(word)])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelOrderError {
    #[error("account does not exist")]
    NoSuchAccount,
    #[error("signature does not verify")]
    BadSignature,
    #[error("a later order already took this order's slot")]
    Superseded,
}

pub fn execute_cancel_order<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &CancelOrder,
) -> Result<(), CancelOrderError> {
    let leaf = ctx
        .peek(tx.account)
        .ok_or(CancelOrderError::NoSuchAccount)?;
    leaf.public_key
        .verify(
            CancelOrder::message(&ctx.config().domain, tx.account, tx.order_id),
            &tx.signature,
        )
        .map_err(|_| CancelOrderError::BadSignature)?;
    let slot = ctx.order_slot(tx.account, tx.order_id);
    if slot.order_id > tx.order_id {
        return Err(CancelOrderError::Superseded);
    }
    let cancelled = OrderSlot {
        order_id: tx.order_id,
        filled: BaseLots::new(CANCELLED).map_err(|_| CancelOrderError::Superseded)?,
    };
    ctx.write_order_slot(tx.account, cancelled)
        .map_err(|_| CancelOrderError::NoSuchAccount)
}

impl Kind for CancelOrder {
    type Record = NoRecord;
    type Error = CancelOrderError;
    const ACCOUNTS: usize = 1;

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_cancel_order(ctx, self)
    }
}
