//! The exit circuit against the native exit (`zkperp_state::exit`): random accounts with
//! positions and pending funding in trees of depth 4 to 8, and the accounts of a state-machine
//! scenario, give the native amount in-circuit and satisfy the circuit with the native public
//! inputs. Then one value at a time is tampered with, and the circuit must refuse it.

use std::sync::{Arc, OnceLock};

use ark_ff::{AdditiveGroup, Field};
use ark_r1cs_std::GR1CSVar;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, SynthesisError, SynthesisMode,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_circuits::exit::{exit_amount, ExitCircuit, ExitPublicInputsVar, ExitWitnessVar};
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::exit::{self as native, ExitWitness, EXIT_AMOUNT_BITS};
use zkperp_state::field::fr_from_i128;
use zkperp_state::funding::settle_funding;
use zkperp_state::leaf::{AccountLeaf, Position};
use zkperp_state::margin::total_value;
use zkperp_state::market::MarketState;
use zkperp_state::merkle::SparseMerkleTree;
use zkperp_state::state::StateConfig;
use zkperp_state::testkit::*;
use zkperp_state::tx::{FundingTick, Transaction};
use zkperp_state::units::{
    AccountId, BaseLots, Collateral, FundingIndex, L1Address, Nonce, PriceTicks, TickValue,
    Timestamp,
};
use zkperp_state::Fr;

/// The testkit's configuration (two markets, the fixture's keys), built once.
fn base_config() -> &'static StateConfig {
    static CONFIG: OnceLock<StateConfig> = OnceLock::new();
    CONFIG.get_or_init(|| Fixture::new(0).state.config().clone())
}

fn is_satisfied(cs: &ConstraintSystemRef<Fr>) -> bool {
    let ok = cs.is_satisfied().expect("satisfiability");
    if !ok {
        eprintln!("unsatisfied: {:?}", cs.which_is_unsatisfied());
    }
    ok
}

/// Synthesises `circuit` with its witness: satisfied, or refused (an unsatisfied constraint or
/// a witness of the wrong shape).
fn satisfied(circuit: ExitCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    match circuit.generate_constraints(cs.clone()) {
        Ok(()) => is_satisfied(&cs),
        Err(SynthesisError::Unsatisfiable) => false,
        Err(e) => panic!("synthesis: {e}"),
    }
}

/// An account and the tree and markets around it.
#[derive(Debug, Clone)]
struct Case {
    config: Arc<StateConfig>,
    witness: ExitWitness,
}

impl Case {
    fn root(&self) -> Fr {
        self.witness.state_root()
    }

    fn circuit(&self) -> ExitCircuit {
        ExitCircuit::new(self.config.clone(), self.witness.clone(), self.root())
            .expect("the native check accepts the honest witness")
    }

    fn amount(&self) -> u128 {
        native::exit_amount(
            &self.witness.leaf,
            &self.witness.markets,
            &self.config.markets,
        )
        .expect("amount")
    }

    /// TV after funding, unclamped.
    fn total_value(&self) -> i128 {
        let mut leaf = self.witness.leaf.clone();
        settle_funding(&mut leaf, &self.witness.markets).expect("settles");
        total_value(
            leaf.collateral,
            &leaf.positions,
            &self.witness.markets,
            &self.config.markets,
        )
    }
}

/// A random account with `markets` positions (some flat) whose cached funding indices lag the
/// markets', in a tree of `depth` levels with other random leaves.
fn random_case(rng: &mut ChaCha20Rng, depth: u8, markets: usize) -> Case {
    let base = base_config();
    let mut config = base.clone();
    config.account_tree_depth = depth;
    config.markets = (0..markets)
        .map(|m| {
            let mut p = base.markets[m % base.markets.len()].clone();
            p.tick_value = TickValue::new(rng.gen_range(1..1 << 16) >> rng.gen_range(0..16))
                .expect("tick value")
                .max(TickValue::new(1).expect("one"));
            p
        })
        .collect();
    let states: Vec<MarketState> = (0..markets)
        .map(|_| MarketState {
            mark_price: PriceTicks::new(rng.gen_range(1..1u64 << 40) >> rng.gen_range(0..30))
                .expect("price"),
            funding_index: FundingIndex::new(rng.gen_range(-(1i128 << 40)..1i128 << 40))
                .expect("index"),
            last_funding: Timestamp::new(rng.gen_range(START..START + 1_000_000)).expect("time"),
            mark_time: Timestamp::new(rng.gen_range(START..START + 1_000_000)).expect("time"),
            open_interest: rng.gen_range(0..1u64 << 48),
            index_price: PriceTicks::new(rng.gen_range(1..1u64 << 40)).expect("price"),
            quotes_disagree: rng.gen(),
        })
        .collect();
    let positions = states
        .iter()
        .map(|m| {
            let size = if rng.gen_bool(0.2) {
                0
            } else {
                rng.gen_range(-(1i128 << 39)..1i128 << 39) >> rng.gen_range(0..39)
            };
            // A lag of up to 2^20 per lot: payments below 2^59, so the balance stays in width.
            let lag = rng.gen_range(-(1i128 << 20)..1i128 << 20);
            Position {
                size: BaseLots::new(size).expect("size"),
                funding_index: FundingIndex::new(m.funding_index.get() - lag).expect("index"),
            }
        })
        .collect();
    let mut l1 = [0u8; 20];
    rng.fill(&mut l1);
    let leaf = AccountLeaf {
        public_key: PrivateKey::random(rng).public_key(),
        l1_address: L1Address(l1),
        collateral: Collateral::new(
            rng.gen_range(-(1i128 << 61)..1i128 << 61) >> rng.gen_range(0..60),
        )
        .expect("collateral"),
        nonce: Nonce::new(rng.gen_range(0..1 << 32)).expect("nonce"),
        order_floor: zkperp_state::units::OrderId::new(rng.gen_range(0..1 << 40)).expect("floor"),
        positions,
        orders_root: Fr::from(rng.gen::<u128>()),
        salt: Fr::from(rng.gen::<u128>()) * Fr::from(rng.gen::<u128>()),
    };
    let capacity = 1u64 << depth;
    let mut tree = SparseMerkleTree::new(depth).expect("depth");
    for _ in 0..6 {
        tree.update(rng.gen_range(0..capacity), Fr::from(rng.gen::<u64>()))
            .expect("update");
    }
    let id = rng.gen_range(0..capacity);
    tree.update(id, leaf.hash()).expect("update");
    Case {
        config: Arc::new(config),
        witness: ExitWitness {
            account: AccountId::new(id).expect("id"),
            leaf,
            siblings: tree.proof(id).expect("proof").siblings,
            accounts_root: tree.root(),
            markets: states,
        },
    }
}

/// The amount the gadget computes for `case`'s witness, and whether the allocation is satisfied.
fn gadget_amount(case: &Case) -> (Fr, bool) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let w = ExitWitnessVar::new_witness(cs.clone(), &case.config, Some(&case.witness))
        .expect("allocate");
    let amount = exit_amount(&w.leaf, &w.markets, &case.config.markets).expect("gadget");
    (amount.value().expect("value"), is_satisfied(&cs))
}

#[test]
fn random_accounts_exit_with_the_native_amount() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (mut zero, mut positive) = (0, 0);
    for i in 0..18 {
        let depth = [4u8, 6, 8][i % 3];
        let markets = 1 + i % 3;
        let case = random_case(&mut rng, depth, markets);
        let amount = case.amount();
        assert_eq!(amount, case.total_value().max(0).unsigned_abs());
        assert!(amount < 1 << EXIT_AMOUNT_BITS);
        let (in_circuit, ok) = gadget_amount(&case);
        assert!(ok);
        assert_eq!(in_circuit, Fr::from(amount), "case {i}");
        let circuit = case.circuit();
        assert_eq!(
            circuit.public_inputs.as_deref().map(|v| v[3]),
            Some(Fr::from(amount))
        );
        assert!(satisfied(circuit), "case {i}");
        if amount == 0 {
            zero += 1
        } else {
            positive += 1
        }
    }
    assert!(
        zero >= 3 && positive >= 3,
        "both outcomes exercised: {zero} zero, {positive} positive"
    );
}

#[test]
fn every_account_of_the_state_machine_can_exit() {
    let mut f = Fixture::with_depths(3, 5, 3);
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
    let config = Arc::new(f.state.config().clone());
    let root = f.state.root();
    let mut total = 0u128;
    for (id, _) in f.state.accounts() {
        let w = f.state.exit_witness(*id).expect("witness");
        let circuit = ExitCircuit::new(config.clone(), w, root).expect("native check");
        let inputs = circuit.public_inputs.clone().expect("inputs");
        assert_eq!(inputs.len(), 4 + 2);
        assert_eq!(inputs[0], root);
        assert_eq!(inputs[1], Fr::from(id.get()));
        total += zkperp_state::field::fr_to_u128(&inputs[3]).expect("amount");
        assert!(satisfied(circuit), "account {id}");
    }
    // Zero-sum trading and funding: the exits pay out exactly what was deposited.
    assert_eq!(total, 2_005_000_000);
}

/// A case with two markets, open positions and a positive amount.
fn honest_positive() -> Case {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    loop {
        let case = random_case(&mut rng, 6, 2);
        let p = &case.witness.leaf.positions;
        if case.amount() > 0 && p.iter().all(|p| !p.size.is_zero()) {
            return case;
        }
    }
}

/// A case with two markets whose total value is negative.
fn honest_negative() -> Case {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    loop {
        let case = random_case(&mut rng, 6, 2);
        if case.total_value() < 0 {
            return case;
        }
    }
}

type Tamper = Box<dyn Fn(&mut ExitWitness, &mut Vec<Fr>)>;

/// Each tamper changes one value a rule protects; the honest circuit must pass and each tampered
/// one must be refused.
fn refuses_each(case: &Case, tampers: Vec<(&str, Tamper)>) {
    assert!(satisfied(case.circuit()), "the honest witness");
    for (name, tamper) in tampers {
        let mut c = case.circuit();
        let (w, inputs) = (
            c.witness.as_mut().expect("witness"),
            c.public_inputs.as_mut().expect("inputs"),
        );
        tamper(w, inputs);
        assert!(!satisfied(c), "{name} must be refused");
    }
}

fn two_pow(bits: u32) -> Fr {
    Fr::from(2u64).pow([u64::from(bits)])
}

#[test]
fn each_rule_refuses_its_tampered_value() {
    let case = honest_positive();
    let depth = u32::from(case.config.account_tree_depth);
    let one = Fr::ONE;
    let other_id = Fr::from(case.witness.account.get() ^ 1);
    let params = case.config.markets.clone();
    let tampers: Vec<(&str, Tamper)> = vec![
        // The amount.
        ("amount + 1", Box::new(move |_, i| i[3] += one)),
        ("amount - 1", Box::new(move |_, i| i[3] -= one)),
        (
            "amount + 2^100",
            Box::new(|_, i| i[3] += two_pow(EXIT_AMOUNT_BITS)),
        ),
        ("amount r - 1", Box::new(|_, i| i[3] = -Fr::ONE)),
        // The owner: the public input, or the leaf's address (then the leaf hash differs).
        ("owner + 1", Box::new(move |_, i| i[2] += one)),
        (
            "leaf address = the claimed owner",
            Box::new(move |w, i| {
                w.leaf.l1_address.0[19] ^= 1;
                i[2] = w.leaf.l1_address.to_field();
            }),
        ),
        // The account id.
        ("another account id", Box::new(move |_, i| i[1] = other_id)),
        (
            "account id + 2^depth",
            Box::new(move |_, i| i[1] += two_pow(depth)),
        ),
        (
            "the path of another index",
            Box::new(|w, _| {
                w.account = AccountId::new(w.account.get() ^ 1).expect("id");
            }),
        ),
        // The Merkle path and the roots.
        ("sibling 0", Box::new(move |w, _| w.siblings[0] += one)),
        (
            "top sibling",
            Box::new(move |w, _| {
                let top = w.siblings.len() - 1;
                w.siblings[top] += one;
            }),
        ),
        (
            "accounts root",
            Box::new(move |w, _| w.accounts_root += one),
        ),
        ("state root + 1", Box::new(move |_, i| i[0] += one)),
        // Mark prices: the public input alone, or the root's market with it (and the amount
        // those prices give), so the markets hash differs from the root's.
        ("mark price 0 + 1", Box::new(move |_, i| i[4] += one)),
        ("mark price 1 - 1", Box::new(move |_, i| i[5] -= one)),
        (
            "a mark price the root does not hold",
            Box::new(move |w, i| {
                w.markets[1].mark_price =
                    PriceTicks::new(w.markets[1].mark_price.get() + 1).expect("price");
                i[5] = Fr::from(w.markets[1].mark_price.get());
                i[3] = Fr::from(native::exit_amount(&w.leaf, &w.markets, &params).expect("amount"));
            }),
        ),
        (
            "a funding index the root does not hold",
            Box::new(|w, _| {
                w.markets[0].funding_index =
                    FundingIndex::new(w.markets[0].funding_index.get() + 1).expect("index");
            }),
        ),
        // The leaf's fields (the claimed amount stays the honest one).
        (
            "collateral + 1",
            Box::new(|w, _| {
                w.leaf.collateral = Collateral::new(w.leaf.collateral.get() + 1).expect("c");
            }),
        ),
        (
            "size + 1",
            Box::new(|w, _| {
                w.leaf.positions[0].size =
                    BaseLots::new(w.leaf.positions[0].size.get() + 1).expect("size");
            }),
        ),
        (
            "cached funding index = the market's (funding skipped)",
            Box::new(|w, _| w.leaf.positions[1].funding_index = w.markets[1].funding_index),
        ),
        ("salt + 1", Box::new(move |w, _| w.leaf.salt += one)),
        // Shapes.
        (
            "one public input short",
            Box::new(|_, i| i.truncate(i.len() - 1)),
        ),
        (
            "a path one level short",
            Box::new(|w, _| w.siblings.truncate(w.siblings.len() - 1)),
        ),
        (
            "a position missing",
            Box::new(|w, _| w.leaf.positions.truncate(1)),
        ),
    ];
    refuses_each(&case, tampers);
}

#[test]
fn the_mark_price_tamper_above_would_be_accepted_with_a_matching_root() {
    // The control for "a mark price the root does not hold": the same change made honestly (the
    // root recomputed) passes, so what refuses the tamper is the root, not the amount.
    let mut case = honest_positive();
    case.witness.markets[1].mark_price =
        PriceTicks::new(case.witness.markets[1].mark_price.get() + 1).expect("price");
    assert!(satisfied(case.circuit()));
}

#[test]
fn a_negative_total_value_exits_with_zero_and_nothing_else() {
    let case = honest_negative();
    let tv = case.total_value();
    assert!(tv < 0);
    assert_eq!(case.amount(), 0);
    let tampers: Vec<(&str, Tamper)> = vec![
        (
            "|TV| claimed as positive",
            Box::new(move |_, i| i[3] = Fr::from(tv.unsigned_abs())),
        ),
        (
            "TV wrapped around the modulus (r - |TV|)",
            Box::new(move |_, i| i[3] = fr_from_i128(tv)),
        ),
        ("one unit", Box::new(|_, i| i[3] = Fr::ONE)),
        (
            "2^100 - 1",
            Box::new(|_, i| i[3] = two_pow(EXIT_AMOUNT_BITS) - Fr::ONE),
        ),
    ];
    refuses_each(&case, tampers);
}

#[test]
fn a_settlement_the_native_exit_refuses_is_unsatisfiable() {
    let mut case = honest_positive();
    let leaf = &mut case.witness.leaf;
    leaf.collateral = Collateral::new(i128::from(i64::MAX)).expect("collateral");
    // A short of 2^39 lots receiving 2^30 per lot: 2^69 more than the balance holds.
    leaf.positions[0] = Position {
        size: BaseLots::new(-(1i128 << 39)).expect("size"),
        funding_index: FundingIndex::new(case.witness.markets[0].funding_index.get() - (1 << 30))
            .expect("index"),
    };
    let mut tree = SparseMerkleTree::new(case.config.account_tree_depth).expect("depth");
    let id = case.witness.account.get();
    tree.update(id, leaf.hash()).expect("update");
    case.witness.siblings = tree.proof(id).expect("proof").siblings;
    case.witness.accounts_root = tree.root();
    assert!(matches!(
        ExitCircuit::new(case.config.clone(), case.witness.clone(), case.root()),
        Err(native::ExitError::Funding(_))
    ));
    // Whatever amount the prover claims: the settled balance is outside its width.
    let mut inputs = vec![
        case.root(),
        Fr::from(id),
        case.witness.leaf.l1_address.to_field(),
        Fr::ZERO,
    ];
    inputs.extend(
        case.witness
            .markets
            .iter()
            .map(|m| Fr::from(m.mark_price.get())),
    );
    for amount in [Fr::ZERO, Fr::ONE] {
        inputs[3] = amount;
        let circuit = ExitCircuit {
            config: case.config.clone(),
            witness: Some(case.witness.clone()),
            public_inputs: Some(inputs.clone()),
        };
        assert!(!satisfied(circuit));
    }
}

/// Constraints and instance variables of the blank circuit, in setup mode.
fn shape(config: &Arc<StateConfig>) -> (usize, usize) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    ExitCircuit::blank(config.clone())
        .generate_constraints(cs.clone())
        .expect("setup");
    (cs.num_constraints(), cs.num_instance_variables())
}

#[test]
fn setup_without_a_witness_builds_the_proving_shape() {
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    for (depth, markets) in [(4u8, 1usize), (6, 3)] {
        let case = random_case(&mut rng, depth, markets);
        let cs = ConstraintSystem::<Fr>::new_ref();
        case.circuit()
            .generate_constraints(cs.clone())
            .expect("synthesis");
        assert!(is_satisfied(&cs));
        assert_eq!(
            shape(&case.config),
            (cs.num_constraints(), cs.num_instance_variables())
        );
        // The constant one, then exactly the contract's 4 + M inputs.
        assert_eq!(cs.num_instance_variables(), 1 + 4 + markets);
    }
}

#[test]
fn public_inputs_are_allocated_in_the_contract_order() {
    let case = honest_positive();
    let inputs = case.circuit().public_inputs.expect("inputs");
    let cs = ConstraintSystem::<Fr>::new_ref();
    let vars = ExitPublicInputsVar::new_input(cs.clone(), 2, Some(&inputs)).expect("inputs");
    let w = &case.witness;
    let values = [
        vars.state_root.value(),
        vars.account.value(),
        vars.owner.value(),
        vars.amount.value(),
        vars.mark_prices[0].value(),
        vars.mark_prices[1].value(),
    ]
    .map(|v| v.expect("value"));
    let expected = [
        w.state_root(),
        Fr::from(w.account.get()),
        w.leaf.l1_address.to_field(),
        Fr::from(case.amount()),
        Fr::from(w.markets[0].mark_price.get()),
        Fr::from(w.markets[1].mark_price.get()),
    ];
    assert_eq!(values, expected);
    // The instance assignment (after the constant one) is the same vector, in the same order.
    let assigned = cs.instance_assignment().expect("assignment");
    assert_eq!(&assigned[1..], &expected[..]);
}

#[test]
fn constraint_counts() {
    let mut config = base_config().clone();
    let mut counts = Vec::new();
    for depth in [8u8, 32] {
        config.account_tree_depth = depth;
        let (constraints, _) = shape(&Arc::new(config.clone()));
        println!("exit circuit, depth {depth}, 2 markets: {constraints} constraints");
        counts.push(constraints);
    }
    // +41 since the leaf carries an order floor (40 bits, range-checked); +2 x 49 since each
    // market's state carries its open interest (48 bits, range-checked); +105 since each
    // carries an index price (40 bits, range-checked) and a disagreement bit, the two markets'
    // in one more input to the markets hash (+21).
    assert_eq!(counts, [4_358, 10_166]);
    // 242 per level: the Poseidon and the ordering of `root_for` (241) and the index bit.
    assert_eq!(counts[1] - counts[0], 242 * 24);
}

#[test]
fn a_leaf_address_changed_with_its_owner_input_leaves_the_tree() {
    // Guards the tamper list: the owner tamper keeps the public input in step with the leaf,
    // so only the leaf hash (hence the Merkle root) can refuse it.
    let case = honest_positive();
    let mut w = case.witness.clone();
    w.leaf.l1_address.0[19] ^= 1;
    assert_ne!(w.leaf.hash(), case.witness.leaf.hash());
    assert!(matches!(
        w.check(&case.config, case.root()),
        Err(native::ExitError::NotInTree(_))
    ));
}
