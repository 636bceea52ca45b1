//! The circuits' constraint systems in circom's `.r1cs` format (iden3 `r1csfile`, version 1),
//! the first file of a snarkjs ceremony (issue 19): `snarkjs zkey new` reads it with a phase-1
//! `.ptau`, and `snarkjs wtns check` checks a witness against it, so a participant or an
//! auditor checks zkperp's circuits with tools they already trust.
//!
//! ```text
//! "r1cs" | u32 version = 1 | u32 sections
//! section: u32 type | u64 size | body
//!   1 header       u32 n8 = 32 | prime (32 bytes LE) | u32 wires | u32 public outputs = 0 |
//!                  u32 public inputs | u32 private inputs = 0 | u64 labels | u32 constraints
//!   2 constraints  per constraint A, B, C: u32 terms, then per term u32 wire | 32-byte LE coeff
//!   3 wire2label   per wire: u64 label (the wire's own index)
//! ```
//!
//! Wires are the arkworks constraint system's variables in its own order, so that the witness
//! the prover assigns is the circom witness wire for wire: wire 0 is the constant one, wires
//! `1..=n` the public inputs (circom's public inputs; zkperp has no public outputs), then every
//! witness variable. Coefficients are canonical little-endian integers, each below the modulus;
//! the reader refuses anything else. The reader ([`R1cs::parse`]) is independent of arkworks'
//! constraint system, so a test that satisfies the parsed file with the prover's witness checks
//! the export, not the exporter against itself.

use ark_ff::{BigInteger, PrimeField};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisError, SynthesisMode,
    R1CS_PREDICATE_LABEL,
};
use zkperp_state::Fr;

use crate::ceremony::binfile::{self, BinFile, Reader};
use crate::ceremony::FormatError;

/// A term: a wire and its coefficient.
pub type Term = (u32, Fr);

/// One constraint `<A, w> * <B, w> = <C, w>`.
pub type Constraint = [Vec<Term>; 3];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R1cs {
    /// All wires, the constant one included.
    pub wires: u32,
    /// Public inputs (wires `1..=public`).
    pub public: u32,
    pub constraints: Vec<Constraint>,
}

impl From<FormatError> for R1csError {
    fn from(e: FormatError) -> Self {
        R1csError::Format(e.reason)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum R1csError {
    #[error("not an .r1cs file: {0}")]
    Format(String),
    #[error("the file is for another field (n8 {n8}, or another prime)")]
    Field { n8: u32 },
    #[error("constraint {constraint}: a coefficient is not below the field's modulus")]
    NonCanonical { constraint: usize },
    #[error("constraint {constraint}: wire {wire} is beyond the file's {wires} wires")]
    Wire {
        constraint: usize,
        wire: u32,
        wires: u32,
    },
    #[error("the circuit has no R1CS constraints, or could not be synthesized: {0}")]
    Synthesis(String),
    #[error("{count} exceeds the format's 32-bit {what}")]
    TooLarge { what: &'static str, count: usize },
}

const KIND: &str = ".r1cs";
const MAGIC: &[u8; 4] = b"r1cs";
const HEADER: u32 = 1;
const CONSTRAINTS: u32 = 2;
const WIRE2LABEL: u32 = 3;
const N8: usize = 32;

fn fr_le(x: &Fr) -> [u8; N8] {
    let bytes = x.into_bigint().to_bytes_le();
    let mut out = [0u8; N8];
    out.copy_from_slice(&bytes);
    out
}

impl R1cs {
    /// Synthesizes `circuit` as the Groth16 prover does (constraints optimized, linear
    /// combinations inlined) and returns its R1CS and, when `prove`, the full wire assignment
    /// (`1`, the public inputs, the witness).
    pub fn synthesize<C: ConstraintSynthesizer<Fr>>(
        circuit: C,
        prove: bool,
    ) -> Result<(R1cs, Option<Vec<Fr>>), R1csError> {
        let failed = |e: SynthesisError| R1csError::Synthesis(e.to_string());
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(if prove {
            SynthesisMode::Prove {
                construct_matrices: true,
                generate_lc_assignments: false,
            }
        } else {
            SynthesisMode::Setup
        });
        circuit.generate_constraints(cs.clone()).map_err(failed)?;
        cs.finalize();
        let inner = cs
            .borrow()
            .ok_or_else(|| R1csError::Synthesis("no constraint system".into()))?;
        let matrices = inner.to_matrices().map_err(failed)?;
        let [a, b, c] = matrices
            .get(R1CS_PREDICATE_LABEL)
            .and_then(|m| <[_; 3]>::try_from(m.clone()).ok())
            .ok_or_else(|| R1csError::Synthesis("no R1CS predicate".into()))?;
        let u32_of =
            |what, n: usize| u32::try_from(n).map_err(|_| R1csError::TooLarge { what, count: n });
        let instances = inner.num_instance_variables();
        let wires = u32_of("wire count", instances + inner.num_witness_variables())?;
        let row = |r: &Vec<(Fr, usize)>| -> Result<Vec<Term>, R1csError> {
            r.iter()
                .map(|(coeff, wire)| Ok((u32_of("wire index", *wire)?, *coeff)))
                .collect()
        };
        let constraints = a
            .iter()
            .zip(&b)
            .zip(&c)
            .map(|((a, b), c)| Ok([row(a)?, row(b)?, row(c)?]))
            .collect::<Result<Vec<_>, R1csError>>()?;
        let assignment = if prove {
            let mut w = inner.instance_assignment().map_err(failed)?.to_vec();
            w.extend_from_slice(inner.witness_assignment().map_err(failed)?);
            Some(w)
        } else {
            None
        };
        Ok((
            R1cs {
                wires,
                public: u32_of("public input count", instances - 1)?,
                constraints,
            },
            assignment,
        ))
    }

    /// The `.r1cs` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(64);
        header.extend_from_slice(&(N8 as u32).to_le_bytes());
        header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
        header.extend_from_slice(&self.wires.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&self.public.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&u64::from(self.wires).to_le_bytes());
        header.extend_from_slice(&(self.constraints.len() as u32).to_le_bytes());
        let mut body = Vec::new();
        for constraint in &self.constraints {
            for lc in constraint {
                body.extend_from_slice(&(lc.len() as u32).to_le_bytes());
                for (wire, coeff) in lc {
                    body.extend_from_slice(&wire.to_le_bytes());
                    body.extend_from_slice(&fr_le(coeff));
                }
            }
        }
        let labels: Vec<u8> = (0..u64::from(self.wires))
            .flat_map(u64::to_le_bytes)
            .collect();
        binfile::write(
            MAGIC,
            1,
            &[
                (HEADER, &header),
                (CONSTRAINTS, &body),
                (WIRE2LABEL, &labels),
            ],
        )
    }

    /// Reads an `.r1cs` file (sections in any order, as the format allows), refusing another
    /// field, a coefficient not below the modulus, a wire beyond the header's count, and any
    /// truncation.
    pub fn parse(bytes: &[u8]) -> Result<R1cs, R1csError> {
        let bad = |what: &str| R1csError::Format(what.to_string());
        let file = BinFile::parse(KIND, bytes, MAGIC, 1..=1)?;
        let mut h = Reader::new(KIND, file.section(KIND, HEADER)?);
        let n8 = h.u32()?;
        if n8 as usize != N8 || h.take(N8)? != Fr::MODULUS.to_bytes_le().as_slice() {
            return Err(R1csError::Field { n8 });
        }
        let wires = h.u32()?;
        let (outputs, inputs, private) = (h.u32()?, h.u32()?, h.u32()?);
        let _labels = h.u64()?;
        let m = h.u32()? as usize;
        let public = outputs
            .checked_add(inputs)
            .ok_or_else(|| bad("public signal count overflows"))?;
        // The one wire, the public signals and the private inputs are wires.
        if u64::from(public) + u64::from(private) + 1 > u64::from(wires) {
            return Err(bad("more signals than wires"));
        }
        let mut c = Reader::new(KIND, file.section(KIND, CONSTRAINTS)?);
        let mut constraints = Vec::with_capacity(m.min(1 << 24));
        for index in 0..m {
            let mut lcs: [Vec<Term>; 3] = Default::default();
            for lc in &mut lcs {
                let terms = c.u32()? as usize;
                for _ in 0..terms {
                    let wire = c.u32()?;
                    if wire >= wires {
                        return Err(R1csError::Wire {
                            constraint: index,
                            wire,
                            wires,
                        });
                    }
                    let coeff = c.take(N8)?;
                    let value = Fr::from_le_bytes_mod_order(coeff);
                    if fr_le(&value).as_slice() != coeff {
                        return Err(R1csError::NonCanonical { constraint: index });
                    }
                    lc.push((wire, value));
                }
            }
            constraints.push(lcs);
        }
        c.end("constraints")?;
        Ok(R1cs {
            wires,
            public,
            constraints,
        })
    }

    /// The first constraint `assignment` (wire values, wire 0 the one) does not satisfy.
    pub fn first_unsatisfied(&self, assignment: &[Fr]) -> Option<usize> {
        if assignment.len() != self.wires as usize || assignment.first() != Some(&Fr::from(1u64)) {
            return Some(0);
        }
        let eval = |lc: &Vec<Term>| -> Fr {
            lc.iter()
                .map(|(wire, coeff)| assignment[*wire as usize] * coeff)
                .sum()
        };
        self.constraints
            .iter()
            .position(|[a, b, c]| eval(a) * eval(b) != eval(c))
    }
}
