//! A phase-2 contribution, as `snarkjs zkey contribute` and `snarkjs zkey beacon` make it: a
//! secret factor `k` multiplies delta and divides the L and H queries; the record proves
//! knowledge of `k` (`g1_sx = k g1_s`, `g2_spx = k g2_sp` with `g2_sp` hashed from the
//! transcript) and chains every earlier contribution into its transcript. A participant is safe
//! if one contributor forgot their `k`; the beacon's `k` comes from a public value named in
//! advance, so the last word is nobody's.

use ark_bn254::{G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Field;
use blake2::{Blake2b512, Digest};
use rand::RngCore;
use rayon::prelude::*;
use zkperp_state::Fr;

use super::points;
use super::rng::{self, ChaCha};
use super::zkey::{Contribution, ContributionKind, Zkey};
use super::CeremonyError;

/// The longest name a record holds (snarkjs cuts at 64 characters).
pub const MAX_NAME: usize = 64;

/// `hashPubKey`: what a contribution adds to every later transcript, and (hashed alone) its
/// contribution hash.
pub fn hash_pub_key(h: &mut Blake2b512, c: &Contribution) {
    let mut buf = Vec::with_capacity(64 * 3 + 128 + 64);
    points::g1_u(&mut buf, &c.delta_after);
    points::g1_u(&mut buf, &c.g1_s);
    points::g1_u(&mut buf, &c.g1_sx);
    points::g2_u(&mut buf, &c.g2_spx);
    buf.extend_from_slice(&c.transcript);
    h.update(&buf);
}

/// The hash a participant publishes for their contribution (snarkjs prints the same).
pub fn contribution_hash(c: &Contribution) -> [u8; 64] {
    let mut h = Blake2b512::new();
    hash_pub_key(&mut h, c);
    h.finalize().into()
}

/// The transcript hasher after the circuit's hash and every contribution before `upto`.
pub fn transcript_before(zkey: &Zkey, upto: usize) -> Blake2b512 {
    let mut h = Blake2b512::new();
    h.update(zkey.cs_hash);
    for c in &zkey.contributions[..upto] {
        hash_pub_key(&mut h, c);
    }
    h
}

/// A participant's stream: Blake2b-512 of 64 bytes from the OS and the entropy they typed
/// (snarkjs' `getRandomRng`), so neither the machine nor the person alone decides `k`.
pub fn participant_rng(entropy: &[u8]) -> ChaCha {
    let mut os = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut os);
    let mut h = Blake2b512::new();
    h.update(os);
    h.update(entropy);
    ChaCha::from_seed(&h.finalize())
}

impl Zkey {
    /// Adds a contribution whose secret is drawn from `rng`; returns its contribution hash.
    pub fn contribute(
        &mut self,
        rng: &mut ChaCha,
        name: Option<&str>,
    ) -> Result<[u8; 64], CeremonyError> {
        self.add(rng, name, ContributionKind::Secret)
    }

    /// The final contribution from a public random value (`hash`, 1 to 255 bytes, fixed before
    /// the ceremony) through `2^iterations_exp` SHA-256 iterations (10 to 63), so it cannot be
    /// chosen after the fact.
    pub fn beacon(
        &mut self,
        hash: &[u8],
        iterations_exp: u8,
        name: Option<&str>,
    ) -> Result<[u8; 64], CeremonyError> {
        if hash.is_empty() || hash.len() > 255 {
            return Err(CeremonyError::Unsupported(
                "a beacon value of 1 to 255 bytes".into(),
            ));
        }
        if !(10..=63).contains(&iterations_exp) {
            return Err(CeremonyError::Unsupported(format!(
                "2^{iterations_exp} beacon iterations (the exponent is 10 to 63)"
            )));
        }
        let mut rng = rng::beacon(hash, iterations_exp);
        self.add(
            &mut rng,
            name,
            ContributionKind::Beacon {
                hash: hash.to_vec(),
                iterations_exp,
            },
        )
    }

    fn add(
        &mut self,
        rng: &mut ChaCha,
        name: Option<&str>,
        kind: ContributionKind,
    ) -> Result<[u8; 64], CeremonyError> {
        if let Some(name) = name {
            if name.len() > MAX_NAME {
                return Err(CeremonyError::Unsupported(format!(
                    "a name longer than {MAX_NAME} bytes"
                )));
            }
        }
        let k = rng.scalar();
        let g1_s = rng.g1();
        let g1_sx = (g1_s * k).into_affine();
        let mut h = transcript_before(self, self.contributions.len());
        let mut buf = Vec::new();
        points::g1_u(&mut buf, &g1_s);
        points::g1_u(&mut buf, &g1_sx);
        h.update(&buf);
        let transcript: [u8; 64] = h.finalize().into();
        let g2_spx = (rng::hash_to_g2(&transcript) * k).into_affine();
        self.delta_g1 = (self.delta_g1 * k).into_affine();
        self.delta_g2 = (self.delta_g2 * k).into_affine();
        let inverse = k
            .inverse()
            .expect("k is drawn nonzero with overwhelming probability");
        self.c = scale(&self.c, inverse);
        self.h = scale(&self.h, inverse);
        let c = Contribution {
            delta_after: self.delta_g1,
            g1_s,
            g1_sx,
            g2_spx,
            transcript,
            kind,
            name: name.map(str::to_string),
        };
        let hash = contribution_hash(&c);
        self.contributions.push(c);
        Ok(hash)
    }
}

fn scale(points: &[G1Affine], k: Fr) -> Vec<G1Affine> {
    let scaled: Vec<G1Projective> = points.par_iter().map(|p| p.into_group() * k).collect();
    G1Projective::normalize_batch(&scaled)
}

/// A hash as snarkjs prints it: four lines of four 8-digit hex words.
pub fn format_hash(hash: &[u8; 64]) -> String {
    hash.chunks(16)
        .map(|line| {
            let words: Vec<String> = line.chunks(4).map(hex).collect();
            format!("\t\t{}", words.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
