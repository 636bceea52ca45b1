//! Twin of `zkperp_state::exit`: the exit circuit, the statement a user proves alone after a
//! freeze to take out their account's value.
//!
//! ```text
//! public inputs, in the order of Rollup.sol's exitInputs:
//!   state root, account id, owner (uint160), amount, mark price 0, .., mark price M-1
//! witness: the leaf (AccountLeafVar, every field range-checked), its path (MerkleProofVar),
//!          the account tree root, the M markets' states (MarketStateVar, range-checked)
//!
//! Poseidon(account tree root, Poseidon(pack(market_0), ..)) == state root
//! path.root_for(leaf hash) == account tree root        path.index == account id
//! leaf.l1_address == owner                             market_m.mark_price == mark price m
//! collateral' = settle_funding(leaf, markets' funding indices)      (|collateral'| < 2^63)
//! TV = collateral' + sum_m size_m * mark_m * tick_value_m
//! amount == (TV >= 0) ? TV : 0
//! ```
//! The sign test decomposes `TV + 2^100` into 101 bits: it holds because `|TV| < 2^63 + 8 * 2^96
//! < 2^100` (the settled collateral, sizes and marks were range-checked; `zkperp_state::units`),
//! and the decomposition is unique, so a negative TV cannot pass as a positive one, and the
//! proven amount is below `2^100 = EXIT_AMOUNT_LIMIT` without a separate check on the input.
//! The mark prices are range-checked where the markets are allocated, so their public inputs are
//! too.
//!
//! Costs with two markets (asserted by `circuits/tests/exit.rs`): **2,096 + 242 per tree level**,
//! 4,032 at depth 8 and 9,840 at the production depth 32. The 2,096: the leaf 498 to allocate
//! and 642 to hash; the markets 148 each to allocate, 240 to hash; the root 240; settlement 66 +
//! 1 per market; TV 1 per market; the sign test 102; the selection 1; 5 + M equalities. Per
//! level: `root_for` 241 and the index bit 1.

use std::sync::Arc;

use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    fields::fp::FpVar,
    fields::FieldVar,
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use zkperp_state::exit::{ExitError, ExitWitness, EXIT_AMOUNT_BITS};
use zkperp_state::market::{MarketParams, MarketState};
use zkperp_state::state::StateConfig;
use zkperp_state::Fr;

use crate::eq::enforce_equal;
use crate::funding::settle_funding;
use crate::leaf::AccountLeafVar;
use crate::margin::{is_nonnegative, total_value};
use crate::market::{markets_hash, MarketStateVar};
use crate::merkle::MerkleProofVar;
use crate::poseidon::poseidon2;

/// The exit proof's public inputs (twin of `ExitPublicInputs`), allocated as instance
/// variables in the contract's order.
#[derive(Debug, Clone)]
pub struct ExitPublicInputsVar {
    pub state_root: FpVar<Fr>,
    pub account: FpVar<Fr>,
    pub owner: FpVar<Fr>,
    pub amount: FpVar<Fr>,
    pub mark_prices: Vec<FpVar<Fr>>,
}

impl ExitPublicInputsVar {
    /// Allocates `4 + markets` public inputs from `values` (`ExitPublicInputs::to_field_elements`;
    /// `None` when building the constraint system without a witness). Values of another length
    /// are refused (`Unsatisfiable`).
    pub fn new_input(
        cs: ConstraintSystemRef<Fr>,
        markets: usize,
        values: Option<&[Fr]>,
    ) -> Result<Self, SynthesisError> {
        if values.is_some_and(|v| v.len() != 4 + markets) {
            return Err(SynthesisError::Unsatisfiable);
        }
        let mut vars = (0..4 + markets)
            .map(|i| {
                FpVar::new_input(cs.clone(), || {
                    values
                        .map(|v| v[i])
                        .ok_or(SynthesisError::AssignmentMissing)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mark_prices = vars.split_off(4);
        let [state_root, account, owner, amount]: [FpVar<Fr>; 4] =
            vars.try_into().map_err(|_| SynthesisError::Unsatisfiable)?;
        Ok(ExitPublicInputsVar {
            state_root,
            account,
            owner,
            amount,
            mark_prices,
        })
    }
}

/// An exit witness in-circuit (twin of `ExitWitness`).
#[derive(Debug, Clone)]
pub struct ExitWitnessVar {
    pub leaf: AccountLeafVar,
    pub proof: MerkleProofVar,
    pub accounts_root: FpVar<Fr>,
    pub markets: Vec<MarketStateVar>,
}

impl ExitWitnessVar {
    /// Allocates the witness for `config`'s tree depth and markets, every value range-checked to
    /// its width (`None` when building the constraint system without a witness). A witness of
    /// another shape (market or position count, path length, an index beyond the tree) is
    /// refused (`Unsatisfiable`), as the native `check` refuses it.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        config: &StateConfig,
        w: Option<&ExitWitness>,
    ) -> Result<Self, SynthesisError> {
        let count = config.markets.len();
        if w.is_some_and(|w| w.markets.len() != count || w.leaf.positions.len() != count) {
            return Err(SynthesisError::Unsatisfiable);
        }
        let leaf = AccountLeafVar::new_witness(cs.clone(), count, w.map(|w| &w.leaf))?;
        let proof = MerkleProofVar::new_variable_with_depth(
            cs.clone(),
            usize::from(config.account_tree_depth),
            || {
                w.map(ExitWitness::proof)
                    .ok_or(SynthesisError::AssignmentMissing)
            },
            AllocationMode::Witness,
        )?;
        let accounts_root = FpVar::new_witness(cs.clone(), || {
            w.map(|w| w.accounts_root)
                .ok_or(SynthesisError::AssignmentMissing)
        })?;
        // Without a witness the values are never read (setup mode): any state gives the shape.
        let markets = (0..count)
            .map(|m| {
                let state = w.map_or(MarketState::default(), |w| w.markets[m]);
                MarketStateVar::new_witness(cs.clone(), &state)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExitWitnessVar {
            leaf,
            proof,
            accounts_root,
            markets,
        })
    }

    /// Twin of `ExitWitness::state_root`.
    pub fn state_root(&self) -> Result<FpVar<Fr>, SynthesisError> {
        poseidon2(&self.accounts_root, &markets_hash(&self.markets)?)
    }

    /// Twin of `ExitWitness::check`: enforces that this witness opens `inputs.state_root` and
    /// that its exit is exactly `inputs` (account, owner, amount, mark prices).
    ///
    /// # Panics
    /// When `params` or the inputs' mark prices do not have one entry per market (a
    /// circuit-shape error).
    pub fn enforce_check(
        &self,
        params: &[MarketParams],
        inputs: &ExitPublicInputsVar,
    ) -> Result<(), SynthesisError> {
        assert_eq!(
            params.len(),
            self.markets.len(),
            "one parameter set per market"
        );
        assert_eq!(
            inputs.mark_prices.len(),
            self.markets.len(),
            "one mark price per market"
        );
        self.proof
            .enforce_root(&self.accounts_root, &self.leaf.hash()?)?;
        enforce_equal(&self.proof.index()?, &inputs.account)?;
        enforce_equal(&self.state_root()?, &inputs.state_root)?;
        enforce_equal(&self.leaf.l1_address, &inputs.owner)?;
        for (market, price) in self.markets.iter().zip(&inputs.mark_prices) {
            enforce_equal(&market.mark_price, price)?;
        }
        enforce_equal(
            &exit_amount(&self.leaf, &self.markets, params)?,
            &inputs.amount,
        )
    }
}

/// Twin of `exit::exit_amount`: `max(0, TV)` after settling funding, at the markets' marks.
///
/// Preconditions: the leaf and markets were allocated range-checked (`AccountLeafVar`,
/// `MarketStateVar`), so the settlement's products and `TV` stay far from the modulus.
pub fn exit_amount(
    leaf: &AccountLeafVar,
    markets: &[MarketStateVar],
    params: &[MarketParams],
) -> Result<FpVar<Fr>, SynthesisError> {
    let indices: Vec<FpVar<Fr>> = markets.iter().map(|m| m.funding_index.clone()).collect();
    let (collateral, positions) = settle_funding(&leaf.collateral, &leaf.positions, &indices)?;
    let sizes: Vec<FpVar<Fr>> = positions.iter().map(|p| p.size.clone()).collect();
    let marks: Vec<FpVar<Fr>> = markets.iter().map(|m| m.mark_price.clone()).collect();
    let tv = total_value(&collateral, &sizes, &marks, params);
    let nonnegative = is_nonnegative(&tv, EXIT_AMOUNT_BITS)?;
    nonnegative.select(&tv, &FpVar::zero())
}

/// The exit circuit: the tree depth and the market parameters are constants of the circuit
/// (one verifying key per deployment); the witness and the public inputs are the prover's.
#[derive(Debug, Clone)]
pub struct ExitCircuit {
    pub config: Arc<StateConfig>,
    pub witness: Option<ExitWitness>,
    /// `ExitPublicInputs::to_field_elements`: what the contract's `exitInputs` passes the
    /// verifier.
    pub public_inputs: Option<Vec<Fr>>,
}

impl ExitCircuit {
    /// The circuit proving `witness`'s exit against `state_root` (the L1's last verified root),
    /// after checking it natively: a witness the native check refuses never reaches the prover.
    pub fn new(
        config: Arc<StateConfig>,
        witness: ExitWitness,
        state_root: Fr,
    ) -> Result<Self, ExitError> {
        let public_inputs = witness.public_inputs(&config, state_root)?;
        Ok(ExitCircuit {
            config,
            witness: Some(witness),
            public_inputs: Some(public_inputs),
        })
    }

    /// The circuit without a witness, for key generation and constraint counts.
    pub fn blank(config: Arc<StateConfig>) -> Self {
        ExitCircuit {
            config,
            witness: None,
            public_inputs: None,
        }
    }
}

impl ConstraintSynthesizer<Fr> for ExitCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let markets = self.config.markets.len();
        let inputs =
            ExitPublicInputsVar::new_input(cs.clone(), markets, self.public_inputs.as_deref())?;
        let witness = ExitWitnessVar::new_witness(cs, &self.config, self.witness.as_ref())?;
        witness.enforce_check(&self.config.markets, &inputs)
    }
}
