//! The random draws of a phase-2 contribution exactly as snarkjs (ffjavascript) makes them, so
//! that a verifier re-derives `g2_sp` from a transcript, and a beacon's whole contribution from
//! its public value, bit for bit:
//!
//! - [`ChaCha`]: ChaCha20 (10 double rounds) over the seed as eight big-endian words, a 64-bit
//!   block counter in words 12 to 15; `u64` draws are two words, the first the high half.
//! - field elements: four `u64` draws, least significant first, masked to 254 bits, redrawn
//!   until below the modulus, and taken as the element's Montgomery form (`v / 2^256 mod p`).
//! - curve points: draw `x` and a sign bit until `x^3 + b` is a square; the root whose "sign"
//!   (above `(p - 1) / 2`, the imaginary part first in Fq2) equals the bit; G2 then times its
//!   cofactor.

use ark_bn254::{g2, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ec::CurveConfig;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInt, Field, PrimeField, Zero};
use sha2::{Digest, Sha256};
use zkperp_state::Fr;

/// ffjavascript's ChaCha stream.
#[derive(Debug, Clone)]
pub struct ChaCha {
    state: [u32; 16],
    block: [u32; 16],
    at: usize,
}

fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

impl ChaCha {
    /// Seeded with the first 32 bytes of `seed` as big-endian words.
    pub fn from_seed(seed: &[u8]) -> Self {
        let mut state = [0u32; 16];
        state[..4].copy_from_slice(&[0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]);
        for i in 0..8 {
            state[4 + i] = u32::from_be_bytes(seed[4 * i..4 * i + 4].try_into().expect("4"));
        }
        ChaCha {
            state,
            block: [0; 16],
            at: 16,
        }
    }

    fn update(&mut self) {
        let mut b = self.state;
        for _ in 0..10 {
            quarter(&mut b, 0, 4, 8, 12);
            quarter(&mut b, 1, 5, 9, 13);
            quarter(&mut b, 2, 6, 10, 14);
            quarter(&mut b, 3, 7, 11, 15);
            quarter(&mut b, 0, 5, 10, 15);
            quarter(&mut b, 1, 6, 11, 12);
            quarter(&mut b, 2, 7, 8, 13);
            quarter(&mut b, 3, 4, 9, 14);
        }
        for (out, input) in b.iter_mut().zip(&self.state) {
            *out = out.wrapping_add(*input);
        }
        self.block = b;
        self.at = 0;
        for i in 12..16 {
            self.state[i] = self.state[i].wrapping_add(1);
            if self.state[i] != 0 {
                break;
            }
        }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.at == 16 {
            self.update();
        }
        self.at += 1;
        self.block[self.at - 1]
    }

    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        (high << 32) | u64::from(self.next_u32())
    }

    pub fn next_bool(&mut self) -> bool {
        self.next_u32() & 1 == 1
    }

    fn field<F: PrimeField<BigInt = BigInt<4>>>(&mut self) -> F {
        loop {
            let mut limbs: [u64; 4] = std::array::from_fn(|_| self.next_u64());
            limbs[3] &= (1 << 62) - 1;
            let v = BigInt(limbs);
            if v < F::MODULUS {
                // The draw is the element's Montgomery form.
                return F::from_bigint(v).expect("below the modulus")
                    * F::from(2u64).pow([256]).inverse().expect("invertible");
            }
        }
    }

    /// `Fr.fromRng`.
    pub fn scalar(&mut self) -> Fr {
        self.field()
    }

    /// `G1.fromRng`.
    pub fn g1(&mut self) -> G1Affine {
        loop {
            let x: Fq = self.field();
            let greatest = self.next_bool();
            let t = x.square() * x + ark_bn254::g1::Config::COEFF_B;
            if let Some(y) = t.sqrt() {
                let y = if negative(&y) == greatest { y } else { -y };
                return G1Affine::new_unchecked(x, y);
            }
        }
    }

    /// `G2.fromRng`.
    pub fn g2(&mut self) -> G2Affine {
        loop {
            let x = Fq2::new(self.field(), self.field());
            let greatest = self.next_bool();
            let t = x.square() * x + g2::Config::COEFF_B;
            if let Some(y) = t.sqrt() {
                let y = if negative2(&y) == greatest { y } else { -y };
                let p = G2Affine::new_unchecked(x, y);
                return p.mul_bigint(g2::Config::COFACTOR).into_affine();
            }
        }
    }
}

/// ffjavascript's sign: the canonical integer is above `(p - 1) / 2`.
fn negative(x: &Fq) -> bool {
    x.into_bigint() > Fq::MODULUS_MINUS_ONE_DIV_TWO
}

fn negative2(x: &Fq2) -> bool {
    if x.c1.is_zero() {
        negative(&x.c0)
    } else {
        negative(&x.c1)
    }
}

/// `hashToG2`: the point a transcript hash commits a contribution's `g2_sp` to.
pub fn hash_to_g2(hash: &[u8; 64]) -> G2Affine {
    ChaCha::from_seed(hash).g2()
}

/// The beacon's stream: `2^iterations_exp` SHA-256 iterations of its value, then ChaCha.
pub fn beacon(hash: &[u8], iterations_exp: u8) -> ChaCha {
    let mut h = hash.to_vec();
    for _ in 0..(1u64 << iterations_exp) {
        h = Sha256::digest(&h).to_vec();
    }
    ChaCha::from_seed(&h)
}
