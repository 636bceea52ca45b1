//! Twin of `zkperp_state::babyjubjub`: circomlib's Baby Jubjub (`168700 x^2 + y^2 = 1 + 168696 x^2
//! y^2`) over `FpVar<Fr>`, with the same `BabyJubjubConfig` coefficients.
//!
//! **Invariant.** A [`PointVar`] is always a point of the prime-order subgroup (order `l`), or the
//! constraint system is unsatisfied: every way to make one from outside data
//! ([`point_from_coordinates`], `AllocVar`) checks it, and the operations (complete twisted-Edwards
//! addition and doubling, selection between two such points) keep it. So gadgets that take a
//! `PointVar` need no subgroup checks of their own, exactly as native code that takes a `Point`
//! from `point_from_coordinates` or `unpack_point`.
//!
//! **Subgroup check** (20 constraints): the prover supplies `Q = 8^-1 P` (mod `l`) as a witness;
//! the circuit checks `Q` is on the curve and `8 Q == P`. The curve group has order `8 l`, and
//! multiplying any curve point by 8 lands in the subgroup of order `l` (and reaches all of it), so
//! `P` is in the subgroup if and only if such a `Q` exists; for `P` outside it (off the curve, or
//! with a small-order component) no `Q` satisfies the constraints.
//!
//! **Completeness.** `a = 168700` is a square and `d = 168696` is not, so the affine addition law
//! (and the doubling law derived from it) never divides by zero on curve points: no exceptional
//! cases, for any inputs, including the identity and equal points.
//!
//! **Why not arkworks' `AffineVar<BabyJubjubConfig, FpVar<Fr>>`.** It works with this config and
//! costs the same per addition (6) and doubling (5), but: its addition `unwrap`s the division
//! witness (a tampered off-curve witness panics instead of leaving the system unsatisfied), its
//! `Input` allocation skips the subgroup check, its equalities accept unequal constants (see
//! `eq.rs`), and its scalar multiplications cost more (measured: 3,299 for a 254-bit variable-base
//! `scalar_mul_le`, 1,002 for a 251-bit `precomputed_base_scalar_mul_le`, against 2,789 and 831
//! here).
//!
//! Costs (constraints, measured by the tests below):
//!
//! | gadget | constraints |
//! |---|---|
//! | `enforce_on_curve` | 3 |
//! | `point_from_coordinates`, `AllocVar` (on curve + subgroup) | 20 |
//! | `PointVar::add` / `PointVar::double` | 6 / 5 |
//! | select between two points | 2 |
//! | `mul_base8_le`, fixed base, 3-bit windows | 10 per 3 bits, 831 for 251 bits |
//! | `mul`, variable base, 2-bit windows | 22 per 2 bits + 11 (first window 6), 2,789 for 254 bits |

use std::borrow::Borrow;
use std::sync::OnceLock;

use ark_ec::{twisted_edwards::TECurveConfig, AffineRepr, CurveConfig, CurveGroup};
use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    eq::EqGadget,
    fields::{fp::FpVar, FieldVar},
    select::CondSelectGadget,
    GR1CSVar,
};
use ark_relations::gr1cs::{ConstraintSystemRef, Namespace, SynthesisError};
use zkperp_state::babyjubjub::{
    mul as native_mul, BabyJubjubConfig, Point, PointProjective, BASE8,
};
use zkperp_state::Fr;

use crate::eq::{conditional_enforce_equal, enforce_equal, enforce_product};

const COEFF_A: Fr = <BabyJubjubConfig as TECurveConfig>::COEFF_A;
const COEFF_D: Fr = <BabyJubjubConfig as TECurveConfig>::COEFF_D;

/// The most scalar bits the fixed-base tables cover.
pub const MAX_FIXED_BASE_BITS: usize = 256;
/// Bits per window of the fixed-base multiplication.
const FIXED_WINDOW: usize = 3;

/// A point of Baby Jubjub's prime-order subgroup, in circomlib's affine coordinates.
#[derive(Debug, Clone)]
pub struct PointVar {
    x: FpVar<Fr>,
    y: FpVar<Fr>,
}

/// `num / den`, as a witness `q` with `q * den == num` (one constraint). A zero `den` makes the
/// witness zero and the constraint unsatisfied unless `num` is zero too; callers only divide by
/// denominators that are non-zero on curve points (see the module docs).
fn div(num: &FpVar<Fr>, den: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    if let (FpVar::Constant(n), FpVar::Constant(d)) = (num, den) {
        return d
            .inverse()
            .map(|inv| FpVar::Constant(*n * inv))
            .ok_or(SynthesisError::DivisionByZero);
    }
    let cs = num.cs().or(den.cs());
    let q = FpVar::new_witness(cs, || {
        Ok(num.value()? * den.value()?.inverse().unwrap_or(Fr::ZERO))
    })?;
    enforce_product(&q, den, num)?;
    Ok(q)
}

fn in_subgroup(p: &Point) -> bool {
    p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()
}

impl PointVar {
    /// The identity `(0, 1)`, a constant.
    pub fn identity() -> Self {
        PointVar {
            x: FpVar::Constant(Fr::ZERO),
            y: FpVar::Constant(Fr::ONE),
        }
    }

    /// circomlib's `Base8`, the subgroup generator, a constant.
    pub fn base8() -> Self {
        Self::constant_unchecked(&BASE8)
    }

    /// A constant point, refused (`Unsatisfiable`) outside the prime-order subgroup.
    pub fn constant(p: &Point) -> Result<Self, SynthesisError> {
        if in_subgroup(p) {
            Ok(Self::constant_unchecked(p))
        } else {
            Err(SynthesisError::Unsatisfiable)
        }
    }

    fn constant_unchecked(p: &Point) -> Self {
        PointVar {
            x: FpVar::Constant(p.x),
            y: FpVar::Constant(p.y),
        }
    }

    pub fn x(&self) -> &FpVar<Fr> {
        &self.x
    }

    pub fn y(&self) -> &FpVar<Fr> {
        &self.y
    }

    fn is_constant(&self) -> bool {
        self.x.is_constant() && self.y.is_constant()
    }

    /// Native arithmetic for constant points (which are subgroup points by construction).
    fn constant_value(&self) -> Result<Point, SynthesisError> {
        Ok(Point::new_unchecked(self.x.value()?, self.y.value()?))
    }

    /// `self + other` with the complete affine law (6 constraints; free for two constants).
    pub fn add(&self, other: &Self) -> Result<Self, SynthesisError> {
        if self.is_constant() && other.is_constant() {
            let sum = (self.constant_value()?.into_group() + other.constant_value()?).into_affine();
            return Ok(Self::constant_unchecked(&sum));
        }
        // x3 = (x1 y2 + y1 x2) / (1 + d x1 x2 y1 y2),  y3 = (y1 y2 - a x1 x2) / (1 - d x1 x2 y1 y2),
        // with y1 y2 - a x1 x2 = (y1 - a x1)(x2 + y2) + a x1 y2 - x2 y1 to save a product.
        let u = (&self.x * (-COEFF_A) + &self.y) * (&other.x + &other.y);
        let v0 = &self.x * &other.y;
        let v1 = &other.x * &self.y;
        let v2 = &v0 * &v1 * COEFF_D;
        let x3 = div(&(&v0 + &v1), &(&v2 + Fr::ONE))?;
        let y3 = div(
            &(u + &v0 * COEFF_A - &v1),
            &(FpVar::Constant(Fr::ONE) - &v2),
        )?;
        Ok(PointVar { x: x3, y: y3 })
    }

    /// `2 * self` (5 constraints; free for a constant).
    pub fn double(&self) -> Result<Self, SynthesisError> {
        if self.is_constant() {
            let twice = self.constant_value()?.into_group().double().into_affine();
            return Ok(Self::constant_unchecked(&twice));
        }
        // x3 = 2 x y / (a x^2 + y^2),  y3 = (y^2 - a x^2) / (2 - a x^2 - y^2): the addition law with
        // both points equal, its denominators rewritten with the curve equation.
        let xy = &self.x * &self.y;
        let ax2 = self.x.square()? * COEFF_A;
        let y2 = self.y.square()?;
        let x3 = div(&(&xy + &xy), &(&ax2 + &y2))?;
        let y3 = div(
            &(&y2 - &ax2),
            &(FpVar::Constant(Fr::from(2u64)) - &ax2 - &y2),
        )?;
        Ok(PointVar { x: x3, y: y3 })
    }

    /// `-self`: `(-x, y)`, free.
    pub fn negate(&self) -> Result<Self, SynthesisError> {
        Ok(PointVar {
            x: self.x.negate()?,
            y: self.y.clone(),
        })
    }
}

/// Enforces `a x^2 + y^2 = 1 + d x^2 y^2` as `(d x^2 - 1) y^2 = a x^2 - 1` (3 constraints).
pub fn enforce_on_curve(x: &FpVar<Fr>, y: &FpVar<Fr>) -> Result<(), SynthesisError> {
    let x2 = x.square()?;
    let y2 = y.square()?;
    enforce_product(&(&x2 * COEFF_D - Fr::ONE), &y2, &(&x2 * COEFF_A - Fr::ONE))
}

/// Twin of the native `point_from_coordinates`: enforces that `(x, y)` is on the curve and in the
/// prime-order subgroup (20 constraints; see the module docs) and returns it as a [`PointVar`].
/// Constants are checked natively and refused (`Unsatisfiable`) when they fail.
pub fn point_from_coordinates(x: &FpVar<Fr>, y: &FpVar<Fr>) -> Result<PointVar, SynthesisError> {
    if x.is_constant() && y.is_constant() {
        return PointVar::constant(&Point::new_unchecked(x.value()?, y.value()?));
    }
    let cs = x.cs().or(y.cs());
    // Q = 8^-1 P for a subgroup point; for anything else no Q exists, so the identity is supplied
    // and the constraints below are unsatisfied.
    let q_value = (|| -> Result<Point, SynthesisError> {
        let p = Point::new_unchecked(x.value()?, y.value()?);
        Ok(if in_subgroup(&p) {
            native_mul(&p, &<BabyJubjubConfig as CurveConfig>::COFACTOR_INV)
        } else {
            Point::zero()
        })
    })();
    let qx = FpVar::new_witness(ark_relations::ns!(cs, "q.x"), || q_value.map(|q| q.x))?;
    let qy = FpVar::new_witness(ark_relations::ns!(cs, "q.y"), || q_value.map(|q| q.y))?;
    enforce_on_curve(&qx, &qy)?;
    let q = PointVar { x: qx, y: qy };
    let p = q.double()?.double()?.double()?;
    enforce_equal(&p.x, x)?;
    enforce_equal(&p.y, y)?;
    Ok(PointVar {
        x: x.clone(),
        y: y.clone(),
    })
}

impl AllocVar<Point, Fr> for PointVar {
    /// Allocates the coordinates in `mode` and checks them with [`point_from_coordinates`].
    fn new_variable<T: Borrow<Point>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let ns = cs.into();
        let cs: ConstraintSystemRef<Fr> = ns.cs();
        let value = f().map(|p| *p.borrow());
        if mode == AllocationMode::Constant {
            return PointVar::constant(&value?);
        }
        let x = FpVar::new_variable(ark_relations::ns!(cs, "x"), || value.map(|p| p.x), mode)?;
        let y = FpVar::new_variable(ark_relations::ns!(cs, "y"), || value.map(|p| p.y), mode)?;
        point_from_coordinates(&x, &y)
    }
}

impl GR1CSVar<Fr> for PointVar {
    type Value = Point;

    fn cs(&self) -> ConstraintSystemRef<Fr> {
        self.x.cs().or(self.y.cs())
    }

    fn value(&self) -> Result<Point, SynthesisError> {
        Ok(Point::new_unchecked(self.x.value()?, self.y.value()?))
    }
}

impl CondSelectGadget<Fr> for PointVar {
    /// One of two subgroup points (2 constraints; free when both are constants).
    fn conditionally_select(
        cond: &Boolean<Fr>,
        true_value: &Self,
        false_value: &Self,
    ) -> Result<Self, SynthesisError> {
        Ok(PointVar {
            x: FpVar::conditionally_select(cond, &true_value.x, &false_value.x)?,
            y: FpVar::conditionally_select(cond, &true_value.y, &false_value.y)?,
        })
    }
}

impl EqGadget<Fr> for PointVar {
    fn is_eq(&self, other: &Self) -> Result<Boolean<Fr>, SynthesisError> {
        Ok(self.x.is_eq(&other.x)? & self.y.is_eq(&other.y)?)
    }

    /// Two constraints (one per coordinate).
    fn conditional_enforce_equal(
        &self,
        other: &Self,
        should_enforce: &Boolean<Fr>,
    ) -> Result<(), SynthesisError> {
        conditional_enforce_equal(&self.x, &other.x, should_enforce)?;
        conditional_enforce_equal(&self.y, &other.y, should_enforce)
    }
}

/// `[k * 2^(3j) * Base8 for k in 0..8]` for every window `j`: the fixed-base tables.
fn base8_windows() -> &'static [[Point; 1 << FIXED_WINDOW]] {
    static TABLES: OnceLock<Vec<[Point; 1 << FIXED_WINDOW]>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let windows = MAX_FIXED_BASE_BITS.div_ceil(FIXED_WINDOW);
        let mut base = PointProjective::from(BASE8);
        (0..windows)
            .map(|_| {
                let mut multiples = [PointProjective::default(); 1 << FIXED_WINDOW];
                for k in 1..multiples.len() {
                    multiples[k] = multiples[k - 1] + base;
                }
                for _ in 0..FIXED_WINDOW {
                    base.double_in_place();
                }
                let affine = PointProjective::normalize_batch(&multiples);
                let mut out = [Point::zero(); 1 << FIXED_WINDOW];
                out.copy_from_slice(&affine);
                out
            })
            .collect()
    })
}

/// The constant point `table[index(bits)]` as linear combinations of the products of `bits`:
/// each coordinate is the multilinear polynomial through the table (its coefficients by a Möbius
/// transform), so a window of `w` bits costs one constraint per product of two or more bits
/// (4 for `w = 3`) and the coordinates themselves are free.
fn lookup_constant(bits: &[Boolean<Fr>], table: &[Point]) -> Result<PointVar, SynthesisError> {
    let size = 1usize << bits.len();
    let mut cx: Vec<Fr> = table[..size].iter().map(|p| p.x).collect();
    let mut cy: Vec<Fr> = table[..size].iter().map(|p| p.y).collect();
    for i in 0..bits.len() {
        for mask in 0..size {
            if mask & (1 << i) != 0 {
                let (lower_x, lower_y) = (cx[mask ^ (1 << i)], cy[mask ^ (1 << i)]);
                cx[mask] -= lower_x;
                cy[mask] -= lower_y;
            }
        }
    }
    let mut monomials: Vec<FpVar<Fr>> = Vec::with_capacity(size);
    monomials.push(FpVar::Constant(Fr::ONE));
    for mask in 1..size {
        let top = usize::BITS - 1 - mask.leading_zeros();
        let rest = mask ^ (1 << top);
        let bit = FpVar::from(bits[top as usize].clone());
        monomials.push(if rest == 0 {
            bit
        } else {
            &monomials[rest] * bit
        });
    }
    let x = monomials.iter().zip(&cx).map(|(m, c)| m * *c).sum();
    let y = monomials.iter().zip(&cy).map(|(m, c)| m * *c).sum();
    Ok(PointVar { x, y })
}

/// Twin of the native `mul_base8_le`: `k * Base8` for a scalar given as little-endian bits (not
/// reduced first). Windows of 3 bits: a constant-table lookup (4 constraints) and an addition (6)
/// per window, the first without the addition.
///
/// # Panics
/// When given more than [`MAX_FIXED_BASE_BITS`] bits.
pub fn mul_base8_le(scalar_le: &[Boolean<Fr>]) -> Result<PointVar, SynthesisError> {
    assert!(
        scalar_le.len() <= MAX_FIXED_BASE_BITS,
        "scalar wider than the fixed-base tables"
    );
    let mut acc: Option<PointVar> = None;
    for (window, table) in scalar_le.chunks(FIXED_WINDOW).zip(base8_windows()) {
        let digit = lookup_constant(window, table)?;
        acc = Some(match acc {
            None => digit,
            Some(acc) => acc.add(&digit)?,
        });
    }
    Ok(acc.unwrap_or_else(PointVar::identity))
}

/// Twin of the native `mul`: `k * p` for a scalar given as little-endian bits (not reduced first).
/// Windows of 2 bits, most significant first: `acc = 4 acc + digit * p` with `digit * p` selected
/// from `{O, p, 2p, 3p}` (6 constraints), two doublings (10) and an addition (6) per window, after
/// the table (11).
pub fn mul(p: &PointVar, scalar_le: &[Boolean<Fr>]) -> Result<PointVar, SynthesisError> {
    if scalar_le.is_empty() {
        return Ok(PointVar::identity());
    }
    let identity = PointVar::identity();
    let p2 = p.double()?;
    let p3 = p2.add(p)?;
    let mut acc: Option<PointVar> = None;
    for window in scalar_le.chunks(2).rev() {
        let digit = match window {
            [b0] => PointVar::conditionally_select(b0, p, &identity)?,
            [b0, b1] => {
                let low = PointVar::conditionally_select(b0, p, &identity)?;
                let high = PointVar::conditionally_select(b0, &p3, &p2)?;
                PointVar::conditionally_select(b1, &high, &low)?
            }
            _ => unreachable!("chunks of at most two"),
        };
        acc = Some(match acc {
            None => digit,
            Some(acc) => acc.double()?.double()?.add(&digit)?,
        });
    }
    Ok(acc.unwrap_or(identity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, PrimeField};
    use ark_relations::gr1cs::ConstraintSystem;
    use rand::{Rng, SeedableRng};
    use zkperp_state::babyjubjub::{mul_base8_le as native_mul_base8_le, Fs, GENERATOR};

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn random_point(rng: &mut impl Rng) -> Point {
        native_mul(&BASE8, &Fs::from(rng.gen::<u128>()))
    }

    fn witness_bits(cs: &ConstraintSystemRef<Fr>, bits: &[bool]) -> Vec<Boolean<Fr>> {
        bits.iter()
            .map(|b| Boolean::new_witness(cs.clone(), || Ok(*b)).expect("allocate"))
            .collect()
    }

    fn le_bits(bytes: &[u8], n: usize) -> Vec<bool> {
        (0..n)
            .map(|i| bytes.get(i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1))
            .collect()
    }

    fn counted<T>(cs: &ConstraintSystemRef<Fr>, f: impl FnOnce() -> T) -> (T, usize) {
        let before = cs.num_constraints();
        let out = f();
        (out, cs.num_constraints() - before)
    }

    #[test]
    fn allocation_checks_the_subgroup_in_20_constraints() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = random_point(&mut rng(1));
        let (var, cost) = counted(&cs, || {
            PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc")
        });
        assert_eq!(cost, 22 - 2, "2 coordinates allocated, 20 constraints");
        assert_eq!(var.value().expect("value"), p);
        let (_, on_curve) = counted(&cs, || {
            enforce_on_curve(var.x(), var.y()).expect("on curve")
        });
        assert_eq!(on_curve, 3);
        assert!(cs.is_satisfied().expect("check"));
    }

    #[test]
    fn points_outside_the_subgroup_or_off_the_curve_are_unsatisfied() {
        let p = random_point(&mut rng(2));
        let order_two = Point::new_unchecked(Fr::ZERO, -Fr::ONE);
        let shifted = (p.into_group() + order_two).into_affine();
        let off_curve = Point::new_unchecked(p.x, p.y + Fr::ONE);
        for bad in [order_two, shifted, GENERATOR, off_curve] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            PointVar::new_witness(cs.clone(), || Ok(bad)).expect("synthesise");
            assert_eq!(cs.is_satisfied().ok(), Some(false), "{bad:?}");
            assert!(PointVar::constant(&bad).is_err());
        }
        // The identity is in the subgroup (eddsa refuses it as a key separately).
        let cs = ConstraintSystem::<Fr>::new_ref();
        PointVar::new_witness(cs.clone(), || Ok(Point::zero())).expect("synthesise");
        assert!(cs.is_satisfied().expect("check"));
    }

    #[test]
    fn add_and_double_agree_with_native_and_cost_6_and_5() {
        let mut rng = rng(3);
        for _ in 0..5 {
            let (p, q) = (random_point(&mut rng), random_point(&mut rng));
            let cs = ConstraintSystem::<Fr>::new_ref();
            let pv = PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc");
            let qv = PointVar::new_witness(cs.clone(), || Ok(q)).expect("alloc");
            let (sum, add_cost) = counted(&cs, || pv.add(&qv).expect("add"));
            let (twice, dbl_cost) = counted(&cs, || pv.double().expect("double"));
            let (same, _) = counted(&cs, || pv.add(&pv).expect("add"));
            let (zero, _) = counted(&cs, || pv.add(&pv.negate().expect("negate")).expect("add"));
            assert_eq!((add_cost, dbl_cost), (6, 5));
            assert_eq!(sum.value().expect("v"), (p.into_group() + q).into_affine());
            assert_eq!(
                twice.value().expect("v"),
                p.into_group().double().into_affine()
            );
            assert_eq!(same.value().expect("v"), twice.value().expect("v"));
            assert_eq!(zero.value().expect("v"), Point::zero());
            assert!(cs.is_satisfied().expect("check"));
        }
    }

    #[test]
    fn a_tampered_sum_is_unsatisfied() {
        let mut rng = rng(4);
        let (p, q) = (random_point(&mut rng), random_point(&mut rng));
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pv = PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc");
        let qv = PointVar::new_witness(cs.clone(), || Ok(q)).expect("alloc");
        let sum = pv.add(&qv).expect("add");
        let wrong = (p.into_group() + q + BASE8).into_affine();
        let claimed = PointVar::new_witness(cs.clone(), || Ok(wrong)).expect("alloc");
        sum.enforce_equal(&claimed).expect("enforce");
        assert_eq!(cs.is_satisfied().ok(), Some(false));
    }

    #[test]
    fn fixed_base_mul_agrees_with_native_mul_base8_le() {
        let mut rng = rng(5);
        for n in [251usize, 1, 2, 3, 4, 64, 253, 256] {
            let bytes: [u8; 32] = rng.gen();
            let bits = le_bits(&bytes, n);
            let mut truncated = bytes;
            for (i, byte) in truncated.iter_mut().enumerate() {
                for j in 0..8 {
                    if 8 * i + j >= n {
                        *byte &= !(1 << j);
                    }
                }
            }
            let cs = ConstraintSystem::<Fr>::new_ref();
            let bit_vars = witness_bits(&cs, &bits);
            let (out, cost) = counted(&cs, || mul_base8_le(&bit_vars).expect("mul"));
            assert_eq!(
                out.value().expect("value"),
                native_mul_base8_le(&truncated),
                "{n} bits"
            );
            assert!(cs.is_satisfied().expect("check"));
            if n == 251 {
                assert_eq!(cost, 831, "84 windows: 83 of 3 bits, one of 2");
            }
        }
    }

    #[test]
    fn variable_base_mul_agrees_with_native_mul() {
        let mut rng = rng(6);
        for n in [254usize, 1, 2, 3, 5, 251] {
            let p = random_point(&mut rng);
            let k = Fs::from(rng.gen::<u128>()) * Fs::from(rng.gen::<u128>());
            let bits: Vec<bool> = le_bits(&k.into_bigint().to_bytes_le(), n);
            let truncated = Fs::from_le_bytes_mod_order(&{
                let mut bytes = vec![0u8; 32];
                for (i, b) in bits.iter().enumerate() {
                    bytes[i / 8] |= u8::from(*b) << (i % 8);
                }
                bytes
            });
            let cs = ConstraintSystem::<Fr>::new_ref();
            let pv = PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc");
            let bit_vars = witness_bits(&cs, &bits);
            let (out, cost) = counted(&cs, || mul(&pv, &bit_vars).expect("mul"));
            assert_eq!(
                out.value().expect("value"),
                native_mul(&p, &truncated),
                "{n} bits"
            );
            assert!(cs.is_satisfied().expect("check"));
            if n == 254 {
                assert_eq!(cost, 11 + 6 + 126 * 22);
            }
        }
        // Every bit pattern of a small scalar, including zero (the identity).
        for k in 0u64..16 {
            let p = random_point(&mut rng);
            let cs = ConstraintSystem::<Fr>::new_ref();
            let pv = PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc");
            let bits = witness_bits(&cs, &le_bits(&k.to_le_bytes(), 4));
            let out = mul(&pv, &bits).expect("mul");
            assert_eq!(out.value().expect("value"), native_mul(&p, &Fs::from(k)));
            assert!(cs.is_satisfied().expect("check"));
        }
    }

    #[test]
    fn a_flipped_scalar_bit_changes_the_product() {
        let mut rng = rng(7);
        let p = random_point(&mut rng);
        let k: u64 = rng.gen();
        let cs = ConstraintSystem::<Fr>::new_ref();
        let pv = PointVar::new_witness(cs.clone(), || Ok(p)).expect("alloc");
        let mut bits = le_bits(&k.to_le_bytes(), 64);
        bits[17] = !bits[17];
        let out = mul(&pv, &witness_bits(&cs, &bits)).expect("mul");
        let expected =
            PointVar::new_witness(cs.clone(), || Ok(native_mul(&p, &Fs::from(k)))).expect("alloc");
        out.enforce_equal(&expected).expect("enforce");
        assert_eq!(cs.is_satisfied().ok(), Some(false));
    }
}
