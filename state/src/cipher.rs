//! The Poseidon cipher of zk-kit (`@zk-kit/poseidon-cipher`) and MACI: a duplex sponge over
//! circom's width-4 Poseidon permutation, encrypting field elements under a key of two field
//! elements and a nonce. The data-availability records of issue 18 will encrypt each changed
//! leaf with it, so that a third-party wallet built on zk-kit (or on circomlibjs' permutation)
//! decrypts its own records; `circuits/src/cipher.rs` is its twin.
//!
//! ```text
//! state     = [0, key0, key1, nonce + len * 2^128]          nonce < 2^128 (a u128)
//! per block of three (the message padded with zeros to a multiple of 3):
//!   state   = permute(state)
//!   state[j] += m[3i + j - 1]  for j = 1, 2, 3;  output state[1..=3]
//! tag       = permute(state)[1]                              (appended: len(ct) = 3 ceil(len/3) + 1)
//! ```
//!
//! Decryption runs the same sponge, takes each message element as `c - state[j]`, refuses a
//! ciphertext whose padding does not decrypt to zeros or whose tag differs.

use crate::field::{two_pow, Fr};
use crate::poseidon::{params, permute};

/// The cipher's permutation width.
const WIDTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("a ciphertext of {got} elements cannot hold {len} (it has 3 ceil(len / 3), and one more with its tag)")]
    Length { len: usize, got: usize },
    #[error("the padding does not decrypt to zeros: another key, nonce or length")]
    Padding,
    #[error("the authentication tag does not match: another key, nonce or a tampered ciphertext")]
    Tag,
}

/// The sponge's first state for `len` elements.
pub fn initial_state(key: [Fr; 2], nonce: u128, len: usize) -> [Fr; WIDTH] {
    [
        Fr::from(0u64),
        key[0],
        key[1],
        Fr::from(nonce) + Fr::from(len as u64) * two_pow(128),
    ]
}

fn permute4(state: &mut [Fr; WIDTH]) {
    permute(params(WIDTH - 1).expect("width 4 is a circom width"), state);
}

/// The ciphertext length for `len` message elements.
pub fn ciphertext_len(len: usize) -> usize {
    len.div_ceil(3) * 3 + 1
}

/// The sponge's ciphertext blocks without the tag, and the state after the last block.
fn absorb(message: &[Fr], key: [Fr; 2], nonce: u128) -> (Vec<Fr>, [Fr; WIDTH]) {
    let mut state = initial_state(key, nonce, message.len());
    let mut out = Vec::with_capacity(ciphertext_len(message.len()));
    let zero = Fr::from(0u64);
    for block in 0..message.len().div_ceil(3) {
        permute4(&mut state);
        for (j, s) in state.iter_mut().enumerate().skip(1) {
            *s += message.get(3 * block + j - 1).copied().unwrap_or(zero);
            out.push(*s);
        }
    }
    (out, state)
}

/// Encrypts `message` under `key` and `nonce` (never reuse one for a key; the type keeps it
/// below 2^128, as the cipher requires).
pub fn encrypt(message: &[Fr], key: [Fr; 2], nonce: u128) -> Vec<Fr> {
    let (mut out, mut state) = absorb(message, key, nonce);
    permute4(&mut state);
    out.push(state[1]);
    out
}

/// [`encrypt`] without the authentication tag: the first `3 ceil(len / 3)` elements, for a
/// message whose integrity something else checks (a data-availability record: the leaf hash the
/// proof publishes). zk-kit's `poseidonDecryptWithoutCheck` reads it.
pub fn encrypt_untagged(message: &[Fr], key: [Fr; 2], nonce: u128) -> Vec<Fr> {
    absorb(message, key, nonce).0
}

/// The message blocks of `ciphertext` (without a tag) and the sponge state after them.
fn squeeze(ciphertext: &[Fr], key: [Fr; 2], nonce: u128, len: usize) -> (Vec<Fr>, [Fr; WIDTH]) {
    let mut state = initial_state(key, nonce, len);
    let mut message = Vec::with_capacity(ciphertext.len());
    for block in ciphertext.chunks(3) {
        permute4(&mut state);
        for (j, c) in block.iter().enumerate() {
            message.push(*c - state[j + 1]);
            state[j + 1] = *c;
        }
    }
    (message, state)
}

fn unpad(mut message: Vec<Fr>, len: usize) -> Result<Vec<Fr>, CipherError> {
    if message[len..].iter().any(|m| *m != Fr::from(0u64)) {
        return Err(CipherError::Padding);
    }
    message.truncate(len);
    Ok(message)
}

/// Decrypts `len` elements; refuses a ciphertext that another key, nonce or length made, or
/// one that was tampered with.
pub fn decrypt(
    ciphertext: &[Fr],
    key: [Fr; 2],
    nonce: u128,
    len: usize,
) -> Result<Vec<Fr>, CipherError> {
    if ciphertext.len() != ciphertext_len(len) {
        return Err(CipherError::Length {
            len,
            got: ciphertext.len(),
        });
    }
    let (message, mut state) = squeeze(&ciphertext[..ciphertext.len() - 1], key, nonce, len);
    permute4(&mut state);
    if ciphertext.last() != Some(&state[1]) {
        return Err(CipherError::Tag);
    }
    unpad(message, len)
}

/// Decrypts a ciphertext of [`encrypt_untagged`]: nothing authenticates it but the zero padding
/// (when `len` is not a multiple of 3), so the caller checks what it decrypts to.
pub fn decrypt_untagged(
    ciphertext: &[Fr],
    key: [Fr; 2],
    nonce: u128,
    len: usize,
) -> Result<Vec<Fr>, CipherError> {
    if ciphertext.len() != ciphertext_len(len) - 1 {
        return Err(CipherError::Length {
            len,
            got: ciphertext.len(),
        });
    }
    unpad(squeeze(ciphertext, key, nonce, len).0, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::fr_from_decimal;

    fn fr(s: &str) -> Fr {
        fr_from_decimal(s).expect("decimal")
    }

    /// zk-kit's published known answer (`packages/poseidon-cipher/README.md`): an independent
    /// implementation of the cipher, so this pins the sponge, the padding and the tag.
    #[test]
    fn encrypts_as_zk_kit() {
        let key = [
            fr("18215233274609902892566361706948385597370728108990013889912246034099844508236"),
            fr("14884395706232754242497822954958766875005771827082919466711779658153477561231"),
        ];
        let message = [Fr::from(0u64), Fr::from(1u64)];
        let expected = [
            "13027563531333274777964504528445510545245985419061604793949748860800093661040",
            "21542829407417339379457427303368865281142518080970543920113508599380643597111",
            "334052772696549592017166610161467257195783602071397160212931200489386609812",
            "9075054520224362422769554641603717496449971372103870041485347221024944155182",
        ]
        .map(fr);
        let ct = encrypt(&message, key, 5);
        assert_eq!(ct, expected);
        assert_eq!(decrypt(&ct, key, 5, 2).expect("decrypt"), message);
    }

    #[test]
    fn decryption_refuses_another_key_nonce_length_or_a_tampered_element() {
        let key = [Fr::from(7u64), Fr::from(11u64)];
        let message: Vec<Fr> = (1..=4u64).map(Fr::from).collect();
        let ct = encrypt(&message, key, 99);
        assert_eq!(ct.len(), 7);
        assert_eq!(decrypt(&ct, key, 99, 4).expect("decrypt"), message);
        let other_key = [Fr::from(7u64), Fr::from(12u64)];
        assert!(decrypt(&ct, other_key, 99, 4).is_err(), "another key");
        assert!(decrypt(&ct, key, 98, 4).is_err(), "another nonce");
        assert!(decrypt(&ct, key, 99, 5).is_err(), "another length");
        for i in 0..ct.len() {
            let mut tampered = ct.clone();
            tampered[i] += Fr::from(1u64);
            assert!(
                decrypt(&tampered, key, 99, 4).is_err(),
                "element {i} tampered"
            );
        }
        assert_eq!(
            decrypt(&ct[..6], key, 99, 4),
            Err(CipherError::Length { len: 4, got: 6 })
        );
    }

    #[test]
    fn the_untagged_ciphertext_is_the_tagged_one_without_its_tag() {
        let key = [Fr::from(3u64), Fr::from(4u64)];
        for len in 1..=7 {
            let message: Vec<Fr> = (0..len as u64).map(|i| Fr::from(50 + i)).collect();
            let tagged = encrypt(&message, key, 12);
            let untagged = encrypt_untagged(&message, key, 12);
            assert_eq!(untagged[..], tagged[..tagged.len() - 1], "length {len}");
            assert_eq!(
                decrypt_untagged(&untagged, key, 12, len).expect("decrypt"),
                message
            );
            assert_eq!(
                decrypt_untagged(&tagged, key, 12, len),
                Err(CipherError::Length {
                    len,
                    got: tagged.len()
                })
            );
        }
        // Without a tag only the padding can catch another nonce (length 2 pads one zero).
        let ct = encrypt_untagged(&[Fr::from(1u64), Fr::from(2u64)], key, 12);
        assert_eq!(decrypt_untagged(&ct, key, 13, 2), Err(CipherError::Padding));
    }
}
