//! Twin of `zkperp_state::blob`: the blob binding inside the BN254 batch proof. [`commit`] and
//! [`challenge`] derive `z` as natively; [`evaluate`] computes `y = sum_i V_i z^i mod r` in
//! BLS12-381's scalar field (`r ~ 2^254.9`, not the circuit's field) with hand-built limbs, so a
//! blob element costs about 262 constraints instead of the ~2,600 of `EmulatedFpVar`.
//!
//! **Integers as polynomials.** A non-negative integer is a polynomial in `T = 2^64` with limb
//! coefficients: an element's representative `V` (254 booleans, 64 | 64 | 64 | 62), `z` (two
//! limbs of its 128 bits), a reduced power of `z` (four range-checked limbs, any representative
//! below 2^256). A product-sum `S(T) = sum X_i(T) Y_i(T)` is a witness polynomial checked at
//! `deg S + 1` small points (0, 1, -1, 2, -2, ...): each point is one constraint per product
//! term, and agreeing at that many points makes the two sides equal polynomials over F_p; every
//! true coefficient is far below `p/2` (the bounds are tracked exactly, and asserted), so they
//! are equal over the integers. Multiplying by a constant (the limbs of `r`) is free.
//!
//! **Reduction.** `X = q r + rem` is checked as the integer identity `(X - q r - rem)(2^64) = 0`:
//! the columns are grouped while the group stays far below `p`, and each group passes a signed,
//! range-checked carry to the next; the last group and its carry-in must sum to zero. `q` is
//! range-checked to the width its bound needs, `rem` to 256 bits.
//!
//! **Evaluation.** With `i = a m + b`, `Z_b = z^b` and `W_a = z^(a m)` (reduced, a baby-step /
//! giant-step table of `m + A` entries), `y + k r = sum_a W_a S_a` where `S_a = sum_b V_(am+b) Z_b`
//! is never reduced: 7 constraints per element (degree 6 at 7 points), 10 per giant step
//! (degree 9 at 10 points), one reduction per blob, and `y` forced below `r` (the precompile's
//! canonical form). `m` minimises the table's cost for the element count.

use ark_ff::{AdditiveGroup, BigInteger, One, PrimeField, Zero};
use ark_r1cs_std::{
    alloc::AllocVar,
    boolean::Boolean,
    convert::ToBitsGadget,
    eq::EqGadget,
    fields::{fp::FpVar, FieldVar},
    uint8::UInt8,
    GR1CSVar,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use num_bigint::{BigInt, BigUint, Sign};
use zkperp_state::blob::{
    CHALLENGE_BITS, COEFFICIENT_BITS, COMMIT_RATE, FIELD_ELEMENTS_PER_BLOB, TOP_BITS_PER_ELEMENT,
};
use zkperp_state::Fr;

use crate::poseidon::poseidon_slice;
use crate::units::{enforce_bits_at_most, enforce_canonical_bits, enforce_unsigned_bits, two_pow};

/// Bits per limb.
const LIMB_BITS: usize = 64;

/// BLS12-381's scalar modulus.
fn bls_modulus() -> BigUint {
    ark_bls12_381::Fr::MODULUS.into()
}

fn to_fr(v: &BigInt) -> Fr {
    let magnitude = Fr::from(v.magnitude().clone());
    if v.sign() == Sign::Minus {
        -magnitude
    } else {
        magnitude
    }
}

/// Every free witness of this module is allocated here: a test can then add one to any single
/// one of them and see the constraint system refuse it.
fn witness(cs: &ConstraintSystemRef<Fr>, value: Option<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    #[cfg(test)]
    let value = value.map(tests::tamper);
    FpVar::new_witness(cs.clone(), || {
        value.ok_or(SynthesisError::AssignmentMissing)
    })
}

/// An integer polynomial in `T = 2^64`: its coefficients in the circuit, a bound on each
/// coefficient's absolute value (a circuit-shape fact), and the integers themselves when the
/// witness is known.
#[derive(Clone, Debug)]
struct IntPoly {
    coeffs: Vec<FpVar<Fr>>,
    bounds: Vec<BigUint>,
    values: Option<Vec<BigInt>>,
}

impl IntPoly {
    fn constant(n: &BigUint) -> Self {
        let limbs: Vec<BigUint> = if n.is_zero() {
            vec![BigUint::zero()]
        } else {
            n.iter_u64_digits().map(BigUint::from).collect()
        };
        Self {
            coeffs: limbs
                .iter()
                .map(|l| FpVar::Constant(Fr::from(l.clone())))
                .collect(),
            values: Some(limbs.iter().map(|l| BigInt::from(l.clone())).collect()),
            bounds: limbs,
        }
    }

    /// The 64-bit limbs of little-endian bits (free: linear combinations).
    fn from_bits(bits: &[Boolean<Fr>]) -> Self {
        let chunks: Vec<&[Boolean<Fr>]> = bits.chunks(LIMB_BITS).collect();
        let coeffs = chunks
            .iter()
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, b)| FpVar::from(b.clone()) * two_pow(i as u32))
                    .sum()
            })
            .collect();
        let bounds = chunks
            .iter()
            .map(|chunk| (BigUint::one() << chunk.len()) - 1u32)
            .collect();
        let values = chunks
            .iter()
            .map(|chunk| {
                chunk.iter().rev().try_fold(BigInt::zero(), |acc, b| {
                    b.value().map(|bit| (acc << 1) + u32::from(bit))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .ok();
        Self {
            coeffs,
            bounds,
            values,
        }
    }

    /// A witness integer below `2^bits` as range-checked 64-bit limbs (`bits + limbs`
    /// constraints), with its little-endian bits.
    fn alloc(
        cs: &ConstraintSystemRef<Fr>,
        value: Option<&BigUint>,
        bits: usize,
    ) -> Result<(Self, Vec<Boolean<Fr>>), SynthesisError> {
        let mut coeffs = Vec::new();
        let mut bounds = Vec::new();
        let mut all_bits = Vec::with_capacity(bits);
        for (j, start) in (0..bits).step_by(LIMB_BITS).enumerate() {
            let width = LIMB_BITS.min(bits - start);
            let limb =
                value.map(|v| Fr::from(v >> (LIMB_BITS * j) & ((BigUint::one() << width) - 1u32)));
            let var = witness(cs, limb)?;
            all_bits.extend(enforce_unsigned_bits(&var, width as u32)?);
            coeffs.push(var);
            bounds.push((BigUint::one() << width) - 1u32);
        }
        let values = value.map(|v| {
            (0..coeffs.len())
                .map(|j| {
                    BigInt::from(v >> (LIMB_BITS * j) & ((BigUint::one() << LIMB_BITS) - 1u32))
                })
                .collect()
        });
        Ok((
            Self {
                coeffs,
                bounds,
                values,
            },
            all_bits,
        ))
    }

    fn is_constant(&self) -> bool {
        self.coeffs.iter().all(|c| matches!(c, FpVar::Constant(_)))
    }

    fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// The polynomial at the small point `t` (a linear combination).
    fn at(&self, t: i64) -> FpVar<Fr> {
        let t = if t < 0 {
            -Fr::from(t.unsigned_abs())
        } else {
            Fr::from(t as u64)
        };
        let mut power = Fr::one();
        let mut sum = FpVar::Constant(Fr::zero());
        for c in &self.coeffs {
            sum += c * power;
            power *= t;
        }
        sum
    }

    /// The integer `sum c_k 2^(64 k)`, when known.
    fn integer(&self) -> Option<BigInt> {
        self.values.as_ref().map(|v| {
            v.iter()
                .rev()
                .fold(BigInt::zero(), |acc, c| (acc << LIMB_BITS) + c)
        })
    }

    /// The largest integer the bounds allow.
    fn integer_bound(&self) -> BigUint {
        self.bounds
            .iter()
            .rev()
            .fold(BigUint::zero(), |acc, b| (acc << LIMB_BITS) + b)
    }

    fn sub(&self, other: &Self) -> Self {
        let len = self.coeffs.len().max(other.coeffs.len());
        let zero_var = FpVar::Constant(Fr::zero());
        let coeffs = (0..len)
            .map(|k| {
                self.coeffs.get(k).unwrap_or(&zero_var) - other.coeffs.get(k).unwrap_or(&zero_var)
            })
            .collect();
        let bounds = (0..len)
            .map(|k| {
                self.bounds.get(k).cloned().unwrap_or_default()
                    + other.bounds.get(k).cloned().unwrap_or_default()
            })
            .collect();
        let values = match (&self.values, &other.values) {
            (Some(a), Some(b)) => Some(
                (0..len)
                    .map(|k| {
                        a.get(k).cloned().unwrap_or_default()
                            - b.get(k).cloned().unwrap_or_default()
                    })
                    .collect(),
            ),
            _ => None,
        };
        Self {
            coeffs,
            bounds,
            values,
        }
    }
}

/// The `count` small evaluation points 0, 1, -1, 2, -2, ...
fn points(count: usize) -> impl Iterator<Item = i64> {
    (0..count as i64).map(|i| if i % 2 == 1 { (i + 1) / 2 } else { -(i / 2) })
}

/// The coefficients of `sum x_i y_i` over the integers: linear when every term has a constant
/// factor, else witnesses checked at `degree + 1` points (one constraint per point and term
/// whose factors are both variables).
fn sum_of_products(
    cs: &ConstraintSystemRef<Fr>,
    terms: &[(&IntPoly, &IntPoly)],
) -> Result<IntPoly, SynthesisError> {
    let degree = terms
        .iter()
        .map(|(x, y)| x.degree() + y.degree())
        .max()
        .expect("at least one term");
    let mut bounds = vec![BigUint::zero(); degree + 1];
    let mut values = Some(vec![BigInt::zero(); degree + 1]);
    for (x, y) in terms {
        for (i, bx) in x.bounds.iter().enumerate() {
            for (j, by) in y.bounds.iter().enumerate() {
                bounds[i + j] += bx * by;
            }
        }
        values = match (values, &x.values, &y.values) {
            (Some(mut acc), Some(vx), Some(vy)) => {
                for (i, a) in vx.iter().enumerate() {
                    for (j, b) in vy.iter().enumerate() {
                        acc[i + j] += a * b;
                    }
                }
                Some(acc)
            }
            _ => None,
        };
    }
    let half_p = BigUint::from(Fr::MODULUS) >> 1;
    assert!(
        bounds.iter().all(|b| *b < half_p),
        "a product coefficient could wrap the field: the shape is too large for 64-bit limbs"
    );
    let (linear, nonlinear): (Vec<_>, Vec<_>) = terms
        .iter()
        .partition(|(x, y)| x.is_constant() || y.is_constant());
    if nonlinear.is_empty() {
        let mut coeffs = vec![FpVar::Constant(Fr::zero()); degree + 1];
        for (x, y) in &linear {
            for (i, cx) in x.coeffs.iter().enumerate() {
                for (j, cy) in y.coeffs.iter().enumerate() {
                    coeffs[i + j] += cx * cy;
                }
            }
        }
        return Ok(IntPoly {
            coeffs,
            bounds,
            values,
        });
    }
    let coeffs = (0..=degree)
        .map(|k| witness(cs, values.as_ref().map(|v| to_fr(&v[k]))))
        .collect::<Result<Vec<_>, _>>()?;
    let out = IntPoly {
        coeffs,
        bounds,
        values,
    };
    for t in points(degree + 1) {
        let mut rest = out.at(t);
        for (x, y) in &linear {
            rest -= x.at(t) * y.at(t);
        }
        let (last, others) = nonlinear.split_last().expect("non-empty");
        for (x, y) in others {
            rest -= x.at(t) * y.at(t);
        }
        last.0.at(t).mul_equals(&last.1.at(t), &rest)?;
    }
    Ok(out)
}

/// Enforces `p(2^64) = 0` over the integers: columns grouped while far below the field's
/// modulus, each group's signed carry range-checked (its width plus one constraint).
fn enforce_zero(cs: &ConstraintSystemRef<Fr>, p: &IntPoly) -> Result<(), SynthesisError> {
    let modulus = BigUint::from(Fr::MODULUS);
    // (carry, 2^bits bounding its absolute value, its integer)
    let mut carry: Option<(FpVar<Fr>, BigUint, Option<BigInt>)> = None;
    let mut start = 0;
    while start < p.coeffs.len() {
        let carry_bound = carry.as_ref().map(|c| c.1.clone()).unwrap_or_default();
        let group_bound = |end: usize| -> BigUint {
            (start..end)
                .rev()
                .fold(BigUint::zero(), |acc, k| (acc << LIMB_BITS) + &p.bounds[k])
        };
        // The carry out of columns start..end: its bound and range-check width.
        let carry_out = |end: usize| -> (BigUint, usize) {
            let width = LIMB_BITS * (end - start);
            let most = (group_bound(end) + &carry_bound) >> width;
            let bits = (most << 1u32).bits() as usize;
            (BigUint::one() << bits, bits)
        };
        let fits = |end: usize| -> bool {
            let total = group_bound(end) + &carry_bound;
            if end == p.coeffs.len() {
                total < modulus
            } else {
                total + (carry_out(end).0 << (LIMB_BITS * (end - start))) < modulus
            }
        };
        assert!(
            fits(start + 1),
            "column {start} could wrap the field: the shape is too large for 64-bit limbs"
        );
        let mut end = start + 1;
        while end < p.coeffs.len() && fits(end + 1) {
            end += 1;
        }
        let width = LIMB_BITS * (end - start);
        let mut group: FpVar<Fr> = (start..end)
            .map(|k| &p.coeffs[k] * two_pow((LIMB_BITS * (k - start)) as u32))
            .sum();
        let mut group_value = p.values.as_ref().map(|v| {
            (start..end)
                .rev()
                .fold(BigInt::zero(), |acc, k| (acc << LIMB_BITS) + &v[k])
        });
        if let Some((c, _, value)) = &carry {
            group += c;
            group_value = group_value.zip(value.clone()).map(|(g, c)| g + c);
        }
        if end == p.coeffs.len() {
            group.enforce_equal(&FpVar::Constant(Fr::zero()))?;
            break;
        }
        let (bound, bits) = carry_out(end);
        let value = group_value.map(|g| g / (BigInt::one() << width));
        let c = witness(cs, value.as_ref().map(to_fr))?;
        let half = Fr::from(bound.clone() >> 1u32);
        enforce_unsigned_bits(&(&c + half), bits as u32)?;
        group.enforce_equal(&(&c * two_pow(width as u32)))?;
        carry = Some((c, bound, value));
        start = end;
    }
    Ok(())
}

/// `x mod r` as four range-checked limbs and their 256 bits: `x = q r + rem`, `q` below the
/// bound `x`'s shape allows.
fn reduce(
    cs: &ConstraintSystemRef<Fr>,
    x: &IntPoly,
) -> Result<(IntPoly, Vec<Boolean<Fr>>), SynthesisError> {
    let r = bls_modulus();
    let q_bits = ((x.integer_bound() / &r).bits() as usize).max(1);
    let split = x.integer().map(|v| {
        // A sum of products of non-negative integers.
        let v = v.magnitude();
        (v / &r, v % &r)
    });
    let (q, _) = IntPoly::alloc(cs, split.as_ref().map(|s| &s.0), q_bits)?;
    let (rem, rem_bits) = IntPoly::alloc(cs, split.as_ref().map(|s| &s.1), 4 * LIMB_BITS)?;
    let qr = sum_of_products(cs, &[(&q, &IntPoly::constant(&r))])?;
    enforce_zero(cs, &x.sub(&qr).sub(&rem))?;
    Ok((rem, rem_bits))
}

/// One blob element: the field element and the 254-bit representative the blob carries.
#[derive(Clone, Debug)]
pub struct BlobElementVar {
    value: FpVar<Fr>,
    limbs: IntPoly,
    top: Boolean<Fr>,
}

impl BlobElementVar {
    /// `x` and its canonical representative's 254 bits (255 constraints: the bits and their sum;
    /// a non-canonical `x + p` decomposes too, which is why [`commit`] absorbs the top bits).
    pub fn new(x: &FpVar<Fr>) -> Result<Self, SynthesisError> {
        let value = x.value().ok().map(|v| BigUint::from(v.into_bigint()));
        Self::with_representative(x, value)
    }

    /// The element whose representative has the little-endian `bits` (at most 253, so it is
    /// below `p_bn254` and canonical, its top bit zero): no constraints, for values made of
    /// bits the circuit has already constrained (the payload's packed account ids).
    ///
    /// # Panics
    /// When given more than 253 bits (a shape error).
    pub fn from_bits(bits: &[Boolean<Fr>]) -> Self {
        assert!(
            bits.len() < COEFFICIENT_BITS,
            "at most {} bits",
            COEFFICIENT_BITS - 1
        );
        let mut padded = bits.to_vec();
        padded.resize(COEFFICIENT_BITS, Boolean::FALSE);
        let value = bits
            .iter()
            .enumerate()
            .map(|(i, b)| FpVar::from(b.clone()) * two_pow(i as u32))
            .sum();
        Self {
            value,
            limbs: IntPoly::from_bits(&padded),
            top: Boolean::FALSE,
        }
    }

    /// The element.
    pub fn value(&self) -> &FpVar<Fr> {
        &self.value
    }

    fn with_representative(
        x: &FpVar<Fr>,
        representative: Option<BigUint>,
    ) -> Result<Self, SynthesisError> {
        let cs = x.cs();
        let bits: Vec<Boolean<Fr>> = if let FpVar::Constant(c) = x {
            let big = c.into_bigint();
            (0..COEFFICIENT_BITS)
                .map(|i| Boolean::Constant(big.get_bit(i)))
                .collect()
        } else {
            let bits = (0..COEFFICIENT_BITS)
                .map(|i| {
                    Boolean::new_witness(cs.clone(), || {
                        representative
                            .as_ref()
                            .map(|v| v.bit(i as u64))
                            .ok_or(SynthesisError::AssignmentMissing)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut sum = FpVar::Constant(Fr::zero());
            let mut weight = Fr::one();
            for b in &bits {
                sum += FpVar::from(b.clone()) * weight;
                weight.double_in_place();
            }
            sum.enforce_equal(x)?;
            bits
        };
        Ok(Self {
            value: x.clone(),
            limbs: IntPoly::from_bits(&bits),
            top: bits[COEFFICIENT_BITS - 1].clone(),
        })
    }
}

/// Twin of `zkperp_state::blob::commit`: the Poseidon chain from the count over the elements and
/// their packed top bits.
pub fn commit(elements: &[BlobElementVar]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut absorbed: Vec<FpVar<Fr>> = elements.iter().map(|e| e.value.clone()).collect();
    for chunk in elements.chunks(TOP_BITS_PER_ELEMENT) {
        absorbed.push(
            chunk
                .iter()
                .enumerate()
                .map(|(j, e)| FpVar::from(e.top.clone()) * two_pow(j as u32))
                .sum(),
        );
    }
    let mut h = FpVar::Constant(Fr::from(elements.len() as u64));
    for chunk in absorbed.chunks(COMMIT_RATE) {
        let mut inputs = Vec::with_capacity(chunk.len() + 1);
        inputs.push(h);
        inputs.extend_from_slice(chunk);
        h = poseidon_slice(&inputs)?;
    }
    Ok(h)
}

/// Twin of `zkperp_state::blob::challenge`: the low 128 bits (little-endian) of
/// `Poseidon(C, vh_hi, vh_lo)`'s canonical integer (its canonical decomposition, 385
/// constraints, so the prover has no second `z` to choose from).
pub fn challenge(
    commitment: &FpVar<Fr>,
    versioned_hash: &[UInt8<Fr>],
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert_eq!(versioned_hash.len(), 32, "a versioned hash is 32 bytes");
    let half = |bytes: &[UInt8<Fr>]| -> Result<FpVar<Fr>, SynthesisError> {
        let mut sum = FpVar::Constant(Fr::zero());
        for (i, byte) in bytes.iter().rev().enumerate() {
            for (j, bit) in byte.to_bits_le()?.iter().enumerate() {
                sum += FpVar::from(bit.clone()) * two_pow((8 * i + j) as u32);
            }
        }
        Ok(sum)
    };
    let hi = half(&versioned_hash[..16])?;
    let lo = half(&versioned_hash[16..])?;
    let h = poseidon_slice(&[commitment.clone(), hi, lo])?;
    let bits = enforce_canonical_bits(&h)?;
    Ok(bits[..CHALLENGE_BITS].to_vec())
}

/// Rough constraint cost of a table shape, to choose `m` (baby steps) for `n` elements.
fn table_shape(n: usize) -> (usize, usize) {
    const BABY: usize = 531;
    const GIANT: usize = 733;
    (1..=n)
        .map(|m| {
            let giants = n.div_ceil(m);
            let cost = BABY * m.saturating_sub(2)
                + if giants >= 2 {
                    BABY + GIANT * (giants - 2)
                } else {
                    0
                }
                + 7 * (n - giants)
                + 10 * (giants - 1);
            (cost, m, giants)
        })
        .min()
        .map(|(_, m, giants)| (m, giants))
        .expect("n >= 1")
}

/// Twin of `zkperp_state::blob::evaluate`: `y = sum_i V_i z^i mod r` (below `r`), as 256
/// little-endian bits, for `z` given by its 128 little-endian bits.
///
/// # Panics
/// When more than one blob's worth of elements is given (a shape error).
pub fn evaluate(
    elements: &[BlobElementVar],
    z_bits: &[Boolean<Fr>],
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert_eq!(z_bits.len(), CHALLENGE_BITS, "z has {CHALLENGE_BITS} bits");
    assert!(
        elements.len() <= FIELD_ELEMENTS_PER_BLOB,
        "a blob holds at most {FIELD_ELEMENTS_PER_BLOB} elements"
    );
    if elements.is_empty() {
        return Ok(vec![Boolean::FALSE; 4 * LIMB_BITS]);
    }
    let cs = elements
        .iter()
        .map(|e| e.value.cs())
        .chain(z_bits.iter().map(|b| b.cs()))
        .fold(ConstraintSystemRef::None, |cs, c| cs.or(c));
    let (m, giants) = table_shape(elements.len());
    let z = IntPoly::from_bits(z_bits);
    let mut baby = vec![IntPoly::constant(&BigUint::one()), z.clone()];
    while baby.len() < m {
        let next = sum_of_products(&cs, &[(baby.last().expect("non-empty"), &z)])?;
        baby.push(reduce(&cs, &next)?.0);
    }
    baby.truncate(m);
    let mut giant = vec![IntPoly::constant(&BigUint::one())];
    if giants >= 2 {
        let step = sum_of_products(&cs, &[(&baby[m - 1], &z)])?;
        giant.push(reduce(&cs, &step)?.0);
    }
    while giant.len() < giants {
        let next = sum_of_products(&cs, &[(giant.last().expect("non-empty"), &giant[1])])?;
        giant.push(reduce(&cs, &next)?.0);
    }
    let blocks = elements
        .chunks(m)
        .map(|block| {
            let terms: Vec<_> = block
                .iter()
                .zip(&baby)
                .map(|(e, z)| (&e.limbs, z))
                .collect();
            sum_of_products(&cs, &terms)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let terms: Vec<_> = giant.iter().zip(&blocks).collect();
    let total = sum_of_products(&cs, &terms)?;
    let (_, y_bits) = reduce(&cs, &total)?;
    let mut r_minus_one = ark_bls12_381::Fr::MODULUS;
    r_minus_one.0[0] -= 1;
    enforce_bits_at_most(&y_bits, r_minus_one.as_ref())?;
    Ok(y_bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use std::cell::Cell;
    use zkperp_state::blob as native;

    thread_local! {
        /// Witnesses allocated so far, and the index of the one to add one to.
        static TAMPER: Cell<(usize, Option<usize>)> = const { Cell::new((0, None)) };
    }

    pub(super) fn tamper(v: Fr) -> Fr {
        TAMPER.with(|t| {
            let (count, target) = t.get();
            t.set((count + 1, target));
            if target == Some(count) {
                v + Fr::one()
            } else {
                v
            }
        })
    }

    struct Run {
        satisfied: bool,
        witnesses: usize,
        commitment: Fr,
    }

    /// The gadgets over `data` (with element `i`'s representative overridden when given), the
    /// challenge checked against the native one and `y` against `claimed_y`.
    fn run(
        data: &[Fr],
        vh: [u8; 32],
        representative: Option<(usize, BigUint)>,
        claimed_y: Option<ark_bls12_381::Fr>,
        tamper_at: Option<usize>,
    ) -> Run {
        TAMPER.with(|t| t.set((0, tamper_at)));
        let cs = ConstraintSystem::<Fr>::new_ref();
        let elements: Vec<BlobElementVar> = data
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let var = FpVar::new_witness(cs.clone(), || Ok(*x)).expect("alloc");
                match &representative {
                    Some((j, v)) if *j == i => {
                        BlobElementVar::with_representative(&var, Some(v.clone()))
                    }
                    _ => BlobElementVar::new(&var),
                }
                .expect("element")
            })
            .collect();
        let vh_vars: Vec<UInt8<Fr>> = vh
            .iter()
            .map(|b| UInt8::new_witness(cs.clone(), || Ok(*b)).expect("alloc"))
            .collect();
        let c = commit(&elements).expect("commit");
        let commitment = c.value().expect("value");
        let z_bits = challenge(&c, &vh_vars).expect("challenge");
        let z = native::challenge(native::commit(data), &vh);
        let z_value = z_bits.iter().rev().fold(0u128, |acc, b| {
            (acc << 1) | u128::from(b.value().expect("bit"))
        });
        let y_bits = evaluate(&elements, &z_bits).expect("evaluate");
        let y = claimed_y.unwrap_or_else(|| native::evaluate(data, z));
        let y_big = y.into_bigint();
        for (i, b) in y_bits.iter().enumerate() {
            let expected = Boolean::new_input(cs.clone(), || Ok(y_big.get_bit(i))).expect("alloc");
            b.enforce_equal(&expected).expect("equal");
        }
        let satisfied = cs.is_satisfied().expect("satisfiable?");
        if satisfied && representative.is_none() {
            assert_eq!(z_value, z, "the challenge is the native one");
        }
        let witnesses = TAMPER.with(|t| t.get().0);
        TAMPER.with(|t| t.set((0, None)));
        Run {
            satisfied,
            witnesses,
            commitment,
        }
    }

    fn data(n: usize, seed: u64) -> Vec<Fr> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..n).map(|_| Fr::rand(&mut rng)).collect()
    }

    #[test]
    fn evaluates_as_the_native_twin() {
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (9, 4), (40, 5), (257, 6)] {
            let data = data(n, seed);
            let run = run(&data, [n as u8; 32], None, None, None);
            assert!(run.satisfied, "n = {n}");
            assert_eq!(run.commitment, native::commit(&data));
        }
        // Edge values: zeros, p - 1, and the largest z a 128-bit challenge allows.
        let mut edge = vec![Fr::zero(); 5];
        edge[2] = -Fr::one();
        assert!(run(&edge, [0xff; 32], None, None, None).satisfied);
    }

    #[test]
    fn a_wrong_evaluation_is_refused() {
        let data = data(12, 7);
        let z = native::challenge(native::commit(&data), &[1; 32]);
        let y = native::evaluate(&data, z);
        for wrong in [
            y + ark_bls12_381::Fr::one(),
            y - ark_bls12_381::Fr::one(),
            -y,
        ] {
            assert!(!run(&data, [1; 32], None, Some(wrong), None).satisfied);
        }
        // The same polynomial at another point (another versioned hash).
        let other = native::evaluate(&data, native::challenge(native::commit(&data), &[2; 32]));
        assert!(!run(&data, [1; 32], None, Some(other), None).satisfied);
    }

    #[test]
    fn every_free_witness_is_pinned() {
        // Each witness this module allocates (limbs, quotients, product coefficients, carries),
        // plus one, must break a constraint.
        let data = data(7, 8);
        let honest = run(&data, [3; 32], None, None, None);
        assert!(honest.satisfied);
        assert!(honest.witnesses > 50, "{} witnesses", honest.witnesses);
        for i in 0..honest.witnesses {
            assert!(
                !run(&data, [3; 32], None, None, Some(i)).satisfied,
                "witness {i} of {} is free",
                honest.witnesses
            );
        }
    }

    #[test]
    fn the_representative_is_bound_by_the_commitment() {
        // x + p decomposes as well as x; the evaluation follows the representative, so the
        // commitment (and with it z) must change with it: it absorbs the top bit.
        let mut data = data(6, 9);
        data[4] = Fr::from(12_345u64);
        let wide = BigUint::from(12_345u64) + BigUint::from(Fr::MODULUS);
        let run_wide = run(&data, [4; 32], Some((4, wide)), None, None);
        assert_ne!(run_wide.commitment, native::commit(&data));
        assert!(
            !run_wide.satisfied,
            "the native y at the native z cannot hold"
        );
        // A 255-bit representative (x + 2p) does not decompose at all.
        let wider = BigUint::from(12_345u64) + (BigUint::from(Fr::MODULUS) << 1u32);
        assert!(wider.bits() > COEFFICIENT_BITS as u64);
        assert!(!run(&data, [4; 32], Some((4, wider)), None, None).satisfied);
    }

    #[test]
    fn cost_per_element() {
        // 255 for the representative's bits, 7 for its share of the product-sum at 7 points;
        // the rest is the powers table, the commitment and the final reduction.
        let cost = |n: usize| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
            let elements: Vec<BlobElementVar> = (0..n)
                .map(|_| {
                    let x = Fr::rand(&mut rng);
                    let var = FpVar::new_witness(cs.clone(), || Ok(x)).expect("alloc");
                    BlobElementVar::new(&var).expect("element")
                })
                .collect();
            let z: u128 = rng.gen();
            let z_bits: Vec<Boolean<Fr>> = (0..128)
                .map(|i| Boolean::new_witness(cs.clone(), || Ok((z >> i) & 1 == 1)).expect("bit"))
                .collect();
            let before = cs.num_constraints();
            evaluate(&elements, &z_bits).expect("evaluate");
            let evaluation = cs.num_constraints() - before;
            assert!(cs.is_satisfied().expect("satisfiable?"));
            (cs.num_constraints(), evaluation, table_shape(n))
        };
        for n in [64, 256, 1024] {
            let (total, evaluation, (m, giants)) = cost(n);
            println!(
                "n = {n}: {total} constraints with the elements ({:.1} per element), \
                 evaluation {evaluation} ({:.1} per element), table {m} x {giants}",
                total as f64 / n as f64,
                evaluation as f64 / n as f64
            );
        }
        // The marginal element inside one block (the same table for n and n + 1): its bits and 7
        // point checks, and now and then a bit more of width for the final reduction's quotient
        // and carries, whose bounds grow with the sum.
        let n = (40..)
            .find(|&n| table_shape(n) == table_shape(n + 1))
            .expect("a shape with room in its last block");
        let (a, _, _) = cost(n);
        let (b, _, _) = cost(n + 1);
        assert!(
            (255 + 7..=255 + 7 + 4).contains(&(b - a)),
            "n = {n}, shape {:?}: {} constraints for one element",
            table_shape(n),
            b - a
        );
    }

    /// The production figures (docs/PERFORMANCE.md): `cargo test -p zkperp-circuits --lib
    /// blob::tests::full_blob -- --ignored --nocapture`.
    #[test]
    #[ignore = "synthesizes a full blob (about 1.4M constraints); run by hand for the figures"]
    fn full_blob() {
        for n in [512, 2048, FIELD_ELEMENTS_PER_BLOB] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let data = data(n, 10);
            let elements: Vec<BlobElementVar> = data
                .iter()
                .map(|x| {
                    let var = FpVar::new_witness(cs.clone(), || Ok(*x)).expect("alloc");
                    BlobElementVar::new(&var).expect("element")
                })
                .collect();
            let vh: Vec<UInt8<Fr>> = (0..32)
                .map(|i| UInt8::new_witness(cs.clone(), || Ok(i as u8)).expect("alloc"))
                .collect();
            let mark = |label: &str, before: usize| {
                let spent = cs.num_constraints() - before;
                println!(
                    "n = {n}: {label} {spent} ({:.1} per element)",
                    spent as f64 / n as f64
                );
                cs.num_constraints()
            };
            let t = mark("elements", 0);
            let c = commit(&elements).expect("commit");
            let t = mark("commitment", t);
            let z = challenge(&c, &vh).expect("challenge");
            let t = mark("challenge", t);
            evaluate(&elements, &z).expect("evaluate");
            mark("evaluation", t);
            println!(
                "n = {n}: table {:?}, total {}",
                table_shape(n),
                cs.num_constraints()
            );
            assert!(cs.is_satisfied().expect("satisfiable?"));
        }
    }
}
