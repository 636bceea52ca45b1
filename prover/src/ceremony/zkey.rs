//! Phase 2: a snarkjs Groth16 `.zkey` (the circuit's proving key and its ceremony transcript),
//! read, written, and made from a circuit's `.r1cs` and a prepared `.ptau` exactly as
//! `snarkjs zkey new` makes it (byte for byte, so `snarkjs zkey verify` and ours agree on the
//! starting point of every transcript).
//!
//! | id | content |
//! |---|---|
//! | 1 | `u32 protocol = 1` (Groth16) |
//! | 2 | `u32 32 \| q \| u32 32 \| r \| u32 wires \| u32 public \| u32 domain size \|` alpha_1, beta_1, beta_2, gamma_2, delta_1, delta_2 |
//! | 3 | IC: `[K_s / gamma]_1` for the one wire and the public inputs |
//! | 4 | `u32 count`, then per coefficient `u32 matrix (0 A, 1 B) \| u32 constraint \| u32 wire \| c R^2 mod r` |
//! | 5, 6, 7 | `[A_s]_1`, `[B_s]_1`, `[B_s]_2` per wire |
//! | 8 | `[K_s / delta]_1` per private wire |
//! | 9 | H: `[L'_{2i+1}(tau) / delta]_1`, i < domain size, the odd Lagrange basis of the double domain |
//! | 10 | the contributions: the circuit's hash (`csHash`, Blake2b-512) and each contribution's record |
//!
//! A key is for the "circom" QAP: every public wire gets an extra constraint row `1 * w = 0`
//! (`A_s` gains `L_{m+s}`), and H is evaluated on the odd coset of the double domain, so a proof
//! is made with [`crate::circom::CircomReduction`].

use ark_bn254::{Bn254, Fq, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{AdditiveGroup, BigInteger, One, PrimeField, Zero};
use blake2::{Blake2b512, Digest};
use rayon::prelude::*;
use zkperp_state::Fr;

use super::binfile::{self, BinFile, Reader};
use super::points::{self, G1_BYTES, G2_BYTES};
use super::ptau::Ptau;
use super::{CeremonyError, FormatError};
use crate::r1cs::{R1cs, Term};

const KIND: &str = ".zkey";
pub const MAGIC: &[u8; 4] = b"zkey";
const GROTH16: u32 = 1;

/// One coefficient of section 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coefficient {
    /// 0: A, 1: B (C is never stored: the prover computes it as A * B).
    pub matrix: u32,
    pub constraint: u32,
    pub wire: u32,
    pub value: Fr,
}

/// Whether a contribution added a participant's secret or the public beacon's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContributionKind {
    Secret,
    /// The beacon: the hash (the public random value) and the log2 of its SHA-256 iterations.
    Beacon {
        hash: Vec<u8>,
        iterations_exp: u8,
    },
}

/// A contribution's record: the new delta and the proof that its author knew the factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub delta_after: G1Affine,
    /// `g1_s` (a random point), `g1_sx = k g1_s`, and `g2_spx = k g2_sp` where `g2_sp` is hashed
    /// to G2 from the transcript.
    pub g1_s: G1Affine,
    pub g1_sx: G1Affine,
    pub g2_spx: G2Affine,
    /// Blake2b-512 of everything before it: the circuit, the earlier contributions and
    /// `g1_s`, `g1_sx`.
    pub transcript: [u8; 64],
    pub kind: ContributionKind,
    pub name: Option<String>,
}

/// A Groth16 `.zkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zkey {
    /// Wires, the constant one included.
    pub wires: u32,
    /// Public inputs (without the one).
    pub public: u32,
    pub domain_size: u32,
    pub alpha_g1: G1Affine,
    pub beta_g1: G1Affine,
    pub beta_g2: G2Affine,
    pub gamma_g2: G2Affine,
    pub delta_g1: G1Affine,
    pub delta_g2: G2Affine,
    pub ic: Vec<G1Affine>,
    pub coefficients: Vec<Coefficient>,
    pub a: Vec<G1Affine>,
    pub b_g1: Vec<G1Affine>,
    pub b_g2: Vec<G2Affine>,
    pub c: Vec<G1Affine>,
    pub h: Vec<G1Affine>,
    pub cs_hash: [u8; 64],
    pub contributions: Vec<Contribution>,
}

/// The largest domain for which snarkjs hashes exactly `n - 1` H points into `csHash`; above it,
/// its chunked loop hashes `n` (see [`Zkey::new`]).
const H_HASH_CHUNK: usize = 1 << 14;

impl Zkey {
    /// The initial key of `r1cs` over `ptau` (no contribution yet: delta = gamma = 1), what
    /// `snarkjs zkey new` writes.
    pub fn new(r1cs: &R1cs, ptau: &Ptau) -> Result<Zkey, CeremonyError> {
        if !ptau.prepared() {
            return Err(CeremonyError::NotPrepared);
        }
        let m = r1cs.constraints.len();
        let public = r1cs.public as usize;
        let wires = r1cs.wires as usize;
        let rows = m + public + 1;
        let power = rows.next_power_of_two().trailing_zeros();
        let n = 1usize << power;
        if power > ptau.power {
            return Err(CeremonyError::PtauTooSmall {
                power: ptau.power,
                needed: power,
            });
        }
        // snarkjs hashes n H points for n >= 2^15, the last one [tau^(2n-1)] - [tau^(n-1)];
        // at the file's full power that point lies past section 2, and snarkjs hashes whatever
        // bytes follow it. Such a key's csHash depends on the file's layout: refuse it.
        if n > H_HASH_CHUNK && power == ptau.power {
            return Err(CeremonyError::PtauTooSmall {
                power: ptau.power,
                needed: power + 1,
            });
        }
        let started = std::time::Instant::now();
        tracing::info!(
            constraints = m,
            wires,
            domain = n,
            "reading the phase 1's Lagrange bases"
        );
        let lagrange = ptau.lagrange_g1(12, power)?;
        let lagrange_g2 = ptau.lagrange_g2(power)?;
        let alpha_lagrange = ptau.lagrange_g1(14, power)?;
        let beta_lagrange = ptau.lagrange_g1(15, power)?;
        let double = ptau.lagrange_g1(12, power + 1)?;
        let h: Vec<G1Affine> = double.iter().skip(1).step_by(2).copied().collect();

        // The matrices by wire, and the coefficients in snarkjs' order: per constraint its A
        // terms, then its B terms; then the public wires' extra rows.
        let mut columns: [Vec<Vec<Term>>; 3] = std::array::from_fn(|_| vec![Vec::new(); wires]);
        let mut coefficients = Vec::new();
        for (row, constraint) in r1cs.constraints.iter().enumerate() {
            for (matrix, lc) in constraint.iter().enumerate() {
                for (wire, value) in lc {
                    columns[matrix][*wire as usize].push((row as u32, *value));
                    if matrix < 2 {
                        coefficients.push(Coefficient {
                            matrix: matrix as u32,
                            constraint: row as u32,
                            wire: *wire,
                            value: *value,
                        });
                    }
                }
            }
        }
        for (s, column) in columns[0].iter_mut().enumerate().take(public + 1) {
            column.push(((m + s) as u32, Fr::one()));
            coefficients.push(Coefficient {
                matrix: 0,
                constraint: (m + s) as u32,
                wire: s as u32,
                value: Fr::one(),
            });
        }
        let [col_a, col_b, col_c] = &columns;
        tracing::info!(
            secs = started.elapsed().as_secs_f64(),
            "combining the bases per wire"
        );
        let a = combine_all(&lagrange, col_a);
        let b_g1 = combine_all(&lagrange, col_b);
        let b_g2 = combine_all(&lagrange_g2, col_b);
        let mut k = combine_all(&beta_lagrange, col_a);
        for part in [
            combine_all(&alpha_lagrange, col_b),
            combine_all(&lagrange, col_c),
        ] {
            k.par_iter_mut().zip(part).for_each(|(k, p)| *k += p);
        }
        let k = G1Projective::normalize_batch(&k);
        let (alpha, beta, beta2) = (ptau.alpha_g1()?, ptau.beta_g1()?, ptau.beta_g2()?);
        let mut zkey = Zkey {
            wires: r1cs.wires,
            public: r1cs.public,
            domain_size: n as u32,
            alpha_g1: alpha,
            beta_g1: beta,
            beta_g2: beta2,
            gamma_g2: G2Affine::generator(),
            delta_g1: G1Affine::generator(),
            delta_g2: G2Affine::generator(),
            ic: k[..=public].to_vec(),
            coefficients,
            a: G1Projective::normalize_batch(&a),
            b_g1: G1Projective::normalize_batch(&b_g1),
            b_g2: G2Projective::normalize_batch(&b_g2),
            c: k[public + 1..].to_vec(),
            h,
            cs_hash: [0; 64],
            contributions: Vec::new(),
        };
        tracing::info!(
            secs = started.elapsed().as_secs_f64(),
            "hashing the circuit"
        );
        zkey.cs_hash = zkey.circuit_hash(ptau)?;
        tracing::info!(secs = started.elapsed().as_secs_f64(), "initial key made");
        Ok(zkey)
    }

    /// `csHash`: Blake2b-512 over the initial key's points as snarkjs hashes them, with the
    /// bellman-style H `[tau^i Z(tau)]_1` (from the powers of section 2) in place of section 9.
    fn circuit_hash(&self, ptau: &Ptau) -> Result<[u8; 64], CeremonyError> {
        let n = self.domain_size as usize;
        let mut h = Blake2b512::new();
        let mut buf = Vec::new();
        points::g1_u(&mut buf, &self.alpha_g1);
        points::g1_u(&mut buf, &self.beta_g1);
        points::g2_u(&mut buf, &self.beta_g2);
        points::g2_u(&mut buf, &self.gamma_g2);
        points::g1_u(&mut buf, &self.delta_g1);
        points::g2_u(&mut buf, &self.delta_g2);
        let hash_g1 = |h: &mut Blake2b512, points: &[G1Affine], count: usize| {
            h.update((count as u32).to_be_bytes());
            let mut buf = Vec::with_capacity(points.len() * G1_BYTES);
            points.iter().for_each(|p| points::g1_u(&mut buf, p));
            h.update(&buf);
        };
        h.update(&buf);
        hash_g1(&mut h, &self.ic, self.ic.len());
        let hashed = if n > H_HASH_CHUNK { n } else { n - 1 };
        let low = ptau.tau_g1(0, hashed)?;
        let high = ptau.tau_g1(n, hashed)?;
        let z: Vec<G1Projective> = high
            .par_iter()
            .zip(&low)
            .map(|(hi, lo)| hi.into_group() - lo)
            .collect();
        hash_g1(&mut h, &G1Projective::normalize_batch(&z), n - 1);
        hash_g1(&mut h, &self.c, self.c.len());
        hash_g1(&mut h, &self.a, self.a.len());
        hash_g1(&mut h, &self.b_g1, self.b_g1.len());
        h.update(self.wires.to_be_bytes());
        let mut buf = Vec::with_capacity(self.b_g2.len() * G2_BYTES);
        self.b_g2.iter().for_each(|p| points::g2_u(&mut buf, p));
        h.update(&buf);
        Ok(h.finalize().into())
    }

    /// The arkworks proving key (for [`crate::circom::CircomReduction`]).
    pub fn proving_key(&self) -> crate::ProvingKey {
        ark_groth16::ProvingKey {
            vk: self.verifying_key(),
            beta_g1: self.beta_g1,
            delta_g1: self.delta_g1,
            a_query: self.a.clone(),
            b_g1_query: self.b_g1.clone(),
            b_g2_query: self.b_g2.clone(),
            h_query: self.h.clone(),
            l_query: self.c.clone(),
        }
    }

    pub fn verifying_key(&self) -> ark_groth16::VerifyingKey<Bn254> {
        ark_groth16::VerifyingKey {
            alpha_g1: self.alpha_g1,
            beta_g2: self.beta_g2,
            gamma_g2: self.gamma_g2,
            delta_g2: self.delta_g2,
            gamma_abc_g1: self.ic.clone(),
        }
    }

    /// The `.zkey` file, sections in the order `snarkjs zkey new` writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Vec::new();
        header.extend_from_slice(&32u32.to_le_bytes());
        header.extend_from_slice(&Fq::MODULUS.to_bytes_le());
        header.extend_from_slice(&32u32.to_le_bytes());
        header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
        for x in [self.wires, self.public, self.domain_size] {
            header.extend_from_slice(&x.to_le_bytes());
        }
        points::put_g1(&mut header, &self.alpha_g1);
        points::put_g1(&mut header, &self.beta_g1);
        points::put_g2(&mut header, &self.beta_g2);
        points::put_g2(&mut header, &self.gamma_g2);
        points::put_g1(&mut header, &self.delta_g1);
        points::put_g2(&mut header, &self.delta_g2);
        let mut coefficients = Vec::with_capacity(4 + 44 * self.coefficients.len());
        coefficients.extend_from_slice(&(self.coefficients.len() as u32).to_le_bytes());
        for c in &self.coefficients {
            for x in [c.matrix, c.constraint, c.wire] {
                coefficients.extend_from_slice(&x.to_le_bytes());
            }
            points::put_coefficient(&mut coefficients, &c.value);
        }
        let g1s = |v: &[G1Affine]| {
            let mut out = Vec::new();
            points::put_g1s(&mut out, v);
            out
        };
        let mut b_g2 = Vec::new();
        points::put_g2s(&mut b_g2, &self.b_g2);
        let mut mpc = Vec::new();
        mpc.extend_from_slice(&self.cs_hash);
        mpc.extend_from_slice(&(self.contributions.len() as u32).to_le_bytes());
        for c in &self.contributions {
            c.write(&mut mpc);
        }
        let (ic, h, c, a, b_g1) = (
            g1s(&self.ic),
            g1s(&self.h),
            g1s(&self.c),
            g1s(&self.a),
            g1s(&self.b_g1),
        );
        binfile::write(
            MAGIC,
            1,
            &[
                (1, &GROTH16.to_le_bytes()),
                (2, &header),
                (4, &coefficients),
                (3, &ic),
                (9, &h),
                (8, &c),
                (5, &a),
                (6, &b_g1),
                (7, &b_g2),
                (10, &mpc),
            ],
        )
    }

    /// Reads a `.zkey`, checking the field, every section's size, every point (on the curve, in
    /// the subgroup) and every coefficient (below the modulus, within the matrices).
    pub fn parse(bytes: &[u8]) -> Result<Zkey, FormatError> {
        let bad = |what: String| FormatError::new(KIND, what);
        let file = BinFile::parse(KIND, bytes, MAGIC, 1..=2)?;
        let mut r = Reader::new(KIND, file.section(KIND, 1)?);
        if r.u32()? != GROTH16 {
            return Err(bad("not a Groth16 key".into()));
        }
        r.end("protocol")?;
        let mut r = Reader::new(KIND, file.section(KIND, 2)?);
        if r.u32()? != 32
            || r.take(32)? != Fq::MODULUS.to_bytes_le().as_slice()
            || r.u32()? != 32
            || r.take(32)? != Fr::MODULUS.to_bytes_le().as_slice()
        {
            return Err(bad("not over BN254 (n8 or the primes)".into()));
        }
        let (wires, public, domain_size) = (r.u32()?, r.u32()?, r.u32()?);
        if public >= wires || !domain_size.is_power_of_two() || domain_size > 1 << 28 {
            return Err(bad(format!(
                "inconsistent header: {wires} wires, {public} public, domain {domain_size}"
            )));
        }
        let g1 = |r: &mut Reader| points::g1(KIND, r.take(G1_BYTES)?);
        let g2 = |r: &mut Reader| points::g2(KIND, r.take(G2_BYTES)?);
        let alpha_g1 = g1(&mut r)?;
        let beta_g1 = g1(&mut r)?;
        let beta_g2 = g2(&mut r)?;
        let gamma_g2 = g2(&mut r)?;
        let delta_g1 = g1(&mut r)?;
        let delta_g2 = g2(&mut r)?;
        r.end("header")?;
        let g1_section = |id: u32, count: usize| -> Result<Vec<G1Affine>, FormatError> {
            let s = file.section(KIND, id)?;
            if s.len() != count * G1_BYTES {
                return Err(bad(format!(
                    "section {id} holds {} bytes, not {} for {count} points",
                    s.len(),
                    count * G1_BYTES
                )));
            }
            points::g1s(KIND, s, 0, count)
        };
        let (w, p) = (wires as usize, public as usize);
        let ic = g1_section(3, p + 1)?;
        let a = g1_section(5, w)?;
        let b_g1 = g1_section(6, w)?;
        let c = g1_section(8, w - p - 1)?;
        let h = g1_section(9, domain_size as usize)?;
        let s7 = file.section(KIND, 7)?;
        if s7.len() != w * G2_BYTES {
            return Err(bad(format!(
                "section 7 holds {} bytes, not {}",
                s7.len(),
                w * G2_BYTES
            )));
        }
        let b_g2 = points::g2s(KIND, s7, 0, w, false)?;
        let mut r = Reader::new(KIND, file.section(KIND, 4)?);
        let count = r.u32()? as usize;
        if r.bytes.len() != 4 + 44 * count {
            return Err(bad("section 4's size does not match its count".into()));
        }
        let mut coefficients = Vec::with_capacity(count);
        for _ in 0..count {
            let (matrix, constraint, wire) = (r.u32()?, r.u32()?, r.u32()?);
            if matrix > 1 || wire >= wires || constraint >= domain_size {
                return Err(bad(format!(
                    "a coefficient out of the matrices (matrix {matrix}, row {constraint}, wire {wire})"
                )));
            }
            let value = points::coefficient(KIND, r.take(32)?)?;
            coefficients.push(Coefficient {
                matrix,
                constraint,
                wire,
                value,
            });
        }
        let mut r = Reader::new(KIND, file.section(KIND, 10)?);
        let cs_hash: [u8; 64] = r.take(64)?.try_into().expect("64 bytes");
        let n = r.u32()?;
        let mut contributions = Vec::new();
        for _ in 0..n {
            contributions.push(Contribution::read(&mut r)?);
        }
        r.end("contributions")?;
        Ok(Zkey {
            wires,
            public,
            domain_size,
            alpha_g1,
            beta_g1,
            beta_g2,
            gamma_g2,
            delta_g1,
            delta_g2,
            ic,
            coefficients,
            a,
            b_g1,
            b_g2,
            c,
            h,
            cs_hash,
            contributions,
        })
    }
}

/// Columns at least this long are one multi-scalar multiplication each (parallel inside);
/// shorter ones are combined by [`straus`], many columns at once. Never both: a parallel MSM
/// nested in a parallel loop lets rayon's work stealing pile frames up until a stack overflows.
const MSM_COLUMN: usize = 64;

/// For each column, `sum c_i * bases[row_i]`.
fn combine_all<G: AffineRepr<ScalarField = Fr>>(bases: &[G], columns: &[Vec<Term>]) -> Vec<G::Group>
where
    G::Group: VariableBaseMSM<MulBase = G>,
{
    let mut out: Vec<G::Group> = columns
        .par_iter()
        .map(|terms| {
            if terms.len() >= MSM_COLUMN {
                return G::Group::zero();
            }
            straus(terms.iter().map(|(row, c)| (bases[*row as usize], *c)))
        })
        .collect();
    for (i, terms) in columns.iter().enumerate() {
        if terms.len() >= MSM_COLUMN {
            let (b, s): (Vec<G>, Vec<Fr>) =
                terms.iter().map(|(r, c)| (bases[*r as usize], *c)).unzip();
            out[i] = G::Group::msm_unchecked(&b, &s);
        }
    }
    out
}

/// Bits per window of [`straus`].
const WINDOW: usize = 4;

/// `sum c_i * P_i` for a few terms, by Straus' method: each point's multiples `1..2^w - 1`
/// (affine, normalized together), then one pass over the scalars' `w`-bit windows from the top,
/// `w` doublings shared by every term and one addition per nonzero digit. A coefficient is used
/// as `c` or as `-c` on `-P`, whichever is shorter: most are small or small negatives (bits,
/// signs), and the pass starts at the longest one's top window. Against a double-and-add per
/// term, the doublings are shared and a 254-bit scalar costs 64 additions instead of about 127.
fn straus<G: AffineRepr<ScalarField = Fr>>(terms: impl Iterator<Item = (G, Fr)>) -> G::Group {
    let mut scalars = Vec::new();
    let mut multiples = Vec::new();
    for (base, c) in terms {
        let (plus, minus) = (c.into_bigint(), (-c).into_bigint());
        let (base, k) = if plus.num_bits() <= minus.num_bits() {
            (base, plus)
        } else {
            (-base, minus)
        };
        if k.is_zero() || base.is_zero() {
            continue;
        }
        let mut m = base.into_group();
        multiples.push(m);
        for _ in 2..1 << WINDOW {
            m += base;
            multiples.push(m);
        }
        scalars.push(k);
    }
    let Some(bits) = scalars.iter().map(|k| k.num_bits() as usize).max() else {
        return G::Group::zero();
    };
    let table = G::Group::normalize_batch(&multiples);
    let digit = |k: &<Fr as PrimeField>::BigInt, w: usize| -> usize {
        let bit = w * WINDOW;
        let (limb, shift) = (bit / 64, bit % 64);
        let mut d = k.0[limb] >> shift;
        if shift + WINDOW > 64 && limb + 1 < k.0.len() {
            d |= k.0[limb + 1] << (64 - shift);
        }
        (d as usize) & ((1 << WINDOW) - 1)
    };
    let mut acc = G::Group::zero();
    for w in (0..bits.div_ceil(WINDOW)).rev() {
        for _ in 0..WINDOW {
            acc.double_in_place();
        }
        for (t, k) in scalars.iter().enumerate() {
            let d = digit(k, w);
            if d != 0 {
                acc += table[t * ((1 << WINDOW) - 1) + d - 1];
            }
        }
    }
    acc
}

impl Contribution {
    fn read(r: &mut Reader) -> Result<Contribution, FormatError> {
        let bad = |what: &str| FormatError::new(KIND, format!("a contribution record {what}"));
        let delta_after = points::g1(KIND, r.take(G1_BYTES)?)?;
        let g1_s = points::g1(KIND, r.take(G1_BYTES)?)?;
        let g1_sx = points::g1(KIND, r.take(G1_BYTES)?)?;
        let g2_spx = points::g2(KIND, r.take(G2_BYTES)?)?;
        let transcript: [u8; 64] = r.take(64)?.try_into().expect("64 bytes");
        let kind = r.u32()?;
        let len = r.u32()? as usize;
        let mut p = Reader::new(KIND, r.take(len)?);
        let (mut last, mut name, mut exp, mut hash) = (0u8, None, None, None);
        while p.at < p.bytes.len() {
            let t = p.take(1)?[0];
            if t <= last {
                return Err(bad("has parameters out of order"));
            }
            last = t;
            match t {
                1 => {
                    let n = p.take(1)?[0] as usize;
                    name = Some(String::from_utf8_lossy(p.take(n)?).into_owned());
                }
                2 => exp = Some(p.take(1)?[0]),
                3 => {
                    let n = p.take(1)?[0] as usize;
                    hash = Some(p.take(n)?.to_vec());
                }
                _ => return Err(bad("has an unknown parameter")),
            }
        }
        let kind = match (kind, exp, hash) {
            (0, None, None) => ContributionKind::Secret,
            (1, Some(iterations_exp), Some(hash)) => ContributionKind::Beacon {
                hash,
                iterations_exp,
            },
            _ => return Err(bad("has a type that does not match its parameters")),
        };
        Ok(Contribution {
            delta_after,
            g1_s,
            g1_sx,
            g2_spx,
            transcript,
            kind,
            name,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        points::put_g1(out, &self.delta_after);
        points::put_g1(out, &self.g1_s);
        points::put_g1(out, &self.g1_sx);
        points::put_g2(out, &self.g2_spx);
        out.extend_from_slice(&self.transcript);
        let mut params = Vec::new();
        if let Some(name) = &self.name {
            let bytes = truncated(name);
            params.push(1);
            params.push(bytes.len() as u8);
            params.extend_from_slice(bytes);
        }
        let kind = match &self.kind {
            ContributionKind::Secret => 0u32,
            ContributionKind::Beacon {
                hash,
                iterations_exp,
            } => {
                params.extend_from_slice(&[2, *iterations_exp, 3, hash.len() as u8]);
                params.extend_from_slice(hash);
                1
            }
        };
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(params.len() as u32).to_le_bytes());
        out.extend_from_slice(&params);
    }
}

/// A name as a record holds it: at most 64 bytes, cut at a character boundary.
fn truncated(name: &str) -> &[u8] {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;

    /// Straus' combination is the plain sum of products for every kind of coefficient the
    /// circuits have: full-size, small, small negatives, zero, one; over a point at infinity
    /// too; and for no term at all.
    fn agrees<G: AffineRepr<ScalarField = Fr>>() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for n in 0..12 {
            let terms: Vec<(G, Fr)> = (0..n)
                .map(|i| {
                    let base = if i == 5 {
                        G::zero()
                    } else {
                        (G::generator() * Fr::rand(&mut rng)).into()
                    };
                    let c = match i % 6 {
                        0 => Fr::rand(&mut rng),
                        1 => Fr::from(1u64 << (i * 7 % 60)),
                        2 => -Fr::from(3u64),
                        3 => Fr::zero(),
                        4 => Fr::one(),
                        _ => -Fr::rand(&mut rng),
                    };
                    (base, c)
                })
                .collect();
            let plain = terms
                .iter()
                .fold(G::Group::zero(), |acc, (p, c)| acc + *p * c);
            assert_eq!(straus(terms.into_iter()), plain, "{n} terms");
        }
    }

    #[test]
    fn straus_is_the_sum_of_products() {
        agrees::<G1Affine>();
        agrees::<G2Affine>();
    }
}
