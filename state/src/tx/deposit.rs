//! Deposit: consumes the next L1 deposit request, in queue order, and credits the account it
//! names: an existing account whose owner is the depositor (same Baby Jubjub key and L1
//! address), the insurance fund (anyone may top it up), or a new account the deposit creates
//! when the depositor asked for one. The operator never chooses which account a deposit credits:
//! the L1 queue records the target and the proof checks it, so a top-up can never open a second
//! account for the same owner while the first is liquidated.
//!
//! A request that cannot be credited (its key bytes are not a valid Baby Jubjub key, the target
//! does not exist or belongs to someone else, the credit would overflow the collateral width, or
//! the tree is full) is still consumed, and published as *refunded*: the L1 contract makes the
//! amount claimable by the depositor. Without this, one unusable deposit would block the queue,
//! and every deposit behind it, until a freeze.

use crate::layout::{Writer, DEPOSIT};
use serde::{Deserialize, Serialize};

use crate::eddsa::PublicKey;
use crate::merkle::NodeStore;
use crate::pubdata::{L1Record, PubData};
use crate::record::{self, Ephemeral};
use crate::tx::Kind;
use crate::state::Ctx;
use crate::units::{AccountId, Amount, Collateral, L1Address, RangeError};

/// The account a deposit credits, as the L1 queued it (`u32` on the wire, `u32::MAX` = new).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
pub enum DepositTarget {
    /// Open a new account at the next free id.
    New,
    /// Credit this existing account (its owner must be the depositor, unless it is the fund).
    Existing(AccountId),
}

impl DepositTarget {
    /// The wire value that asks for a new account. Never an account id: the tree refuses to
    /// create the account `2^32 - 1` (`Ctx::create_account`).
    pub const NEW_ACCOUNT: u32 = u32::MAX;

    pub fn wire(self) -> u32 {
        match self {
            DepositTarget::New => Self::NEW_ACCOUNT,
            DepositTarget::Existing(id) => id.get() as u32,
        }
    }
}

impl From<u32> for DepositTarget {
    fn from(v: u32) -> Self {
        match v {
            Self::NEW_ACCOUNT => DepositTarget::New,
            id => DepositTarget::Existing(AccountId::new(u64::from(id)).expect("u32 ids fit")),
        }
    }
}

impl From<DepositTarget> for u32 {
    fn from(t: DepositTarget) -> u32 {
        t.wire()
    }
}

/// A deposit as the L1 contract queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Deposit {
    /// Position in the L1 queue.
    pub index: u64,
    /// Who receives withdrawals and exits of the account.
    pub l1_address: L1Address,
    /// The trader's Baby Jubjub key, packed, exactly as the L1 queued it (checked here).
    #[serde(with = "crate::field::serde_hex32")]
    pub public_key: [u8; 32],
    /// The account to credit, as the depositor named it.
    pub account: DepositTarget,
    pub amount: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    pub request: L1Deposit,
    /// The operator's ephemeral scalar for the account this deposit creates (drawn by the
    /// sequencer from a CSPRNG; unused when the account exists): the leaf's salt is the secret
    /// it shares with the owner's key (`crate::record::create`).
    pub ephemeral: Ephemeral,
}

/// Why a deposit was refunded instead of credited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refund {
    #[error("the key is not a valid Baby Jubjub public key")]
    InvalidKey,
    #[error("the target account does not exist")]
    NoSuchAccount,
    #[error("the target account belongs to another owner")]
    NotOwner,
    #[error("the account tree is full")]
    TreeFull,
    #[error(transparent)]
    Range(#[from] RangeError),
}

/// Consumes the next deposit (the queue's order is checked by `tx::execute`): credited
/// (`None`) or refunded (`Some(reason)`).
pub fn execute_deposit<S: NodeStore>(ctx: &mut Ctx<'_, S>, tx: &Deposit) -> Option<Refund> {
    let r = &tx.request;
    let outcome = credit(ctx, tx).err();
    ctx.publish(PubData::Deposit(DepositRecord {
        index: r.index,
        l1_address: r.l1_address,
        public_key: r.public_key,
        account: r.account,
        amount: r.amount,
        credited: outcome.is_none(),
    }));
    outcome
}

/// Credits the deposit, staging nothing unless every check passes.
fn credit<S: NodeStore>(ctx: &mut Ctx<'_, S>, tx: &Deposit) -> Result<(), Refund> {
    let r = &tx.request;
    let key = PublicKey::unpack(&r.public_key).map_err(|_| Refund::InvalidKey)?;
    let (id, credited) = match r.account {
        DepositTarget::Existing(id) => {
            let leaf = ctx.peek(id).ok_or(Refund::NoSuchAccount)?;
            let owner = leaf.public_key == key && leaf.l1_address == r.l1_address;
            if !owner && id != AccountId::INSURANCE_FUND {
                return Err(Refund::NotOwner);
            }
            (id, leaf.collateral.checked_add(r.amount.as_collateral())?)
        }
        DepositTarget::New => {
            // An amount (< 2^63) always fits an empty account's collateral (|x| < 2^63).
            let credited = Collateral::ZERO.checked_add(r.amount.as_collateral())?;
            let id = ctx
                .create_account(key, r.l1_address, record::create(&tx.ephemeral, &key).salt)
                .ok_or(Refund::TreeFull)?;
            (id, credited)
        }
    };
    ctx.account(id).map_err(|_| Refund::TreeFull)?.collateral = credited;
    Ok(())
}

/// `0x01 | u64 index | address l1 | bytes32 packed key | u32 account | u64 amount` when
/// credited, the same with `0x06` when refunded (`u32::MAX`: a new account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRecord {
    pub index: u64,
    pub l1_address: L1Address,
    #[serde(with = "crate::field::serde_hex32")]
    pub public_key: [u8; 32],
    /// The target the depositor named.
    pub account: DepositTarget,
    pub amount: Amount,
    pub credited: bool,
}

impl DepositRecord {
    pub const CREDITED: u8 = 0x01;
    pub const REFUNDED: u8 = 0x06;
}

impl L1Record for DepositRecord {
    const LEN: usize = DEPOSIT.len();
    fn kind_byte(&self) -> u8 {
        if self.credited {
            Self::CREDITED
        } else {
            Self::REFUNDED
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(&DEPOSIT, out)
            .put("KIND", &[self.kind_byte()])
            .put("INDEX", &self.index.to_be_bytes())
            .put("L1", &self.l1_address.0)
            .put("KEY", &self.public_key)
            .put("ACCOUNT", &self.account.wire().to_be_bytes())
            .put("AMOUNT", &self.amount.get().to_be_bytes());
    }
}

/// A deposit is never refused: once its turn in the L1 queue comes, it is answered (the
/// answer says what the rules decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DepositError {}

impl Kind for Deposit {
    type Record = DepositRecord;
    type Error = DepositError;
    const ACCOUNTS: usize = 1;
    fn queue_index(&self) -> Option<u64> {
        Some(self.request.index)
    }

    fn execute<S: NodeStore>(&self, ctx: &mut Ctx<'_, S>) -> Result<(), Self::Error> {
        execute_deposit(ctx, self);
        Ok(())
    }
}
