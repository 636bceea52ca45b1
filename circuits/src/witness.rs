//! Witness generation: a sealed batch of the native state machine, laid out in a shape's slots.
//!
//! Nothing here decides a rule. Every value comes from what the native `State::apply` recorded
//! (`SealedBatch`: each transaction with its `Receipt`, whose `AccountWrite`s carry the leaves
//! before and after and the Merkle paths at the moment of each write), so the circuit checks the
//! native execution rather than re-running a second copy of it. Unused slots get a fixed dummy
//! witness that the gadgets ignore (every rule is gated by the slot's `enabled` bit).

use std::sync::OnceLock;

use zkperp_state::batch::{SealedBatch, Shape, ShapeError, SlotKind};
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::{PrivateKey, PublicKey, Signature};
use zkperp_state::field::Fr;
use zkperp_state::leaf::{AccountLeaf, Position};
use zkperp_state::market::MarketState;
use zkperp_state::merkle::MerkleProof;
use zkperp_state::order::{Order, OrderSlot, Side, SignedOrder};
use zkperp_state::state::{AccountWrite, StateConfig};
use zkperp_state::tx::{
    CancelOrder, Deleverage, Deposit, DepositTarget, FundingTick, L1Deposit, L1ForcedWithdrawal,
    Liquidation, OracleTick, Quote, SignedQuote, Trade, Transaction, Withdrawal,
};
use zkperp_state::units::{
    AccountId, Amount, BaseLots, Collateral, FundingIndex, L1Address, MarketId, Nonce, OrderId,
    Ppm, PriceTicks, Timestamp,
};

/// Why a sealed batch cannot become a witness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error("slot {slot}: the receipt does not have the writes a {kind} makes")]
    Receipt { slot: usize, kind: &'static str },
    #[error("slot {slot}: the {kind} slot is not supported by this circuit yet")]
    Unsupported { slot: usize, kind: &'static str },
}

/// An account as a write found it: its id, its leaf before the write and the path to it.
#[derive(Debug, Clone)]
pub struct AccountWitness {
    pub id: AccountId,
    pub leaf: AccountLeaf,
    pub proof: MerkleProof,
}

/// An orders-tree slot before a write, and the path to it.
#[derive(Debug, Clone)]
pub struct OrderSlotWitness {
    pub slot: OrderSlot,
    pub proof: MerkleProof,
}

#[derive(Debug, Clone)]
pub struct PartyWitness {
    pub account: AccountWitness,
    pub order_slot: OrderSlotWitness,
}

#[derive(Debug, Clone)]
pub struct TradeWitness {
    pub trade: Trade,
    pub maker: PartyWitness,
    pub taker: PartyWitness,
}

#[derive(Debug, Clone)]
pub struct WithdrawalWitness {
    pub withdrawal: Withdrawal,
    pub account: AccountWitness,
}

#[derive(Debug, Clone)]
pub struct DepositWitness {
    pub deposit: Deposit,
    pub credited: bool,
    /// The leaf before (a placeholder when created or refunded) and its path.
    pub account: AccountWitness,
}

#[derive(Debug, Clone)]
pub struct CancelOrderWitness {
    pub cancel: CancelOrder,
    pub account: AccountWitness,
    pub order_slot: OrderSlotWitness,
}

#[derive(Debug, Clone)]
pub struct ForcedWithdrawalWitness {
    pub request: L1ForcedWithdrawal,
    /// What the answer pays (0: refused); the circuit proves it is what the rules pay.
    pub paid: Amount,
    /// An account has the requested id (its leaf is not empty).
    pub exists: bool,
    /// Its leaf (a placeholder when it does not exist) and the path to its id (zeros when the
    /// id is beyond the tree).
    pub account: AccountWitness,
}

#[derive(Debug, Clone)]
pub struct LiquidationWitness {
    pub liquidation: Liquidation,
    pub account: AccountWitness,
    pub fund: AccountWitness,
}

#[derive(Debug, Clone)]
pub struct DeleverageWitness {
    pub deleverage: Deleverage,
    /// The closed lots' share of the bankrupt account's deficit, as the rule computes it
    /// (`deleverage::deficit_share`); the circuit proves it is exactly that.
    pub share: i128,
    /// The insurance fund as the rules read it (not written).
    pub fund: AccountWitness,
    pub deleveraged: AccountWitness,
    pub deleverager: AccountWitness,
}

/// One slot: its kind, whether it holds a transaction, and the witness (a dummy when not).
// Trades dominate batches; boxing them would allocate per slot to save space in rarer kinds.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SlotWitness {
    OracleTick(OracleTick),
    FundingTick(FundingTick),
    Deposit(DepositWitness),
    Trade(TradeWitness),
    Withdrawal(WithdrawalWitness),
    ForcedWithdrawal(ForcedWithdrawalWitness),
    Liquidation(LiquidationWitness),
    Deleverage(DeleverageWitness),
    CancelOrder(CancelOrderWitness),
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub enabled: bool,
    pub witness: SlotWitness,
}

/// Everything the batch circuit is given.
#[derive(Debug, Clone)]
pub struct BatchWitness {
    pub batch_number: u64,
    pub timestamp: Timestamp,
    pub domain: SigningDomain,
    pub start_accounts_root: Fr,
    pub start_markets: Vec<MarketState>,
    pub slots: Vec<Slot>,
    /// The fee account before the fee settlement (the circuit sums the fees itself).
    pub fee_account: AccountWitness,
}

/// The slot kinds the batch circuit proves: every kind.
pub fn supported(kind: SlotKind) -> bool {
    SlotKind::ALL.contains(&kind)
}

impl BatchWitness {
    /// The witness of `batch` in `shape`'s slots.
    pub fn new(
        config: &StateConfig,
        shape: &Shape,
        batch: &SealedBatch,
    ) -> Result<Self, WitnessError> {
        let mut slots = Vec::new();
        for (i, (kind, applied)) in batch.slots(shape)?.into_iter().enumerate() {
            if !supported(kind) {
                return Err(WitnessError::Unsupported {
                    slot: i,
                    kind: kind.name(),
                });
            }
            let receipt_error = || WitnessError::Receipt {
                slot: i,
                kind: kind.name(),
            };
            let Some(applied) = applied else {
                slots.push(Slot {
                    enabled: false,
                    witness: dummy_slot(config, kind).ok_or(WitnessError::Unsupported {
                        slot: i,
                        kind: kind.name(),
                    })?,
                });
                continue;
            };
            let writes = &applied.receipt.writes;
            let witness = match &applied.tx {
                Transaction::OracleTick(t) => SlotWitness::OracleTick(t.clone()),
                Transaction::FundingTick(t) => SlotWitness::FundingTick(*t),
                Transaction::Trade(t) => {
                    let party = |account: AccountId| {
                        let w = writes
                            .iter()
                            .find(|w| w.account == account)
                            .ok_or_else(receipt_error)?;
                        let order = w.order_update.as_ref().ok_or_else(receipt_error)?;
                        Ok::<_, WitnessError>(PartyWitness {
                            account: account_witness(w).ok_or_else(receipt_error)?,
                            order_slot: OrderSlotWitness {
                                slot: OrderSlot::unpack(&order.old_leaf)
                                    .ok_or_else(receipt_error)?,
                                proof: order.proof.clone(),
                            },
                        })
                    };
                    if writes.len() != 2 || writes[0].account != t.maker.order.account {
                        return Err(receipt_error());
                    }
                    SlotWitness::Trade(TradeWitness {
                        trade: *t,
                        maker: party(t.maker.order.account)?,
                        taker: party(t.taker.order.account)?,
                    })
                }
                Transaction::Withdrawal(t) => {
                    let w = writes.first().ok_or_else(receipt_error)?;
                    SlotWitness::Withdrawal(WithdrawalWitness {
                        withdrawal: *t,
                        account: account_witness(w).ok_or_else(receipt_error)?,
                    })
                }
                Transaction::Deposit(t) => {
                    let credited = match applied.receipt.pubdata.first() {
                        Some(zkperp_state::pubdata::PubData::Deposit { credited, .. }) => *credited,
                        _ => return Err(receipt_error()),
                    };
                    let account = match writes.first() {
                        Some(w) => AccountWitness {
                            id: w.account,
                            leaf: w.before.clone().unwrap_or_else(|| dummy_leaf(config)),
                            proof: w.update.proof.clone(),
                        },
                        None if !credited => dummy_account(config),
                        None => return Err(receipt_error()),
                    };
                    SlotWitness::Deposit(DepositWitness {
                        deposit: *t,
                        credited,
                        account,
                    })
                }
                Transaction::CancelOrder(t) => {
                    let w = writes.first().ok_or_else(receipt_error)?;
                    let order = w.order_update.as_ref().ok_or_else(receipt_error)?;
                    SlotWitness::CancelOrder(CancelOrderWitness {
                        cancel: *t,
                        account: account_witness(w).ok_or_else(receipt_error)?,
                        order_slot: OrderSlotWitness {
                            slot: OrderSlot::unpack(&order.old_leaf).ok_or_else(receipt_error)?,
                            proof: order.proof.clone(),
                        },
                    })
                }
                Transaction::ForcedWithdrawal(t) => {
                    let paid = match applied.receipt.pubdata.first() {
                        Some(zkperp_state::pubdata::PubData::ForcedWithdrawal { paid, .. }) => {
                            *paid
                        }
                        _ => return Err(receipt_error()),
                    };
                    let read = applied.receipt.reads.first().ok_or_else(receipt_error)?;
                    SlotWitness::ForcedWithdrawal(ForcedWithdrawalWitness {
                        request: t.request,
                        paid,
                        exists: read.leaf.is_some(),
                        account: AccountWitness {
                            id: read.account,
                            leaf: read.leaf.clone().unwrap_or_else(|| dummy_leaf(config)),
                            proof: read
                                .proof
                                .clone()
                                .unwrap_or_else(|| zero_proof(config.account_tree_depth)),
                        },
                    })
                }
                Transaction::Liquidation(t) => {
                    let [account, fund] = writes.as_slice() else {
                        return Err(receipt_error());
                    };
                    SlotWitness::Liquidation(LiquidationWitness {
                        liquidation: *t,
                        account: account_witness(account).ok_or_else(receipt_error)?,
                        fund: account_witness(fund).ok_or_else(receipt_error)?,
                    })
                }
                Transaction::Deleverage(t) => {
                    let [deleveraged, deleverager] = writes.as_slice() else {
                        return Err(receipt_error());
                    };
                    let read = applied.receipt.reads.first().ok_or_else(receipt_error)?;
                    // The share the rule charged: the bankrupt account's collateral change less
                    // the closed lots' value at the mark (markets are final after the ticks,
                    // which come first in a batch).
                    let share = {
                        let markets = &batch.markets;
                        let mut before = deleveraged.before.clone().ok_or_else(receipt_error)?;
                        zkperp_state::funding::settle_funding(&mut before, markets)
                            .map_err(|_| receipt_error())?;
                        let m = t.market.index();
                        let params = config.market(t.market).ok_or_else(receipt_error)?;
                        let value = zkperp_state::units::notional(
                            t.size,
                            markets[m].mark_price,
                            params.tick_value,
                        );
                        let received = deleveraged.after.collateral.get() - before.collateral.get();
                        received - before.positions[m].size.get().signum() * value
                    };
                    SlotWitness::Deleverage(DeleverageWitness {
                        deleverage: *t,
                        share,
                        fund: AccountWitness {
                            id: read.account,
                            leaf: read.leaf.clone().ok_or_else(receipt_error)?,
                            proof: read.proof.clone().ok_or_else(receipt_error)?,
                        },
                        deleveraged: account_witness(deleveraged).ok_or_else(receipt_error)?,
                        deleverager: account_witness(deleverager).ok_or_else(receipt_error)?,
                    })
                }
            };
            slots.push(Slot {
                enabled: true,
                witness,
            });
        }
        Ok(BatchWitness {
            batch_number: batch.batch_number,
            timestamp: batch.timestamp,
            domain: batch.domain,
            start_accounts_root: batch.start_accounts_root,
            start_markets: batch.start_markets.clone(),
            slots,
            fee_account: account_witness(&batch.fee_write).ok_or(WitnessError::Receipt {
                slot: usize::MAX,
                kind: "fee settlement",
            })?,
        })
    }

    /// A witness of the right shape whose values do not matter: what key generation synthesizes.
    pub fn dummy(config: &StateConfig, shape: &Shape) -> Result<Self, WitnessError> {
        let slots = shape
            .slots()
            .enumerate()
            .map(|(i, kind)| {
                Ok(Slot {
                    enabled: false,
                    witness: dummy_slot(config, kind).ok_or(WitnessError::Unsupported {
                        slot: i,
                        kind: kind.name(),
                    })?,
                })
            })
            .collect::<Result<Vec<_>, WitnessError>>()?;
        Ok(BatchWitness {
            batch_number: 0,
            timestamp: Timestamp::default(),
            domain: config.domain,
            start_accounts_root: Fr::from(0u64),
            start_markets: vec![MarketState::default(); config.markets.len()],
            slots,
            fee_account: dummy_account(config),
        })
    }
}

fn account_witness(w: &AccountWrite) -> Option<AccountWitness> {
    Some(AccountWitness {
        id: w.account,
        leaf: w.before.clone()?,
        proof: w.update.proof.clone(),
    })
}

/// A key and signature for dummy witnesses (a fixed key: the values are never checked).
fn dummy_key() -> &'static (PublicKey, Signature) {
    static KEY: OnceLock<(PublicKey, Signature)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = PrivateKey::from_bytes([7u8; 32]);
        (key.public_key(), key.sign(Fr::from(0u64)))
    })
}

fn dummy_leaf(config: &StateConfig) -> AccountLeaf {
    AccountLeaf {
        public_key: dummy_key().0,
        l1_address: L1Address([0; 20]),
        collateral: Collateral::ZERO,
        nonce: Nonce::default(),
        positions: vec![Position::default(); config.markets.len()],
        orders_root: Fr::from(0u64),
        salt: Fr::from(0u64),
    }
}

fn zero_proof(depth: u8) -> MerkleProof {
    MerkleProof {
        index: 0,
        siblings: vec![Fr::from(0u64); usize::from(depth)],
    }
}

fn dummy_account(config: &StateConfig) -> AccountWitness {
    AccountWitness {
        id: AccountId::INSURANCE_FUND,
        leaf: dummy_leaf(config),
        proof: zero_proof(config.account_tree_depth),
    }
}

fn dummy_party(config: &StateConfig) -> PartyWitness {
    PartyWitness {
        account: dummy_account(config),
        order_slot: OrderSlotWitness {
            slot: OrderSlot::default(),
            proof: zero_proof(config.order_tree_depth),
        },
    }
}

fn dummy_order() -> SignedOrder {
    SignedOrder {
        order: Order {
            account: AccountId::INSURANCE_FUND,
            market: MarketId::default(),
            side: Side::Buy,
            size: BaseLots::ZERO,
            limit_price: PriceTicks::default(),
            max_fee: Ppm::default(),
            expiry: Timestamp::default(),
            order_id: OrderId::default(),
        },
        signature: dummy_key().1,
    }
}

/// The most quotes any market's oracle tick takes: the oracle slot's width.
pub fn max_quorum(config: &StateConfig) -> usize {
    config
        .markets
        .iter()
        .map(|m| usize::from(m.oracle_quorum))
        .max()
        .unwrap_or(0)
}

fn dummy_slot(config: &StateConfig, kind: SlotKind) -> Option<SlotWitness> {
    Some(match kind {
        SlotKind::OracleTick => SlotWitness::OracleTick(OracleTick {
            market: MarketId::default(),
            quotes: vec![
                SignedQuote {
                    oracle: 0,
                    quote: Quote {
                        market: MarketId::default(),
                        price: PriceTicks::default(),
                        timestamp: Timestamp::default(),
                    },
                    signature: dummy_key().1,
                };
                max_quorum(config)
            ],
        }),
        SlotKind::FundingTick => SlotWitness::FundingTick(FundingTick {
            market: MarketId::default(),
            index: FundingIndex::default(),
        }),
        SlotKind::Deposit => SlotWitness::Deposit(DepositWitness {
            deposit: Deposit {
                request: L1Deposit {
                    index: 0,
                    l1_address: L1Address([0; 20]),
                    public_key: [0; 32],
                    account: DepositTarget::New,
                    amount: Amount::default(),
                },
                salt: Fr::from(0u64),
            },
            credited: false,
            account: dummy_account(config),
        }),
        SlotKind::Trade => SlotWitness::Trade(TradeWitness {
            trade: Trade {
                maker: dummy_order(),
                taker: dummy_order(),
                size: BaseLots::ZERO,
                price: PriceTicks::default(),
                maker_fee: Collateral::ZERO,
                taker_fee: Collateral::ZERO,
            },
            maker: dummy_party(config),
            taker: dummy_party(config),
        }),
        SlotKind::Withdrawal => SlotWitness::Withdrawal(WithdrawalWitness {
            withdrawal: Withdrawal {
                account: AccountId::INSURANCE_FUND,
                amount: Amount::default(),
                nonce: Nonce::default(),
                signature: dummy_key().1,
            },
            account: dummy_account(config),
        }),
        SlotKind::ForcedWithdrawal => SlotWitness::ForcedWithdrawal(ForcedWithdrawalWitness {
            request: L1ForcedWithdrawal {
                index: 0,
                account: AccountId::INSURANCE_FUND,
                requester: L1Address([0; 20]),
                amount: Amount::default(),
            },
            paid: Amount::default(),
            exists: false,
            account: dummy_account(config),
        }),
        SlotKind::Liquidation => SlotWitness::Liquidation(LiquidationWitness {
            liquidation: Liquidation {
                account: AccountId::INSURANCE_FUND,
                market: MarketId::default(),
                size: BaseLots::ZERO,
                fee: Collateral::ZERO,
            },
            account: dummy_account(config),
            fund: dummy_account(config),
        }),
        SlotKind::Deleverage => SlotWitness::Deleverage(DeleverageWitness {
            deleverage: Deleverage {
                deleveraged: AccountId::INSURANCE_FUND,
                deleverager: AccountId::INSURANCE_FUND,
                market: MarketId::default(),
                size: BaseLots::ZERO,
            },
            share: 0,
            fund: dummy_account(config),
            deleveraged: dummy_account(config),
            deleverager: dummy_account(config),
        }),
        SlotKind::CancelOrder => SlotWitness::CancelOrder(CancelOrderWitness {
            cancel: CancelOrder {
                account: AccountId::INSURANCE_FUND,
                order_id: OrderId::default(),
                signature: dummy_key().1,
            },
            account: dummy_account(config),
            order_slot: OrderSlotWitness {
                slot: OrderSlot::default(),
                proof: zero_proof(config.order_tree_depth),
            },
        }),
    })
}
