//! Rejections: a changed price, short stock, an empty cart; and that a rejection binds nothing to
//! the key.

use serde_json::json;
use shared::domain::CartId;
use testkit::TestApp;

use super::{
    assert_fresh_success, assert_replayed, count, lines_of, order_count, stock_of, user, world,
};

#[tokio::test]
async fn a_changed_price_is_answered_with_price_changed_and_the_cart_then_holds_the_current_price()
{
    // Arrange: two users with the same cart; one retries with the same key, one with a new key.
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 10), ("Mussels - Frozen", 1470, 10)])
        .await;
    let store = app.direct().clone();
    let same_key = app.cart_with(7, &[(1, 2), (2, 1)]).await;
    let new_key = app.cart_with(8, &[(1, 2), (2, 1)]).await;
    app.end_holds().await;
    app.set_price(1, 999).await;

    for (user, cart, retry_key) in [(7, &same_key, "first-7"), (8, &new_key, "second-8")] {
        let before = world(&store, cart, &[1, 2]).await;

        // Act
        let r = app.purchase(cart, user, &format!("first-{user}")).await;

        // Assert
        r.assert_problem(409, "price_changed");
        assert_eq!(
            r.body["items"],
            app.refused_lines(json!([{ "item_id": 1, "cart_price": 869, "current_price": 999 }]))
        );
        let after = world(&store, cart, &[1, 2]).await;
        assert_eq!(after.stocks, before.stocks, "nothing was bought");
        assert_eq!(after.orders, before.orders);
        assert_eq!(
            lines_of(&after.cart),
            [(1, 2, 999), (2, 1, 1470)],
            "the cart holds the current price"
        );

        let again = app.purchase(cart, user, retry_key).await;
        assert_fresh_success(&again);
        assert_eq!(again.body["order"]["lines"][0]["unit_price"], 999);
        assert_eq!(again.body["order"]["total"], 2 * 999 + 1470);
    }
    assert_eq!(stock_of(&store, 1).await, 6);
}

#[tokio::test]
async fn insufficient_stock_names_every_short_line_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 3), ("C", 300, 10)])
        .await;
    let cart = app.cart_with(7, &[(1, 4), (2, 3), (3, 2)]).await;
    app.end_holds().await;
    app.set_stock(1, 2).await;
    app.set_stock(2, 0).await;
    let store = app.direct().clone();
    let before = world(&store, &cart, &[1, 2, 3]).await;

    // Act
    let r = app.purchase(&cart, 7, "k").await;

    // Assert
    r.assert_problem(409, "insufficient_stock");
    assert_eq!(
        r.body["items"],
        app.refused_lines(json!([
            { "item_id": 1, "requested": 4, "available": 2 },
            { "item_id": 2, "requested": 3, "available": 0 },
        ]))
    );
    assert_eq!(world(&store, &cart, &[1, 2, 3]).await, before);

    // One short line is also named at the top level (the original API's members).
    app.set_stock(2, 3).await;
    let one = app.purchase(&cart, 7, "k").await;
    one.assert_problem(409, "insufficient_stock");
    assert_eq!(
        one.body["items"],
        app.refused_lines(json!([{ "item_id": 1, "requested": 4, "available": 2 }]))
    );
    assert_eq!(one.body["item_id"], 1);
    assert_eq!(one.body["requested"], 4);
    assert_eq!(one.body["available"], 2);

    // Restocked, the same key buys.
    app.set_stock(1, 4).await;
    assert_fresh_success(&app.purchase(&cart, 7, "k").await);
    assert_eq!(world(&store, &cart, &[1, 2, 3]).await.stocks, [0, 0, 8]);
}

#[tokio::test]
async fn price_changed_is_answered_before_insufficient_stock() {
    // Arrange: item 1's price changed, item 2 is short.
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5), ("B", 200, 3)]).await;
    let cart = app.cart_with(7, &[(1, 1), (2, 3)]).await;
    app.end_holds().await;
    app.set_price(1, 150).await;
    app.set_stock(2, 1).await;
    let store = app.direct().clone();
    let stocks = world(&store, &cart, &[1, 2]).await.stocks;

    // Act
    let first = app.purchase(&cart, 7, "k").await;
    let second = app.purchase(&cart, 7, "k").await;

    // Assert
    first.assert_problem(409, "price_changed");
    assert_eq!(
        first.body["items"],
        app.refused_lines(json!([{ "item_id": 1, "cart_price": 100, "current_price": 150 }]))
    );
    second.assert_problem(409, "insufficient_stock");
    assert_eq!(
        second.body["items"],
        app.refused_lines(json!([{ "item_id": 2, "requested": 3, "available": 1 }]))
    );
    let after = world(&store, &cart, &[1, 2]).await;
    assert_eq!(after.stocks, stocks);
    assert_eq!(after.orders, 0);
}

#[tokio::test]
async fn an_empty_cart_cannot_be_purchased() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.new_cart(7).await;

    // Act + Assert: a new cart, and a cart just bought, are empty.
    app.purchase(&cart, 7, "k1")
        .await
        .assert_problem(409, "cart_empty");
    app.added(&cart, 7, 1, 1).await;
    assert_fresh_success(&app.purchase(&cart, 7, "k1").await);
    app.purchase(&cart, 7, "k2")
        .await
        .assert_problem(409, "cart_empty");
    let store = app.direct().clone();
    assert_eq!(order_count(&store).await, 1);
}

#[tokio::test]
async fn a_rejection_binds_nothing_to_the_key() {
    // Arrange
    let app = TestApp::spawn().await;
    app.seed(&[("A", 100, 5)]).await;
    let cart = app.new_cart(7).await;
    let store = app.direct().clone();
    // Orders and users' keys' records of cart writes share the orders table.
    let records = || count(&store, &store.tables().orders);

    // Act + Assert: every rejection leaves the key free.
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "cart_empty");
    assert_eq!(records().await, 0);

    app.added(&cart, 7, 1, 3).await;
    app.end_holds().await;
    app.set_stock(1, 2).await;
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "insufficient_stock");
    assert_eq!(records().await, 0);

    app.set_stock(1, 5).await;
    app.set_price(1, 120).await;
    app.purchase(&cart, 7, "one-key")
        .await
        .assert_problem(409, "price_changed");
    assert_eq!(records().await, 0);

    app.purchase(&CartId::generate(user(7)).to_string(), 7, "one-key")
        .await
        .assert_problem(404, "cart_not_found");
    assert_eq!(records().await, 0);

    let bought = app.purchase(&cart, 7, "one-key").await;
    assert_fresh_success(&bought);
    assert_eq!(bought.body["order"]["total"], 3 * 120);
    assert_eq!(records().await, 1);
    assert_replayed(&app.purchase(&cart, 7, "one-key").await, &bought);
}
