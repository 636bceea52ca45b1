//! The devnet: the whole exchange on one machine, with a real L1 and real proofs.
//!
//! ```text
//!  anvil (npm) <── deploy (Rust, alloy): TestToken, a Groth16Verifier per circuit, Rollup
//!     │  ^
//!     │  └── pipeline: each sealed batch proven (Groth16, off the runtime) and submitted
//!     v                                                          ^
//!  follower: L1 deposits and forced requests ──> sequencer ──────┘ sealed batches
//!                                                 (journal in RocksDB, batch builder, books)
//!  every batch: seal, begin at the wall clock; three local oracle signers per market quote a
//!  price path (a seeded random walk, or --price-path files) into the oracle book, whose ticks
//!  set the marks; funding ticks from the books' premium every --funding-secs; the liquidation
//!  engine; the L1 queues; then a market maker and takers trade.
//! ```
//!
//! Traders are funded on L1 by the test token's faucet and deposit like anyone else; the
//! insurance fund's owner deposits too. Each event prints one JSON line; `--batches N` stops
//! after N batches are verified on L1 and checks the rollup's root against the sequencer's.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::operator::{emit, lock, now, run_until_signal, Operator, Seal};
use crate::oracle_signer::INITIAL_TICKS;
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;
use zkperp_contracts::alloy::node_bindings::Anvil;
use zkperp_contracts::alloy::primitives::{Address, U256};
use zkperp_contracts::alloy::providers::Provider as _;
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::{anvil_path, deploy, provider, DeployConfig, VerifierKey, L1};
use zkperp_core::book::{SelfTradePrevention, TimeInForce};
use zkperp_core::command::Command;
use zkperp_core::engine::{FeeSchedule, OrderOptions};
use zkperp_core::funding::{FundingSchedule, DEFAULT_PREMIUM_PERIOD_SECS};
use zkperp_core::oracle::{LocalOracle, OracleBook, PricePath, RandomWalk};
use zkperp_prover::export;
use zkperp_sequencer::follower::Follower;
use zkperp_sequencer::hub::Hub;
use zkperp_sequencer::pipeline::{BatchStore, Pipeline};
use zkperp_sequencer::proving::{self, ProvingQueue, DEFAULT_LEASE_SECS};
use zkperp_sequencer::sequencer::{Outcome, Sequencer, SequencerConfig};
use zkperp_sequencer::storage::Storage;
use zkperp_sequencer::verified::VerifiedState;
use zkperp_state::batch::Shape;
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::field::fr_to_decimal;
use zkperp_state::order::{Order, Side, SignedOrder};
use zkperp_state::state::StateConfig;
use zkperp_state::tx::DepositTarget;
use zkperp_state::units::{
    AccountId, BaseLots, L1Address, MarketId, OrderId, Ppm, PriceTicks, Timestamp,
};
use zkperp_state::{Fr, State};

#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Stop after this many batches are verified on L1 (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    batches: u64,
    /// Wall-clock seconds per batch.
    #[arg(long, default_value_t = 5)]
    batch_secs: u64,
    /// Sealed batches the prover may be behind by before the timer stops sealing (as
    /// `zkperp node --max-unproven`). 1 gives the lowest latency when proving a batch takes
    /// longer than the batch period: each batch is sealed as the one before is proven.
    #[arg(long, default_value_t = crate::operator::MAX_IN_FLIGHT)]
    max_unproven: u64,
    /// Traders funded on L1 (anvil's accounts 1..=N).
    #[arg(long, default_value_t = 4)]
    traders: usize,
    /// The batch circuit's shape (slots per kind).
    #[arg(long, default_value = "o2-f2-l1-x1-d4-fw1-fc1-ft1-t4-w2-c2")]
    shape: String,
    /// Depth of the accounts tree.
    #[arg(long, default_value_t = 16)]
    account_depth: u8,
    /// Depth of each account's orders tree.
    #[arg(long, default_value_t = 8)]
    order_depth: u8,
    /// Where keys (kept across runs: setup is slow) and this run's databases live.
    #[arg(long, default_value = ".devnet")]
    data_dir: PathBuf,
    /// anvil's port.
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// An anvil already running (started with its default mnemonic) to deploy to, instead of
    /// starting one: the L1 then outlives the devnet, as a real one outlives its operator.
    #[arg(long, conflicts_with = "port")]
    l1: Option<String>,
    /// The REST API's port on 127.0.0.1 (0: any free port, printed in the `api` event).
    #[arg(long, default_value_t = 8080)]
    api_port: u16,
    /// Seed of the oracle keys, traders' keys and the price paths.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seconds between funding ticks of a market (0: every batch).
    #[arg(long, default_value_t = 60)]
    funding_secs: u64,
    /// Leave forced withdrawal requests unserved: an operator that censors, so a test (or a
    /// demonstration) can watch the rollup freeze and traders exit on their own.
    #[arg(long)]
    censor_forced: bool,
    /// No built-in market maker and takers: the books hold only what traders send.
    #[arg(long)]
    no_market_maker: bool,
    /// A price path per market, in market order (`seconds price` lines, seconds after the
    /// devnet's start, price in ticks), instead of the seeded random walks.
    #[arg(long, value_delimiter = ',')]
    price_path: Vec<PathBuf>,
}

fn word(x: &Fr) -> Result<U256> {
    Ok(U256::from_str(&fr_to_decimal(x))?)
}

fn key(vk: &zkperp_prover::VerifyingKey) -> Result<VerifierKey> {
    Ok(VerifierKey::from_json(&serde_json::to_value(
        export::evm_verifying_key(vk),
    )?)?)
}

/// Runs the devnet until `--batches` are verified or the process gets SIGINT or SIGTERM. A
/// signal drops the devnet wherever it is: every command is already journaled, and dropping
/// anvil's handle ends anvil (a process killed without it would leave anvil running).
pub fn run(args: &DevnetArgs) -> Result<()> {
    run_until_signal(run_async(args))
}

/// anvil's ten funded accounts, in order, for its default mnemonic ("test test ... junk"):
/// what an anvil the devnet did not start holds.
const ANVIL_DEFAULT_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The devnet's L1: an anvil it started (ended when the devnet drops it) or one given with
/// `--l1`, and its funded accounts' keys.
struct L1Node {
    url: String,
    keys: Vec<PrivateKeySigner>,
    _process: Option<zkperp_contracts::alloy::node_bindings::AnvilInstance>,
}

impl L1Node {
    async fn start(args: &DevnetArgs) -> Result<Self> {
        if let Some(url) = &args.l1 {
            let keys: Vec<PrivateKeySigner> = ANVIL_DEFAULT_KEYS
                .iter()
                .map(|k| k.parse())
                .collect::<Result<_, _>>()?;
            // Its accounts must be those keys' (an anvil with another mnemonic, or another
            // node, would take the operator's transactions from nobody).
            let accounts: Vec<Address> = zkperp_contracts::alloy::providers::ProviderBuilder::new()
                .connect_http(url.parse().with_context(|| format!("--l1 {url}"))?)
                .get_accounts()
                .await
                .with_context(|| format!("eth_accounts on --l1 {url}"))?;
            let ours: Vec<Address> = keys.iter().map(|k| k.address()).collect();
            if accounts.get(..ours.len()) != Some(&ours[..]) {
                bail!("--l1 {url} is not an anvil with its default mnemonic: its accounts are not the devnet's");
            }
            return Ok(L1Node {
                url: url.clone(),
                keys,
                _process: None,
            });
        }
        let anvil_bin = anvil_path();
        if !anvil_bin.exists() {
            bail!(
                "anvil is not installed at {}: run scripts/setup.sh",
                anvil_bin.display()
            );
        }
        let anvil = Anvil::at(anvil_bin)
            .port(args.port)
            .try_spawn()
            .with_context(|| format!("starting anvil on port {}", args.port))?;
        Ok(L1Node {
            url: anvil.endpoint(),
            keys: anvil
                .keys()
                .iter()
                .cloned()
                .map(PrivateKeySigner::from)
                .collect(),
            _process: Some(anvil),
        })
    }

    fn endpoint(&self) -> String {
        self.url.clone()
    }

    fn keys(&self) -> &[PrivateKeySigner] {
        &self.keys
    }

    fn addresses(&self) -> Vec<Address> {
        self.keys.iter().map(|k| k.address()).collect()
    }
}

/// A trader of the devnet: its L2 key, its L1 account, its account id once deposited.
struct Trader {
    key: PrivateKey,
    l1: usize,
    id: Option<AccountId>,
    next_order: u64,
}

/// The devnet's fees: none for makers, 5 bp for takers.
const DEVNET_FEES: FeeSchedule = FeeSchedule {
    maker_ppm: 0,
    taker_ppm: 500,
};

async fn run_async(args: &DevnetArgs) -> Result<()> {
    let shape: Shape = args
        .shape
        .parse()
        .map_err(|e| anyhow::anyhow!("--shape {}: {e}", args.shape))?;
    zkperp_core::batcher::check_shape(&shape)
        .map_err(|e| anyhow::anyhow!("--shape {}: {e}", args.shape))?;
    if args.traders < 2 || args.traders > 7 {
        bail!("--traders must be 2..=7 (anvil has 10 accounts: operator, traders, fund, fees)");
    }
    let anvil = L1Node::start(args).await?;
    let url = anvil.endpoint();
    let signer = |i: usize| anvil.keys()[i].clone();
    let l1_address = |i: usize| L1Address(anvil.addresses()[i].into_array());

    // The configuration: two markets, three oracle keys, the fund and fee accounts owned by
    // anvil's accounts 9 and 8.
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let oracles: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::random(&mut rng)).collect();
    let fund_key = PrivateKey::random(&mut rng);
    let fee_key = PrivateKey::random(&mut rng);
    let mut config: StateConfig = zkperp_state::testkit::config(&oracles, &fund_key, &fee_key);
    config.account_tree_depth = args.account_depth;
    config.order_tree_depth = args.order_depth;
    config.insurance_fund.l1_address = l1_address(9);
    config.fee_account.l1_address = l1_address(8);
    // The genesis root does not depend on the signing domain (the rollup's address, known
    // once it is deployed): deploy with it, then bind the configuration to the deployment.
    let genesis = State::genesis(config.clone())?;

    // Keys: generated once per configuration and shape, then loaded from disk.
    let (prover, exit_prover) =
        crate::deploy::setup_keys(&config, shape, args.data_dir.join("keys")).await?;

    // The network file as it will be, but for what only the deployment tells (cleared in the
    // pinned hash anyway): the rollup pins its hash and the exit key's.
    let mut network = crate::network::Network {
        version: crate::network::VERSION,
        chain_id: 31337,
        rpc: url.to_string(),
        rollup: Address::ZERO,
        token: Address::ZERO,
        operator: anvil.addresses()[0],
        deploy_block: 0,
        shape: shape.id(),
        maker_fee_ppm: DEVNET_FEES.maker_ppm,
        taker_fee_ppm: DEVNET_FEES.taker_ppm,
        state: config.clone(),
        batch_verifying_key: serde_json::to_value(export::evm_verifying_key(
            prover.verifying_key(),
        ))?,
        exit_verifying_key: serde_json::to_value(export::evm_verifying_key(
            exit_prover.verifying_key(),
        ))?,
        setup: crate::network::Setup::Development,
    };
    network.state.domain.chain_id = 31337;
    let deployer = provider(&url, signer(0))?;
    let deployment = deploy(
        &deployer,
        &DeployConfig {
            operator: anvil.addresses()[0],
            token: None,
            genesis_root: word(&genesis.root())?,
            market_count: config.markets.len() as u64,
            grace_period: 3_600,
            forced_spacing: 60,
            deposit_spacing: 60,
            // A day: the e2e test moves the L1's clock past it.
            claim_window: 86_400,
            max_batch_age: 86_400,
            min_deposit: 1_000_000,
            min_forced_amount: 1_000_000,
            batch_keys: vec![key(prover.verifying_key())?],
            exit_key: key(exit_prover.verifying_key())?,
            config_hash: network.pinned_hash()?,
            exit_key_hash: exit_prover.key_hash()?,
        },
    )
    .await?;
    emit(json!({
        "event": "deployed",
        "rpc": url,
        "chain_id": 31337,
        "rollup": deployment.rollup.to_string(),
        "token": deployment.token.to_string(),
        "operator": anvil.addresses()[0].to_string(),
    }));
    config.domain = SigningDomain {
        chain_id: 31337,
        rollup: L1Address(deployment.rollup.into_array()),
    };
    // The devnet's network file, as `zkperp deploy` writes one: what a wallet or `zkperp
    // rebuild` needs to read the rollup from the L1 with no API.
    let network_file = args.data_dir.join("network.json");
    network.rollup = deployment.rollup;
    network.token = deployment.token;
    network.deploy_block = deployment.block;
    network.state = config.clone();
    network.save(&network_file)?;
    emit(json!({"event": "network_file", "path": network_file.display().to_string()}));
    let genesis = State::genesis(config.clone())?;
    let client = |i: usize| L1::connect(&url, signer(i), deployment.rollup, deployment.block);
    let operator = client(0)?;

    // Traders and the insurance fund deposit on L1, funded by the faucet.
    let mut traders: Vec<Trader> = (0..args.traders)
        .map(|t| Trader {
            key: PrivateKey::random(&mut rng),
            l1: t + 1,
            id: None,
            next_order: 1,
        })
        .collect();
    let mut depositors: Vec<(usize, [u8; 32], u64)> = traders
        .iter()
        .map(|t| (t.l1, t.key.public_key().pack(), 10_000_000_000))
        .collect();
    depositors.push((9, fund_key.public_key().pack(), 50_000_000_000));
    for (account, public_key, amount) in &depositors {
        operator
            .mint_test_tokens(anvil.addresses()[*account], *amount)
            .await?;
        let target = if *account == 9 {
            DepositTarget::Existing(AccountId::INSURANCE_FUND)
        } else {
            DepositTarget::New
        };
        client(*account)?
            .deposit(*public_key, target.wire(), *amount)
            .await?;
    }
    // The other anvil accounts get test collateral on L1 too, for traders who bring their own
    // wallet (`zkperp wallet`): 10,000 USD each.
    for account in (args.traders + 1)..=7 {
        operator
            .mint_test_tokens(anvil.addresses()[account], 10_000_000_000)
            .await?;
        emit(json!({
            "event": "l1_account",
            "index": account,
            "l1_address": anvil.addresses()[account].to_string(),
            "l1_private_key": format!("0x{}", zkperp_contracts::alloy::hex::encode(anvil.keys()[account].to_bytes())),
            "collateral_units": 10_000_000_000u64,
        }));
    }
    for (t, trader) in traders.iter().enumerate() {
        emit(json!({
            "event": "trader",
            "trader": t,
            "l1_address": anvil.addresses()[trader.l1].to_string(),
            "l1_private_key": format!("0x{}", zkperp_contracts::alloy::hex::encode(anvil.keys()[trader.l1].to_bytes())),
            "public_key": format!("0x{}", zkperp_contracts::alloy::hex::encode(trader.key.public_key().pack())),
            // A devnet's test key, printed so a trader (or a test) can sign with it.
            "l2_private_key": format!("0x{}", zkperp_contracts::alloy::hex::encode(trader.key.to_bytes())),
        }));
    }

    // This run's databases (the L1 is fresh, so the exchange is too).
    let run_dir = args.data_dir.join("run");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    std::fs::create_dir_all(&run_dir)?;
    // One database for the journal, snapshots, batch records and verified state.
    let storage = Storage::open(&run_dir.join("db"))?;
    let hub = Arc::new(Hub::new(Sequencer::open(
        &storage,
        &SequencerConfig {
            state: config.clone(),
            fees: DEVNET_FEES,
            shape,
        },
    )?));
    // Before the API serves: a trader's order can seal a batch, and every one goes to L1.
    let sealed = hub.sealed_batches()?;
    let verified = Arc::new(Mutex::new(VerifiedState::open(&storage, &config)?));
    let batches = Arc::new(BatchStore::open(&storage)?);
    let provers = Arc::new(ProvingQueue::new(
        prover.verifier().clone(),
        DEFAULT_LEASE_SECS,
    ));
    proving::spawn_local(provers.clone(), Arc::new(prover), "local-0".into());
    let pipeline = Pipeline::new(batches.clone(), provers, 0, operator.clone())
        .with_verified(verified.clone())
        .with_archive(run_dir.join("blobs"));
    // The REST API, over the same sequencer, batch records and verified state.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.api_port))
        .await
        .with_context(|| format!("binding the API to port {}", args.api_port))?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let oracle_book = Arc::new(Mutex::new(OracleBook::new(&config)));
    let app = zkperp_api::router(zkperp_api::Services {
        hub: hub.clone(),
        batches,
        verified: verified.clone(),
        oracle: oracle_book.clone(),
        archive: Some(run_dir.join("blobs")),
        info: json!({
            "rpc": url,
            "chain_id": 31337,
            "rollup": deployment.rollup.to_string(),
            "token": deployment.token.to_string(),
            "operator": anvil.addresses()[0].to_string(),
        }),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    emit(json!({"event": "api", "url": api_url}));
    let want = args.batches;
    let max_batch_age = client(0)?.max_batch_age().await?;
    let mut op = Operator::new(
        hub.clone(),
        sealed,
        oracle_book,
        config.clone(),
        shape,
        FundingSchedule::new(args.funding_secs, DEFAULT_PREMIUM_PERIOD_SECS)?,
        Follower::new(client(0)?, |_| 0, deployment.block),
        args.censor_forced,
        pipeline,
        want,
        args.max_unproven,
    )
    .with_max_batch_age(max_batch_age);
    let mut local_oracles = local_oracles(args, &oracles, &config, &genesis)?;
    let mut interval = tokio::time::interval(Duration::from_secs(args.batch_secs.max(1)));
    loop {
        interval.tick().await;
        if op.prover_finished() {
            break;
        }
        op.watch_forced().await;
        if op.halted() {
            continue; // no batch can land any more; the API keeps serving
        }
        match op.seal().await? {
            Seal::Sealed => {}
            Seal::Deferred => continue, // the prover is behind: the open batch stays open
            Seal::ProverStopped => break,
        }
        if want != 0 && op.sent >= want {
            continue; // wait for the prover to verify them
        }
        let at = op.clock()?;
        // The local signers quote the next batch's prices into the oracle book.
        for oracle in &mut local_oracles {
            let quote = oracle.sign_at(at);
            let ingested = lock(&op.oracle).ingest(quote, at);
            if let Err(e) = ingested {
                emit(json!({
                    "event": "quote_refused", "market": oracle.market.index(),
                    "oracle": oracle.oracle, "reason": e.to_string(),
                }));
            }
        }
        op.open_batch(at).await?;
        hub.with_sequencer(|s| learn_ids(&mut traders, s.engine().state(), &anvil));
        if !args.no_market_maker {
            market_make(&mut op, &mut traders, &mut rng, at.get())?;
        }
        if !op.flush().await {
            break;
        }
    }
    let done = op.finish().await?;
    let l1_root = operator.state_root().await?;
    let ours = verified.lock().map(|v| v.root()).unwrap_or_default();
    emit(json!({
        "event": "stopped",
        "verified_batches": done,
        "l1_root": l1_root.to_string(),
        "verified_root": fr_to_decimal(&ours),
    }));
    if l1_root != word(&ours)? {
        bail!("the rollup's root differs from the sequencer's verified root");
    }
    Ok(())
}

/// Three local signers per market, quoting the market's price path one tick apart: a seeded
/// random walk from [`INITIAL_TICKS`] (a 0.4% step every 5 seconds at most), or `--price-path`.
fn local_oracles(
    args: &DevnetArgs,
    keys: &[PrivateKey],
    config: &StateConfig,
    genesis: &State,
) -> Result<Vec<LocalOracle>> {
    if !args.price_path.is_empty() && args.price_path.len() != config.markets.len() {
        bail!(
            "--price-path needs one file per market ({}), got {}",
            config.markets.len(),
            args.price_path.len()
        );
    }
    let start = Timestamp::new(now())?;
    let mut out = Vec::new();
    for m in 0..genesis.markets().len() {
        let id = MarketId::new(m as u64)?;
        let path = match args.price_path.get(m) {
            Some(file) => PricePath::from_file(file, start)
                .with_context(|| format!("--price-path {}", file.display()))?,
            None => PricePath::random_walk(RandomWalk {
                seed: args.seed.wrapping_add(m as u64),
                start,
                // Genesis has no mark yet: BTC-USD at 50,000 USD, ETH-USD at 3,000 USD (ticks).
                initial: PriceTicks::new(*INITIAL_TICKS.get(m).unwrap_or(&1_000))?,
                step_secs: 5,
                volatility_ppm: 4_000,
            })?,
        };
        for (i, key) in keys.iter().enumerate() {
            out.push(
                LocalOracle::new(config.domain, key.clone(), i as u8, id, path.clone())
                    .with_offset(i as i64),
            );
        }
    }
    Ok(out)
}

/// Finds each trader's account once its deposit has been applied.
fn learn_ids(traders: &mut [Trader], state: &State, anvil: &L1Node) {
    for t in traders.iter_mut().filter(|t| t.id.is_none()) {
        let pk = t.key.public_key();
        let l1 = L1Address(anvil.addresses()[t.l1].into_array());
        t.id = state
            .accounts()
            .find(|(_, a)| a.leaf.public_key == pk && a.leaf.l1_address == l1)
            .map(|(id, _)| *id);
    }
}

/// A market maker (the first two traders, alternating) quotes around the mark and the others
/// take: a few trades per batch, so the books and the batches are never empty.
fn market_make(
    op: &mut Operator,
    traders: &mut [Trader],
    rng: &mut ChaCha20Rng,
    now: u64,
) -> Result<()> {
    let (domain, markets): (_, Vec<u64>) = op.hub.with_sequencer(|s| {
        let state = s.engine().state();
        let marks = state.markets().iter().map(|m| m.mark_price.get()).collect();
        (state.config().domain, marks)
    });
    let mut orders = Vec::new();
    for (m, mark) in markets.iter().enumerate() {
        if *mark == 0 {
            continue;
        }
        let maker = rng.gen_range(0..2);
        let taker = rng.gen_range(2..traders.len());
        let side = if rng.gen_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let size: i128 = rng.gen_range(1..50);
        let price = if side == Side::Buy {
            mark - mark / 1000
        } else {
            mark + mark / 1000
        };
        let take = if side == Side::Buy {
            Side::Sell
        } else {
            Side::Buy
        };
        for (who, s, tif) in [
            (maker, side, TimeInForce::GoodTillCancelled),
            (taker, take, TimeInForce::ImmediateOrCancel),
        ] {
            let t = &mut traders[who];
            let Some(account) = t.id else { continue };
            let order = Order {
                account,
                market: MarketId::new(m as u64)?,
                side: s,
                size: BaseLots::new(size)?,
                limit_price: PriceTicks::new(price)?,
                max_fee: Ppm::new(1_000)?,
                expiry: Timestamp::new(now + 600)?,
                order_id: OrderId::new(t.next_order)?,
            };
            t.next_order += 1;
            let signed = SignedOrder {
                order,
                signature: t.key.sign(order.hash(&domain)),
            };
            orders.push((signed, tif));
        }
    }
    for (order, tif) in orders {
        let options = OrderOptions {
            time_in_force: tif,
            reduce_only: false,
            self_trade: SelfTradePrevention::CancelResting,
        };
        let done = op.exec(Command::Submit { order, options })?;
        if let Outcome::Refused(e) = &done.outcome {
            emit(json!({"event": "order_refused", "reason": e.to_string()}));
        }
    }
    Ok(())
}
