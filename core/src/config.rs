//! What the core is started with: the state machine's configuration, the fees and the batch
//! circuit's shape. Changing any of it changes what a replay of the journal produces.

use zkperp_state::batch::Shape;
use zkperp_state::merkle::MemoryStore;
use zkperp_state::state::{StateConfig, StateError};
use zkperp_state::State;

use crate::batcher::{Batcher, BatcherError};
use crate::engine::{Engine, FeeSchedule};

/// Why the genesis builder cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Batcher(#[from] BatcherError),
}

/// What a sequencer is started with. Changing any of it changes what a replay of the journal
/// produces: it is fixed for the life of a journal.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    pub state: StateConfig,
    pub fees: FeeSchedule,
    /// The slots of the batch circuit: every sealed batch fits it.
    pub shape: Shape,
}

impl SequencerConfig {
    /// What a snapshot records of the configuration, to be used only under the same one.
    pub fn fingerprint(&self) -> String {
        serde_json::json!({
            "state": self.state,
            "shape": self.shape,
            "fees": [self.fees.maker_ppm, self.fees.taker_ppm],
        })
        .to_string()
    }

    /// A batch builder over the genesis state, with no batch open.
    pub fn genesis(&self) -> Result<Batcher<MemoryStore>, ConfigError> {
        let engine = Engine::new(State::genesis(self.state.clone())?, self.fees);
        Ok(Batcher::new(engine, self.shape)?)
    }
}
