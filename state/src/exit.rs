//! The exit: after a freeze, each account's L1 owner takes out what the account is worth, once,
//! with a Groth16 proof they make alone from their own leaf (served by the API) and the public
//! history. This module is the specification the exit circuit (`circuits/src/exit.rs`) follows.
//!
//! ```text
//! public inputs (Rollup.sol exitInputs, in order):
//!   [0] state root = Poseidon(account tree root, markets hash)    the last verified root
//!   [1] account id                                                the leaf's index in the tree
//!   [2] L1 owner as uint160                                       the leaf's l1_address
//!   [3] amount = max(0, TV)                                       < 2^EXIT_AMOUNT_BITS
//!   [4 + m] mark price of market m                                the root's markets
//!
//! TV = collateral' + sum_m size_m * mark_m * tick_value_m    after settling pending funding:
//! collateral' = collateral - sum_m size_m * (index_m - cached_m) (funding::settle_funding)
//! ```
//! Widths (`units`): the settled collateral is range-checked to `|c| < 2^63` and each notional is
//! `< 2^96`, so `|TV| < 2^63 + 8 * 2^96 < 2^100 = EXIT_AMOUNT_LIMIT` of the contract. A settlement
//! that would leave the balance outside its width is an error here and unsatisfiable in the
//! circuit, exactly as for every transaction that touches the account.
//!
//! The witness is for the state it was taken from: the exit proof must be made against the last
//! root the L1 verified, so take it from the state as of the last sealed batch (what a frozen
//! rollup holds), not from the middle of an open batch.

use serde::{Deserialize, Serialize};

use crate::field::{fr_to_decimal, Fr};
use crate::funding::settle_funding;
use crate::leaf::AccountLeaf;
use crate::margin::total_value;
use crate::market::{MarketParams, MarketState};
use crate::merkle::{MerkleProof, NodeStore};
use crate::state::{State, StateConfig};
use crate::units::{
    AccountId, L1Address, PriceTicks, RangeError, COLLATERAL_BITS, MAX_MARKETS, PRICE_BITS,
    SIZE_BITS, TICK_VALUE_BITS,
};

/// Exit amounts are `< 2^EXIT_AMOUNT_BITS`: one bit above the widest term of `TV` (a notional
/// times the market count, or the collateral), since the sum of two terms below `2^k` is below
/// `2^(k+1)`. Equal to the contract's `EXIT_AMOUNT_LIMIT = 1 << 100` (a test reads Rollup.sol).
pub const EXIT_AMOUNT_BITS: u32 = {
    let notionals =
        SIZE_BITS + PRICE_BITS + TICK_VALUE_BITS + MAX_MARKETS.next_power_of_two().ilog2();
    let widest = if notionals > COLLATERAL_BITS {
        notionals
    } else {
        COLLATERAL_BITS
    };
    widest + 1
};

const _: () = assert!(
    EXIT_AMOUNT_BITS == 100,
    "Rollup.sol's EXIT_AMOUNT_LIMIT is 2^100"
);

/// Why an exit witness cannot be built or does not prove an exit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExitError {
    #[error("account {0} does not exist")]
    NoSuchAccount(AccountId),
    #[error("the configuration has {expected} markets, the witness {got}")]
    MarketCount { expected: usize, got: usize },
    #[error("the leaf has {got} positions, the configuration {expected} markets")]
    PositionCount { expected: usize, got: usize },
    #[error("the path has {got} levels, the account tree {expected}")]
    Depth { expected: usize, got: usize },
    #[error("the leaf is not at account {0} under the witness's account tree root")]
    NotInTree(AccountId),
    #[error("the witness gives state root {got}, not {expected}")]
    StateRoot { expected: String, got: String },
    #[error("settling funding: {0}")]
    Funding(#[from] RangeError),
    #[error("node store: {0}")]
    Store(String),
}

/// What the account may take out: its total value after settling pending funding, at the
/// markets' mark prices, or zero when that is negative (a bankrupt account exits with nothing;
/// its debt stays with the system).
pub fn exit_amount(
    leaf: &AccountLeaf,
    markets: &[MarketState],
    params: &[MarketParams],
) -> Result<u128, ExitError> {
    if markets.len() != params.len() {
        return Err(ExitError::MarketCount {
            expected: params.len(),
            got: markets.len(),
        });
    }
    if leaf.positions.len() != params.len() {
        return Err(ExitError::PositionCount {
            expected: params.len(),
            got: leaf.positions.len(),
        });
    }
    let mut settled = leaf.clone();
    settle_funding(&mut settled, markets)?;
    let tv = total_value(settled.collateral, &settled.positions, markets, params);
    // |TV| < 2^EXIT_AMOUNT_BITS (module header), so the non-negative part fits u128.
    Ok(tv.max(0).unsigned_abs())
}

pub use crate::market::{markets_hash, state_root};

/// The exit proof's public inputs, typed. [`ExitPublicInputs::to_field_elements`] gives them in
/// the order the contract's `exitInputs` builds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitPublicInputs {
    #[serde(with = "crate::field::serde_fr")]
    pub state_root: Fr,
    pub account: AccountId,
    pub owner: L1Address,
    /// `max(0, TV)`, `< 2^EXIT_AMOUNT_BITS`; a decimal string in JSON (it exceeds 2^53).
    #[serde(with = "crate::field::serde_u128")]
    pub amount: u128,
    pub mark_prices: Vec<PriceTicks>,
}

impl ExitPublicInputs {
    /// `[state root, account, owner, amount, mark price 0, .., mark price M-1]`.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        let mut v = vec![
            self.state_root,
            Fr::from(self.account.get()),
            self.owner.to_field(),
            Fr::from(self.amount),
        ];
        v.extend(self.mark_prices.iter().map(|p| Fr::from(p.get())));
        v
    }
}

/// Everything an exit proof opens, in the clear: the leaf, its path in the account tree, the
/// account tree root, and the markets' states (whose hash is the other half of the state root).
/// What the API serves a trader, who can then prove an exit without the sequencer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitWitness {
    pub account: AccountId,
    pub leaf: AccountLeaf,
    /// The path's siblings from the leaf level up (`MerkleProof::siblings`).
    #[serde(with = "crate::field::serde_fr_vec")]
    pub siblings: Vec<Fr>,
    #[serde(with = "crate::field::serde_fr")]
    pub accounts_root: Fr,
    pub markets: Vec<MarketState>,
}

impl ExitWitness {
    /// The leaf's path in the account tree.
    pub fn proof(&self) -> MerkleProof {
        MerkleProof {
            index: self.account.get(),
            siblings: self.siblings.clone(),
        }
    }

    /// The state root the witness opens.
    pub fn state_root(&self) -> Fr {
        state_root(self.accounts_root, &self.markets)
    }

    /// Checks the witness against `state_root` (the L1's last verified root) and the
    /// configuration, and returns the public inputs of its exit proof.
    pub fn check(
        &self,
        config: &StateConfig,
        state_root: Fr,
    ) -> Result<ExitPublicInputs, ExitError> {
        let markets = config.markets.len();
        if self.markets.len() != markets {
            return Err(ExitError::MarketCount {
                expected: markets,
                got: self.markets.len(),
            });
        }
        if self.leaf.positions.len() != markets {
            return Err(ExitError::PositionCount {
                expected: markets,
                got: self.leaf.positions.len(),
            });
        }
        let depth = usize::from(config.account_tree_depth);
        if self.siblings.len() != depth {
            return Err(ExitError::Depth {
                expected: depth,
                got: self.siblings.len(),
            });
        }
        if !self.proof().verify(self.accounts_root, self.leaf.hash()) {
            return Err(ExitError::NotInTree(self.account));
        }
        let got = self.state_root();
        if got != state_root {
            return Err(ExitError::StateRoot {
                expected: fr_to_decimal(&state_root),
                got: fr_to_decimal(&got),
            });
        }
        Ok(ExitPublicInputs {
            state_root,
            account: self.account,
            owner: self.leaf.l1_address,
            amount: exit_amount(&self.leaf, &self.markets, &config.markets)?,
            mark_prices: self.markets.iter().map(|m| m.mark_price).collect(),
        })
    }

    /// As [`ExitWitness::check`], the public inputs as the verifier takes them.
    pub fn public_inputs(
        &self,
        config: &StateConfig,
        state_root: Fr,
    ) -> Result<Vec<Fr>, ExitError> {
        Ok(self.check(config, state_root)?.to_field_elements())
    }
}

impl<S: NodeStore> State<S> {
    /// The exit witness of account `id` in the current state (take it at a sealed batch: see the
    /// module header).
    pub fn exit_witness(&self, id: AccountId) -> Result<ExitWitness, ExitError> {
        let account = self.account(id).ok_or(ExitError::NoSuchAccount(id))?;
        let proof = self
            .account_tree()
            .proof(id.index())
            .map_err(|e| ExitError::Store(e.to_string()))?;
        Ok(ExitWitness {
            account: id,
            leaf: account.leaf.clone(),
            siblings: proof.siblings,
            accounts_root: self.accounts_root(),
            markets: self.markets().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf::Position;
    use crate::testkit::{btc, eth, Fixture};
    use crate::tx::{FundingTick, Transaction};
    use crate::units::{BaseLots, Collateral, FundingIndex, TickValue};

    /// Two traders with opposite positions in both markets, prices moved and funding pending
    /// (the ticks come after the trades, so no leaf has settled them), sealed.
    fn scenario() -> Fixture {
        let mut f = Fixture::new(3);
        f.deposit(0, 1_000_000_000);
        f.deposit(1, 1_000_000_000);
        f.deposit(2, 5_000_000);
        f.trade(0, 1, btc(), 1_000, 500_000).expect("trade");
        f.trade(1, 0, eth(), 300, 3_000_000).expect("trade");
        f.advance(600);
        f.set_price(btc(), 520_000);
        f.set_price(eth(), 2_900_000);
        for (market, index) in [(btc(), 40), (eth(), -25)] {
            f.apply(Transaction::FundingTick(FundingTick {
                market,
                index: FundingIndex::new(index).expect("index"),
            }))
            .expect("funding tick");
        }
        f.advance(60);
        f
    }

    #[test]
    fn the_amount_is_total_value_after_funding() {
        let f = scenario();
        let params = &f.state.config().markets;
        let markets = f.state.markets();
        for trader in 0..2 {
            let id = f.id(trader);
            let leaf = &f.state.account(id).expect("account").leaf;
            let mut settled = leaf.clone();
            settle_funding(&mut settled, markets).expect("settles");
            assert_ne!(settled.collateral, leaf.collateral, "funding is pending");
            let tv = total_value(settled.collateral, &settled.positions, markets, params);
            assert_eq!(
                exit_amount(leaf, markets, params),
                Ok(tv.max(0).unsigned_abs())
            );
        }
        // Funding is zero-sum and every lot has a counterparty: the amounts of the whole
        // exchange add up to the collateral deposited (no account is bankrupt here).
        let total: u128 = f
            .state
            .accounts()
            .map(|(_, a)| exit_amount(&a.leaf, markets, params).expect("amount"))
            .sum();
        assert_eq!(total, 2_005_000_000);
    }

    #[test]
    fn a_negative_total_value_exits_with_zero() {
        let f = scenario();
        let params = &f.state.config().markets;
        let mut leaf = f.state.account(f.id(0)).expect("account").leaf.clone();
        leaf.collateral = Collateral::new(-(1i128 << 62)).expect("collateral");
        assert!(total_value(leaf.collateral, &leaf.positions, f.state.markets(), params) < 0);
        assert_eq!(exit_amount(&leaf, f.state.markets(), params), Ok(0));
    }

    #[test]
    fn an_overflowing_settlement_is_refused() {
        let f = scenario();
        let params = &f.state.config().markets;
        let mut leaf = f.state.account(f.id(0)).expect("account").leaf.clone();
        leaf.collateral = Collateral::new(i128::from(i64::MAX)).expect("collateral");
        // A short of 2^39 lots receives 2^30 per lot: 2^69 units more than the balance holds.
        leaf.positions[0] = Position {
            size: BaseLots::new(-(1i128 << 39)).expect("size"),
            funding_index: FundingIndex::new(f.state.markets()[0].funding_index.get() - (1 << 30))
                .expect("index"),
        };
        assert!(matches!(
            exit_amount(&leaf, f.state.markets(), params),
            Err(ExitError::Funding(_))
        ));
    }

    #[test]
    fn the_widest_account_fits_the_contract_limit() {
        let f = Fixture::new(0);
        let mut params = f.state.config().markets.clone();
        let widest = |bits: u32| (1i128 << bits) - 1;
        let mut market = params[0].clone();
        market.tick_value = TickValue::new(widest(TICK_VALUE_BITS) as u64).expect("tick value");
        params = vec![market; MAX_MARKETS];
        let markets = vec![
            MarketState {
                mark_price: PriceTicks::new(widest(PRICE_BITS) as u64).expect("price"),
                ..Default::default()
            };
            MAX_MARKETS
        ];
        let mut leaf = f
            .state
            .account(AccountId::FEES)
            .expect("account")
            .leaf
            .clone();
        leaf.collateral = Collateral::new(widest(COLLATERAL_BITS)).expect("collateral");
        leaf.positions = vec![
            Position {
                size: BaseLots::new(widest(SIZE_BITS)).expect("size"),
                funding_index: FundingIndex::ZERO,
            };
            MAX_MARKETS
        ];
        let amount = exit_amount(&leaf, &markets, &params).expect("amount");
        assert!(amount > 1 << 98 && amount < 1 << EXIT_AMOUNT_BITS);
    }

    #[test]
    fn the_contract_limit_is_this_width() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/src/Rollup.sol");
        let source = std::fs::read_to_string(path).expect("Rollup.sol");
        let line =
            format!("uint256 internal constant EXIT_AMOUNT_LIMIT = 1 << {EXIT_AMOUNT_BITS};");
        assert!(source.contains(&line), "Rollup.sol must say `{line}`");
    }

    #[test]
    fn the_witness_opens_the_state_root_and_gives_the_contract_inputs() {
        let f = scenario();
        let config = f.state.config();
        assert_eq!(markets_hash(f.state.markets()), f.state.markets_hash());
        let root = f.state.root();
        for (id, account) in f.state.accounts() {
            let w = f.state.exit_witness(*id).expect("witness");
            assert_eq!(w.state_root(), root);
            let inputs = w.check(config, root).expect("valid witness");
            let amount =
                exit_amount(&account.leaf, f.state.markets(), &config.markets).expect("amount");
            let mut expected = vec![
                root,
                Fr::from(id.get()),
                account.leaf.l1_address.to_field(),
                Fr::from(amount),
            ];
            expected.extend(
                f.state
                    .markets()
                    .iter()
                    .map(|m| Fr::from(m.mark_price.get())),
            );
            assert_eq!(w.public_inputs(config, root), Ok(expected));
            assert_eq!(inputs.owner, account.leaf.l1_address);
        }
        let missing = AccountId::new(200).expect("id");
        assert_eq!(
            f.state.exit_witness(missing),
            Err(ExitError::NoSuchAccount(missing))
        );
    }

    #[test]
    fn a_witness_that_does_not_open_the_root_is_refused() {
        let f = scenario();
        let config = f.state.config();
        let root = f.state.root();
        let honest = f.state.exit_witness(f.id(0)).expect("witness");
        let tamper = |change: &dyn Fn(&mut ExitWitness)| {
            let mut w = honest.clone();
            change(&mut w);
            w.check(config, root)
        };
        assert!(matches!(
            tamper(&|w| w.leaf.collateral = Collateral::new(1).expect("c")),
            Err(ExitError::NotInTree(_))
        ));
        assert!(matches!(
            tamper(&|w| w.siblings[3] += Fr::from(1u64)),
            Err(ExitError::NotInTree(_))
        ));
        assert!(matches!(
            tamper(&|w| w.account = f.id(1)),
            Err(ExitError::NotInTree(_))
        ));
        assert!(matches!(
            tamper(&|w| w.markets[1].mark_price = PriceTicks::new(1).expect("p")),
            Err(ExitError::StateRoot { .. })
        ));
        assert!(matches!(
            tamper(&|w| {
                w.siblings.pop();
            }),
            Err(ExitError::Depth { .. })
        ));
        assert!(matches!(
            tamper(&|w| {
                w.markets.pop();
            }),
            Err(ExitError::MarketCount { .. })
        ));
        assert!(matches!(
            honest.check(config, root + Fr::from(1u64)),
            Err(ExitError::StateRoot { .. })
        ));
    }

    #[test]
    fn serde_round_trip() {
        let f = scenario();
        let w = f.state.exit_witness(f.id(1)).expect("witness");
        let json = serde_json::to_string(&w).expect("serialise");
        assert_eq!(
            serde_json::from_str::<ExitWitness>(&json).expect("parse"),
            w
        );
        let inputs = w.check(f.state.config(), f.state.root()).expect("inputs");
        let json = serde_json::to_string(&inputs).expect("serialise");
        assert!(json.contains(&format!("\"amount\":\"{}\"", inputs.amount)));
        assert_eq!(
            serde_json::from_str::<ExitPublicInputs>(&json).expect("parse"),
            inputs
        );
        // A sibling at or above the modulus is refused, not reduced.
        let r = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
        let bad = json_with_first_sibling(&serde_json::to_string(&w).expect("json"), r);
        assert!(serde_json::from_str::<ExitWitness>(&bad).is_err());
    }

    fn json_with_first_sibling(json: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(json).expect("json");
        v["siblings"][0] = serde_json::Value::String(value.into());
        v.to_string()
    }
}
