//! A batch's data-availability payload (issue 18): the field elements its blob will carry, from
//! which any reader rebuilds the tree of leaf hashes and each owner their own leaf. The elements
//! become the blob polynomial's coefficients (`crate::blob`).
//!
//! ```text
//! ids        ceil(K / 7) elements: seven table entries' account ids per element, the first in
//!            the low 32 bits (u32::MAX: an unused entry; ids ascend, unused entries last)
//! records    K x (1 + c): the entry's leaf hash after the batch, then its ciphertext
//!            (`crate::record`, c = 3 for up to three markets); zeros for an unused entry, and
//!            for an account still empty (a refused request to a free id)
//! creations  D x 3, one per deposit slot of the shape in slot order: E.x, E.y and the id of the
//!            account the deposit created (all zero when it created none)
//! markets    M + ceil(M / 6): the markets' states at the end of the batch, as the markets hash
//!            commits to them (`market::market_elements`: each market's pack, then six markets'
//!            oracle fields to an element)
//! ```
//!
//! `K` is the shape's table size and `D` its deposit slots, so the count is fixed per shape, as
//! the circuit needs. The records are in id order, never slot order: the payload says which
//! accounts changed, not who traded with whom. An owner finds their account's creation by the
//! deposit slot their deposit took (the calldata records are in slot order), derives the salt
//! from `E` and their key, and follows it through the `rho` of each batch that lists their id.

use ark_ff::{BigInteger, PrimeField};

use crate::batch::{SealedBatch, Shape, ShapeError, SlotKind};
use crate::blob::{self, BlobError, SealedBlob};
use crate::eddsa::PublicKey;
use crate::field::{fr_to_u128, Fr};
use crate::market::{market_elements, market_elements_len, unpack_markets, MarketState};
use crate::pubdata::BatchPublicData;
use crate::record::{self, Record};
use crate::tx::Transaction;
use crate::units::AccountId;

/// Account ids packed into one element.
pub const IDS_PER_ELEMENT: usize = 7;
/// The id of an unused table entry.
pub const UNUSED_ID: u64 = u32::MAX as u64;
/// Elements of one deposit slot's creation.
pub const CREATION_LEN: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("a payload of this shape has {want} elements, got {got}")]
    Length { got: usize, want: usize },
    #[error("id element {0} has bits above its seven 32-bit ids")]
    IdBits(usize),
    #[error("entry {0}: ids must ascend, with the unused entries (u32::MAX) last")]
    Order(usize),
    #[error("entry {0} is unused but its hash or ciphertext is not zero")]
    UnusedNotEmpty(usize),
    #[error("deposit slot {0}: the created account's id does not fit 32 bits")]
    CreationId(usize),
    #[error("market {0}: the element is no packed market state")]
    Market(usize),
}

/// A deposit slot's creation: the new account and the operator's `E` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creation {
    pub id: AccountId,
    /// `E = e Base8` (`record::create`), as coordinates: the owner checks the point.
    pub ephemeral: (Fr, Fr),
}

/// What a batch's blob carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// One per table entry, in the table's order (`None`: unused).
    pub records: Vec<Option<Record>>,
    /// One per deposit slot, in slot order (`None`: the slot created no account).
    pub creations: Vec<Option<Creation>>,
    /// Every market at the end of the batch.
    pub markets: Vec<MarketState>,
}

/// Elements of the payload of `shape` with `markets` markets.
pub fn payload_len(shape: &Shape, markets: usize) -> usize {
    let k = shape.table_len();
    k.div_ceil(IDS_PER_ELEMENT)
        + k * (1 + record::ciphertext_len(markets))
        + shape.count(SlotKind::Deposit) * CREATION_LEN
        + market_elements_len(markets)
}

impl Payload {
    /// The elements, in the module's layout.
    pub fn elements(&self, markets: usize) -> Vec<Fr> {
        let c = record::ciphertext_len(markets);
        let ids: Vec<u64> = self
            .records
            .iter()
            .map(|r| r.as_ref().map_or(UNUSED_ID, |r| r.id.get()))
            .collect();
        let mut out: Vec<Fr> = ids
            .chunks(IDS_PER_ELEMENT)
            .map(|chunk| {
                chunk.iter().rev().fold(Fr::from(0u64), |acc, id| {
                    acc * Fr::from(1u64 << 32) + Fr::from(*id)
                })
            })
            .collect();
        for r in &self.records {
            match r {
                Some(r) => {
                    out.push(r.hash);
                    out.extend(&r.ciphertext);
                }
                None => out.extend(std::iter::repeat_n(Fr::from(0u64), 1 + c)),
            }
        }
        for creation in &self.creations {
            match creation {
                Some(c) => out.extend([c.ephemeral.0, c.ephemeral.1, Fr::from(c.id.get())]),
                None => out.extend([Fr::from(0u64); CREATION_LEN]),
            }
        }
        out.extend(market_elements(&self.markets));
        out
    }

    /// The payload of `shape` those elements hold, checked for its layout (the proof binds the
    /// elements; this refuses what no proof could have produced, and names where).
    pub fn parse(elements: &[Fr], shape: &Shape, markets: usize) -> Result<Self, PayloadError> {
        let want = payload_len(shape, markets);
        if elements.len() != want {
            return Err(PayloadError::Length {
                got: elements.len(),
                want,
            });
        }
        let (k, c) = (shape.table_len(), record::ciphertext_len(markets));
        let id_elements = k.div_ceil(IDS_PER_ELEMENT);
        let mut ids = Vec::with_capacity(k);
        for (i, e) in elements[..id_elements].iter().enumerate() {
            let bytes = e.into_bigint().to_bytes_le();
            if bytes[4 * IDS_PER_ELEMENT..].iter().any(|b| *b != 0) {
                return Err(PayloadError::IdBits(i));
            }
            for word in bytes[..4 * IDS_PER_ELEMENT].chunks(4) {
                ids.push(u64::from(u32::from_le_bytes(
                    word.try_into().expect("4 bytes"),
                )));
            }
        }
        if ids[k..].iter().any(|id| *id != 0) {
            return Err(PayloadError::IdBits(id_elements - 1));
        }
        let mut records = Vec::with_capacity(k);
        let mut previous: Option<u64> = None;
        for (entry, chunk) in elements[id_elements..id_elements + k * (1 + c)]
            .chunks(1 + c)
            .enumerate()
        {
            let id = ids[entry];
            let ascends = match previous {
                None => true,
                Some(UNUSED_ID) => id == UNUSED_ID,
                Some(p) => id > p,
            };
            if !ascends {
                return Err(PayloadError::Order(entry));
            }
            previous = Some(id);
            if id == UNUSED_ID {
                if chunk.iter().any(|x| *x != Fr::from(0u64)) {
                    return Err(PayloadError::UnusedNotEmpty(entry));
                }
                records.push(None);
            } else {
                records.push(Some(Record {
                    id: AccountId::new(id).expect("32 bits"),
                    hash: chunk[0],
                    ciphertext: chunk[1..].to_vec(),
                }));
            }
        }
        let creations_start = id_elements + k * (1 + c);
        let markets_start = elements.len() - market_elements_len(markets);
        let creations = elements[creations_start..markets_start]
            .chunks(CREATION_LEN)
            .enumerate()
            .map(|(slot, x)| {
                if x.iter().all(|x| *x == Fr::from(0u64)) {
                    return Ok(None);
                }
                let id = fr_to_u128(&x[2])
                    .and_then(|id| AccountId::new(u64::try_from(id).ok()?).ok())
                    .ok_or(PayloadError::CreationId(slot))?;
                Ok(Some(Creation {
                    id,
                    ephemeral: (x[0], x[1]),
                }))
            })
            .collect::<Result<_, _>>()?;
        let markets =
            unpack_markets(&elements[markets_start..], markets).map_err(PayloadError::Market)?;
        Ok(Payload {
            records,
            creations,
            markets,
        })
    }

    /// The record of account `id`, if the batch has one.
    pub fn record(&self, id: AccountId) -> Option<&Record> {
        self.records.iter().flatten().find(|r| r.id == id)
    }
}

impl SealedBatch {
    /// The batch's payload in `shape` (which it fits).
    pub fn payload(&self, shape: &Shape) -> Result<Payload, PayloadSourceError> {
        // Kinds, slot counts and the table's size, checked once.
        let slots = self.slots(shape)?;
        let mut records: Vec<Option<Record>> = self
            .table
            .iter()
            .map(|e| {
                Some(match &e.after {
                    Some(leaf) => Record::seal(self.batch_number, e.id, leaf),
                    None => Record {
                        id: e.id,
                        hash: Fr::from(0u64),
                        ciphertext: vec![
                            Fr::from(0u64);
                            record::ciphertext_len(self.markets.len())
                        ],
                    },
                })
            })
            .collect();
        records.resize(shape.table_len(), None);
        let creations = slots
            .into_iter()
            .filter(|(kind, _)| *kind == SlotKind::Deposit)
            .map(|(_, applied)| {
                let applied = applied?;
                let Transaction::Deposit(deposit) = &applied.tx else {
                    return None;
                };
                let write = applied.receipt.writes.first()?;
                if write.before.is_some() {
                    return None;
                }
                let key = PublicKey::unpack(&deposit.request.public_key).ok()?;
                let e = record::create(&deposit.ephemeral, &key).ephemeral;
                Some(Creation {
                    id: write.account,
                    ephemeral: (e.x, e.y),
                })
            })
            .collect();
        Ok(Payload {
            records,
            creations,
            markets: self.markets.clone(),
        })
    }
}

/// An owner following their own account through the batches' payloads with nothing but their
/// key: the salt derived from the creation's `E`, stepped at every batch that lists the account,
/// and the leaf of its latest record, checked against the published hash. What a wallet keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    owner: record::Owner,
    id: AccountId,
    salt: Fr,
    /// The last batch followed.
    batch: u64,
    /// The account's leaf at its latest record, and that record's batch.
    leaf: Option<(u64, crate::leaf::AccountLeaf)>,
}

/// Why a payload could not be followed: each names the batch and the account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error("batch {batch} comes after batch {last}, which was followed, but not right after it")]
    Gap { last: u64, batch: u64 },
    #[error("a saved follower names account {account}, which is no account id")]
    Saved { account: u64 },
}

impl Follower {
    /// Starts at the creation the owner's deposit made in batch `batch` (before that batch's
    /// records are followed: pass that batch's payload to [`Follower::follow`] next).
    pub fn new(
        key: &crate::eddsa::PrivateKey,
        l1_address: crate::units::L1Address,
        creation: &Creation,
        batch: u64,
    ) -> Result<Self, FollowError> {
        Ok(Follower {
            owner: record::Owner {
                public_key: key.public_key(),
                l1_address,
            },
            id: creation.id,
            salt: record::owner_salt(key, creation.ephemeral)?,
            batch: batch.saturating_sub(1),
            leaf: None,
        })
    }

    /// The accounts among a batch's creations that `key` and `l1_address` own: each creation's
    /// salt is tried on the record of the account it created, which only the owner's salt
    /// opens. A wallet that does not know which batch took its deposit scans them with this.
    pub fn discover(
        key: &crate::eddsa::PrivateKey,
        l1_address: crate::units::L1Address,
        number: u64,
        rho: u128,
        payload: &Payload,
        markets: usize,
    ) -> Vec<Follower> {
        payload
            .creations
            .iter()
            .flatten()
            .filter_map(|creation| {
                let mut f = Follower::new(key, l1_address, creation, number).ok()?;
                f.follow(number, rho, payload, markets).ok()?;
                f.leaf.is_some().then_some(f)
            })
            .collect()
    }

    pub fn account(&self) -> AccountId {
        self.id
    }

    /// The account's leaf as of the last batch followed, and the batch of its latest record.
    pub fn leaf(&self) -> Option<(u64, &crate::leaf::AccountLeaf)> {
        self.leaf.as_ref().map(|(b, l)| (*b, l))
    }

    /// Follows the next batch: `number`, its header's `rho` and its payload. Batches must come
    /// in order, none skipped (a skipped batch that listed the account would break the salt).
    pub fn follow(
        &mut self,
        number: u64,
        rho: u128,
        payload: &Payload,
        markets: usize,
    ) -> Result<Option<&crate::leaf::AccountLeaf>, FollowError> {
        if number != self.batch + 1 {
            return Err(FollowError::Gap {
                last: self.batch,
                batch: number,
            });
        }
        if let Some(r) = payload.record(self.id) {
            let salt = record::step(self.salt, number, self.id, rho);
            let leaf = r.open(number, &self.owner, salt, markets)?;
            self.salt = salt;
            self.leaf = Some((number, leaf));
        }
        self.batch = number;
        Ok(self.leaf.as_ref().map(|(_, l)| l))
    }
}

/// A [`Follower`] at rest, without its key: what a wallet writes between syncs. Its salt is
/// as secret as the leaf it opens: the file is the owner's alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Followed {
    pub account: u32,
    #[serde(with = "crate::field::serde_fr")]
    pub salt: Fr,
    pub batch: u64,
    /// The batch of the account's latest record, and the leaf it opened to.
    pub leaf: Option<(u64, crate::leaf::AccountLeaf)>,
}

impl Follower {
    /// The follower at rest.
    pub fn save(&self) -> Followed {
        Followed {
            account: self.id.get() as u32,
            salt: self.salt,
            batch: self.batch,
            leaf: self.leaf.clone(),
        }
    }

    /// The follower `saved` was, for the owner of `key` and `l1_address`.
    pub fn load(
        key: &crate::eddsa::PrivateKey,
        l1_address: crate::units::L1Address,
        saved: &Followed,
    ) -> Result<Self, FollowError> {
        Ok(Follower {
            owner: record::Owner {
                public_key: key.public_key(),
                l1_address,
            },
            id: AccountId::new(u64::from(saved.account)).map_err(|_| FollowError::Saved {
                account: u64::from(saved.account),
            })?,
            salt: saved.salt,
            batch: saved.batch,
            leaf: saved.leaf.clone(),
        })
    }
}

/// Everything one key and L1 address own, followed batch by batch with nothing but the key:
/// the accounts already found, each stepped through every batch, and each batch's creations
/// tried for new ones. What `wallet sync` and `wallet exit --network` run over the history.
#[derive(Clone)]
pub struct Owned {
    key: crate::eddsa::PrivateKey,
    l1_address: crate::units::L1Address,
    markets: usize,
    /// The last batch followed.
    batch: u64,
    accounts: Vec<Follower>,
}

impl std::fmt::Debug for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owned")
            .field("l1_address", &self.l1_address)
            .field("batch", &self.batch)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl Owned {
    /// Before batch 1, for a deployment with `markets` markets.
    pub fn new(
        key: crate::eddsa::PrivateKey,
        l1_address: crate::units::L1Address,
        markets: usize,
    ) -> Self {
        Owned {
            key,
            l1_address,
            markets,
            batch: 0,
            accounts: Vec::new(),
        }
    }

    /// As of batch `batch`, with the accounts `saved` (each followed to that batch).
    pub fn load(
        key: crate::eddsa::PrivateKey,
        l1_address: crate::units::L1Address,
        markets: usize,
        batch: u64,
        saved: &[Followed],
    ) -> Result<Self, FollowError> {
        let accounts = saved
            .iter()
            .map(|f| {
                if f.batch != batch {
                    return Err(FollowError::Gap {
                        last: f.batch,
                        batch: batch + 1,
                    });
                }
                Follower::load(&key, l1_address, f)
            })
            .collect::<Result<_, _>>()?;
        Ok(Owned {
            key,
            l1_address,
            markets,
            batch,
            accounts,
        })
    }

    /// Follows batch `number` (the next one): its header's `rho` and its payload.
    pub fn follow(&mut self, number: u64, rho: u128, payload: &Payload) -> Result<(), FollowError> {
        if number != self.batch + 1 {
            return Err(FollowError::Gap {
                last: self.batch,
                batch: number,
            });
        }
        let mut accounts = self.accounts.clone();
        for f in &mut accounts {
            f.follow(number, rho, payload, self.markets)?;
        }
        accounts.extend(Follower::discover(
            &self.key,
            self.l1_address,
            number,
            rho,
            payload,
            self.markets,
        ));
        self.accounts = accounts;
        self.batch = number;
        Ok(())
    }

    /// The last batch followed.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// The accounts found, in the order their creations came.
    pub fn accounts(&self) -> &[Follower] {
        &self.accounts
    }

    /// Account `id` if given, else the first found.
    pub fn find(&self, id: Option<u64>) -> Option<&Follower> {
        match id {
            Some(id) => self.accounts.iter().find(|f| f.id.get() == id),
            None => self.accounts.first(),
        }
    }

    /// The accounts at rest.
    pub fn save(&self) -> Vec<Followed> {
        self.accounts.iter().map(Follower::save).collect()
    }
}

/// Why a sealed batch gives no payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadSourceError {
    #[error(transparent)]
    Shape(#[from] ShapeError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// A batch as the operator posts it: the public data (calldata, under the proof's commitment)
/// and the blobs carrying its payload, which the public data claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub public: BatchPublicData,
    pub payload: Payload,
    pub blobs: Vec<SealedBlob>,
}

impl SealedBatch {
    /// The batch's publication in `shape`.
    pub fn publish(&self, shape: &Shape) -> Result<Publication, PayloadSourceError> {
        let payload = self.payload(shape)?;
        let blobs = blob::seal(&payload.elements(self.markets.len()))?;
        let public = self.public_data_with(shape, blobs.iter().map(|b| b.claim).collect())?;
        Ok(Publication {
            public,
            payload,
            blobs,
        })
    }

    /// The public data of the batch in `shape`.
    pub fn public_data(&self, shape: &Shape) -> Result<BatchPublicData, PayloadSourceError> {
        Ok(self.publish(shape)?.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use ark_ff::Field;

    /// A decoy padded into a batch is listed like the accounts that traded: a new hash and a
    /// record its owner opens to the leaf it had, only its salt stepped.
    #[test]
    fn a_decoy_looks_like_an_account_that_traded() {
        let mut f = Fixture::new(4);
        let shape: Shape = "o2-d4-t1-a6".parse().expect("shape");
        let markets = f.state.config().markets.len();
        for t in 0..4 {
            f.deposit(t, 1_000_000_000);
        }
        let first = f.state.end_batch().expect("seal 1");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        let buy = f.order(0, btc(), crate::order::Side::Buy, 10, 502_000);
        let sell = f.order(1, btc(), crate::order::Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx(sell, buy, 10, 501_000))
            .expect("trade");
        let (decoy, idle) = (f.id(2), f.id(3));
        let before = f.state.account(decoy).expect("account").leaf.clone();
        // The draw takes every idle account when they fit; padding skips what it must.
        let secret = [7u8; 32];
        assert_eq!(f.state.decoys(&secret, 5), vec![decoy, idle]);
        let drawn = f.state.decoys(&secret, 1);
        assert_eq!(drawn.len(), 1);
        assert_eq!(drawn, f.state.decoys(&secret, 1), "deterministic");
        assert_eq!(
            f.state.pad_batch([
                decoy,
                f.id(0),
                AccountId::FEES,
                AccountId::INSURANCE_FUND,
                AccountId::new(60).expect("id")
            ]),
            1,
            "only the idle account is added"
        );
        let second = f.state.end_batch().expect("seal 2");
        let payload = second.payload(&shape).expect("payload");
        // Listed like the traders: a new hash (the salt stepped), a record its owner opens to
        // the leaf it had, and nothing in the bytes that sets it apart.
        let record = payload.record(decoy).expect("the decoy is listed");
        assert_ne!(record.hash, before.hash());
        assert!(payload.record(idle).is_none());
        let creation = first
            .payload(&shape)
            .expect("payload")
            .creations
            .into_iter()
            .flatten()
            .find(|c| c.id == decoy)
            .expect("its creation");
        let mut follower =
            Follower::new(&f.traders[2].key, f.traders[2].l1, &creation, 1).expect("salt");
        for (batch, number) in [(&first, 1), (&second, 2)] {
            let payload = batch.payload(&shape).expect("payload");
            follower
                .follow(number, batch.rho, &payload, markets)
                .expect("follows");
        }
        let (at, opened) = follower.leaf().expect("a leaf");
        assert_eq!(at, 2);
        let mut same = before.clone();
        same.salt = opened.salt;
        assert_eq!(opened, &same, "unchanged but for its salt");
        assert_eq!(opened, &f.state.account(decoy).expect("account").leaf);
    }

    /// The whole native path of a wallet with nothing but the payloads, the headers' rho and
    /// its key: find its creation, derive the salt, step it through each batch that lists it,
    /// and open its record to exactly the leaf the state holds.
    #[test]
    fn an_owner_reads_their_leaf_from_the_payloads_alone() {
        let mut f = Fixture::new(3);
        let shape: Shape = "o2-d3-t1-a6".parse().expect("shape");
        let markets = f.state.config().markets.len();
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 2_000_000_000);
        f.deposit(2, 500_000_000);
        let first = f.state.end_batch().expect("seal 1");
        f.state.begin_batch(ts(START + 60)).expect("begin");
        let buy = f.order(0, btc(), crate::order::Side::Buy, 10, 502_000);
        let sell = f.order(1, btc(), crate::order::Side::Sell, 10, 500_000);
        f.apply(Fixture::trade_tx(sell, buy, 10, 501_000))
            .expect("trade");
        let second = f.state.end_batch().expect("seal 2");

        let mut payloads = Vec::new();
        for batch in [&first, &second] {
            let payload = batch.payload(&shape).expect("payload");
            let elements = payload.elements(markets);
            assert_eq!(elements.len(), payload_len(&shape, markets));
            assert_eq!(
                Payload::parse(&elements, &shape, markets),
                Ok(payload.clone())
            );
            payloads.push((batch.batch_number, batch.rho, payload));
        }
        for trader in 0..3 {
            let key = &f.traders[trader].key;
            let id = f.id(trader);
            // The trader's deposit took deposit slot `trader` of batch 1.
            let creation = payloads[0].2.creations[trader].expect("a creation");
            assert_eq!(creation.id, id);
            let mut follower =
                Follower::new(key, f.traders[trader].l1, &creation, 1).expect("salt");
            for (number, rho, payload) in &payloads {
                follower
                    .follow(*number, *rho, payload, markets)
                    .expect("follows");
            }
            assert_eq!(
                follower.leaf().map(|(_, l)| l),
                Some(&f.state.account(id).expect("account").leaf),
                "trader {trader}"
            );
            let last = if trader == 2 { 1 } else { 2 };
            assert_eq!(follower.leaf().map(|(b, _)| b), Some(last));
        }
        // Another key reads nothing: its salt is not the account's.
        let creation = payloads[0].2.creations[0].expect("a creation");
        let mut stranger =
            Follower::new(&f.traders[1].key, f.traders[0].l1, &creation, 1).expect("a salt");
        let (number, rho, payload) = &payloads[0];
        let err = stranger
            .follow(*number, *rho, payload, markets)
            .expect_err("another key");
        assert!(
            err.to_string()
                .contains(&format!("account {}'s record of batch 1", f.id(0))),
            "{err}"
        );
        // A batch skipped is refused, not followed with a broken salt.
        let mut skipping =
            Follower::new(&f.traders[0].key, f.traders[0].l1, &creation, 1).expect("salt");
        let (number, rho, payload) = &payloads[1];
        assert_eq!(
            skipping.follow(*number, *rho, payload, markets),
            Err(FollowError::Gap { last: 0, batch: 2 })
        );
        // The untouched trader has no record in batch 2; the fee account always has one.
        assert!(payloads[1].2.record(f.id(2)).is_none());
        assert!(payloads[1].2.record(AccountId::FEES).is_some());
    }

    #[test]
    fn a_payload_out_of_layout_is_refused() {
        let mut f = Fixture::new(2);
        let shape: Shape = "o2-d2-a4".parse().expect("shape");
        let markets = f.state.config().markets.len();
        f.deposit(0, 1_000_000_000);
        let batch = f.state.end_batch().expect("seal");
        let payload = batch.payload(&shape).expect("payload");
        let elements = payload.elements(markets);
        let parse = |e: &[Fr]| Payload::parse(e, &shape, markets);
        assert!(matches!(
            parse(&elements[1..]),
            Err(PayloadError::Length { .. })
        ));
        let mut wide = elements.clone();
        wide[0] += Fr::from(2u64).pow([224u64]);
        assert_eq!(parse(&wide), Err(PayloadError::IdBits(0)));
        // Two used entries swapped: ids no longer ascend.
        let mut swapped = elements.clone();
        let bytes = swapped[0].into_bigint().to_bytes_le();
        let mut words: Vec<u32> = bytes[..16]
            .chunks(4)
            .map(|w| u32::from_le_bytes(w.try_into().expect("4")))
            .collect();
        words.swap(0, 1);
        swapped[0] = words.iter().rev().fold(Fr::from(0u64), |acc, w| {
            acc * Fr::from(1u64 << 32) + Fr::from(*w)
        });
        assert_eq!(parse(&swapped), Err(PayloadError::Order(1)));
        // An unused entry (the last) with a hash.
        let mut ghost = elements.clone();
        let c = record::ciphertext_len(markets);
        ghost[1 + 3 * (1 + c)] = Fr::from(5u64);
        assert_eq!(parse(&ghost), Err(PayloadError::UnusedNotEmpty(3)));
        // The markets close the payload: each one's packed state, then their oracle fields in
        // one element (two markets); a wider element is none.
        let n = elements.len();
        assert_eq!(
            unpack_markets(&elements[n - markets - 1..], markets),
            Ok(batch.markets.clone())
        );
        let mut wide_market = elements.clone();
        wide_market[n - 2] += Fr::from(2u64).pow([232u64]);
        assert_eq!(parse(&wide_market), Err(PayloadError::Market(markets - 1)));
        let mut wide_oracle = elements.clone();
        wide_oracle[n - 1] += Fr::from(2u64).pow([82u64]);
        assert_eq!(parse(&wide_oracle), Err(PayloadError::Market(markets - 1)));
    }
}
