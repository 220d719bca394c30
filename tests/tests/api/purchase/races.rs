//! Races: a flash sale, one key submitted concurrently, one cart bought with different keys, a
//! purchase racing an add or a price change.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use testkit::{TestApp, TestResponse};

use super::{assert_fresh_success, lines_of, order_count, order_id_of, stock_of, stored_cart};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_sale_sells_exactly_the_stock_and_refuses_everyone_else() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 3;
    const BUYERS: u64 = 120;
    const STOCK: u64 = 20;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("Flash", 500, STOCK)]).await;

    for round in 0..ROUNDS {
        // Arrange: 120 buyers, each adding one unit to a cart of their own, all at once. Under
        // `hold` the sale happens here: exactly the stock is held, everyone else refused.
        let buyers: Vec<u64> = (1..=BUYERS).map(|i| 1_000 * (round + 1) + i).collect();
        let added: Vec<(u64, String, TestResponse)> = join_all(buyers.iter().map(|&buyer| {
            let app = app.clone();
            tokio::spawn(async move {
                let cart = app.new_cart(buyer).await;
                let added = app.add(&cart, buyer, 1, 1).await;
                (buyer, cart, added)
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let mut carts = Vec::new();
        for (buyer, cart, added) in added {
            if added.status == 200 {
                carts.push((buyer, cart));
            } else {
                assert!(
                    app.holds(),
                    "under latest an add takes nothing: {}",
                    added.text
                );
                added.assert_problem(409, "insufficient_stock");
                assert_eq!(added.body["available"], 0);
            }
        }
        let expected_carts = if app.holds() { STOCK } else { BUYERS };
        assert_eq!(carts.len() as u64, expected_carts, "round {round}");

        // Act: every buyer with a unit in their cart buys, all at once.
        let answers: Vec<TestResponse> = join_all(carts.iter().map(|(buyer, cart)| {
            let (app, buyer, cart) = (app.clone(), *buyer, cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "flash").await })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let carts: Vec<String> = carts.into_iter().map(|(_, cart)| cart).collect();

        // Assert
        let mut sold = 0;
        for (r, cart) in answers.iter().zip(&carts) {
            let left_in_cart = lines_of(&stored_cart(app.store(), cart).await);
            if r.status == 200 {
                sold += 1;
                assert_eq!(r.body["response"], json!([{ "item": 1, "quantity": 1 }]));
                assert!(left_in_cart.is_empty());
            } else {
                r.assert_problem(409, "insufficient_stock");
                assert_eq!(
                    r.body["items"],
                    json!([{ "item_id": 1, "requested": 1, "available": 0 }])
                );
                assert_eq!(
                    left_in_cart,
                    [(1, 1, 500)],
                    "a refusal leaves the cart as it was"
                );
            }
        }
        assert_eq!(sold, STOCK, "round {round}: exactly the stock is sold");
        assert_eq!(stock_of(app.store(), 1).await, 0);
        assert_eq!(app.order_count().await as u64, STOCK * (round + 1));
        app.set_stock(1, STOCK).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_submits_of_one_key_purchase_once() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 80;
    const SUBMITS: u64 = 16;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 10_000), ("B", 250, 10_000)]).await;
    let mut in_progress = 0;
    let mut wrong: Vec<String> = Vec::new();

    for round in 0..ROUNDS {
        // Arrange
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 2), (2, 1)]).await;

        // Act: sixteen submits spread over 6 ms, so that some of them arrive while the first
        // one commits.
        let answers: Vec<TestResponse> = join_all((0..SUBMITS).map(|i| {
            let app = app.clone();
            let cart = cart.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(400 * i)).await;
                app.purchase(&cart, buyer, "double-click").await
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

        // Assert: one purchase, and every answer is it (replayed) or "in progress".
        let made: Vec<&TestResponse> = answers
            .iter()
            .filter(|r| r.status == 200 && r.header("idempotent-replayed").is_none())
            .collect();
        assert_eq!(
            made.len(),
            1,
            "round {round}: one submit makes the purchase"
        );
        let made = made[0];
        for r in &answers {
            match r.status {
                200 => {
                    assert_eq!(r.text, made.text, "every success is the same purchase");
                    if !std::ptr::eq(r, made) {
                        assert_eq!(r.header("idempotent-replayed"), Some("true"));
                    }
                }
                409 if r.body["code"] == "request_in_progress" => {
                    r.assert_problem(409, "request_in_progress");
                    r.assert_retry_after();
                    in_progress += 1;
                }
                _ => wrong.push(format!("round {round}: {} {}", r.status, r.body["code"])),
            }
        }
        let stored = app
            .get_order(&order_id_of(made), Some(&buyer.to_string()))
            .await;
        assert_eq!(stored.body["order"], made.body["order"]);
    }
    assert_eq!(stock_of(app.store(), 1).await, 10_000 - 2 * ROUNDS);
    assert_eq!(stock_of(app.store(), 2).await, 10_000 - ROUNDS);
    assert_eq!(app.order_count().await as u64, ROUNDS);
    eprintln!(
        "{in_progress} of {} submits answered request_in_progress",
        ROUNDS * SUBMITS
    );
    assert!(
        wrong.is_empty(),
        "{} of {} submits of a key that made a purchase answered neither the purchase nor \
         request_in_progress:\n{}",
        wrong.len(),
        ROUNDS * SUBMITS,
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_of_one_cart_with_different_keys_buy_it_once() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 10;
    const SUBMITS: u64 = 8;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 10_000)]).await;

    for round in 0..ROUNDS {
        // Arrange
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 3)]).await;

        // Act: a client that makes a new key for every click.
        let answers: Vec<TestResponse> = join_all((0..SUBMITS).map(|i| {
            let app = app.clone();
            let cart = cart.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(250 * i)).await;
                app.purchase(&cart, buyer, &format!("click-{i}")).await
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

        // Assert
        let bought = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(bought, 1, "round {round}: the cart is bought once");
        for r in answers.iter().filter(|r| r.status != 200) {
            assert_eq!(r.status, 409, "{}", r.text);
            let code = r.body["code"].as_str().unwrap();
            assert!(
                code == "cart_empty" || code == "request_in_progress",
                "round {round}: {}",
                r.text
            );
        }
    }
    let store = app.direct().clone();
    assert_eq!(stock_of(&store, 1).await, 10_000 - 3 * ROUNDS);
    assert_eq!(
        order_count(&store).await as u64,
        ROUNDS,
        "only the purchases bound their keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_racing_an_add_to_the_same_cart_never_loses_the_added_units() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 24;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 100, 1_000), ("B", 250, 1_000)]).await;
    let (mut bought_with_it, mut left_in_cart) = (0, 0);

    for round in 0..ROUNDS {
        // Arrange: a cart with one unit of item 1; the add is of a new item (2) in even
        // rounds, of one more unit of item 1 in odd rounds.
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 1)]).await;
        let item = if round % 2 == 0 { 2 } else { 1 };
        let in_cart_before = if item == 1 { 1 } else { 0 };
        // The item's units in the stock and held by the cart (under `hold`; none under
        // `latest`): what was ordered leaves them, nothing else.
        let units_of =
            || async { stock_of(app.store(), item).await + app.held_in(&cart, item).await };
        let units_before = units_of().await;

        // Act: the purchase and the add, at once (the add a little later each round).
        let buying = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "k").await })
        };
        let adding = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(round / 2 % 6)).await;
                app.add(&cart, buyer, item, 1).await
            })
        };
        let (bought, add_answer) = (buying.await.unwrap(), adding.await.unwrap());

        // Assert: every unit of the item is in the order or in the cart, none in both.
        assert_fresh_success(&bought);
        assert_eq!(add_answer.status, 200, "{}", add_answer.text);
        let units = |lines: &[(u64, u64, u64)]| -> u64 {
            lines
                .iter()
                .filter(|(id, _, _)| *id == item)
                .map(|(_, q, _)| q)
                .sum()
        };
        let ordered = lines_of(&bought.body["order"]);
        let cart_now = lines_of(&stored_cart(app.store(), &cart).await);
        assert_eq!(
            units(&ordered) + units(&cart_now),
            in_cart_before + 1,
            "round {round}: order {ordered:?}, cart {cart_now:?}"
        );
        assert!(ordered.iter().any(|(id, _, _)| *id == 1));
        assert_eq!(
            units_of().await,
            units_before - units(&ordered),
            "round {round}: the stock pays for what was ordered"
        );
        if units(&cart_now) == 0 {
            bought_with_it += 1;
            assert!(cart_now.is_empty());
        } else {
            left_in_cart += 1;
        }
    }
    eprintln!("the added unit was bought {bought_with_it} times, left in the cart {left_in_cart}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_racing_a_price_change_never_charges_a_price_the_item_did_not_have() {
    let _heavy = testkit::heavy().await;
    const ROUNDS: u64 = 24;
    let app = Arc::new(TestApp::spawn().await);
    app.seed(&[("A", 1_000, 1_000)]).await;
    let (mut at_old_price, mut refused) = (0u64, 0u64);

    for round in 0..ROUNDS {
        // Arrange
        let old = 1_000 + round;
        let new = old + 1;
        let buyer = 100 + round;
        let cart = app.cart_with(buyer, &[(1, 1)]).await;
        let stock = stock_of(app.store(), 1).await;

        // Act
        let buying = {
            let (app, cart) = (app.clone(), cart.clone());
            tokio::spawn(async move { app.purchase(&cart, buyer, "k").await })
        };
        let repricing = {
            let app = app.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(round % 5)).await;
                app.set_price(1, new).await;
            })
        };
        let bought = buying.await.unwrap();
        repricing.await.unwrap();

        // Assert
        let cart_now = lines_of(&stored_cart(app.store(), &cart).await);
        match bought.status {
            200 => {
                at_old_price += 1;
                assert_eq!(bought.body["order"]["lines"][0]["unit_price"], old);
                assert_eq!(bought.body["order"]["total"], old);
                // Under `hold` the unit left the stock when it was added.
                let from_stock = if app.holds() { 0 } else { 1 };
                assert_eq!(stock_of(app.store(), 1).await, stock - from_stock);
                assert!(cart_now.is_empty());
            }
            _ => {
                refused += 1;
                bought.assert_problem(409, "price_changed");
                assert_eq!(
                    bought.body["items"],
                    json!([{ "item_id": 1, "cart_price": old, "current_price": new }])
                );
                assert_eq!(stock_of(app.store(), 1).await, stock);
                assert_eq!(cart_now, [(1, 1, new)]);
            }
        }
        assert_eq!(app.order_count().await as u64, at_old_price);
    }
    eprintln!("bought at the old price {at_old_price} times, price_changed {refused} times");
    if app.holds() {
        assert_eq!(refused, 0, "a live hold keeps its price");
    }
}
