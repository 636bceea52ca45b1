//! Oracles: signed price quotes in, one [`OracleTick`] per market out at each batch start, and
//! the local signers the devnet quotes with.
//!
//! ```text
//!  oracle key k of market m ──SignedQuote──> OracleBook::ingest(quote, now)
//!                                             │ market known, key k configured, price > 0,
//!                                             │ not from the future, not stale, newer than
//!                                             │ k's last quote, signature verifies
//!                                             v
//!                                  latest quote per (market, key)
//!                                             │
//!  BeginBatch at time t ──> OracleBook::tick(m, t) ──> OracleTick (exactly `quorum` quotes)
//!                                                       ──> Command::Apply ──> State::apply
//! ```
//!
//! The state machine takes no price on the sequencer's word: an oracle tick must carry exactly
//! `oracle_quorum` quotes from distinct configured keys of the market, each signed, none from
//! the future or older than `oracle_freshness_secs` at the batch time, sorted by price, and the
//! median becomes the mark (`zkperp_state::tx::oracle_tick`). This module is the sequencer's
//! side of that rule: it gathers quotes as they arrive and builds, for a batch time, the one
//! tick the rule will accept.
//!
//! Rules, and why:
//!
//! 1. **Check on ingestion.** A quote is refused, with a typed [`QuoteError`], when its market
//!    is unknown, its key index is not one of the market's keys, its price is zero or outside
//!    its width, its timestamp is after `now` or more than the freshness window before it, it is
//!    not newer than the key's last stored quote, or its signature does not verify. Only quotes
//!    that a tick could carry are kept, so building a tick never meets a bad signature, and a
//!    forged quote cannot displace an honest one.
//! 2. **One quote per (market, key): the latest.** An oracle's newer quote replaces its older
//!    one; a quote with the same or an earlier timestamp is refused ([`QuoteError::NotNewer`]),
//!    so one key can never sign two quotes that both count, and a resent quote is harmless.
//! 3. **A tick at batch time `t` uses the quotes fresh at `t`**: `timestamp <= t` and
//!    `t - timestamp <= oracle_freshness_secs`, the state machine's own test, and no older than
//!    the newest quote of the market's last tick (its `mark_time`: the state machine refuses a
//!    tick that goes back in time). With fewer than `quorum` of them there is no tick (the mark
//!    stays, and ages; the proof would refuse any tick).
//! 4. **More fresh quotes than the quorum: keep the middle.** The fresh quotes are sorted by
//!    `(price, key index)` and the extremes are dropped symmetrically, the window of `quorum`
//!    starting at `(n - quorum) / 2`. Its median is the median of all `n` fresh quotes when `n`
//!    is odd, and the *lower* median when `n` is even (a tick must carry one of the quotes as
//!    its median, so the two middle prices cannot be averaged; the lower one is the usual
//!    convention and is deterministic). An outlier therefore moves the mark no further than a
//!    median of every fresh quote would, and the choice does not depend on arrival order.
//!
//! The book lives outside the journal: the ticks it produces enter the journal as ordinary
//! `Apply` commands, so a replay needs no quotes. Quotes that arrive with timestamps after a
//! batch's time do not count for that batch (a key whose latest quote is newer than the batch
//! simply sits that tick out); ingest with `now` no later than the next batch time.
//!
//! The local signers ([`PricePath`], [`LocalOracle`]) stand in for real oracle feeds on the
//! devnet and in tests: a deterministic price path (a seeded random walk, or points read from a
//! file) and a key that signs the path's price at a given time.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkperp_state::domain::SigningDomain;
use zkperp_state::eddsa::{PrivateKey, PublicKey, Signature};
use zkperp_state::market::MarketState;
use zkperp_state::tx::{OracleTick, Quote, SignedQuote};
use zkperp_state::units::{MarketId, PriceTicks, RangeError, Timestamp, PRICE_BITS};
use zkperp_state::StateConfig;

/// Why a quote was not ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("unknown market {0}")]
    UnknownMarket(u64),
    #[error("market {market} has no oracle key {oracle}")]
    UnknownKey { market: MarketId, oracle: u8 },
    #[error("a quote field is outside its width: {0}")]
    OutOfWidth(RangeError),
    #[error("a price of zero ticks is no price")]
    ZeroPrice,
    #[error("quote time {timestamp} is after now ({now})")]
    FromTheFuture {
        timestamp: Timestamp,
        now: Timestamp,
    },
    #[error("quote time {timestamp} is more than {freshness_secs} s before now ({now})")]
    Stale {
        timestamp: Timestamp,
        now: Timestamp,
        freshness_secs: u64,
    },
    #[error("quote time {timestamp} is not after this key's last quote ({latest})")]
    NotNewer {
        timestamp: Timestamp,
        latest: Timestamp,
    },
    #[error("the signature does not verify with oracle key {oracle} of market {market}")]
    BadSignature { market: MarketId, oracle: u8 },
}

impl From<RangeError> for QuoteError {
    fn from(e: RangeError) -> Self {
        QuoteError::OutOfWidth(e)
    }
}

/// A quote as it arrives from outside, before its fields are checked against their widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawQuote {
    /// Index of the signing key in the market's `oracle_keys`.
    pub oracle: u8,
    pub market: u64,
    pub price_ticks: u64,
    pub timestamp: u64,
    pub signature: Signature,
}

impl TryFrom<RawQuote> for SignedQuote {
    type Error = QuoteError;

    fn try_from(raw: RawQuote) -> Result<Self, QuoteError> {
        Ok(SignedQuote {
            oracle: raw.oracle,
            quote: Quote {
                market: MarketId::new(raw.market)?,
                price: PriceTicks::new(raw.price_ticks)?,
                timestamp: Timestamp::new(raw.timestamp)?,
            },
            signature: raw.signature,
        })
    }
}

/// What the book knows of one market's oracles.
#[derive(Debug, Clone)]
struct MarketOracles {
    keys: Vec<PublicKey>,
    quorum: usize,
    freshness_secs: u64,
    /// The latest accepted quote of each key, by key index.
    latest: Vec<Option<SignedQuote>>,
}

impl MarketOracles {
    /// `timestamp` is usable at `now`: the state machine's freshness test.
    fn is_fresh(&self, timestamp: Timestamp, now: Timestamp) -> bool {
        timestamp <= now && now.get() - timestamp.get() <= self.freshness_secs
    }
}

/// The latest signed quote of every oracle key of every market, and the ticks they make.
#[derive(Debug, Clone)]
pub struct OracleBook {
    markets: Vec<MarketOracles>,
    /// The deployment every quote's signature must be bound to.
    domain: SigningDomain,
}

impl OracleBook {
    /// A book for the markets of `config`, holding no quote yet.
    pub fn new(config: &StateConfig) -> Self {
        OracleBook {
            domain: config.domain,
            markets: config
                .markets
                .iter()
                .map(|m| MarketOracles {
                    keys: m.oracle_keys.clone(),
                    quorum: usize::from(m.oracle_quorum),
                    freshness_secs: m.oracle_freshness_secs,
                    latest: vec![None; m.oracle_keys.len()],
                })
                .collect(),
        }
    }

    /// The index of `key` among `market`'s oracle keys (what a [`SignedQuote`] names).
    pub fn oracle_index(&self, market: MarketId, key: &PublicKey) -> Option<u8> {
        let m = self.markets.get(market.index())?;
        let i = m.keys.iter().position(|k| k == key)?;
        u8::try_from(i).ok()
    }

    /// Checks `quote` at time `now` (rule 1) and keeps it as its key's latest (rule 2).
    pub fn ingest(&mut self, quote: SignedQuote, now: Timestamp) -> Result<(), QuoteError> {
        let market = quote.quote.market;
        let m = self
            .markets
            .get_mut(market.index())
            .ok_or(QuoteError::UnknownMarket(market.get()))?;
        let oracle = quote.oracle;
        let key = *m
            .keys
            .get(usize::from(oracle))
            .ok_or(QuoteError::UnknownKey { market, oracle })?;
        if quote.quote.price.get() == 0 {
            return Err(QuoteError::ZeroPrice);
        }
        let timestamp = quote.quote.timestamp;
        if timestamp > now {
            return Err(QuoteError::FromTheFuture { timestamp, now });
        }
        if !m.is_fresh(timestamp, now) {
            return Err(QuoteError::Stale {
                timestamp,
                now,
                freshness_secs: m.freshness_secs,
            });
        }
        let slot = &mut m.latest[usize::from(oracle)];
        if let Some(latest) = slot {
            if timestamp <= latest.quote.timestamp {
                return Err(QuoteError::NotNewer {
                    timestamp,
                    latest: latest.quote.timestamp,
                });
            }
        }
        // Last, as the costliest check: two scalar multiplications.
        key.verify(quote.quote.message(&self.domain), &quote.signature)
            .map_err(|_| QuoteError::BadSignature { market, oracle })?;
        *slot = Some(quote);
        Ok(())
    }

    /// [`OracleBook::ingest`] for a quote whose fields are not yet checked against their widths.
    pub fn ingest_raw(&mut self, raw: RawQuote, now: Timestamp) -> Result<(), QuoteError> {
        self.ingest(SignedQuote::try_from(raw)?, now)
    }

    /// The latest quote of every key of `market` that has one, by key index.
    pub fn latest(&self, market: MarketId) -> impl Iterator<Item = &SignedQuote> {
        self.markets
            .get(market.index())
            .into_iter()
            .flat_map(|m| m.latest.iter().flatten())
    }

    /// The quotes of `market` fresh at `now` (rule 3), sorted by `(price, key index)`.
    /// The quotes of `market` a tick at `now` may carry: fresh, and no older than `since`
    /// (the market's `mark_time`), sorted by price.
    pub fn fresh(&self, market: MarketId, now: Timestamp, since: Timestamp) -> Vec<SignedQuote> {
        let Some(m) = self.markets.get(market.index()) else {
            return Vec::new();
        };
        let mut fresh: Vec<SignedQuote> = m
            .latest
            .iter()
            .flatten()
            .filter(|q| m.is_fresh(q.quote.timestamp, now) && q.quote.timestamp >= since)
            .copied()
            .collect();
        fresh.sort_by_key(|q| (q.quote.price, q.oracle));
        fresh
    }

    /// The oracle tick of `market` for a batch at time `now`: `quorum` fresh quotes from
    /// distinct keys, sorted by price, the middle ones when there are more (rule 4); `None`
    /// with fewer than `quorum` fresh quotes. `since` is the market's `mark_time`.
    pub fn tick(&self, market: MarketId, now: Timestamp, since: Timestamp) -> Option<OracleTick> {
        let quorum = self.markets.get(market.index())?.quorum;
        let fresh = self.fresh(market, now, since);
        if fresh.len() < quorum {
            return None;
        }
        let start = (fresh.len() - quorum) / 2;
        Some(OracleTick {
            market,
            quotes: fresh[start..start + quorum].to_vec(),
        })
    }

    /// The ticks of every market that has a quorum of fresh quotes at `now`, no older than
    /// its last tick's (`markets`: the state's), in market order (the order to apply them in).
    pub fn ticks(&self, now: Timestamp, markets: &[MarketState]) -> Vec<OracleTick> {
        (0..self.markets.len())
            .filter_map(|i| MarketId::new(i as u64).ok())
            .filter_map(|m| {
                let since = markets.get(m.index()).map(|s| s.mark_time)?;
                self.tick(m, now, since)
            })
            .collect()
    }
}

/// Why a price path could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("reading {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("a price path needs at least one point")]
    Empty,
    #[error("a random walk needs a step of at least one second")]
    ZeroStep,
    #[error("volatility {0} ppm is 10^6 or more: a step could reach a price of zero")]
    Volatility(u32),
    #[error("the initial price must be at least one tick")]
    ZeroPrice,
}

/// A seeded random walk: the price moves every `step_secs` by a factor `1 + u`, `u` drawn
/// uniformly from `[-volatility, +volatility]` (in parts per million), rounded down to ticks and
/// kept within `1..2^PRICE_BITS`. Points are generated (once, and kept) up to the latest time
/// asked, so start the walk near the times it will be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomWalk {
    pub seed: u64,
    /// Time of the first point.
    pub start: Timestamp,
    pub initial: PriceTicks,
    pub step_secs: u64,
    /// Largest relative move per step, in parts per million (below 10^6).
    pub volatility_ppm: u32,
}

#[derive(Debug, Clone)]
enum PathKind {
    /// The walk's points so far (point `k` at `start + k * step_secs`) and the generator that
    /// extends them, so any time can be asked in any order and gets the same price.
    Walk {
        walk: RandomWalk,
        points: Vec<PriceTicks>,
        /// Boxed: the generator's state is ten times the other variant.
        rng: Box<ChaCha20Rng>,
    },
    /// `(seconds after start, price)`, strictly increasing in time.
    Points {
        start: Timestamp,
        points: Vec<(u64, PriceTicks)>,
    },
}

/// A deterministic price as a function of time: a seeded random walk or points from a file.
///
/// Before the first point the price is the first point's; between points it is the last
/// point's at or before the time (a step function); after the last point of a file it stays.
#[derive(Debug, Clone)]
pub struct PricePath {
    kind: PathKind,
}

const MAX_PRICE: u64 = (1 << PRICE_BITS) - 1;

impl PricePath {
    pub fn random_walk(walk: RandomWalk) -> Result<Self, PathError> {
        if walk.step_secs == 0 {
            return Err(PathError::ZeroStep);
        }
        if walk.volatility_ppm >= 1_000_000 {
            return Err(PathError::Volatility(walk.volatility_ppm));
        }
        if walk.initial.get() == 0 {
            return Err(PathError::ZeroPrice);
        }
        Ok(PricePath {
            kind: PathKind::Walk {
                walk,
                points: vec![walk.initial],
                rng: Box::new(ChaCha20Rng::seed_from_u64(walk.seed)),
            },
        })
    }

    /// Points from text of lines `seconds price` (seconds after `start`, price in ticks),
    /// strictly increasing in seconds; blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str, start: Timestamp) -> Result<Self, PathError> {
        let mut points: Vec<(u64, PriceTicks)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| PathError::Line {
                line: i + 1,
                reason,
            };
            let mut fields = line.split_whitespace();
            let (Some(secs), Some(price), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected `seconds price`".into()));
            };
            let secs: u64 = secs.parse().map_err(|e| bad(format!("seconds: {e}")))?;
            let price: u64 = price.parse().map_err(|e| bad(format!("price: {e}")))?;
            let price = PriceTicks::new(price).map_err(|e| bad(e.to_string()))?;
            if price.get() == 0 {
                return Err(bad("a price of zero ticks".into()));
            }
            if points.last().is_some_and(|(last, _)| *last >= secs) {
                return Err(bad("seconds must increase strictly".into()));
            }
            points.push((secs, price));
        }
        if points.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(PricePath {
            kind: PathKind::Points { start, points },
        })
    }

    /// [`PricePath::parse`] of a file's contents.
    pub fn from_file(path: &Path, start: Timestamp) -> Result<Self, PathError> {
        let text = std::fs::read_to_string(path).map_err(|e| PathError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, start)
    }

    /// The price at time `t`.
    pub fn price_at(&mut self, t: Timestamp) -> PriceTicks {
        match &mut self.kind {
            PathKind::Walk { walk, points, rng } => {
                let k = t.get().saturating_sub(walk.start.get()) / walk.step_secs;
                let k = usize::try_from(k).unwrap_or(usize::MAX);
                let vol = i128::from(walk.volatility_ppm);
                while points.len() <= k {
                    let last = i128::from(points[points.len() - 1].get());
                    let u: i128 = rng.gen_range(-vol..=vol);
                    // last < 2^40 and 10^6 + u < 2^21: the product fits easily.
                    let next = (last * (1_000_000 + u) / 1_000_000).clamp(1, i128::from(MAX_PRICE));
                    points.push(PriceTicks::new(next as u64).unwrap_or(walk.initial));
                }
                points[k]
            }
            PathKind::Points { start, points } => {
                let secs = t.get().saturating_sub(start.get());
                let after = points.partition_point(|(s, _)| *s <= secs);
                points[after.saturating_sub(1)].1
            }
        }
    }
}

/// A local oracle: one of a market's oracle keys signing a price path, for the devnet and tests.
#[derive(Debug, Clone)]
pub struct LocalOracle {
    /// The deployment the quotes are signed for.
    pub domain: SigningDomain,
    pub key: PrivateKey,
    /// Index of `key` in the market's `oracle_keys`.
    pub oracle: u8,
    pub market: MarketId,
    pub path: PricePath,
    /// Ticks added to the path's price (kept within `1..2^PRICE_BITS`), so several local
    /// oracles over one path disagree a little, as real feeds do.
    pub offset_ticks: i64,
}

impl LocalOracle {
    pub fn new(
        domain: SigningDomain,
        key: PrivateKey,
        oracle: u8,
        market: MarketId,
        path: PricePath,
    ) -> Self {
        LocalOracle {
            domain,
            key,
            oracle,
            market,
            path,
            offset_ticks: 0,
        }
    }

    pub fn with_offset(mut self, offset_ticks: i64) -> Self {
        self.offset_ticks = offset_ticks;
        self
    }

    /// The price this oracle quotes at `t`: the path's, plus its offset.
    pub fn price_at(&mut self, t: Timestamp) -> PriceTicks {
        let p = i128::from(self.path.price_at(t).get()) + i128::from(self.offset_ticks);
        let p = p.clamp(1, i128::from(MAX_PRICE)) as u64;
        PriceTicks::new(p).unwrap_or_else(|_| self.path.price_at(t))
    }

    /// A quote of [`LocalOracle::price_at`] stamped `t`, signed.
    pub fn sign_at(&mut self, t: Timestamp) -> SignedQuote {
        let quote = Quote {
            market: self.market,
            price: self.price_at(t),
            timestamp: t,
        };
        SignedQuote {
            oracle: self.oracle,
            quote,
            signature: self.key.sign(quote.message(&self.domain)),
        }
    }
}
