//! Forced trades on L1 (`Rollup.requestForcedTrade`): party B signs the terms with its L1
//! owner key (EIP-712, domain `zkperp` / `1` / chain id / rollup address), party A submits them
//! with its own L1 key, and the proof serves or refuses the trade (docs/CONTRACTS.md).

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use alloy::sol_types::{eip712_domain, SolStruct};
use serde::{Deserialize, Serialize};

use crate::bindings::Rollup;
use crate::{L1Error, L1};

mod typed {
    alloy::sol! {
        /// The EIP-712 struct party B signs; its type string is the contract's
        /// `FORCED_TRADE_TYPEHASH` preimage.
        struct ForcedTrade {
            uint32 accountA;
            uint32 accountB;
            uint8 market;
            bool aBuys;
            uint64 size;
            uint64 price;
            uint64 expiry;
            uint64 nonce;
        }
    }
}

/// What two accounts agree on: A (the requester) buys `size` lots of `market` from B at
/// `price` ticks when `a_buys`, sells them to B otherwise. The request must reach the L1 by
/// `expiry` (L1 seconds); `nonce` tells otherwise equal offers apart (each signature is
/// accepted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedTradeTerms {
    pub account_a: u32,
    pub account_b: u32,
    pub market: u8,
    pub a_buys: bool,
    pub size: u64,
    pub price: u64,
    pub expiry: u64,
    pub nonce: u64,
}

impl ForcedTradeTerms {
    fn typed(&self) -> typed::ForcedTrade {
        typed::ForcedTrade {
            accountA: self.account_a,
            accountB: self.account_b,
            market: self.market,
            aBuys: self.a_buys,
            size: self.size,
            price: self.price,
            expiry: self.expiry,
            nonce: self.nonce,
        }
    }

    fn abi(&self) -> Rollup::ForcedTradeTerms {
        Rollup::ForcedTradeTerms {
            accountA: self.account_a,
            accountB: self.account_b,
            market: self.market,
            aBuys: self.a_buys,
            size: self.size,
            price: self.price,
            expiry: self.expiry,
            nonce: self.nonce,
        }
    }

    /// The EIP-712 digest party B signs on the deployment at `rollup` on chain `chain_id`
    /// (what `Rollup.forcedTradeDigest` computes).
    pub fn digest(&self, chain_id: u64, rollup: Address) -> B256 {
        let domain = eip712_domain! {
            name: "zkperp",
            version: "1",
            chain_id: chain_id,
            verifying_contract: rollup,
        };
        self.typed().eip712_signing_hash(&domain)
    }

    /// Party B's offer: the terms signed by `signer` (B's L1 owner key).
    pub fn sign(
        &self,
        signer: &PrivateKeySigner,
        chain_id: u64,
        rollup: Address,
    ) -> Result<ForcedTradeOffer, L1Error> {
        let signature = signer
            .sign_hash_sync(&self.digest(chain_id, rollup))
            .map_err(|e| L1Error::Transaction {
                call: "sign ForcedTrade",
                reason: e.to_string(),
            })?;
        Ok(ForcedTradeOffer {
            terms: *self,
            signer: signer.address(),
            v: 27 + u8::from(signature.v()),
            r: B256::from(signature.r()),
            s: B256::from(signature.s()),
        })
    }
}

/// Signed terms, as party B hands them to party A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedTradeOffer {
    pub terms: ForcedTradeTerms,
    /// Who signed (the contract recovers it; the proof checks it owns `account_b`).
    pub signer: Address,
    pub v: u8,
    pub r: B256,
    pub s: B256,
}

/// A forced trade request, from its `ForcedTradeRequested` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForcedTradeEvent {
    pub index: u64,
    pub account_a: u32,
    pub account_b: u32,
    pub requester: Address,
    pub signer: Address,
    pub market: u8,
    pub a_buys: bool,
    pub size: u64,
    pub price: u64,
    pub deadline: u64,
    pub block: u64,
}

impl L1 {
    /// The L1's chain id (half of every signing domain of this deployment).
    pub async fn chain_id(&self) -> Result<u64, L1Error> {
        self.provider
            .get_chain_id()
            .await
            .map_err(|e| L1Error::Rpc {
                call: "eth_chainId",
                source: Box::new(e.into()),
            })
    }

    /// Party B's offer of `terms` on this deployment, signed by `signer`.
    pub async fn sign_forced_trade(
        &self,
        signer: &PrivateKeySigner,
        terms: &ForcedTradeTerms,
    ) -> Result<ForcedTradeOffer, L1Error> {
        terms.sign(signer, self.chain_id().await?, *self.rollup.address())
    }

    /// Submits `offer` as party A (this client's key); returns its index in the
    /// forced-trade queue.
    pub async fn request_forced_trade(&self, offer: &ForcedTradeOffer) -> Result<u64, L1Error> {
        let receipt = self
            .send(
                "requestForcedTrade",
                self.rollup
                    .requestForcedTrade(offer.terms.abi(), offer.v, offer.r, offer.s),
            )
            .await?;
        receipt
            .decoded_log::<Rollup::ForcedTradeRequested>()
            .map(|log| log.data.index)
            .ok_or(L1Error::Transaction {
                call: "requestForcedTrade",
                reason: "no ForcedTradeRequested event".into(),
            })
    }

    /// The digest the contract checks `terms`' signature against.
    pub async fn forced_trade_digest(&self, terms: &ForcedTradeTerms) -> Result<B256, L1Error> {
        self.rollup
            .forcedTradeDigest(terms.abi())
            .call()
            .await
            .map_err(|e| L1Error::from_contract("forcedTradeDigest", e))
    }

    /// Forced trades answered by batches so far.
    pub async fn forced_trades_answered(&self) -> Result<u64, L1Error> {
        self.rollup
            .forcedTradesAnswered()
            .call()
            .await
            .map_err(|e| L1Error::from_contract("forcedTradesAnswered", e))
    }

    /// Forced trade requests from `from_block` on, in queue order.
    pub async fn forced_trades(&self, from_block: u64) -> Result<Vec<ForcedTradeEvent>, L1Error> {
        Ok(self
            .logs::<Rollup::ForcedTradeRequested>(from_block)
            .await?
            .into_iter()
            .map(|(e, block)| ForcedTradeEvent {
                index: e.index,
                account_a: e.accountA,
                account_b: e.accountB,
                requester: e.requester,
                signer: e.signer,
                market: e.market,
                a_buys: e.aBuys,
                size: e.size,
                price: e.price,
                deadline: e.deadline,
                block,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector contracts/test/ForcedTrade.t.sol checks the contract against (computed
    /// independently with node and js-sha3): alloy's EIP-712 hashing is the contract's.
    #[test]
    fn the_digest_is_the_one_the_contract_checks() {
        let terms = ForcedTradeTerms {
            account_a: 2,
            account_b: 3,
            market: 0,
            a_buys: true,
            size: 5,
            price: 500_000,
            expiry: 1_700_086_400,
            nonce: 7,
        };
        let rollup: Address = "0x7a6b706572702d746573742d726f6c6c75702d31"
            .parse()
            .expect("address");
        let expected: B256 = "0xf86aa12d3d0c84700cdcb0a6f7a433b0a1373ff2212e1572a564202eded377d5"
            .parse()
            .expect("digest");
        assert_eq!(terms.digest(31337, rollup), expected);
        assert_ne!(terms.digest(1, rollup), expected, "bound to the chain");
        let other = ForcedTradeTerms { nonce: 8, ..terms };
        assert_ne!(
            other.digest(31337, rollup),
            expected,
            "bound to every field"
        );
    }

    #[test]
    fn an_offer_recovers_to_its_signer_with_a_low_s() {
        let signer = PrivateKeySigner::random();
        let terms = ForcedTradeTerms {
            account_a: 9,
            account_b: 4,
            market: 1,
            a_buys: false,
            size: 1,
            price: 3_000_000,
            expiry: 2_000_000_000,
            nonce: 1,
        };
        let rollup = Address::repeat_byte(0x42);
        let offer = terms.sign(&signer, 31337, rollup).expect("sign");
        assert!(offer.v == 27 || offer.v == 28);
        // The contract refuses s above n/2 (a malleated signature).
        let half_n: B256 = "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
            .parse()
            .expect("n/2");
        assert!(offer.s <= half_n);
        let signature =
            alloy::primitives::Signature::from_scalars_and_parity(offer.r, offer.s, offer.v == 28);
        let recovered = signature
            .recover_address_from_prehash(&terms.digest(31337, rollup))
            .expect("recover");
        assert_eq!(recovered, signer.address());
        assert_eq!(offer.signer, signer.address());
    }
}
