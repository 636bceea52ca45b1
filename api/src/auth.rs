//! Authenticated reads: an account's private data (its balance and positions, orders, fills,
//! its WebSocket channel) is shown only to a request signed by the account's own key.
//!
//! ```text
//! message   = Poseidon(tag(ApiRead), account, timestamp)   (circomlib Poseidon, 3 inputs;
//!             tag = 5 | domain << 8, the deployment's signing domain: zkperp_state::domain)
//! signature = EdDSA-Poseidon over message with the account's Baby Jubjub key
//!             (circomlibjs signPoseidon; packed R8 || S, 128 hex digits, as for orders)
//! headers   = x-zkperp-timestamp: <unix seconds>, x-zkperp-signature: <128 hex digits>
//! ```
//!
//! The signature is accepted for [`WINDOW_SECS`] either side of the server's clock, so it works
//! as a short-lived token: a client signs once and reuses it for a minute of polling, and a
//! leaked one expires by itself. It cannot authorise anything else: the kind in the tag differs
//! from every transaction's (orders 1, withdrawals 2, quotes 3, cancels 4), so no read signature
//! is ever a valid order, withdrawal or cancel, and no transaction signature opens a read; and
//! the domain in the tag makes a read signed for another deployment useless here.
//! Decoding is strict as everywhere: a non-canonical signature (`S >= l`, `R8` off the curve or
//! outside the subgroup) is refused.

use zkperp_state::domain::{MessageKind, SigningDomain};
use zkperp_state::eddsa::{PublicKey, Signature};
use zkperp_state::poseidon::poseidon;
use zkperp_state::units::AccountId;
use zkperp_state::Fr;

/// How far a read signature's timestamp may be from the server's clock.
pub const WINDOW_SECS: u64 = 60;

pub const TIMESTAMP_HEADER: &str = "x-zkperp-timestamp";
pub const SIGNATURE_HEADER: &str = "x-zkperp-signature";

/// The message a read of `account` at `timestamp` signs on `domain`'s deployment.
pub fn read_message(domain: &SigningDomain, account: AccountId, timestamp: u64) -> Fr {
    poseidon([
        domain.tag(MessageKind::ApiRead),
        Fr::from(account.get()),
        Fr::from(timestamp),
    ])
}

/// Why a read was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing the {0} header")]
    Missing(&'static str),
    #[error("the {0} header is malformed: {1}")]
    Malformed(&'static str, String),
    #[error("the read signature's timestamp {timestamp} is more than {WINDOW_SECS} s from the server's clock {now}")]
    Stale { timestamp: u64, now: u64 },
    #[error("the signature does not verify with the account's key")]
    BadSignature,
    /// The prover API's bearer token is not the node's.
    #[error("the bearer token is not this node's prover token")]
    BadToken,
}

/// Parses a packed signature: 128 hex digits (an optional `0x`), strictly decoded.
pub fn parse_signature(text: &str) -> Result<Signature, AuthError> {
    let malformed = |e: String| AuthError::Malformed(SIGNATURE_HEADER, e);
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text.trim().trim_start_matches("0x"), &mut bytes)
        .map_err(|e| malformed(e.to_string()))?;
    Signature::unpack(&bytes).map_err(|e| malformed(e.to_string()))
}

/// Checks a read of `account` (whose key is `key`) signed at `timestamp`, at server time `now`.
pub fn check(
    domain: &SigningDomain,
    key: &PublicKey,
    account: AccountId,
    timestamp: u64,
    signature: &Signature,
    now: u64,
) -> Result<(), AuthError> {
    if timestamp.abs_diff(now) > WINDOW_SECS {
        return Err(AuthError::Stale { timestamp, now });
    }
    key.verify(read_message(domain, account, timestamp), signature)
        .map_err(|_| AuthError::BadSignature)
}

/// The two headers of a read of `account` signed with `key` at `timestamp` (for clients and
/// tests).
pub fn sign(
    domain: &SigningDomain,
    key: &zkperp_state::eddsa::PrivateKey,
    account: AccountId,
    timestamp: u64,
) -> [(&'static str, String); 2] {
    let signature = key.sign(read_message(domain, account, timestamp));
    [
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, hex::encode(signature.pack())),
    ]
}
