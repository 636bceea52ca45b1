//! The hub's views against the sequencer's own books, on the random command stream the crash
//! tests use (every order type, cancels, withdrawals, batches rolling): after every command the
//! hub's price levels are the books' resting orders summed by price, every resting order is
//! `open` with the book's remaining size, and a client that applies the published deltas to
//! the first snapshot holds the same levels, with sequence numbers that never skip. A hub
//! rebuilt after a restart (the journal replayed) has the same levels.

use std::collections::BTreeMap;

use zkperp_core::command::Command;
use zkperp_core::testkit::{CommandStream, BATCH};
use zkperp_sequencer::hub::{BookLevels, FeedEvent, Hub, OpenOptions, OrderStatus};
use zkperp_sequencer::sequencer::Sequencer;
use zkperp_sequencer::snapshot::{SnapshotChoice, SnapshotPolicy};

/// The book of market `m` summed by price, as the hub should hold it.
fn levels(hub: &Hub, m: usize) -> (BTreeMap<u64, u64>, BTreeMap<u64, u64>) {
    hub.with_sequencer(|seq| {
        let snapshot = seq.engine().book(m).expect("book").snapshot();
        let sum = |orders: &[zkperp_core::book::RestingOrder]| {
            let mut out = BTreeMap::new();
            for o in orders {
                *out.entry(o.price).or_insert(0) += o.remaining;
            }
            out
        };
        (sum(&snapshot.bids), sum(&snapshot.asks))
    })
}

#[test]
fn views_and_deltas_follow_the_books_exactly() {
    let stream = CommandStream::new(11);
    let dir = tempfile::tempdir().expect("tmp");
    let hub = Hub::new(Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open"));
    let mut feed = hub.subscribe();
    let markets = 2;
    let mut client: Vec<BookLevels> = (0..markets).map(|m| hub.book(m).expect("book")).collect();
    let (mut fills, mut trades, mut deltas) = (0, 0, 0);
    for n in 0..1_500u64 {
        let command = hub.with_sequencer(|seq| stream.command(n, seq.engine()));
        hub.execute(command).expect("journaled");
        while let Ok(event) = feed.try_recv() {
            match event.as_ref() {
                FeedEvent::Book {
                    market,
                    seq,
                    bids,
                    asks,
                } => {
                    let c = &mut client[*market];
                    assert_eq!(*seq, c.seq + 1, "deltas never skip");
                    c.seq = *seq;
                    for (side, changes) in [(&mut c.bids, bids), (&mut c.asks, asks)] {
                        for l in changes {
                            if l.size == 0 {
                                side.remove(&l.price);
                            } else {
                                side.insert(l.price, l.size);
                            }
                        }
                    }
                    deltas += 1;
                }
                FeedEvent::Trade(_) => trades += 1,
                FeedEvent::Fill { .. } => fills += 1,
                FeedEvent::Order(_) => {}
            }
        }
        for (m, copy) in client.iter().enumerate() {
            let (bids, asks) = levels(&hub, m);
            let view = hub.book(m).expect("book");
            assert_eq!(
                (&view.bids, &view.asks),
                (&bids, &asks),
                "command {n}, market {m}"
            );
            assert_eq!(
                (&copy.bids, &copy.asks),
                (&bids, &asks),
                "the client's copy"
            );
            assert_eq!(copy.seq, view.seq);
        }
        if n % 100 == 99 {
            let resting: Vec<_> = hub.with_sequencer(|seq| {
                seq.engine()
                    .snapshots()
                    .into_iter()
                    .flat_map(|s| s.bids.into_iter().chain(s.asks))
                    .collect()
            });
            for r in resting {
                let order = hub.order(&r.key).expect("a resting order is known");
                assert_eq!(order.status, OrderStatus::Open);
                assert_eq!(order.remaining, r.remaining);
                assert!(hub.orders(r.key.account).iter().any(|o| o.key() == r.key));
            }
        }
    }
    assert_eq!(fills, 2 * trades, "each trade is a fill for each side");
    assert!(
        trades > 50 && deltas > 200,
        "the stream trades: {trades} trades, {deltas} deltas"
    );

    // A restart: the journal replays into the same books, and the hub's levels follow.
    let before: Vec<_> = (0..markets).map(|m| hub.book(m).expect("book")).collect();
    drop(feed);
    drop(hub);
    let hub = Hub::new(Sequencer::open(dir.path(), &stream.sequencer_config()).expect("reopen"));
    for (m, b) in before.iter().enumerate() {
        let after = hub.book(m).expect("book");
        assert_eq!((&after.bids, &after.asks), (&b.bids, &b.asks));
    }
}

/// `Hub::open` restores the views with the sequencer, from a snapshot and the journal after it,
/// or from the whole journal: after a restart every order keeps its history (size, fills, final
/// status), fills and trades are still there, and the books' delta sequence numbers continue
/// where they were, so a restarted API serves what it served before.
#[test]
fn a_hub_reopened_from_its_journal_serves_the_same_views() {
    let stream = CommandStream::new(23);
    let dir = tempfile::tempdir().expect("tmp");
    let config = stream.sequencer_config();
    let every_batch = OpenOptions {
        start: SnapshotChoice::Latest,
        snapshots: Some(SnapshotPolicy {
            every_batches: 1,
            keep: 2,
        }),
    };
    let (hub, opened) = Hub::open(
        dir.path(),
        &config,
        every_batch,
        |_, _| {},
        Box::new(|_| {}),
    )
    .expect("open");
    assert_eq!(opened.restored, None);
    for n in 0..800u64 {
        let command = hub.with_sequencer(|seq| stream.command(n, seq.engine()));
        hub.execute(command).expect("journaled");
    }
    let accounts: Vec<_> =
        hub.with_sequencer(|seq| seq.engine().state().accounts().map(|(id, _)| *id).collect());
    let markets = 2;
    let views = |hub: &Hub| {
        let per_account: Vec<_> = accounts
            .iter()
            .map(|a| (hub.orders(*a), hub.fills(*a)))
            .collect();
        let per_market: Vec<_> = (0..markets)
            .map(|m| (hub.book(m).expect("book"), hub.trades(m)))
            .collect();
        (per_account, per_market)
    };
    let before = views(&hub);
    assert!(
        before.0.iter().any(|(_, fills)| !fills.is_empty()),
        "the stream fills orders"
    );
    drop(hub);

    // From the newest snapshot: only the commands after it are replayed.
    let mut replayed = 0u64;
    let (hub, opened) = Hub::open(
        dir.path(),
        &config,
        every_batch,
        |_, _| replayed += 1,
        Box::new(|_| {}),
    )
    .expect("reopen");
    let restored = opened.restored.expect("a snapshot was written and used");
    assert!(opened.skipped.is_empty(), "{:?}", opened.skipped);
    assert_eq!(replayed, 800 - restored.position);
    assert_eq!(opened.replayed, replayed);
    assert!(replayed < 800);
    assert_eq!(views(&hub), before);
    drop(hub);

    // From genesis: every command is shown to the observer, and the views are the same.
    let from_genesis = OpenOptions {
        start: SnapshotChoice::Genesis,
        snapshots: None,
    };
    let mut replayed = 0u64;
    let (hub, _) = Hub::open(
        dir.path(),
        &config,
        from_genesis,
        |_, _| replayed += 1,
        Box::new(|_| {}),
    )
    .expect("reopen");
    assert_eq!(replayed, 800);
    assert_eq!(views(&hub), before);
    // And it goes on from there: the next command gets the next ticket.
    let command = hub.with_sequencer(|seq| stream.command(800, seq.engine()));
    assert_eq!(hub.execute(command).expect("journaled").ticket, 800);
}

/// A snapshot without the hub's views (written by a sequencer alone) restores the builder but
/// not what the API served: the hub does not use it, and replays from genesis instead.
#[test]
fn a_snapshot_without_views_is_not_used_by_the_hub() {
    let stream = CommandStream::new(23);
    let dir = tempfile::tempdir().expect("tmp");
    let config = stream.sequencer_config();
    {
        let mut seq = Sequencer::open(dir.path(), &config).expect("open");
        for n in 0..=BATCH {
            seq.execute(stream.command(n, seq.engine()))
                .expect("journaled");
        }
        seq.snapshot(Vec::new(), 1)
            .expect("written")
            .expect("between batches");
    }
    let mut replayed = 0;
    let (_, opened) = Hub::open(
        dir.path(),
        &config,
        OpenOptions::default(),
        |_, _| replayed += 1,
        Box::new(|_| {}),
    )
    .expect("opens");
    assert_eq!(opened.restored, None);
    assert_eq!(opened.skipped.len(), 1);
    assert!(
        opened.skipped[0].1.contains("API views"),
        "{:?}",
        opened.skipped
    );
    assert_eq!(replayed, BATCH + 1);
}

/// Group commit under concurrent callers: every command is acknowledged with its own ticket,
/// the tickets are exactly the journal's positions, the views end equal to the books, and a
/// replay of the journal rebuilds exactly the exchange the callers saw (state root, books, held
/// transactions).
#[test]
fn concurrent_callers_share_journal_writes_and_a_replay_rebuilds_the_same_exchange() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use zkperp_core::testkit::fingerprint;

    const THREADS: u64 = 8;
    /// The stream's opening (a batch, marks, every trader's deposit), run in order first so
    /// the concurrent part trades.
    const OPENING: u64 = 20;
    const COMMANDS: u64 = 600;
    let stream = CommandStream::new(5);
    let dir = tempfile::tempdir().expect("tmp");
    let hub = Hub::new(Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open"));
    let mut sealed = hub.sealed_batches().expect("the seal worker starts");
    // Batches sealed by a trader's order (its fills found the batch full), not by `EndBatch`.
    let by_orders = AtomicU64::new(0);
    let note = |command: &Command, done: &zkperp_sequencer::sequencer::Executed| {
        if matches!(command, Command::Submit { .. }) {
            by_orders.fetch_add(done.batch_numbers().count() as u64, Ordering::SeqCst);
        }
    };
    for n in 0..OPENING {
        let command = hub.with_sequencer(|seq| stream.command(n, seq.engine()));
        let done = hub.execute(command.clone()).expect("journaled");
        note(&command, &done);
    }
    let next = AtomicU64::new(OPENING);
    let mut tickets: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= COMMANDS {
                            return mine;
                        }
                        let command = hub.with_sequencer(|seq| stream.command(n, seq.engine()));
                        let done = hub.execute(command.clone()).expect("journaled");
                        note(&command, &done);
                        mine.push(done.ticket);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker"))
            .collect()
    });
    tickets.sort_unstable();
    assert_eq!(
        tickets,
        (OPENING..COMMANDS).collect::<Vec<_>>(),
        "one ticket each"
    );
    assert_eq!(hub.with_sequencer(|s| s.journal_len()), COMMANDS);
    let mut resting = 0;
    for m in 0..2 {
        let (bids, asks) = levels(&hub, m);
        let view = hub.book(m).expect("book");
        assert_eq!((&view.bids, &view.asks), (&bids, &asks), "market {m}");
        resting += bids.len() + asks.len();
    }
    assert!(resting > 0, "the concurrent part left orders resting");

    // Every sealed batch reached the sink once, in order, each on the root the one before
    // left, whichever command sealed it: the operator proves what it finds there, so a batch
    // a trader's order sealed inside the API call must be there too. They are sealed off the
    // lock: settled, every batch closed is in the sink.
    hub.settle_seals().expect("the seal worker");
    let count = hub.with_sequencer(|s| s.engine().state().batches_sealed());
    let mut got = Vec::new();
    while let Ok(batch) = sealed.try_recv() {
        got.push(batch);
    }
    assert_eq!(
        got.iter().map(|b| b.batch_number).collect::<Vec<_>>(),
        (1..=count).collect::<Vec<_>>()
    );
    for pair in got.windows(2) {
        assert_eq!(pair[1].old_root, pair[0].new_root, "batches chain");
    }
    assert!(
        by_orders.load(Ordering::SeqCst) > 0,
        "traders' orders sealed some of the {count} batches"
    );

    let seen = hub.with_sequencer(|s| fingerprint(s.batcher()));
    drop(hub);
    let replayed = Sequencer::open(dir.path(), &stream.sequencer_config()).expect("reopen");
    assert_eq!(fingerprint(replayed.batcher()), seen);
}

#[test]
fn signatures_checked_before_the_lock_agree_with_the_sequencer() {
    use zkperp_core::command::Command;
    use zkperp_core::engine::OrderError;
    use zkperp_sequencer::sequencer::Outcome;
    let stream = CommandStream::new(12);
    let dir = tempfile::tempdir().expect("tmp");
    let hub = Hub::new(Sequencer::open(dir.path(), &stream.sequencer_config()).expect("open"));
    let (mut verified, mut forged, mut unsigned) = (0, 0, 0);
    let mut previous = None;
    let mut checked = Vec::new();
    for n in 0..600u64 {
        let mut command = hub.with_sequencer(|seq| stream.command(n, seq.engine()));
        if let Command::Submit { order, .. } = &mut command {
            // Every third order carries the signature of the order before it.
            let own = order.signature;
            if n % 3 == 0 {
                if let Some(other) = previous {
                    order.signature = other;
                }
            }
            previous = Some(own);
        }
        let verdict = hub.check_signature(&command);
        checked.push((command.clone(), verdict));
        let executed = hub.execute(command.clone()).expect("journaled");
        let refused_for_signature =
            matches!(executed.outcome, Outcome::Refused(OrderError::BadSignature));
        match (&command, verdict) {
            (Command::Submit { .. }, Some(false)) => {
                assert!(
                    matches!(executed.outcome, Outcome::Refused(_)),
                    "{command:?}: refused before the lock, accepted under it"
                );
                forged += usize::from(refused_for_signature);
            }
            (Command::Submit { .. } | Command::Cancel { .. }, Some(true)) => {
                assert!(!refused_for_signature, "{command:?}");
                verified += 1;
            }
            (Command::Submit { .. } | Command::Cancel { .. }, None) => {
                panic!("{command:?}: the stream's accounts exist")
            }
            (_, verdict) => {
                assert_eq!(verdict, None, "{command:?} carries no trader's signature");
                unsigned += 1;
            }
        }
    }
    assert!(
        verified > 100 && forged > 20 && unsigned > 0,
        "verified {verified}, forged {forged}, unsigned {unsigned}"
    );
    // Checked together (as the intake's pool does in a burst), each gets its own verdict.
    for chunk in checked.chunks(97) {
        let commands: Vec<&Command> = chunk.iter().map(|(c, _)| c).collect();
        let verdicts: Vec<Option<bool>> = chunk.iter().map(|(_, v)| *v).collect();
        assert_eq!(hub.check_signatures(&commands), verdicts);
    }
}
