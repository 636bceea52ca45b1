//! Phase 1: a snarkjs `.ptau` file (the powers of tau), read for phase 2 and, when it is not yet
//! prepared, prepared (its Lagrange sections computed) as `snarkjs powersoftau prepare phase2`
//! does, byte for byte.
//!
//! | id | content (N = 2^power) |
//! |---|---|
//! | 1 | `u32 n8 = 32 \| q (32 bytes LE) \| u32 power \| u32 ceremony power` |
//! | 2 | `[tau^i]_1`, i < 2N - 1 |
//! | 3, 4, 5 | `[tau^i]_2`, `[alpha tau^i]_1`, `[beta tau^i]_1`, i < N |
//! | 6 | `[beta]_2` |
//! | 7 | the phase-1 contributions (kept as they are: `snarkjs powersoftau verify` checks them) |
//! | 12 | for p = 0..=power+1, the 2^p G1 points `[L_i(tau)]_1` of the domain of size 2^p |
//! | 13, 14, 15 | for p = 0..=power, `[L_i(tau)]_2`, `[alpha L_i(tau)]_1`, `[beta L_i(tau)]_1` |
//!
//! A block of size 2^p starts at point `2^p - 1`. The last block of section 12 (size 2N) is
//! built from `[tau^0..tau^(2N-2)]_1` and a zero in place of the missing `tau^(2N-1)`.

use ark_bn254::{Fq, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::{BigInteger, PrimeField};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use zkperp_state::Fr;

use super::binfile::{self, BinFile, Reader};
use super::points::{self, G1_BYTES, G2_BYTES};
use super::{CeremonyError, FormatError};

const KIND: &str = ".ptau";
pub const MAGIC: &[u8; 4] = b"ptau";

/// The largest power whose Lagrange sections this code computes (snarkjs switches to a coset
/// construction above the scalar field's 2-adicity, 28; a file that large comes prepared).
pub const MAX_PREPARE_POWER: u32 = 27;

/// A parsed `.ptau`.
#[derive(Debug)]
pub struct Ptau<'a> {
    file: BinFile<'a>,
    /// The file's power: it holds the powers of a domain of up to `2^power`.
    pub power: u32,
    pub ceremony_power: u32,
}

impl<'a> Ptau<'a> {
    /// Reads the header and checks every section's size; points are decoded (and checked) when
    /// they are used.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let file = BinFile::parse(KIND, bytes, MAGIC, 1..=1)?;
        let mut h = Reader::new(KIND, file.section(KIND, 1)?);
        let n8 = h.u32()?;
        if n8 != 32 || h.take(32)? != Fq::MODULUS.to_bytes_le().as_slice() {
            return Err(FormatError::new(KIND, "not over BN254 (n8 or the prime q)"));
        }
        let power = h.u32()?;
        let ceremony_power = h.u32()?;
        h.end("header")?;
        if power == 0 || power > 28 || ceremony_power < power {
            return Err(FormatError::new(
                KIND,
                format!("power {power} (ceremony power {ceremony_power}) is out of range"),
            ));
        }
        let n = 1usize << power;
        let sized = |id: u32, points: usize, size: usize| -> Result<(), FormatError> {
            let len = file.section(KIND, id)?.len();
            if len != points * size {
                return Err(FormatError::new(
                    KIND,
                    format!(
                        "section {id} holds {len} bytes, not {} for power {power}",
                        points * size
                    ),
                ));
            }
            Ok(())
        };
        sized(2, 2 * n - 1, G1_BYTES)?;
        sized(3, n, G2_BYTES)?;
        sized(4, n, G1_BYTES)?;
        sized(5, n, G1_BYTES)?;
        sized(6, 1, G2_BYTES)?;
        file.section(KIND, 7)?;
        let prepared = (12..=15).filter(|id| file.has(*id)).count();
        if prepared == 4 {
            sized(12, (4 << power) - 1, G1_BYTES)?;
            sized(13, (2 << power) - 1, G2_BYTES)?;
            sized(14, (2 << power) - 1, G1_BYTES)?;
            sized(15, (2 << power) - 1, G1_BYTES)?;
        } else if prepared != 0 {
            return Err(FormatError::new(KIND, "only some of the Lagrange sections"));
        }
        Ok(Ptau {
            file,
            power,
            ceremony_power,
        })
    }

    /// How many phase-1 contributions the file records (0: a development phase 1, whose maker
    /// knows tau).
    pub fn contributions(&self) -> Result<u32, FormatError> {
        Reader::new(KIND, self.section(7)?).u32()
    }

    /// Whether the Lagrange sections (12 to 15) are there.
    pub fn prepared(&self) -> bool {
        self.file.has(12)
    }

    fn need_prepared(&self) -> Result<(), CeremonyError> {
        if self.prepared() {
            Ok(())
        } else {
            Err(CeremonyError::NotPrepared)
        }
    }

    pub fn section(&self, id: u32) -> Result<&'a [u8], FormatError> {
        self.file.section(KIND, id)
    }

    /// `[tau^i]_1` for `i` in `at..at + count`.
    pub fn tau_g1(&self, at: usize, count: usize) -> Result<Vec<G1Affine>, FormatError> {
        points::g1s(KIND, self.section(2)?, at, count)
    }

    pub fn alpha_g1(&self) -> Result<G1Affine, FormatError> {
        points::g1(KIND, &self.section(4)?[..G1_BYTES])
    }

    pub fn beta_g1(&self) -> Result<G1Affine, FormatError> {
        points::g1(KIND, &self.section(5)?[..G1_BYTES])
    }

    pub fn beta_g2(&self) -> Result<G2Affine, FormatError> {
        points::g2(KIND, self.section(6)?)
    }

    /// The raw bytes of `alpha_1`, `beta_1`, `beta_2` (a new `.zkey` copies them as they are).
    pub fn raw_alpha_beta(&self) -> Result<[&'a [u8]; 3], FormatError> {
        Ok([
            &self.section(4)?[..G1_BYTES],
            &self.section(5)?[..G1_BYTES],
            self.section(6)?,
        ])
    }

    /// The Lagrange basis of the domain of size `2^p` evaluated at tau: in G1 from `section`
    /// 12 (`[L_i]`), 14 (`[alpha L_i]`) or 15 (`[beta L_i]`).
    pub fn lagrange_g1(&self, section: u32, p: u32) -> Result<Vec<G1Affine>, CeremonyError> {
        self.need_prepared()?;
        let top = if section == 12 {
            self.power + 1
        } else {
            self.power
        };
        if p > top {
            return Err(CeremonyError::PtauTooSmall {
                power: self.power,
                needed: p,
            });
        }
        Ok(points::g1s(
            KIND,
            self.section(section)?,
            (1 << p) - 1,
            1 << p,
        )?)
    }

    /// `[L_i(tau)]_2` of the domain of size `2^p` (section 13).
    pub fn lagrange_g2(&self, p: u32) -> Result<Vec<G2Affine>, CeremonyError> {
        self.need_prepared()?;
        if p > self.power {
            return Err(CeremonyError::PtauTooSmall {
                power: self.power,
                needed: p,
            });
        }
        Ok(points::g2s(
            KIND,
            self.section(13)?,
            (1 << p) - 1,
            1 << p,
            true,
        )?)
    }

    /// The section-2 bytes and the `extra` bytes that follow them in the file (see
    /// [`super::zkey`]'s note on snarkjs' H hash).
    pub fn tau_g1_with_following(&self, extra: usize) -> Option<&'a [u8]> {
        self.file.section_with_following(2, extra)
    }

    /// The file prepared for phase 2 as `snarkjs powersoftau prepare phase2` writes it: sections
    /// 1 to 7 as they are, then the Lagrange sections computed from the powers.
    pub fn prepare(&self) -> Result<Vec<u8>, CeremonyError> {
        if self.power > MAX_PREPARE_POWER {
            return Err(CeremonyError::Unsupported(format!(
                "preparing a .ptau of power {} (above {MAX_PREPARE_POWER}); use a prepared file",
                self.power
            )));
        }
        let n = 1usize << self.power;
        let tau_g1 = self.tau_g1(0, 2 * n - 1)?;
        let tau_g2 = points::g2s(KIND, self.section(3)?, 0, n, true)?;
        let alpha = points::g1s(KIND, self.section(4)?, 0, n)?;
        let beta = points::g1s(KIND, self.section(5)?, 0, n)?;
        let mut s12 = Vec::new();
        let mut s13 = Vec::new();
        let mut s14 = Vec::new();
        let mut s15 = Vec::new();
        for p in 0..=self.power {
            let size = 1 << p;
            points::put_g1s(&mut s12, &lagrange_g1(&tau_g1[..size]));
            points::put_g2s(&mut s13, &lagrange_g2(&tau_g2[..size]));
            points::put_g1s(&mut s14, &lagrange_g1(&alpha[..size]));
            points::put_g1s(&mut s15, &lagrange_g1(&beta[..size]));
        }
        let mut top = tau_g1;
        top.push(G1Affine::default());
        points::put_g1s(&mut s12, &lagrange_g1(&top));
        let mut sections: Vec<(u32, &[u8])> = (1..=7)
            .map(|id| Ok((id, self.section(id)?)))
            .collect::<Result<_, FormatError>>()?;
        sections.extend([
            (12, &s12[..]),
            (13, &s13[..]),
            (14, &s14[..]),
            (15, &s15[..]),
        ]);
        Ok(binfile::write(MAGIC, 1, &sections))
    }
}

/// A development phase 1 of `power`, prepared: one party's tau, alpha and beta from `rng`, and no
/// contribution record. Whoever made it knows the trapdoor of every key made from it, whatever
/// phase 2 adds, so it is for tests and devnets only; it is the file
/// [`Ptau::prepare`] would make from its own powers, byte for byte, computed from the scalars
/// (fixed-base multiplications) instead of group FFTs, so large powers take seconds.
pub fn development(power: u32, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> Vec<u8> {
    use ark_ec::scalar_mul::BatchMulPreprocessing;
    use ark_ec::PrimeGroup;
    use ark_ff::UniformRand;
    assert!(
        (1..=MAX_PREPARE_POWER).contains(&power),
        "a development phase 1 of power 1 to {MAX_PREPARE_POWER}"
    );
    let (tau, alpha, beta) = (Fr::rand(rng), Fr::rand(rng), Fr::rand(rng));
    let n = 1usize << power;
    let mut powers = Vec::with_capacity(2 * n);
    let mut x = Fr::from(1u64);
    for _ in 0..2 * n {
        powers.push(x);
        x *= tau;
    }
    let times = |k: Fr, v: &[Fr]| v.iter().map(|x| k * x).collect::<Vec<_>>();
    let lagrange = |v: &[Fr]| {
        let mut v = v.to_vec();
        domain(v.len()).ifft_in_place(&mut v);
        v
    };
    let mut s12 = Vec::new();
    let mut s13 = Vec::new();
    let mut s14 = Vec::new();
    let mut s15 = Vec::new();
    for p in 0..=power {
        let l = lagrange(&powers[..1 << p]);
        s14.extend(times(alpha, &l));
        s15.extend(times(beta, &l));
        s13.extend_from_slice(&l);
        s12.extend(l);
    }
    let mut top = powers[..2 * n - 1].to_vec();
    top.push(Fr::from(0u64));
    s12.extend(lagrange(&top));
    let g1 = BatchMulPreprocessing::new(G1Projective::generator(), s12.len());
    let g2 = BatchMulPreprocessing::new(G2Projective::generator(), n.max(s13.len()));
    let g1s = |scalars: &[Fr]| {
        let mut out = Vec::new();
        points::put_g1s(&mut out, &g1.batch_mul(scalars));
        out
    };
    let g2s = |scalars: &[Fr]| {
        let mut out = Vec::new();
        points::put_g2s(&mut out, &g2.batch_mul(scalars));
        out
    };
    let mut header = Vec::new();
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&Fq::MODULUS.to_bytes_le());
    header.extend_from_slice(&power.to_le_bytes());
    header.extend_from_slice(&power.to_le_bytes());
    binfile::write(
        MAGIC,
        1,
        &[
            (1, &header),
            (2, &g1s(&powers[..2 * n - 1])),
            (3, &g2s(&powers[..n])),
            (4, &g1s(&times(alpha, &powers[..n]))),
            (5, &g1s(&times(beta, &powers[..n]))),
            (6, &g2s(&[beta])),
            (7, &0u32.to_le_bytes()),
            (12, &g1s(&s12)),
            (13, &g2s(&s13)),
            (14, &g1s(&s14)),
            (15, &g1s(&s15)),
        ],
    )
}

fn domain(size: usize) -> Radix2EvaluationDomain<Fr> {
    Radix2EvaluationDomain::new(size).expect("a power of two within the 2-adicity")
}

/// `[L_i(x)]` of the domain of `powers.len()` from `[x^i]`: the inverse FFT of the powers.
fn lagrange_g1(powers: &[G1Affine]) -> Vec<G1Affine> {
    let mut v: Vec<G1Projective> = powers.iter().map(|p| (*p).into()).collect();
    domain(v.len()).ifft_in_place(&mut v);
    G1Projective::normalize_batch(&v)
}

fn lagrange_g2(powers: &[G2Affine]) -> Vec<G2Affine> {
    let mut v: Vec<G2Projective> = powers.iter().map(|p| (*p).into()).collect();
    domain(v.len()).ifft_in_place(&mut v);
    G2Projective::normalize_batch(&v)
}
