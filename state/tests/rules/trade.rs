use zkperp_state::domain::SigningDomain;
use zkperp_state::margin::{is_well_margined, margin_summary, Fraction};
use zkperp_state::order::{Order, OrderSlot, Side};
use zkperp_state::testkit::*;
use zkperp_state::tx::{Role, Trade, TradeError, Transaction, TxError};
use zkperp_state::units::{AccountId, BaseLots, MarketId, OrderId, Ppm};

fn funded(traders: usize) -> Fixture {
    let mut f = Fixture::new(traders);
    for t in 0..traders {
        f.deposit(t, 1_000_000_000); // 1,000 USD
    }
    f
}

fn trade_err(err: TxError) -> TradeError {
    match err {
        TxError::Trade(e) => e,
        other => panic!("expected a trade error, got {other:?}"),
    }
}

#[test]
fn a_fill_swaps_lots_for_collateral_and_pays_fees() {
    let mut f = funded(2);
    let (a, b) = (f.id(0), f.id(1));
    let maker = f.order(0, btc(), Side::Buy, 100, 500_100);
    let taker = f.order(1, btc(), Side::Sell, 100, 499_900);
    let notional = 40 * 500_000 * 10;
    let tx = Transaction::Trade(Trade {
        maker,
        taker,
        size: lots(40),
        price: ticks(500_000),
        maker_fee: coll(0),
        taker_fee: coll(notional / 1000), // exactly the 0.1% maximum
    });
    let receipt = f.apply(tx).expect("fill");
    assert_eq!(f.position(a, btc()), 40);
    assert_eq!(f.position(b, btc()), -40);
    assert_eq!(f.collateral(a), 1_000_000_000 - notional);
    assert_eq!(f.collateral(b), 1_000_000_000 + notional - notional / 1000);
    assert_eq!(f.state.pending_fees(), notional / 1000);
    let order = |who: AccountId| {
        receipt
            .writes
            .iter()
            .find(|w| w.account == who)
            .expect("written")
    };
    assert!(order(a).order_update.is_some() && order(b).order_update.is_some());
    let written: Vec<_> = receipt.writes.iter().map(|w| w.account).collect();
    assert_eq!(written, vec![a, b], "maker, taker");
    let fees_before = f.collateral(AccountId::FEES);
    let sealed = f.state.end_batch().expect("seal");
    assert_eq!(sealed.fees, notional / 1000);
    assert_eq!(sealed.fee_write.account, AccountId::FEES);
    assert_eq!(
        f.collateral(AccountId::FEES),
        fees_before + notional / 1000,
        "the batch's fees are credited when it seals"
    );
    assert_eq!(f.state.pending_fees(), 0);
    sealed
        .check_table()
        .expect("the table writes the batch from its start root to its new root");
    for w in &receipt.writes {
        let entry = sealed.table.iter().find(|e| e.id == w.account);
        let after = entry.and_then(|e| e.after.clone()).expect("in the table");
        assert_eq!(after.collateral, w.after.collateral);
        assert_eq!(after.positions, w.after.positions);
    }
    assert_eq!(f.total_collateral(), f.deposited);
    // The orders can fill 60 more lots, and no more.
    f.apply(Fixture::trade_tx(maker, taker, 60, 500_000))
        .expect("the rest");
    let e = trade_err(f.refuse(Fixture::trade_tx(maker, taker, 1, 500_000)));
    assert_eq!(e, TradeError::Overfill(Role::Maker));
}

#[test]
fn parties_must_be_two_accounts_on_one_open_market_on_opposite_sides() {
    let mut f = funded(2);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let buy2 = f.order(0, btc(), Side::Sell, 10, 500_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, buy2, 1, 500_000))),
        TradeError::SelfTrade
    );
    let sell_eth = f.order(1, eth(), Side::Sell, 10, 3_000_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell_eth, 1, 500_000))),
        TradeError::MarketMismatch
    );
    let buy_b = f.order(1, btc(), Side::Buy, 10, 500_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, buy_b, 1, 500_000))),
        TradeError::SameSide
    );
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell, 0, 500_000))),
        TradeError::NonPositiveSize
    );
    let mut unknown = buy.order;
    unknown.market = MarketId::new(7).expect("id");
    let mut unknown_sell = sell.order;
    unknown_sell.market = unknown.market;
    let (u1, u2) = (f.sign(0, unknown), f.sign(1, unknown_sell));
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(u1, u2, 1, 500_000))),
        TradeError::UnknownMarket
    );
    // The fee account cannot be a party.
    let mut fee_order = sell.order;
    fee_order.account = AccountId::FEES;
    let fee_signed = f.sign(1, fee_order);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, fee_signed, 1, 500_000))),
        TradeError::FeeAccountTrades
    );
    f.apply(Fixture::trade_tx(buy, sell, 1, 500_000))
        .expect("the valid pair fills");
}

#[test]
fn a_market_without_a_mark_price_does_not_trade() {
    let mut f = funded(2);
    // A fresh state whose markets were never priced.
    let mut g = Fixture::new(2);
    let cfg = g.state.config().clone();
    g.state = zkperp_state::State::genesis(cfg).expect("genesis");
    g.state.begin_batch(ts(START)).expect("time");
    g.deposit(0, 1_000_000);
    g.deposit(1, 1_000_000);
    let buy = g.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = g.order(1, btc(), Side::Sell, 10, 500_000);
    assert_eq!(
        trade_err(g.refuse(Fixture::trade_tx(buy, sell, 1, 500_000))),
        TradeError::MarketNotOpen
    );
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    f.apply(Fixture::trade_tx(buy, sell, 1, 500_000))
        .expect("priced market trades");
}

#[test]
fn the_price_must_be_within_both_limits() {
    let mut f = funded(2);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 499_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell, 1, 500_001))),
        TradeError::PriceOutsideLimit(Role::Maker)
    );
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell, 1, 498_999))),
        TradeError::PriceOutsideLimit(Role::Taker)
    );
    f.apply(Fixture::trade_tx(buy, sell, 1, 499_000))
        .expect("at the seller's limit");
    f.apply(Fixture::trade_tx(buy, sell, 1, 500_000))
        .expect("at the buyer's limit");
}

#[test]
fn expired_orders_do_not_fill() {
    let mut f = funded(2);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    f.advance(3600); // exactly at expiry: still valid
    f.apply(Fixture::trade_tx(buy, sell, 1, 500_000))
        .expect("at expiry");
    f.advance(1);
    f.set_price(btc(), 500_000);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell, 1, 500_000))),
        TradeError::Expired(Role::Maker)
    );
}

#[test]
fn orders_must_carry_their_owners_signature() {
    let mut f = funded(3);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    // Signed by someone else.
    let forged = f.sign(2, sell.order);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(buy, forged, 1, 500_000))),
        TradeError::BadSignature(Role::Taker)
    );
    // A field changed after signing.
    let mut bigger = buy;
    bigger.order.size = lots(11);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(bigger, sell, 1, 500_000))),
        TradeError::BadSignature(Role::Maker)
    );
    // An order naming an account that does not exist.
    let mut ghost = buy.order;
    ghost.account = AccountId::new(200).expect("id");
    let ghost = f.sign(0, ghost);
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(ghost, sell, 1, 500_000))),
        TradeError::NoSuchAccount(Role::Maker)
    );
    f.apply(Fixture::trade_tx(buy, sell, 1, 500_000))
        .expect("genuine orders fill");
}

#[test]
fn a_superseded_order_never_fills_again() {
    let mut f = funded(2);
    // Order ids 1 and 17 share slot 1 of a depth-4 orders tree.
    let old = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 1);
    let new = f.order_with_id(0, btc(), Side::Buy, 10, 500_000, 17);
    let sell = f.order_with_id(1, btc(), Side::Sell, 100, 500_000, 5);
    f.apply(Fixture::trade_tx(old, sell, 2, 500_000))
        .expect("old order fills");
    f.apply(Fixture::trade_tx(new, sell, 3, 500_000))
        .expect("new order takes the slot");
    let slot = f.state.account(f.id(0)).expect("account").order_slot(1);
    assert_eq!(
        slot,
        OrderSlot {
            order_id: OrderId::new(17).expect("id"),
            filled: BaseLots::new(3).expect("lots")
        }
    );
    assert_eq!(
        trade_err(f.refuse(Fixture::trade_tx(old, sell, 1, 500_000))),
        TradeError::Superseded(Role::Maker)
    );
}

#[test]
fn fees_are_bounded_by_each_orders_maximum() {
    let mut f = funded(2);
    let buy = f.order(0, btc(), Side::Buy, 10, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 10, 500_000);
    let notional = 500_000 * 10; // one lot
    let with_fees = |maker_fee: i128, taker_fee: i128| {
        Fixture::trade_tx_with_fees(buy, sell, 1, 500_000, maker_fee, taker_fee)
    };
    assert_eq!(
        trade_err(f.refuse(with_fees(notional / 1000 + 1, 0))),
        TradeError::BadFee(Role::Maker)
    );
    assert_eq!(
        trade_err(f.refuse(with_fees(0, -1))),
        TradeError::BadFee(Role::Taker)
    );
    let mut zero_fee = sell.order;
    zero_fee.max_fee = Ppm::new(0).expect("ppm");
    zero_fee.order_id = OrderId::new(9).expect("id");
    let zero_fee = f.sign(1, zero_fee);
    let tx = Fixture::trade_tx_with_fees(buy, zero_fee, 1, 500_000, 0, 1);
    assert_eq!(trade_err(f.refuse(tx)), TradeError::BadFee(Role::Taker));
    f.apply(with_fees(notional / 1000, notional / 1000))
        .expect("fees at the maximum");
}

#[test]
fn both_sides_must_keep_initial_margin() {
    let mut f = funded(2);
    // 1,000 USD at 10% initial margin buys at most 10,000 USD of BTC: 2,000 lots at 5 USD.
    let buy = f.order(0, btc(), Side::Buy, 5_000, 500_000);
    let sell = f.order(1, btc(), Side::Sell, 5_000, 500_000);
    assert!(matches!(
        trade_err(f.refuse(Fixture::trade_tx(buy, sell, 2_001, 500_000))),
        TradeError::Margin(Role::Maker, _)
    ));
    f.apply(Fixture::trade_tx(buy, sell, 2_000, 500_000))
        .expect("exactly at initial margin");
    // A third trader with little collateral cannot take the other side of more.
    let mut g = funded(2);
    g.deposit(0, 10_000_000_000);
    let buy = g.order(0, btc(), Side::Buy, 5_000, 500_000);
    let sell = g.order(1, btc(), Side::Sell, 5_000, 500_000);
    assert!(matches!(
        trade_err(g.refuse(Fixture::trade_tx(buy, sell, 2_001, 500_000))),
        TradeError::Margin(Role::Taker, _)
    ));
}

#[test]
fn an_under_margined_account_may_reduce_risk_but_not_add_it() {
    let mut f = funded(3);
    f.deposit(2, 100_000_000_000);
    f.trade(0, 2, btc(), 2_000, 500_000)
        .expect("open at full leverage");
    f.set_price(btc(), 480_000); // trader 0 lost 400 USD: TV 600 < TR 960
    let (buy, sell) = (Side::Buy, Side::Sell);
    let more = f.order(0, btc(), buy, 10, 480_000);
    let other = f.order(2, btc(), sell, 10, 480_000);
    assert!(matches!(
        trade_err(f.refuse(Fixture::trade_tx(more, other, 10, 480_000))),
        TradeError::Margin(Role::Maker, _)
    ));
    // Closing 100 lots at the mark keeps TV and lowers TR: allowed, though still under-margined.
    let close = f.order(0, btc(), sell, 100, 480_000);
    let back = f.order(2, btc(), buy, 100, 480_000);
    f.apply(Fixture::trade_tx(back, close, 100, 480_000))
        .expect("risk-reducing close");
    let leaf = &f.state.account(f.id(0)).expect("account").leaf;
    let s = margin_summary(
        leaf.collateral,
        &leaf.positions,
        f.state.markets(),
        &f.state.config().markets,
        Fraction::Initial,
    );
    assert!(
        !is_well_margined(&s),
        "still under initial margin after the close"
    );
    // Closing 100 more far below the mark lowers TV/TR: refused.
    let bad = f.order(0, btc(), sell, 100, 400_000);
    let back = f.order(2, btc(), buy, 100, 400_000);
    assert!(matches!(
        trade_err(f.refuse(Fixture::trade_tx(back, bad, 100, 400_000))),
        TradeError::Margin(Role::Taker, _)
    ));
    assert_eq!(f.total_collateral(), f.deposited);
}

#[test]
fn order_encoding_separates_every_field() {
    let f = funded(1);
    let base = Order {
        account: f.id(0),
        market: btc(),
        side: Side::Buy,
        size: lots(5),
        limit_price: ticks(7),
        max_fee: Ppm::new(3).expect("ppm"),
        expiry: ts(11),
        order_id: OrderId::new(13).expect("id"),
    };
    let variants = [
        Order {
            account: AccountId::new(3).expect("id"),
            ..base
        },
        Order {
            market: eth(),
            ..base
        },
        Order {
            side: Side::Sell,
            ..base
        },
        Order {
            size: lots(6),
            ..base
        },
        Order {
            limit_price: ticks(8),
            ..base
        },
        Order {
            max_fee: Ppm::new(4).expect("ppm"),
            ..base
        },
        Order {
            expiry: ts(12),
            ..base
        },
        Order {
            order_id: OrderId::new(14).expect("id"),
            ..base
        },
    ];
    for v in variants {
        assert_ne!(
            v.hash(&SigningDomain::TEST),
            base.hash(&SigningDomain::TEST),
            "{v:?}"
        );
    }
}
