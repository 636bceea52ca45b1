//! `zkperp oracle`: one oracle key's signer, as a service of its own.
//!
//! Every `--every` seconds it signs its price of each of its markets at the wall clock and
//! posts the quote to the node's `POST /v1/oracle/quotes`; the node makes each batch's mark
//! from the median of its oracles' fresh quotes. The price follows a path: a file of
//! `seconds price` lines (`--price-path`, one per market), or a seeded random walk. A real
//! deployment would quote an exchange's feed here; the signing and the posting are the same.
//!
//! The key's index among each market's oracle keys is looked up in the node's configuration
//! (`GET /v1/config`): a key that is not one of a market's oracles is refused at start. The
//! signing domain comes from there too, checked against `--rollup` and `--chain-id` when they
//! pin it (they should, in production: the oracle then signs for no other deployment, whatever
//! the node says).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use zkperp_core::oracle::{LocalOracle, PricePath, RandomWalk};
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::PrivateKey;
use zkperp_state::state::StateConfig;
use zkperp_state::units::{MarketId, PriceTicks, Timestamp};

use crate::operator::{emit, now, run_until_signal};

/// The random walks' first prices by market index (BTC-USD 50,000 USD, ETH-USD 3,000 USD, in
/// the built-in markets' ticks), when `--initial` does not say.
pub const INITIAL_TICKS: [u64; 2] = [500_000, 3_000_000];

#[derive(Debug, clap::Args)]
pub struct OracleArgs {
    /// The node's API.
    #[arg(long, env = "ZKPERP_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The oracle's private key (64 hex digits, `zkperp keygen`).
    #[arg(long, env = "ZKPERP_ORACLE_KEY", hide_env_values = true)]
    key: String,
    /// The markets to quote, by name or index (default: every market the key is an oracle of).
    #[arg(long = "market")]
    markets: Vec<String>,
    /// A price path per quoted market, in the order of --market (`seconds price` lines,
    /// seconds after this service's start, price in ticks).
    #[arg(long, value_delimiter = ',')]
    price_path: Vec<PathBuf>,
    /// The random walks' first prices in ticks, per quoted market.
    #[arg(long, value_delimiter = ',')]
    initial: Vec<u64>,
    /// The random walks' seed (oracles with the same seed follow the same walk).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Ticks added to every price (so that several oracles of one path disagree a little).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    offset: i64,
    /// Seconds between quotes.
    #[arg(long, default_value_t = 2)]
    every: u64,
    /// The rollup this key quotes for: the oracle refuses to sign when the node serves another
    /// deployment's configuration (a quote commits to the chain id and the rollup address, so
    /// a node that lied would get quotes valid elsewhere). Give it with --chain-id in
    /// production; without them the node's word is taken, and the start event says so.
    #[arg(long, env = "ZKPERP_ROLLUP")]
    rollup: Option<String>,
    /// The L1 chain id this key quotes for (see --rollup).
    #[arg(long, env = "ZKPERP_CHAIN_ID")]
    chain_id: Option<u64>,
}

/// The signing domain to quote under: the node's, which must be the pinned one when
/// `--rollup` or `--chain-id` pin it.
pub fn pinned_domain(
    served: SigningDomain,
    rollup: Option<&str>,
    chain_id: Option<u64>,
) -> Result<SigningDomain> {
    if let Some(rollup) = rollup {
        let digits = rollup.trim().trim_start_matches("0x");
        let mut expected = [0u8; 20];
        hex::decode_to_slice(digits, &mut expected)
            .with_context(|| format!("--rollup {rollup:?} is not a 20-byte hex address"))?;
        if expected != served.rollup.0 {
            bail!(
                "the node serves the rollup 0x{}, not --rollup {rollup}: refusing to sign quotes for another deployment",
                hex::encode(served.rollup.0)
            );
        }
    }
    if let Some(chain_id) = chain_id {
        if chain_id != served.chain_id {
            bail!(
                "the node serves chain {}, not --chain-id {chain_id}: refusing to sign quotes for another deployment",
                served.chain_id
            );
        }
    }
    Ok(served)
}

pub fn run(args: &OracleArgs) -> Result<()> {
    run_until_signal(run_async(args))
}

async fn get(http: &reqwest::Client, url: &str) -> Result<Value> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

/// The node's configuration, asked until the node answers (services start in any order).
async fn config(http: &reqwest::Client, api: &str) -> Result<StateConfig> {
    let url = format!("{api}/v1/config");
    let mut waited = 0;
    loop {
        match get(http, &url).await {
            Ok(body) => return Ok(serde_json::from_value(body)?),
            Err(e) if waited < 300 => {
                if waited % 30 == 0 {
                    emit(json!({"event": "waiting_for_node", "reason": format!("{e:#}")}));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                waited += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn run_async(args: &OracleArgs) -> Result<()> {
    let key = PrivateKey::from_bytes(crate::wallet::hex32(&args.key, "--key")?);
    let public = key.public_key();
    let http = reqwest::Client::new();
    let api = args.api.trim_end_matches('/');
    let config = config(&http, api).await?;
    let domain = pinned_domain(config.domain, args.rollup.as_deref(), args.chain_id)?;
    emit(json!({
        "event": "signing_domain",
        "chain_id": domain.chain_id,
        "rollup": format!("0x{}", hex::encode(domain.rollup.0)),
        "pinned": args.rollup.is_some() && args.chain_id.is_some(),
    }));
    let wanted: Vec<usize> = if args.markets.is_empty() {
        (0..config.markets.len())
            .filter(|m| config.markets[*m].oracle_keys.contains(&public))
            .collect()
    } else {
        args.markets
            .iter()
            .map(|name| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < config.markets.len())
                    .or_else(|| config.markets.iter().position(|m| &m.name == name))
                    .with_context(|| format!("the node has no market {name:?}"))
            })
            .collect::<Result<_>>()?
    };
    if wanted.is_empty() {
        bail!("this key is an oracle of no market of the node");
    }
    if !args.price_path.is_empty() && args.price_path.len() != wanted.len() {
        bail!(
            "--price-path needs one file per quoted market ({}), got {}",
            wanted.len(),
            args.price_path.len()
        );
    }
    let start = Timestamp::new(now())?;
    let mut oracles = Vec::new();
    for (i, m) in wanted.iter().enumerate() {
        let market = &config.markets[*m];
        let index = market
            .oracle_keys
            .iter()
            .position(|k| *k == public)
            .with_context(|| format!("this key is not an oracle of market {}", market.name))?;
        let path = match args.price_path.get(i) {
            Some(file) => PricePath::from_file(file, start)
                .with_context(|| format!("--price-path {}", file.display()))?,
            None => {
                let initial = args
                    .initial
                    .get(i)
                    .or(INITIAL_TICKS.get(*m))
                    .copied()
                    .unwrap_or(1_000);
                PricePath::random_walk(RandomWalk {
                    seed: args.seed.wrapping_add(*m as u64),
                    start,
                    initial: PriceTicks::new(initial)?,
                    step_secs: 5,
                    volatility_ppm: 4_000,
                })?
            }
        };
        let id = MarketId::new(*m as u64)?;
        oracles.push(
            LocalOracle::new(domain, key.clone(), index as u8, id, path).with_offset(args.offset),
        );
        emit(json!({"event": "oracle", "market": market.name, "oracle": index}));
    }

    let url = format!("{api}/v1/oracle/quotes");
    let mut interval = tokio::time::interval(Duration::from_secs(args.every.max(1)));
    loop {
        interval.tick().await;
        let at = Timestamp::new(now())?;
        for oracle in &mut oracles {
            let q = oracle.sign_at(at);
            let body = json!({
                "market": q.quote.market.get(),
                "oracle": q.oracle,
                "price_ticks": q.quote.price.get(),
                "timestamp": q.quote.timestamp.get(),
                "signature": q.signature,
            });
            // A node that is down or refuses a quote gets the next one: quotes are only ever
            // useful fresh, so none is queued.
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => emit(json!({
                    "event": "quoted", "market": q.quote.market.get(),
                    "price": q.quote.price.get(), "timestamp": at.get(),
                })),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let reason: Value = r.json().await.unwrap_or_default();
                    emit(json!({"event": "quote_refused", "status": status, "reason": reason}));
                }
                Err(e) => emit(json!({"event": "node_unreachable", "reason": e.to_string()})),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkperp_state::units::L1Address;

    #[test]
    fn a_pinned_domain_refuses_another_deployment() {
        let served = SigningDomain {
            chain_id: 31337,
            rollup: L1Address([0xab; 20]),
        };
        let rollup = format!("0x{}", hex::encode([0xab; 20]));
        assert_eq!(
            pinned_domain(served, Some(&rollup), Some(31337)).expect("the same"),
            served
        );
        assert_eq!(pinned_domain(served, None, None).expect("unpinned"), served);
        let other = format!("0x{}", hex::encode([0xac; 20]));
        let refused = pinned_domain(served, Some(&other), None).expect_err("another rollup");
        assert!(refused.to_string().contains("refusing"), "{refused}");
        assert!(
            pinned_domain(served, None, Some(1)).is_err(),
            "another chain"
        );
        assert!(
            pinned_domain(served, Some("0x12"), None).is_err(),
            "not an address"
        );
    }
}
