//! The check of a whole phase-2 transcript against the circuit's `.r1cs` and the phase 1
//! (what `snarkjs zkey verify` checks, and a little more): the key must be the circuit's
//! initial key with only delta changed, and every change must be a recorded contribution whose
//! author proved knowledge of its factor.
//!
//! 1. The initial key is made again from the `.r1cs` and the `.ptau` ([`Zkey::new`]): the
//!    counts, alpha, beta, gamma, the IC, A and B queries and the coefficients must be equal,
//!    and the circuit hash too (a key for another circuit fails here).
//! 2. Each contribution: its transcript is recomputed from the circuit hash and the records
//!    before it; `g2_sp = hashToG2(transcript)`; `e(g1_s, g2_spx) = e(g1_sx, g2_sp)` (its author
//!    knew `k`) and `e(delta_before, g2_spx) = e(delta_after, g2_sp)` (it multiplied delta by
//!    that `k`). A beacon's `k`, `g1_s` and `g1_sx` are drawn again from its public value.
//! 3. The key's delta is the last contribution's, the same in G1 and G2.
//! 4. L and H are the initial ones divided by delta: a random combination `R` of the initial
//!    points and the same combination `R'` of the key's satisfy `e(R, [1]_2) = e(R', delta_2)`.
//!    (snarkjs draws 32-bit coefficients here; these are full scalars.)

use ark_bn254::{Bn254, G1Affine, G1Projective, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{UniformRand, Zero};
use blake2::Digest;
use zkperp_state::Fr;

use super::contribute::{contribution_hash, transcript_before};
use super::points;
use super::ptau::Ptau;
use super::rng;
use super::zkey::{ContributionKind, Zkey};
use super::CeremonyError;
use crate::r1cs::R1cs;

/// What a verified transcript shows: the circuit's hash and each contribution's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub cs_hash: [u8; 64],
    pub contributions: Vec<VerifiedContribution>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedContribution {
    pub name: Option<String>,
    pub beacon: bool,
    pub hash: [u8; 64],
}

fn failed(what: impl Into<String>) -> CeremonyError {
    CeremonyError::Verify(what.into())
}

/// `e(a1, b2) = e(b1, a2)`, none of them the identity.
fn same_ratio(a1: &G1Affine, b1: &G1Affine, a2: &G2Affine, b2: &G2Affine) -> bool {
    if a1.is_zero() || b1.is_zero() || a2.is_zero() || b2.is_zero() {
        return false;
    }
    Bn254::multi_pairing([*a1, -*b1], [*b2, *a2]).is_zero()
}

/// Verifies `zkey`'s transcript against `r1cs` and `ptau`.
pub fn verify(r1cs: &R1cs, ptau: &Ptau, zkey: &Zkey) -> Result<Verified, CeremonyError> {
    verify_from_init(&Zkey::new(r1cs, ptau)?, zkey)
}

/// Verifies `zkey`'s transcript against the circuit's initial key `init` (made by
/// [`Zkey::new`] from the `.r1cs` and the `.ptau`: made once, it checks any number of keys).
pub fn verify_from_init(init: &Zkey, zkey: &Zkey) -> Result<Verified, CeremonyError> {
    if !init.contributions.is_empty() {
        return Err(failed("the initial key must have no contribution"));
    }
    if (zkey.wires, zkey.public, zkey.domain_size) != (init.wires, init.public, init.domain_size) {
        return Err(failed(format!(
            "the key is for another circuit: {} wires, {} public inputs, a domain of {} \
             (this circuit: {}, {}, {})",
            zkey.wires, zkey.public, zkey.domain_size, init.wires, init.public, init.domain_size
        )));
    }
    if zkey.cs_hash != init.cs_hash {
        return Err(failed(
            "the key's circuit hash is not this circuit's over this phase 1",
        ));
    }
    for (what, equal) in [
        ("alpha_1", zkey.alpha_g1 == init.alpha_g1),
        ("beta_1", zkey.beta_g1 == init.beta_g1),
        ("beta_2", zkey.beta_g2 == init.beta_g2),
        ("gamma_2", zkey.gamma_g2 == init.gamma_g2),
        ("the IC (section 3)", zkey.ic == init.ic),
        (
            "the coefficients (section 4)",
            zkey.coefficients == init.coefficients,
        ),
        ("the A query (section 5)", zkey.a == init.a),
        ("the B query in G1 (section 6)", zkey.b_g1 == init.b_g1),
        ("the B query in G2 (section 7)", zkey.b_g2 == init.b_g2),
    ] {
        if !equal {
            return Err(failed(format!(
                "{what} differs from the circuit's initial key"
            )));
        }
    }

    let mut delta = G1Affine::generator();
    let mut contributions = Vec::new();
    for (i, c) in zkey.contributions.iter().enumerate() {
        let who = format!(
            "contribution {} ({})",
            i + 1,
            c.name.as_deref().unwrap_or("unnamed")
        );
        let mut h = transcript_before(zkey, i);
        let mut buf = Vec::new();
        points::g1_u(&mut buf, &c.g1_s);
        points::g1_u(&mut buf, &c.g1_sx);
        h.update(&buf);
        let transcript: [u8; 64] = h.finalize().into();
        if transcript != c.transcript {
            return Err(failed(format!(
                "{who}: its transcript hash is not the hash of the transcript before it"
            )));
        }
        let g2_sp = rng::hash_to_g2(&transcript);
        if !same_ratio(&c.g1_s, &c.g1_sx, &g2_sp, &c.g2_spx) {
            return Err(failed(format!(
                "{who}: its proof of knowledge does not verify"
            )));
        }
        if !same_ratio(&delta, &c.delta_after, &g2_sp, &c.g2_spx) {
            return Err(failed(format!(
                "{who}: delta was not multiplied by the factor it proved knowledge of"
            )));
        }
        if let ContributionKind::Beacon {
            hash,
            iterations_exp,
        } = &c.kind
        {
            let mut rng = rng::beacon(hash, *iterations_exp);
            let k = rng.scalar();
            let g1_s = rng.g1();
            if g1_s != c.g1_s || (g1_s * k).into_affine() != c.g1_sx {
                return Err(failed(format!(
                    "{who}: the beacon's factor is not the one its public value gives"
                )));
            }
        }
        delta = c.delta_after;
        contributions.push(VerifiedContribution {
            name: c.name.clone(),
            beacon: matches!(c.kind, ContributionKind::Beacon { .. }),
            hash: contribution_hash(c),
        });
    }
    if zkey.delta_g1 != delta {
        return Err(failed("delta_1 is not the last contribution's"));
    }
    if !same_ratio(
        &G1Affine::generator(),
        &zkey.delta_g1,
        &G2Affine::generator(),
        &zkey.delta_g2,
    ) {
        return Err(failed("delta_2 is not delta_1's counterpart"));
    }
    let mut rng = rand::rngs::OsRng;
    for (what, before, after) in [
        ("L (section 8)", &init.c, &zkey.c),
        ("H (section 9)", &init.h, &zkey.h),
    ] {
        if before.len() != after.len() {
            return Err(failed(format!("{what} has another length")));
        }
        let rho: Vec<Fr> = (0..before.len()).map(|_| Fr::rand(&mut rng)).collect();
        let r = G1Projective::msm_unchecked(before, &rho).into_affine();
        let r_after = G1Projective::msm_unchecked(after, &rho).into_affine();
        if !same_ratio(&r, &r_after, &zkey.delta_g2, &G2Affine::generator()) {
            return Err(failed(format!(
                "{what} is not the initial key's divided by delta"
            )));
        }
    }
    Ok(Verified {
        cs_hash: zkey.cs_hash,
        contributions,
    })
}
