//! `zkperp wallet`: a trader's command-line wallet over the public interfaces only: the REST
//! API (orders, cancels, withdrawals, signed reads, the exit witness) and the L1 RPC (deposits,
//! claims, forced withdrawals, cancels and trades, the freeze, exits). Every command prints one
//! JSON document.
//!
//! Keys: the trading key (Baby Jubjub, `--key` / `ZKPERP_KEY`, 64 hex digits) signs orders,
//! cancels, withdrawals and reads; the Ethereum key (`--eth-key` / `ZKPERP_ETH_KEY`) owns the L1
//! side (deposits, claims, exits are paid to it). `zkperp wallet key --from-eth-key` derives the
//! trading key from the Ethereum key, so one secret restores both:
//!
//! ```text
//! trading key = keccak256(personal_sign(eth key,
//!                   "zkperp trading key v2\nchain id: <decimal>\nrollup: <0x + 40 lowercase hex>"))
//! ```
//!
//! (an RFC 6979 ECDSA signature is deterministic, so the same Ethereum key always derives the
//! same trading key on one deployment; another deployment, or another message, derives an
//! unrelated one, so nothing signed with it here is valid anywhere else).
//!
//! Every signature is bound to the deployment's signing domain (`zkperp_state::domain`): the
//! wallet takes it from `GET /v1/info`, and refuses to sign when `--rollup` names another
//! rollup than the API announces (pass it to trust the API with nothing).
//!
//! Amounts, sizes and prices are decimals in the market's units (`--size 0.18 --price 44000.5`)
//! and must be whole numbers of lots and ticks; collateral has six decimals.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use zkperp_api::auth;
use zkperp_api::decimal::{Scale, COLLATERAL};
use zkperp_contracts::alloy::primitives::{keccak256, Address, U256};
use zkperp_contracts::alloy::signers::local::PrivateKeySigner;
use zkperp_contracts::alloy::signers::SignerSync;
use zkperp_contracts::{ForcedTradeOffer, ForcedTradeTerms, L1};
use zkperp_core::book::{SelfTradePrevention, TimeInForce};
use zkperp_core::engine::OrderOptions;
use zkperp_prover::{export, ExitProver, KeyCache};
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::exit::ExitWitness;
use zkperp_state::field::{fr_from_decimal, fr_to_decimal};
use zkperp_state::order::{Order, Side, SignedOrder};
use zkperp_state::state::StateConfig;
use zkperp_state::tx::{CancelOrder, DepositTarget, Withdrawal};
use zkperp_state::units::{
    AccountId, Amount, BaseLots, L1Address, MarketId, Nonce, OrderId, Ppm, PriceTicks, Timestamp,
};

/// The message whose signature by the Ethereum key derives the trading key on `domain`'s
/// deployment.
pub fn derivation_message(domain: &SigningDomain) -> String {
    format!(
        "zkperp trading key v2\nchain id: {}\nrollup: 0x{}",
        domain.chain_id,
        hex::encode(domain.rollup.0)
    )
}

#[derive(Debug, clap::Args)]
pub struct WalletArgs {
    /// The exchange's API.
    #[arg(long, env = "ZKPERP_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The trading key: 64 hex digits.
    #[arg(long, env = "ZKPERP_KEY", hide_env_values = true)]
    key: Option<String>,
    /// The Ethereum key that owns the account on L1: 64 hex digits.
    #[arg(long, env = "ZKPERP_ETH_KEY", hide_env_values = true)]
    eth_key: Option<String>,
    /// The L1 RPC URL (default: the one the API announces in /v1/info).
    #[arg(long, env = "ZKPERP_RPC")]
    rpc: Option<String>,
    /// The rollup contract (0x + 40 hex digits) every signature is bound to: when given, the
    /// wallet refuses an API that announces another.
    #[arg(long, env = "ZKPERP_ROLLUP")]
    rollup: Option<String>,
    /// The L2 account to act on, when the key and L1 owner have several (default: the first).
    #[arg(long, env = "ZKPERP_ACCOUNT")]
    account: Option<u64>,
    /// The deployment's network file: the L1 commands then take the RPC and the rollup from it
    /// instead of the API (with `--account`, `claim-exit` needs no API), and `exit` rebuilds the
    /// state from the L1's calldata and blobs instead of asking the API for a witness.
    #[arg(long, env = "ZKPERP_NETWORK")]
    network: Option<PathBuf>,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WalletCommand {
    /// Print a trading key: new, or derived from --eth-key with --from-eth-key.
    Key {
        #[arg(long)]
        from_eth_key: bool,
    },
    /// Collateral, positions, value and margin (a signed read).
    Account,
    /// Approve and deposit collateral on L1 (credited when the sequencer follows it).
    Deposit {
        /// Collateral, e.g. 100.5.
        #[arg(long)]
        amount: String,
        /// The account to credit: an id, or `new` to open another (default: this key's
        /// account, or a new one if it has none yet). The L1 queues the target and the proof
        /// credits exactly it (a target owned by someone else is refunded on L1).
        #[arg(long)]
        to: Option<String>,
    },
    /// Sign and place an order.
    Order {
        /// Market name or index (BTC-USD).
        #[arg(long)]
        market: String,
        #[arg(long, value_parser = ["buy", "sell"])]
        side: String,
        /// Size in the market's base asset, e.g. 0.18.
        #[arg(long)]
        size: String,
        /// Limit price, e.g. 44000.5 (the worst price for an immediate order).
        #[arg(long)]
        price: String,
        /// gtc, ioc, fok or post-only.
        #[arg(long, default_value = "gtc", value_parser = ["gtc", "ioc", "fok", "post-only"])]
        tif: String,
        #[arg(long)]
        reduce_only: bool,
        /// Seconds until the order expires.
        #[arg(long, default_value_t = 3_600)]
        expiry_secs: u64,
        /// The order id (default: the time in centiseconds, increasing).
        #[arg(long)]
        order_id: Option<u64>,
        /// Largest fee per fill, in millionths of the notional.
        #[arg(long, default_value_t = 1_000)]
        max_fee_ppm: u64,
    },
    /// Cancel an order (signed).
    Cancel {
        #[arg(long)]
        order_id: u64,
    },
    /// The account's orders (a signed read).
    Orders,
    /// The account's recent fills (a signed read).
    Fills,
    /// Sign a withdrawal to the account's L1 owner (claimable on L1 once its batch is verified).
    Withdraw {
        #[arg(long)]
        amount: String,
    },
    /// Claim on L1 what withdrawals and exits made claimable.
    Claim,
    /// Request a forced withdrawal on L1 (the sequencer must answer it before its deadline).
    ForcedWithdrawal {
        #[arg(long)]
        amount: String,
    },
    /// Request a forced cancel on L1: no order of the account with an id below `--below` can
    /// fill once it is served (the sequencer must answer it before its deadline). By default
    /// `--below` is now in this wallet's order ids (centiseconds): every order made so far.
    ForcedCancel {
        #[arg(long)]
        below: Option<u64>,
    },
    /// Offer a forced trade as party B: sign its terms with this wallet's Ethereum key (the
    /// account's L1 owner) and print the offer for party A, who submits it on L1 with
    /// `forced-trade`. `--side` is this account's: `sell` means A buys from it. The sequencer
    /// must then serve it (or refuse it on a ground the proof shows) before its deadline.
    ForcedTradeOffer {
        /// Party A's account id (the one that will submit the offer).
        #[arg(long)]
        with: u64,
        /// Market name or index (BTC-USD).
        #[arg(long)]
        market: String,
        #[arg(long, value_parser = ["buy", "sell"])]
        side: String,
        /// Size in the market's base asset, e.g. 0.18.
        #[arg(long)]
        size: String,
        /// The agreed price, e.g. 44000.5.
        #[arg(long)]
        price: String,
        /// Seconds (of L1 time) A has to submit it.
        #[arg(long, default_value_t = 86_400)]
        expiry_secs: u64,
        /// Tells otherwise equal offers apart (default: the time in centiseconds).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Submit a forced trade on L1 as party A: the offer party B made with
    /// `forced-trade-offer` (its printed JSON, inline or in a file).
    ForcedTrade {
        #[arg(long)]
        offer: String,
    },
    /// Freeze the rollup (anyone may, once a forced request is overdue).
    Freeze,
    /// After a freeze, within the claim window: fetch the exit witness, prove the exit here,
    /// and register it on L1 (`claim-exit` pays it once the window has passed).
    Exit {
        /// Where the deployment's exit proving key is (the operator publishes it).
        #[arg(long)]
        keys: PathBuf,
        /// With --network: where the blobs are read (else from the L1 node).
        #[command(flatten)]
        blobs: crate::history::BlobSources,
        /// With --network: the directory `sync` keeps (read first, so only the batches after
        /// it need blobs; brought up to date).
        #[arg(long)]
        sync: Option<PathBuf>,
    },
    /// With --network: follow the rollup's verified batches from the L1 (or --archive) into
    /// `--dir`: the tree of every account's leaf hash and this key's own accounts and leaves,
    /// checked against the rollup's root. Run it within the blobs' retention (about 18 days)
    /// and an exit never needs the operator or an old blob.
    Sync {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        blobs: crate::history::BlobSources,
    },
    /// After the claim window: pay a registered exit its share (in full unless registered
    /// exits exceed what the rollup holds; then every exit the same fraction).
    ClaimExit,
}

/// Proves the exit `witness` opens against `root` with the deployment's key in `keys`, and
/// registers it on L1.
async fn prove_and_register(
    w: &Wallet,
    l1: &L1,
    config: StateConfig,
    keys: &std::path::Path,
    witness: ExitWitness,
    root: zkperp_state::Fr,
) -> Result<Value> {
    let account = witness.account;
    let config = Arc::new(config);
    let (_, pinned) = l1.pins().await?;
    let prover = tokio::task::spawn_blocking({
        let keys = keys.to_path_buf();
        move || -> Result<_> {
            let prover = ExitProver::load(config, &KeyCache::new(&keys))?
                .ok_or_else(|| anyhow!("no exit key for this deployment in {}", keys.display()))?;
            // A key from anywhere is good if it is the one the rollup pins.
            if prover.key_hash()? != pinned {
                bail!(
                    "the exit key in {} is not the one the rollup pins (SHA-256 0x{}): take the \
                     deployment's own",
                    keys.display(),
                    hex::encode(pinned)
                );
            }
            let proof = prover.prove(witness, root, &mut rand::rngs::OsRng)?;
            Ok(proof)
        }
    })
    .await??;
    let amount = prover
        .inputs
        .get(3)
        .copied()
        .ok_or_else(|| anyhow!("exit inputs"))?;
    let amount = U256::from_str(&fr_to_decimal(&amount))?;
    let words = export::evm_proof(&prover.proof).map(|w| U256::from_be_bytes(w.0));
    l1.register_exit(u32::try_from(account.get())?, amount, words)
        .await
        .map_err(|e| match e.reason() {
            Some(reason) => anyhow!("the rollup refused the exit: {reason}"),
            None => anyhow!("{e}"),
        })?;
    let (frozen_at, window) = l1.exit_window().await?;
    Ok(json!({
        "account": account.get(),
        "registered_units": amount.to_string(),
        "owner": w.eth()?.address().to_string(),
        "claimable_from": frozen_at.saturating_add(window),
    }))
}

/// What `wallet sync` keeps in its directory (`sync.json`): the rebuilt state and this key's
/// accounts, as of one batch of one rollup.
#[derive(serde::Serialize, serde::Deserialize)]
struct Synced {
    rollup: String,
    /// The trading key's packed public key and the L1 owner whose accounts these are.
    owner: String,
    checkpoint: zkperp_state::rebuild::Checkpoint,
    accounts: Vec<zkperp_state::da::Followed>,
}

const SYNCED: &str = "sync.json";

/// The state rebuilt from the L1's calldata and blobs (or an archive's, checked against them),
/// from the sync directory's checkpoint if there is one, and this key's accounts followed
/// through it: found among the creations with the key, each record opened with its salt. The
/// directory, if given, is brought up to date.
async fn follow_from_l1(
    w: &Wallet,
    dir: Option<&std::path::Path>,
    blobs: &crate::history::BlobSources,
) -> Result<(zkperp_state::rebuild::Rebuilder, zkperp_state::da::Owned)> {
    use zkperp_state::da::Owned;
    use zkperp_state::rebuild::Rebuilder;
    let network = w.network()?.ok_or_else(|| anyhow!("--network is needed"))?;
    let key = w.key().await?;
    let owner = L1Address(w.eth()?.address().into_array());
    let markets = network.state.markets.len();
    let rollup = network.rollup.to_string();
    let whose = format!(
        "0x{}/{}",
        hex::encode(key.public_key().pack()),
        w.eth()?.address()
    );
    let saved = match dir.map(|d| d.join(SYNCED)) {
        Some(path) if path.exists() => {
            let synced: Synced = serde_json::from_slice(&std::fs::read(&path)?)
                .with_context(|| format!("{}", path.display()))?;
            if !synced.rollup.eq_ignore_ascii_case(&rollup) {
                bail!(
                    "{} follows the rollup {}, not this network's {rollup}",
                    path.display(),
                    synced.rollup
                );
            }
            if !synced.owner.eq_ignore_ascii_case(&whose) {
                bail!(
                    "{} holds the accounts of another key or L1 owner ({}): sync into a \
                     directory of this wallet's own",
                    path.display(),
                    synced.owner
                );
            }
            Some(synced)
        }
        _ => None,
    };
    let (start, mut mine) = match &saved {
        Some(synced) => {
            let depth = network.state.account_tree_depth;
            let state = Rebuilder::load(depth, &synced.checkpoint)?;
            let mine = Owned::load(
                key,
                owner,
                markets,
                synced.checkpoint.batch,
                &synced.accounts,
            )?;
            (state, mine)
        }
        None => (
            Rebuilder::genesis(network.state.clone())?,
            Owned::new(key, owner, markets),
        ),
    };
    let l1 = w.l1().await?;
    network.check_pinned(&l1).await?;
    let state = crate::history::rebuild(&network, &l1, start, blobs, |batch, _, _| {
        let (number, rho) = (batch.public.batch_number, batch.public.rho);
        mine.follow(number, rho, &batch.payload)
            .with_context(|| format!("batch {number}: this key's records"))
    })
    .await?;
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
        let synced = Synced {
            rollup,
            owner: whose,
            checkpoint: state.checkpoint(),
            accounts: mine.save(),
        };
        let path = dir.join(SYNCED);
        let tmp = dir.join(format!("{SYNCED}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&synced)?)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok((state, mine))
}

/// `wallet exit --network`: no API. The wallet follows its accounts through the rollup's
/// history from the L1 alone (from its sync directory's checkpoint, if any), and proves against
/// the rebuilt root, which must be the rollup's.
async fn exit_from_l1(
    w: &Wallet,
    keys: &std::path::Path,
    dir: Option<&std::path::Path>,
    blobs: &crate::history::BlobSources,
) -> Result<Value> {
    let network = w.network()?.ok_or_else(|| anyhow!("--network is needed"))?;
    let (state, mine) = follow_from_l1(w, dir, blobs).await?;
    let found = mine.find(w.args.account).ok_or_else(|| {
        anyhow!(
            "no account of this key and L1 owner in the rollup's {} batches",
            state.batch()
        )
    })?;
    let (_, leaf) = found
        .leaf()
        .ok_or_else(|| anyhow!("account {} has no record", found.account()))?;
    let witness = state.exit_witness(found.account(), leaf)?;
    let l1 = w.l1().await?;
    prove_and_register(w, &l1, network.state.clone(), keys, witness, state.root()).await
}

/// The wallet's default order id: the time in centiseconds (increasing, below 2^40 until
/// the year 2318).
fn now_centiseconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() / 10) as u64)
        .unwrap_or(0)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 32 bytes from 64 hex digits (`0x` optional); errors name `what`.
pub fn hex32(text: &str, what: &str) -> Result<[u8; 32]> {
    let digits = text.trim().trim_start_matches("0x");
    let mut bytes = [0u8; 32];
    if digits.len() != 64 {
        bail!(
            "{what} takes 64 hex digits (32 bytes), got {}",
            digits.len()
        );
    }
    hex::decode_to_slice(digits, &mut bytes).with_context(|| format!("{what} is not hex"))?;
    Ok(bytes)
}

/// The trading key derived from an Ethereum key on `domain`'s deployment (see the module
/// documentation).
pub fn derive_trading_key(eth: &PrivateKeySigner, domain: &SigningDomain) -> Result<PrivateKey> {
    let signature = eth
        .sign_message_sync(derivation_message(domain).as_bytes())
        .map_err(|e| anyhow!("signing the derivation message: {e}"))?;
    Ok(PrivateKey::from_bytes(
        keccak256(signature.as_bytes()).into(),
    ))
}

struct Wallet {
    args: WalletArgs,
    http: reqwest::Client,
}

impl Wallet {
    async fn key(&self) -> Result<PrivateKey> {
        match (&self.args.key, &self.args.eth_key) {
            (Some(k), _) => Ok(PrivateKey::from_bytes(hex32(k, "--key")?)),
            (None, Some(_)) => derive_trading_key(&self.eth()?, &self.domain().await?),
            (None, None) => {
                bail!("a trading key is needed: --key or ZKPERP_KEY (or --eth-key to derive it)")
            }
        }
    }

    fn eth(&self) -> Result<PrivateKeySigner> {
        let text = self
            .args
            .eth_key
            .as_deref()
            .ok_or_else(|| anyhow!("an Ethereum key is needed: --eth-key or ZKPERP_ETH_KEY"))?;
        PrivateKeySigner::from_bytes(&hex32(text, "--eth-key")?.into())
            .map_err(|e| anyhow!("--eth-key is not a valid secp256k1 key: {e}"))
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching the API at {}", self.args.api))?;
        let status = response.status();
        let body: Value = response.json().await.context("the API answered non-JSON")?;
        if !status.is_success() {
            bail!(
                "the API refused ({status}): {} ({})",
                body["message"].as_str().unwrap_or("?"),
                body["code"].as_str().unwrap_or("?")
            );
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.args.api)))
            .await
    }

    /// A read signed by the account's key.
    /// The deployment every signature is bound to: the API's, checked against `--rollup`.
    /// The deployment's signing domain: the network file's, else the one the API announces.
    async fn domain(&self) -> Result<SigningDomain> {
        if let Some(network) = self.network()? {
            return Ok(network.state.domain);
        }
        let info = self.get("/v1/info").await?;
        let d = &info["signing_domain"];
        let chain_id = d["chain_id"]
            .as_u64()
            .ok_or_else(|| anyhow!("the API announces no signing domain"))?;
        let rollup = Address::from_str(d["rollup"].as_str().unwrap_or_default())
            .map_err(|e| anyhow!("the API's signing domain has no valid rollup address: {e}"))?;
        if let Some(expected) = &self.args.rollup {
            let expected = Address::from_str(expected)
                .map_err(|e| anyhow!("--rollup is not an address: {e}"))?;
            if expected != rollup {
                bail!("the API serves the rollup {rollup}, not --rollup {expected}: refusing to sign for another deployment");
            }
        }
        Ok(SigningDomain {
            chain_id,
            rollup: L1Address(rollup.into_array()),
        })
    }

    async fn private(&self, account: AccountId, path: &str) -> Result<Value> {
        let mut request = self.http.get(format!("{}{path}", self.args.api));
        let (domain, key) = (self.domain().await?, self.key().await?);
        for (name, value) in auth::sign(&domain, &key, account, now()) {
            request = request.header(name, value);
        }
        self.call(request).await
    }

    /// This key's account (with this Ethereum owner, when an Ethereum key is given): `--account`
    /// if given and it is one of them, else the first.
    /// The network file, when `--network` names one.
    fn network(&self) -> Result<Option<crate::network::Network>> {
        self.args
            .network
            .as_deref()
            .map(crate::network::Network::load)
            .transpose()
    }

    async fn account(&self) -> Result<AccountId> {
        if let (Some(id), Some(_)) = (self.args.account, &self.args.network) {
            // The L1 commands of a wallet with a network file need no API to name the account.
            return Ok(AccountId::new(id)?);
        }
        self.find_account()
            .await?
            .ok_or_else(|| anyhow!("this key has no account yet: deposit first (and wait for the sequencer to follow it)"))
    }

    async fn find_account(&self) -> Result<Option<AccountId>> {
        let key = self.key().await?;
        let owner = self.args.eth_key.as_ref().map(|_| self.eth()).transpose()?;
        let found = self
            .get(&format!(
                "/v1/accounts?public_key=0x{}",
                hex::encode(key.public_key().pack())
            ))
            .await?;
        let accounts = found["accounts"].as_array().cloned().unwrap_or_default();
        let mut mine = accounts
            .iter()
            .filter(|a| match &owner {
                Some(eth) => a["l1_address"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&eth.address().to_string())),
                None => true,
            })
            .filter_map(|a| a["account"].as_u64());
        let id = match self.args.account {
            Some(wanted) => match mine.find(|id| *id == wanted) {
                Some(id) => id,
                None => {
                    bail!("account {wanted} is not one of this key's (and L1 owner's) accounts")
                }
            },
            None => match mine.min() {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        Ok(Some(AccountId::new(id)?))
    }

    async fn l1(&self) -> Result<L1> {
        if let Some(network) = self.network()? {
            let rpc = self.args.rpc.clone().unwrap_or_else(|| network.rpc.clone());
            return Ok(L1::connect(
                &rpc,
                self.eth()?,
                network.rollup,
                network.deploy_block,
            )?);
        }
        let info = self.get("/v1/info").await?;
        let rpc = match &self.args.rpc {
            Some(r) => r.clone(),
            None => info["rpc"]
                .as_str()
                .ok_or_else(|| anyhow!("the API announces no L1 RPC: pass --rpc"))?
                .to_string(),
        };
        let rollup = Address::from_str(
            info["rollup"]
                .as_str()
                .ok_or_else(|| anyhow!("the API announces no rollup address"))?,
        )?;
        Ok(L1::connect(&rpc, self.eth()?, rollup, 0)?)
    }

    /// A market's index, and `--size` and `--price` in its lots and ticks (both positive).
    async fn size_and_price(
        &self,
        market: &str,
        size: &str,
        price: &str,
    ) -> Result<(usize, i128, i128)> {
        let (m, lot, tick) = self.market(market).await?;
        let lots = lot.units(size).map_err(|e| anyhow!("--size: {e}"))?;
        let ticks = tick.units(price).map_err(|e| anyhow!("--price: {e}"))?;
        if lots <= 0 || ticks <= 0 {
            bail!("--size and --price must be positive");
        }
        Ok((m, lots, ticks))
    }

    /// Market index and its decimal units.
    async fn market(&self, name: &str) -> Result<(usize, Scale, Scale)> {
        let markets = self.get("/v1/markets").await?;
        let list = markets["markets"].as_array().cloned().unwrap_or_default();
        let m = list
            .iter()
            .find(|m| {
                m["name"] == name
                    || m["market"].as_u64().map(|i| i.to_string()).as_deref() == Some(name)
            })
            .ok_or_else(|| anyhow!("no market {name}"))?;
        let scale = |field: &str| -> Result<Scale> {
            m[field]
                .as_str()
                .ok_or_else(|| anyhow!("market {name} has no {field}"))?
                .parse()
                .map_err(|e| anyhow!("{e}"))
        };
        let index = m["market"]
            .as_u64()
            .ok_or_else(|| anyhow!("market index"))?;
        Ok((index as usize, scale("lot_size")?, scale("tick_size")?))
    }
}

fn collateral_units(text: &str) -> Result<u64> {
    let units = COLLATERAL
        .units(text)
        .map_err(|e| anyhow!("--amount: {e}"))?;
    if units <= 0 {
        bail!("--amount must be positive");
    }
    u64::try_from(units).map_err(|_| anyhow!("--amount is too large"))
}

pub fn run(args: WalletArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = runtime.block_on(run_async(Wallet {
        args,
        http: reqwest::Client::new(),
    }))?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn run_async(w: Wallet) -> Result<Value> {
    match &w.args.command {
        WalletCommand::Key { from_eth_key } => {
            let key = if *from_eth_key {
                derive_trading_key(&w.eth()?, &w.domain().await?)?
            } else {
                PrivateKey::random(&mut rand::rngs::OsRng)
            };
            Ok(json!({
                "private_key": hex::encode(key.to_bytes()),
                "public_key": hex::encode(key.public_key().pack()),
                "derived_from": if *from_eth_key { Some(w.eth()?.address().to_string()) } else { None },
            }))
        }
        WalletCommand::Account => {
            let id = w.account().await?;
            w.private(id, &format!("/v1/accounts/{}", id.get())).await
        }
        WalletCommand::Orders => {
            let id = w.account().await?;
            w.private(id, &format!("/v1/accounts/{}/orders", id.get()))
                .await
        }
        WalletCommand::Fills => {
            let id = w.account().await?;
            w.private(id, &format!("/v1/accounts/{}/fills", id.get()))
                .await
        }
        WalletCommand::Deposit { amount, to } => {
            let units = collateral_units(amount)?;
            let l1 = w.l1().await?;
            let eth = w.eth()?;
            let balance = l1.token_balance(eth.address()).await?;
            if balance < U256::from(units) {
                bail!(
                    "{} holds {balance} units of the collateral token on L1, less than {units}",
                    eth.address()
                );
            }
            let target = match to.as_deref() {
                Some("new") => DepositTarget::New,
                Some(id) => DepositTarget::Existing(AccountId::new(
                    id.parse::<u64>()
                        .map_err(|_| anyhow!("--to takes an account id or `new`, got {id:?}"))?,
                )?),
                None => w
                    .find_account()
                    .await?
                    .map_or(DepositTarget::New, DepositTarget::Existing),
            };
            let key = w.key().await?.public_key().pack();
            let index = l1.deposit(key, target.wire(), units).await?;
            Ok(json!({
                "deposit_index": index,
                "to": match target {
                    DepositTarget::New => json!("new"),
                    DepositTarget::Existing(id) => json!(id.get()),
                },
                "amount": COLLATERAL.of(i128::from(units)).to_string(),
                "l1_owner": eth.address().to_string(),
            }))
        }
        WalletCommand::Order {
            market,
            side,
            size,
            price,
            tif,
            reduce_only,
            expiry_secs,
            order_id,
            max_fee_ppm,
        } => {
            let (m, lots, ticks) = w.size_and_price(market, size, price).await?;
            let account = w.account().await?;
            let centiseconds = now_centiseconds();
            let order = Order {
                account,
                market: MarketId::new(m as u64)?,
                side: if side == "buy" { Side::Buy } else { Side::Sell },
                size: BaseLots::new(lots).context("--size")?,
                limit_price: PriceTicks::new(u64::try_from(ticks)?).context("--price")?,
                max_fee: Ppm::new(*max_fee_ppm).context("--max-fee-ppm")?,
                expiry: Timestamp::new(now() + expiry_secs).context("--expiry-secs")?,
                order_id: OrderId::new(order_id.unwrap_or(centiseconds)).context("--order-id")?,
            };
            let options = OrderOptions {
                time_in_force: match tif.as_str() {
                    "ioc" => TimeInForce::ImmediateOrCancel,
                    "fok" => TimeInForce::FillOrKill,
                    "post-only" => TimeInForce::PostOnly,
                    _ => TimeInForce::GoodTillCancelled,
                },
                reduce_only: *reduce_only,
                self_trade: SelfTradePrevention::CancelResting,
            };
            let signed = SignedOrder {
                order,
                signature: w.key().await?.sign(order.hash(&w.domain().await?)),
            };
            let ack = w
                .call(
                    w.http
                        .post(format!("{}/v1/orders", w.args.api))
                        .json(&json!({"order": signed, "options": options})),
                )
                .await?;
            Ok(
                json!({"order_id": format!("{}-{}", account.get(), order.order_id.get()), "ack": ack}),
            )
        }
        WalletCommand::Cancel { order_id } => {
            let account = w.account().await?;
            let order_id = OrderId::new(*order_id)?;
            let message = CancelOrder::message(&w.domain().await?, account, order_id);
            let signature = w.key().await?.sign(message);
            w.call(
                w.http
                    .delete(format!(
                        "{}/v1/orders/{}-{}",
                        w.args.api,
                        account.get(),
                        order_id.get()
                    ))
                    .json(&json!({"signature": signature})),
            )
            .await
        }
        WalletCommand::Withdraw { amount } => {
            let units = collateral_units(amount)?;
            let account = w.account().await?;
            let view = w
                .private(account, &format!("/v1/accounts/{}", account.get()))
                .await?;
            let nonce = view["next_withdrawal_nonce"]
                .as_u64()
                .ok_or_else(|| anyhow!("the API gave no withdrawal nonce"))?;
            let (amount, nonce) = (Amount::new(units)?, Nonce::new(nonce)?);
            let withdrawal = Withdrawal {
                account,
                amount,
                nonce,
                signature: w.key().await?.sign(Withdrawal::message(
                    &w.domain().await?,
                    account,
                    amount,
                    nonce,
                )),
            };
            w.call(
                w.http
                    .post(format!("{}/v1/withdrawals", w.args.api))
                    .json(&json!({"withdrawal": withdrawal})),
            )
            .await
        }
        WalletCommand::Claim => {
            let l1 = w.l1().await?;
            let owner = w.eth()?.address();
            let claimable = l1.claimable(owner).await?;
            if claimable.is_zero() {
                bail!("nothing is claimable for {owner} yet (a withdrawal is claimable once its batch is verified on L1)");
            }
            let before = l1.token_balance(owner).await?;
            l1.claim().await?;
            let after = l1.token_balance(owner).await?;
            Ok(
                json!({"claimed_units": claimable.to_string(), "l1_balance_before": before.to_string(), "l1_balance_after": after.to_string()}),
            )
        }
        WalletCommand::ForcedWithdrawal { amount } => {
            let units = collateral_units(amount)?;
            let account = w.account().await?;
            let index = w
                .l1()
                .await?
                .request_forced_withdrawal(u32::try_from(account.get())?, units)
                .await?;
            Ok(
                json!({"forced_index": index, "account": account.get(), "amount": COLLATERAL.of(i128::from(units)).to_string()}),
            )
        }
        WalletCommand::ForcedCancel { below } => {
            let below = match below {
                Some(id) => *id,
                // The next order this wallet would number: every order it made so far is below.
                None => now_centiseconds().saturating_add(1),
            };
            let below =
                OrderId::new(below).map_err(|e| anyhow!("--below: {e} (order ids are 40-bit)"))?;
            if below.get() == 0 {
                bail!("--below 0 cancels nothing: give the first order id to keep");
            }
            let account = w.account().await?;
            let index = w
                .l1()
                .await?
                .request_forced_cancel(u32::try_from(account.get())?, below.get())
                .await?;
            Ok(
                json!({"forced_cancel_index": index, "account": account.get(), "below": below.get()}),
            )
        }
        WalletCommand::ForcedTradeOffer {
            with,
            market,
            side,
            size,
            price,
            expiry_secs,
            nonce,
        } => {
            let (m, lots, ticks) = w.size_and_price(market, size, price).await?;
            let account = w.account().await?;
            if *with == account.get() {
                bail!("--with {with} is this wallet's own account: a forced trade is between two accounts");
            }
            let l1 = w.l1().await?;
            let terms = ForcedTradeTerms {
                account_a: u32::try_from(*with).context("--with: account ids are 32-bit")?,
                account_b: u32::try_from(account.get())?,
                market: u8::try_from(m)?,
                // This account sells: A buys.
                a_buys: side == "sell",
                size: u64::try_from(lots).context("--size")?,
                price: u64::try_from(ticks).context("--price")?,
                expiry: l1.chain_time().await?.saturating_add(*expiry_secs),
                nonce: nonce.unwrap_or_else(now_centiseconds),
            };
            let offer = l1.sign_forced_trade(&w.eth()?, &terms).await?;
            Ok(
                json!({"offer": offer, "account": account.get(), "market": market, "side": side, "size": size, "price": price}),
            )
        }
        WalletCommand::ForcedTrade { offer } => {
            let text = match std::fs::read_to_string(offer) {
                Ok(text) => text,
                Err(_) => offer.clone(),
            };
            let doc: Value = serde_json::from_str(&text)
                .context("--offer: the JSON `forced-trade-offer` printed, or a file holding it")?;
            let offer: ForcedTradeOffer =
                serde_json::from_value(doc.get("offer").cloned().unwrap_or(doc))
                    .context("--offer: not a forced-trade offer")?;
            let account = w.account().await?;
            if u64::from(offer.terms.account_a) != account.get() {
                bail!(
                    "the offer names account {} as party A; this wallet's is {}",
                    offer.terms.account_a,
                    account.get()
                );
            }
            let index = w
                .l1()
                .await?
                .request_forced_trade(&offer)
                .await
                .map_err(|e| match e.reason() {
                    Some(reason) => anyhow!("the rollup refused the forced trade: {reason}"),
                    None => anyhow!("{e}"),
                })?;
            Ok(json!({
                "forced_trade_index": index,
                "account": account.get(),
                "counterparty": offer.terms.account_b,
                "signer": offer.signer,
            }))
        }
        WalletCommand::Freeze => {
            let l1 = w.l1().await?;
            l1.freeze().await.map_err(|e| match e.reason() {
                Some(reason) => anyhow!("the rollup refused the freeze: {reason}"),
                None => anyhow!("{e}"),
            })?;
            Ok(json!({"frozen": l1.frozen().await?}))
        }
        WalletCommand::Exit { keys, blobs, sync } if w.args.network.is_some() => {
            exit_from_l1(&w, keys, sync.as_deref(), blobs).await
        }
        WalletCommand::Sync { dir, blobs } => {
            let (state, mine) = follow_from_l1(&w, Some(dir), blobs).await?;
            let accounts: Vec<Value> = mine
                .accounts()
                .iter()
                .map(|f| {
                    let leaf = f.leaf();
                    json!({
                        "account": f.account().get(),
                        "record_batch": leaf.map(|(b, _)| b),
                        "collateral_units": leaf.map(|(_, l)| l.collateral.to_string()),
                    })
                })
                .collect();
            Ok(json!({
                "batch": state.batch(),
                "state_root": fr_to_decimal(&state.root()),
                "accounts": accounts,
            }))
        }
        WalletCommand::Exit { keys, .. } => {
            let account = w.account().await?;
            let config: StateConfig = serde_json::from_value(w.get("/v1/config").await?)
                .context("the API's configuration")?;
            let served = w
                .private(
                    account,
                    &format!("/v1/accounts/{}/exit-witness", account.get()),
                )
                .await?;
            let witness: ExitWitness =
                serde_json::from_value(served["witness"].clone()).context("the exit witness")?;
            let root = fr_from_decimal(served["state_root"].as_str().unwrap_or_default())
                .map_err(|e| anyhow!("the served state root: {e}"))?;
            let l1 = w.l1().await?;
            let l1_root = l1.state_root().await?;
            if l1_root.to_string() != fr_to_decimal(&root) {
                bail!("the API's verified root is not the rollup's ({l1_root}): wait for it to catch up");
            }
            prove_and_register(&w, &l1, config, keys, witness, root).await
        }
        WalletCommand::ClaimExit => {
            let account = u32::try_from(w.account().await?.get())?;
            let l1 = w.l1().await?;
            // Final once the window has closed (claimExit refuses before).
            let payout = l1.exit_payout(account).await?;
            l1.claim_exit(account).await.map_err(|e| match e.reason() {
                Some(reason) => anyhow!("the rollup refused the exit claim: {reason}"),
                None => anyhow!("{e}"),
            })?;
            Ok(json!({
                "account": account,
                "paid_units": payout.to_string(),
                "paid_to": w.eth()?.address().to_string(),
            }))
        }
    }
}
