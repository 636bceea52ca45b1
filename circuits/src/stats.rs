//! Constraint counts: of each slot kind, of a whole batch shape, of any circuit. Counting
//! synthesizes in setup mode (no witness values), so it costs seconds even at production depths.

use std::sync::Arc;

use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisError, SynthesisMode,
};
use serde::Serialize;
use zkperp_state::batch::{Shape, SlotKind};
use zkperp_state::state::StateConfig;
use zkperp_state::Fr;

use crate::batch::BatchCircuit;
use crate::witness::{supported, WitnessError};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Witness(#[from] WitnessError),
    #[error("synthesis: {0}")]
    Synthesis(#[from] SynthesisError),
}

/// The number of constraints of `circuit`.
pub fn constraints(circuit: impl ConstraintSynthesizer<Fr>) -> Result<usize, SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();
    Ok(cs.num_constraints())
}

/// The batch circuit of `shape`.
pub fn batch_constraints(config: &Arc<StateConfig>, shape: Shape) -> Result<usize, StatsError> {
    Ok(constraints(BatchCircuit::blank(config.clone(), shape)?)?)
}

/// What one slot of a kind adds to a batch, averaged over `SAMPLE` slots so that the SHA-256
/// blocks its bytes fill are counted fairly.
#[derive(Debug, Clone, Serialize)]
pub struct SlotCost {
    pub kind: &'static str,
    pub constraints: usize,
}

const SAMPLE: usize = 4;

/// A shape with `n` slots of `kind` and nothing else.
pub fn only(kind: SlotKind, n: u16) -> Shape {
    let mut shape = Shape::default();
    let count = match kind {
        SlotKind::OracleTick => &mut shape.oracle_ticks,
        SlotKind::FundingTick => &mut shape.funding_ticks,
        SlotKind::Liquidation => &mut shape.liquidations,
        SlotKind::Deleverage => &mut shape.deleverages,
        SlotKind::Deposit => &mut shape.deposits,
        SlotKind::ForcedWithdrawal => &mut shape.forced_withdrawals,
        SlotKind::Trade => &mut shape.trades,
        SlotKind::Withdrawal => &mut shape.withdrawals,
        SlotKind::CancelOrder => &mut shape.cancels,
    };
    *count = n;
    shape
}

/// The marginal cost of each slot kind the circuit supports.
pub fn slot_costs(config: &Arc<StateConfig>) -> Result<Vec<SlotCost>, StatsError> {
    let empty = batch_constraints(config, Shape::default())?;
    SlotKind::ALL
        .into_iter()
        .filter(|k| supported(*k))
        .map(|kind| {
            let n = batch_constraints(config, only(kind, SAMPLE as u16))?;
            Ok(SlotCost {
                kind: kind.name(),
                constraints: (n - empty).div_ceil(SAMPLE),
            })
        })
        .collect()
}
