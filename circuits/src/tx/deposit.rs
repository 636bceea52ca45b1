//! Twin of `zkperp_state::tx::deposit`: an L1 deposit, credited to the account it names, or
//! refunded.
//!
//! The record carries the request exactly as the L1 queued it, `0x01` (credited) or `0x06`
//! (refunded) `| u64 index | address | bytes32 packed key | u32 account | u64 amount`; the
//! contract checks it against its queue, in order. The target decides, not the prover: a
//! credited deposit naming `u32::MAX` creates an account in an empty leaf; one naming an id
//! credits that id's leaf, whose key and L1 address must be the depositor's unless the id is
//! the insurance fund's (anyone may top it up). When credited, the proof binds the packed key bytes to the
//! leaf's key: `y` is the low 254 bits (canonical, below `p`), bit 254 is zero, and bit 255 is
//! the sign of `x` (set when `x > (p - 1) / 2`), as circomlib packs points; the identity is
//! refused. A refund moves no L2 funds: the L1 returns the amount to the depositor, so the proof
//! does not need to show why a deposit was refunded (docs/CIRCUITS.md).

use zkperp_state::tx::Deposit;
use zkperp_state::units::L1Address;
use ark_ff::{BigInteger, PrimeField};
use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::fp::FpVar, fields::FieldVar,
    select::CondSelectGadget, uint8::UInt8,
};
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::babyjubjub::{Fs, Point};
use zkperp_state::record::Ephemeral;
use zkperp_state::merkle::empty_roots;
use zkperp_state::units::{AccountId, Amount, Collateral};
use zkperp_state::Fr;

use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use crate::tx::Gadget;
use crate::witness::ReceiptError;
use zkperp_state::pubdata::PubData;
use zkperp_state::tx::{DepositTarget, L1Deposit};
use crate::babyjubjub::PointVar;
use crate::batch::BatchVar;
use crate::eddsa::PublicKeyVar;
use crate::eq::{conditional_enforce_equal, conditional_enforce_not_equal};
use crate::funding::PositionVar;
use zkperp_state::layout::DEPOSIT;
use crate::pubdata::FieldsVar;
use crate::units::{
    enforce_bits_at_most, enforce_canonical_bits, enforce_signed_bits, enforce_unsigned_bits,
    two_pow,
};
use crate::witness::{dummy_account, dummy_leaf, AccountWitness};

/// Bits of the ephemeral scalar (below `l < 2^251`).
const EPHEMERAL_BITS: usize = 251;

pub fn execute_deposit(
    b: &mut BatchVar,
    w: &DepositWitness,
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    let cs = b.cs.clone();
    let r = &w.deposit.request;
    let credited = &Boolean::new_witness(cs.clone(), || Ok(w.credited))? & enabled;
    // Range-checked to 32 bits by its record bytes below.
    let target = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.account.wire())))?;
    let is_new = target.is_eq(&FpVar::Constant(Fr::from(DepositTarget::NEW_ACCOUNT)))?;
    let created = &credited & &is_new;
    let existing = &credited & &!is_new.clone();
    let is_fund = target.is_eq(&FpVar::zero())?;
    let index = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.index)))?;
    let l1_address = FpVar::new_witness(cs.clone(), || Ok(r.l1_address.to_field()))?;
    let amount = FpVar::new_witness(cs.clone(), || Ok(Fr::from(r.amount.get())))?;
    enforce_unsigned_bits(&amount, Amount::BITS)?;
    // The packed key's bits, least significant first (byte 0 bit 0 first), gated to zero in a
    // disabled slot.
    let key_bits = (0..256)
        .map(|i| {
            let bit =
                Boolean::new_witness(cs.clone(), || Ok((r.public_key[i / 8] >> (i % 8)) & 1 == 1))?;
            Ok(&bit & enabled)
        })
        .collect::<Result<Vec<_>, SynthesisError>>()?;
    // The operator's ephemeral scalar: a created account's salt is the secret it shares with
    // the depositor's key (`crate::record::create`), never a value the prover picks.
    let e_bits = w
        .ephemeral
        .into_bigint()
        .to_bits_le()
        .into_iter()
        .take(EPHEMERAL_BITS)
        .map(|bit| Boolean::new_witness(cs.clone(), || Ok(bit)))
        .collect::<Result<Vec<_>, SynthesisError>>()?;

    // The point the bytes pack, when credited (checked below: a refunded deposit's bytes need
    // not be a key, and nothing is checked of them then).
    let key = PublicKeyVar::from_point(PointVar::new_witness(cs.clone(), || Ok(w.key))?);
    let (x, y) = (key.point().x().clone(), key.point().y().clone());
    let y_bits: Vec<Boolean<Fr>> = key_bits[..254].iter().map(|k| k & &credited).collect();
    // A plain weighted sum: `le_bits_to_fp` would also require the 254 bits to be below `p`,
    // which a refunded deposit's bytes need not be.
    let packed_y = key_bits[..254]
        .iter()
        .enumerate()
        .fold(FpVar::zero(), |acc, (i, bit)| {
            acc + FpVar::from(bit.clone()) * two_pow(i as u32)
        });
    conditional_enforce_equal(&packed_y, &y, &credited)?;
    key_bits[254].conditional_enforce_equal(&Boolean::FALSE, &credited)?;
    let mut p_minus_one = Fr::MODULUS;
    p_minus_one.0[0] -= 1;
    enforce_bits_at_most(&y_bits, p_minus_one.as_ref())?;
    conditional_enforce_not_equal(&x, &FpVar::zero(), &credited)?;
    let folded = key_bits[255].select(&x.negate()?, &x)?;
    let folded = credited.select(&folded, &FpVar::zero())?;
    let folded_bits = enforce_canonical_bits(&folded)?;
    enforce_bits_at_most(&folded_bits, Fr::MODULUS_MINUS_ONE_DIV_TWO.as_ref())?;

    // The account: the named one, whose owner is the depositor unless it is the fund, or an
    // empty leaf for a new one.
    let id = FpVar::new_witness(cs.clone(), || Ok(Fr::from(w.account.id.get())))?;
    enforce_unsigned_bits(&id, AccountId::BITS)?;
    conditional_enforce_equal(&id, &target, &existing)?;
    let (_, leaf) = b.read_leaf(&w.account, true, &id)?;
    let owned = &existing & &!is_fund;
    conditional_enforce_equal(leaf.public_key.point().x(), &x, &owned)?;
    conditional_enforce_equal(leaf.public_key.point().y(), &y, &owned)?;
    conditional_enforce_equal(&leaf.l1_address, &l1_address, &owned)?;

    let creation = crate::record::create(&e_bits, key.point(), &created)?;

    let zero = FpVar::zero();
    let empty_orders = FpVar::Constant(empty_roots()[usize::from(b.config.order_tree_depth)]);
    let credit = credited.select(&amount, &zero)?;
    let base = created.select(&zero, &leaf.collateral)?;
    let collateral = base + credit;
    enforce_signed_bits(&collateral, Collateral::BITS)?;
    let positions = leaf
        .positions
        .iter()
        .zip(b.funding_indices())
        .map(|(p, index)| {
            Ok(PositionVar {
                size: created.select(&zero, &p.size)?,
                funding_index: created.select(&index, &p.funding_index)?,
            })
        })
        .collect::<Result<Vec<_>, SynthesisError>>()?;
    // An existing account keeps its own key and address (the checks above bind the record to
    // them); a created one takes the record's.
    let public_key = PublicKeyVar::from_point(PointVar::conditionally_select(
        &created,
        key.point(),
        leaf.public_key.point(),
    )?);
    let new_leaf = crate::leaf::AccountLeafVar {
        public_key,
        l1_address: created.select(&l1_address, &leaf.l1_address)?,
        collateral,
        nonce: created.select(&zero, &leaf.nonce)?,
        order_floor: created.select(&zero, &leaf.order_floor)?,
        positions,
        orders_root: created.select(&empty_orders, &leaf.orders_root)?,
        salt: created.select(&creation.salt, &leaf.salt)?,
    };
    // A created account's id held no account; a credited one exists after.
    let existed = !created.clone();
    b.access(&id, &credited, (&existed, &leaf), (&Boolean::TRUE, &new_leaf))?;
    // The payload's creation for this slot: `E` and the id, so the owner can derive the salt.
    b.creations.push([
        created.select(creation.ephemeral.x(), &zero)?,
        created.select(creation.ephemeral.y(), &zero)?,
        created.select(&id, &zero)?,
    ]);

    // 0x01 credited, 0x06 refunded, 0x00 disabled.
    let refunded = enabled & &!credited.clone();
    let kind = UInt8::from_bits_le(&[
        credited.clone(),
        refunded.clone(),
        refunded,
        Boolean::FALSE,
        Boolean::FALSE,
        Boolean::FALSE,
        Boolean::FALSE,
        Boolean::FALSE,
    ]);
    let body = FieldsVar::body(&DEPOSIT)
        .uint("INDEX", &enabled.select(&index, &zero)?)?
        .uint("L1", &enabled.select(&l1_address, &zero)?)?
        // The packed key in its own byte order (little-endian y, sign in the last byte's top
        // bit).
        .bytes("KEY", key_bits.chunks(8).map(UInt8::from_bits_le).collect())
        .uint("ACCOUNT", &enabled.select(&target, &zero)?)?
        .uint("AMOUNT", &enabled.select(&amount, &zero)?)?
        .finish();
    b.record_with_kind(kind, body, enabled)
}

#[derive(Debug, Clone)]
pub struct DepositWitness {
    pub deposit: Deposit,
    /// The deposit's ephemeral scalar (apart, so that a test can give a zero one).
    pub ephemeral: Fs,
    pub credited: bool,
    /// The point the key bytes pack when credited (the leaf's key otherwise): the circuit
    /// checks the bytes are its canonical packing and that it is not of small order.
    pub key: Point,
    /// The leaf before (a placeholder when created or refunded) and its path.
    pub account: AccountWitness,
}

impl Gadget for Deposit {
    type Witness = DepositWitness;

    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError> {
        let _ = batch;
        let credited = match applied.receipt.pubdata.first() {
            Some(PubData::Deposit(record)) => record.credited,
            _ => return Err(ReceiptError),
        };
        let account = match applied.receipt.writes.first() {
            Some(w) => AccountWitness {
                id: w.account,
                leaf: w.before.clone().unwrap_or_else(|| dummy_leaf(config)),
            },
            None if !credited => dummy_account(config),
            None => return Err(ReceiptError),
        };
        let key = match zkperp_state::eddsa::PublicKey::unpack(&tx.request.public_key) {
            Ok(k) if credited => *k.point(),
            _ => *account.leaf.public_key.point(),
        };
        Ok(DepositWitness {
            deposit: *tx,
            ephemeral: *tx.ephemeral.scalar(),
            credited,
            key,
            account,
        })
    }

    fn dummy(config: &StateConfig) -> Self::Witness {
        DepositWitness {
            deposit: Deposit {
                request: L1Deposit {
                    index: 0,
                    l1_address: L1Address([0; 20]),
                    public_key: [0; 32],
                    account: DepositTarget::New,
                    amount: Amount::default(),
                },
                ephemeral: Ephemeral::new(Fs::from(1u64)).expect("non-zero"),
            },
            ephemeral: Fs::from(1u64),
            credited: false,
            key: *dummy_account(config).leaf.public_key.point(),
            account: dummy_account(config),
        }
    }

    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        execute_deposit(b, w, enabled)
    }
}
