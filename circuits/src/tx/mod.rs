//! The transaction gadgets, one file per kind, each the twin of the native `execute_*` of the
//! same name in `zkperp_state::tx`. A kind's file holds all the circuit knows of it: its slot
//! witness (built from the native receipt), the dummy an unused slot carries, and the gadget,
//! which runs against the batch's [`crate::batch::BatchVar`] and gates every rule on its slot's
//! `enabled` bit, so an unused slot is a no-op. The slot witness and its dispatch are generated
//! from `zkperp_state::for_each_kind!` (`crate::witness::SlotWitness`).

use ark_r1cs_std::boolean::Boolean;
use ark_relations::gr1cs::SynthesisError;
use zkperp_state::batch::{AppliedTx, SealedBatch};
use zkperp_state::state::StateConfig;
use zkperp_state::tx::Kind;
use zkperp_state::Fr;

use crate::batch::BatchVar;
use crate::witness::ReceiptError;

/// The circuit's side of a transaction kind.
pub trait Gadget: Kind {
    /// What a slot of this kind is given.
    type Witness: Clone + std::fmt::Debug;
    /// The witness of a slot holding `tx`, applied as `applied` records (in `batch`).
    fn witness(
        config: &StateConfig,
        batch: &SealedBatch,
        tx: &Self,
        applied: &AppliedTx,
    ) -> Result<Self::Witness, ReceiptError>;
    /// The witness of an unused slot: any values of the right shape (the gadget ignores them).
    fn dummy(config: &StateConfig) -> Self::Witness;
    /// The gadget: the kind's rules when `enabled`, nothing otherwise.
    fn synthesize(
        b: &mut BatchVar,
        w: &Self::Witness,
        enabled: &Boolean<Fr>,
    ) -> Result<(), SynthesisError>;
}

macro_rules! declare_modules {
    ($($variant:ident($ty:ident) $module:ident $field:ident $letter:literal,)*) => {
        $(pub mod $module;)*
    };
}

zkperp_state::for_each_kind!(declare_modules);
