//! The account leaf and its hash: the one place its encoding is written.
//!
//! ```text
//! leaf hash      = Poseidon(pk.x, pk.y, l1_address, collateral, nonce | order_floor << 32,
//!                           orders_root, positions_hash, salt)
//! positions_hash = Poseidon(pack(position_0), .., pack(position_{M-1}))    M = number of markets
//! pack(position) = (size + 2^40) * 2^64 + (funding_index + 2^63)           105 bits
//! ```
//! The order floor shares the nonce's element (72 bits): an account whose floor was never
//! raised hashes exactly as before the floor existed. Signed values (collateral) enter as field elements `r - |x|` when negative. The salt is a
//! random field element chosen when the account is created: without it, a leaf hash published
//! for data availability could be brute-forced to its balance and positions.

use serde::{Deserialize, Serialize};

use crate::eddsa::PublicKey;
use crate::field::{fr_from_i128, Fr};
use crate::poseidon::{poseidon, poseidon_slice};
use crate::units::{BaseLots, Collateral, FundingIndex, L1Address, Nonce, OrderId};

/// One market's slot in an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    pub size: BaseLots,
    /// The market's funding index when funding was last settled on this position.
    pub funding_index: FundingIndex,
}

impl Position {
    pub fn pack(&self) -> Fr {
        let size = (self.size.get() + (1i128 << BaseLots::BITS)) as u128;
        let index = (self.funding_index.get() + (1i128 << 63)) as u128;
        Fr::from(size) * Fr::from(1u128 << 64) + Fr::from(index)
    }
}

/// Everything a leaf commits to, in the clear: what the API serves a trader and what an exit
/// proof opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLeaf {
    pub public_key: PublicKey,
    pub l1_address: L1Address,
    pub collateral: Collateral,
    pub nonce: Nonce,
    /// Orders with an id below this can never fill: raised by a forced cancel
    /// (`tx::forced_cancel`), never lowered.
    #[serde(default)]
    pub order_floor: OrderId,
    pub positions: Vec<Position>,
    #[serde(with = "crate::field::serde_fr")]
    pub orders_root: Fr,
    #[serde(with = "crate::field::serde_fr")]
    pub salt: Fr,
}

/// `Poseidon` of the packed positions (1..=8 markets).
pub fn positions_hash(positions: &[Position]) -> Fr {
    let packed: Vec<Fr> = positions.iter().map(Position::pack).collect();
    poseidon_slice(&packed).expect("1..=MAX_MARKETS positions, checked by StateConfig")
}

impl AccountLeaf {
    pub fn hash(&self) -> Fr {
        poseidon([
            self.public_key.x(),
            self.public_key.y(),
            self.l1_address.to_field(),
            fr_from_i128(self.collateral.get()),
            Fr::from(u128::from(u64::from(self.nonce)) | u128::from(self.order_floor.get()) << 32),
            self.orders_root,
            positions_hash(&self.positions),
            self.salt,
        ])
    }
}
