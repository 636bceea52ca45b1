//! Forced cancel: a request made on L1 to invalidate every order of an account whose id is below
//! a given order id, so a trader the sequencer censors can still stop resting orders from
//! filling (and then leave with a forced withdrawal or, after a freeze, an exit). It has its own
//! L1 queue, consumed in order, and is answered either way:
//! *served* when the account exists and the requester is its L1 owner: the account's order floor
//! becomes `max(floor, order_id)`, and no order with an id below the floor can fill again
//! (`tx::trade`, rule 5); *refused* otherwise, leaving the account untouched. Those are the only
//! grounds: the answer is the rules', never the sequencer's choice, and the circuit proves it.
//!
//! Orders are numbered by their owner (`Order::order_id`, 40 bits), so "every order below `n`"
//! is what a wallet that numbers its orders in sequence means by "every order I have made".
//! An order the sequencer already filled stays filled; a partly filled one fills no further.

use crate::layout::{Writer, FORCED_CANCEL};
use serde::{Deserialize, Serialize};

use crate::merkle::NodeStore;
use crate::pubdata::{L1Record, PubData};
use crate::state::Ctx;
use crate::tx::Kind;
use crate::units::{AccountId, L1Address, OrderId};

/// A forced cancel as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1ForcedCancel {
    /// Position in the forced-cancel queue.
    pub index: u64,
    pub account: AccountId,
    /// The L1 sender of the request.
    pub requester: L1Address,
    /// Orders with a smaller id are cancelled.
    pub order_id: OrderId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedCancel {
    pub request: L1ForcedCancel,
}

/// Why a forced cancel was refused: the listed grounds, and only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CancelRefusal {
    #[error("the account does not exist")]
    NoSuchAccount,
    #[error("the requester is not the account's L1 owner")]
    NotOwner,
}

/// A forced cancel is never refused as a transaction: once its turn in the L1 queue comes, it
/// is answered (the answer says what the rules decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForcedCancelError {}

/// Answers the next forced cancel (the queue's order is checked by `tx::execute`): `None` when
/// served, or why it was refused.
pub fn execute_forced_cancel<S: NodeStore>(
    ctx: &mut Ctx<'_, S>,
    tx: &ForcedCancel,
) -> Option<CancelRefusal> {
    let r = &tx.request;
    let decision = match ctx.read(r.account) {
        None => Err(CancelRefusal::NoSuchAccount),
        Some(leaf) if leaf.l1_address != r.requester => Err(CancelRefusal::NotOwner),
        Some(_) => ctx
            .account(r.account)
            .map(|leaf| leaf.order_floor = leaf.order_floor.max(r.order_id))
            .map_err(|_| CancelRefusal::NoSuchAccount),
    };
    ctx.publish(PubData::ForcedCancel(ForcedCancelRecord {
        index: r.index,
        account: r.account,
        requester: r.requester,
        order_id: r.order_id,
        served: decision.is_ok(),
    }));
    decision.err()
}

/// `0x07 | u64 index | u32 account | address requester | u64 order_id | u8 served`: the answer
/// to the request (the L1 checks the fields are the request's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedCancelRecord {
    pub index: u64,
    pub account: AccountId,
    pub requester: L1Address,
    pub order_id: OrderId,
    pub served: bool,
}

impl ForcedCancelRecord {
    pub const KIND: u8 = 0x07;
}

impl L1Record for ForcedCancelRecord {
    const LEN: usize = FORCED_CANCEL.len();
    fn kind_byte(&self) -> u8 {
        Self::KIND
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&FORCED_CANCEL, out)
            .put("KIND", &[Self::KIND])
            .put("INDEX", &self.index.to_be_bytes())
            .put("ACCOUNT", &(self.account.get() as u32).to_be_bytes())
            .put("REQUESTER", &self.requester.0)
            .put("ORDER_ID", &self.order_id.get().to_be_bytes())
            .put("SERVED", &[u8::from(self.served)]);
    }
}

impl Kind for ForcedCancel {
    type Record = ForcedCancelRecord;
    type Error = ForcedCancelError;
    const ACCOUNTS: usize = 1;

    fn queue_index(&self) -> Option<u64> {
        Some(self.request.index)
    }

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_forced_cancel(ctx, self);
        Ok(())
    }
}
