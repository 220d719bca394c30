//! Orders that live after their purchase: `placed` or `pending_payment`, then paid, cancelled
//! (their units back in the stock, once), expired by time (the sweep gives their units back),
//! fulfilled; through the owner's route, the admin routes and Stripe's signed webhook. Every
//! transition once, whatever races, with the stock invariant checked after racing purchases,
//! cancellations, payments and sweeps; lost responses applied once; hostile input refused with
//! nothing changed.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use shared::domain::{now_unix, CheckoutPolicy};
use testkit::{ApiRequest, Fault, TestApp, TestResponse, Times};

const WINE: u64 = 1;

/// An app with one item of `stock` units, and a purchase of `quantity` of it by user 7.
async fn bought(app: &TestApp, stock: u64, quantity: u64) -> (TestResponse, String) {
    app.seed(&[("Wine - Port", 869, stock)]).await;
    buy(app, 7, quantity).await
}

/// `user` buys `quantity` units of the wine: the answer and the order id.
async fn buy(app: &TestApp, user: u64, quantity: u64) -> (TestResponse, String) {
    let cart = app.cart_with(user, &[(WINE, quantity)]).await;
    let r = app
        .purchase(&cart, user, &format!("buy-{user}-{}", uuid()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["order"]["id"].as_str().unwrap().to_owned();
    (r, id)
}

fn uuid() -> String {
    format!("{:x}", fastrand::u64(..))
}

fn status(r: &TestResponse) -> &str {
    r.body["order"]["status"].as_str().unwrap_or_default()
}

async fn order(app: &TestApp, id: &str) -> Value {
    let r = app.get_order(id, Some("7")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["order"].clone()
}

/// A Stripe event about a PaymentIntent of `order`.
fn stripe_event(kind: &str, order: &str, intent: &str) -> Value {
    json!({
        "id": format!("evt_{intent}"), "object": "event", "type": kind,
        "data": { "object": { "id": intent, "object": "payment_intent",
                              "metadata": { "order_id": order } } }
    })
}

// --- The states ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_order_is_placed_and_its_owner_cancels_it_once_with_its_units_back() {
    // Arrange
    let app = TestApp::spawn().await;
    let (purchase, id) = bought(&app, 5, 2).await;
    assert_eq!(status(&purchase), "placed");
    assert_eq!(purchase.body["order"]["version"], 0);
    assert_eq!(app.stock_of(WINE).await, 3);

    // Act
    let cancelled = app.cancel_order(&id, 7).await;
    let again = app.cancel_order(&id, 7).await;
    let someone_else = app.cancel_order(&id, 8).await;

    // Assert
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(status(&cancelled), "cancelled");
    assert_eq!(cancelled.body["order"]["version"], 1);
    assert_eq!(cancelled.body["order"]["refund_due"], false);
    assert_eq!(cancelled.header("etag"), Some("\"1\""));
    assert_eq!(again.status, 200);
    assert_eq!(again.body, cancelled.body, "answered unchanged");
    someone_else.assert_problem(404, "order_not_found");
    assert_eq!(app.stock_of(WINE).await, 5, "the units came back once");
    assert_eq!(order(&app, &id).await["status"], "cancelled");
    app.fulfil_order(&id)
        .await
        .assert_problem(409, "order_not_fulfillable");
}

#[tokio::test]
async fn a_purchase_key_replays_the_same_bytes_after_its_order_was_cancelled() {
    let app = TestApp::spawn().await;
    app.seed(&[("Wine - Port", 869, 5)]).await;
    let cart = app.cart_with(7, &[(WINE, 1)]).await;
    let first = app.purchase(&cart, 7, "k").await;
    let id = first.body["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.cancel_order(&id, 7).await.status, 200);

    let replay = app.purchase(&cart, 7, "k").await;

    assert_eq!(replay.text, first.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_pending_order_is_paid_in_time_and_a_late_payment_is_refused_for_a_refund() {
    // Arrange: orders wait 2 s for their payment.
    let app = TestApp::spawn().await.taking_payments(2);
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let (first, paid) = buy(&app, 7, 2).await;
    let (_, late) = buy(&app, 7, 3).await;
    assert_eq!(status(&first), "pending_payment");
    assert!(first.body["order"]["payment_due_by"].is_string());

    // Act: one paid at once; the other a second after its window closed, before any sweep.
    let payment = app.report_payment(&paid, "captured", "pi_1").await;
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let too_late = app.report_payment(&late, "captured", "pi_2").await;

    // Assert
    assert_eq!(payment.status, 200, "{}", payment.text);
    assert_eq!(status(&payment), "paid");
    assert_eq!(payment.body["order"]["payment_reference"], "pi_1");
    too_late.assert_problem(409, "order_expired");
    assert_eq!(too_late.body["refund_due"], true);
    assert_eq!(order(&app, &late).await["status"], "expired", "by the time");
    assert_eq!(
        app.stock_of(WINE).await,
        5,
        "not given back before the sweep"
    );
    // The sweep expires it and gives its units back; the paid one stays.
    let swept = app.sweep().await;
    assert_eq!(
        (swept.expired_orders, swept.order_units),
        (1, 3),
        "{swept:?}"
    );
    assert_eq!(app.stock_of(WINE).await, 8);
    assert_eq!(app.sweep().await.expired_orders, 0, "once");
    assert_eq!(order(&app, &paid).await["status"], "paid");
    // The same payment reported again is the same payment.
    let again = app.report_payment(&paid, "captured", "pi_1").await;
    assert_eq!((again.status, status(&again)), (200, "paid"));
    app.report_payment(&paid, "captured", "pi_other")
        .await
        .assert_problem(409, "order_not_payable");
}

#[tokio::test]
async fn cancelling_a_paid_order_owes_a_refund_and_a_fulfilled_order_stays_fulfilled() {
    let app = TestApp::spawn().await.taking_payments(900);
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let (_, paid) = buy(&app, 7, 2).await;
    let (_, failed) = buy(&app, 7, 1).await;
    let (_, fulfilled) = buy(&app, 7, 3).await;
    assert_eq!(
        app.report_payment(&paid, "captured", "pi_1").await.status,
        200
    );
    assert_eq!(
        app.report_payment(&fulfilled, "captured", "pi_3")
            .await
            .status,
        200
    );

    let cancelled = app.admin_cancel_order(&paid).await;
    let failure = app.report_payment(&failed, "failed", "pi_2").await;
    let fulfil = app.fulfil_order(&fulfilled).await;

    assert_eq!(
        (status(&cancelled), &cancelled.body["order"]["refund_due"]),
        ("cancelled", &json!(true))
    );
    assert_eq!(status(&failure), "cancelled");
    assert_eq!(status(&fulfil), "fulfilled");
    assert_eq!(
        app.fulfil_order(&fulfilled).await.body,
        fulfil.body,
        "unchanged"
    );
    app.cancel_order(&fulfilled, 7)
        .await
        .assert_problem(409, "order_not_cancellable");
    assert_eq!(
        app.stock_of(WINE).await,
        10 - 3,
        "the cancelled ones came back"
    );
}

#[tokio::test]
async fn under_hold_a_cancelled_orders_units_are_listed_again() {
    let app = TestApp::spawn().await.holding(900, 10);
    let (_, id) = bought(&app, 4, 3).await;
    assert_eq!(app.stock_of(WINE).await, 1);
    assert_eq!(app.cancel_order(&id, 7).await.status, 200);
    assert_eq!(app.stock_of(WINE).await, 4);
    assert_eq!(app.held_units(WINE).await, 0);
}

#[tokio::test]
async fn a_transition_with_if_match_applies_only_to_that_version_and_keys_replay() {
    let app = TestApp::spawn().await.taking_payments(900);
    let (_, id) = bought(&app, 5, 1).await;
    let stale = app
        .send(
            ApiRequest::cancel_order(&id)
                .as_user(7)
                .header("If-Match", "\"3\""),
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["order"]["status"], "pending_payment");
    let keyed = || {
        ApiRequest::cancel_order(&id)
            .as_user(7)
            .header("If-Match", "\"0\"")
            .header("Idempotency-Key", "cancel-1")
    };
    let first = app.send(keyed()).await;
    let replay = app.send(keyed()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(replay.text, first.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // The same key for another request of the same user is refused.
    let (_, other) = buy(&app, 7, 1).await;
    let reused = app
        .send(
            ApiRequest::cancel_order(&other)
                .as_user(7)
                .header("Idempotency-Key", "cancel-1"),
        )
        .await;
    reused.assert_problem(422, "idempotency_key_reused");
    assert_eq!(order(&app, &other).await["status"], "pending_payment");
}

// --- Stripe ------------------------------------------------------------------------------------

#[tokio::test]
async fn stripe_events_verify_their_signature_and_a_redelivered_event_is_the_same_event() {
    let app = TestApp::spawn().await.taking_payments(900);
    let (_, id) = bought(&app, 5, 2).await;
    let succeeded = stripe_event("payment_intent.succeeded", &id, "pi_9");

    let first = app.stripe_event(&succeeded, now_unix()).await;
    let redelivered = app.stripe_event(&succeeded, now_unix()).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(status(&first), "paid");
    assert_eq!(first.body["order"]["payment_reference"], "pi_9");
    assert_eq!(redelivered.body, first.body);
    // Other events are acknowledged and change nothing.
    let ignored = app
        .stripe_event(&stripe_event("charge.refunded", &id, "pi_9"), now_unix())
        .await;
    assert_eq!(
        (ignored.status, &ignored.body["received"]),
        (200, &json!(true))
    );
    assert_eq!(order(&app, &id).await["version"], 1);
}

#[tokio::test]
async fn forged_stale_or_unknown_stripe_events_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await.taking_payments(900);
    let (_, id) = bought(&app, 5, 2).await;
    let failed = stripe_event("payment_intent.payment_failed", &id, "pi_1");
    let body = failed.to_string();
    let forged = shared::http::stripe::sign(body.as_bytes(), b"whsec_not_ours", now_unix());
    let send = |header: String, body: String| {
        let app = &app;
        async move {
            let request = ApiRequest::stripe_webhook()
                .header("Stripe-Signature", header)
                .text(&body);
            app.send(request).await
        }
    };
    send(forged, body.clone())
        .await
        .assert_problem(400, "invalid_signature");
    send(String::new(), body.clone())
        .await
        .assert_problem(400, "invalid_signature");
    app.stripe_event(&failed, now_unix() - 301)
        .await
        .assert_problem(400, "invalid_signature");
    let unknown = stripe_event(
        "payment_intent.succeeded",
        &testkit::unknown_order(),
        "pi_1",
    );
    app.stripe_event(&unknown, now_unix())
        .await
        .assert_problem(404, "order_not_found");
    let no_order = stripe_event("payment_intent.succeeded", "", "pi_1");
    app.stripe_event(&no_order, now_unix())
        .await
        .assert_problem(400, "invalid_request");
    let after = order(&app, &id).await;
    assert_eq!(
        (&after["status"], &after["version"]),
        (&json!("pending_payment"), &json!(0))
    );
    assert_eq!(app.stock_of(WINE).await, 3);
}

#[tokio::test]
async fn hostile_payment_reports_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await.taking_payments(900);
    let (_, id) = bought(&app, 5, 2).await;
    let bodies = [
        json!({ "status": "refunded", "reference": "pi_1" }),
        json!({ "status": "captured" }),
        json!({ "status": "captured", "reference": "" }),
        json!({ "status": "captured", "reference": "with space" }),
        json!({ "status": 1, "reference": "pi_1" }),
        json!({ "reference": "pi_1" }),
        json!(["captured"]),
    ];
    for body in bodies {
        let r = app
            .send(ApiRequest::admin_order_payment(&id).json(body.clone()))
            .await;
        r.assert_problem(400, "invalid_request");
    }
    for bad_id in ["nope", "%00", &"x".repeat(300)] {
        app.send(ApiRequest::admin_fulfil_order(bad_id))
            .await
            .assert_problem(404, "order_not_found");
        app.send(ApiRequest::cancel_order(bad_id).as_user(7))
            .await
            .assert_problem(404, "order_not_found");
    }
    let after = order(&app, &id).await;
    assert_eq!(
        (&after["status"], &after["version"]),
        (&json!("pending_payment"), &json!(0))
    );
}

// --- Races and faults ----------------------------------------------------------------------------

/// A cancellation, a payment and the sweep race on one pending order, many times, at every
/// distance from the end of its payment window: whatever wins, the order ends in one state the
/// table allows, and its units come back exactly when it ends cancelled or expired (a payment
/// that came first, then the owner's cancellation, is two transitions, and owes a refund).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_a_payment_and_the_sweep_racing_on_one_order_make_one_transition() {
    let _heavy = testkit::heavy().await;
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for round in 0..12 {
        let app = TestApp::spawn().await.taking_payments(2);
        let (purchase, id) = bought(&app, 10, 4).await;
        let due = time::OffsetDateTime::parse(
            purchase.body["order"]["payment_due_by"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp();
        tokio::time::sleep(Duration::from_millis(180 * round)).await;
        let (cancel, pay, _) = tokio::join!(
            app.cancel_order(&id, 7),
            app.report_payment(&id, "captured", "pi_race"),
            app.sweep_at(now_unix())
        );
        for r in [&cancel, &pay] {
            assert!(r.status < 500, "{}", r.text);
        }
        // Whatever the sweep did not do yet, a later one does.
        app.sweep_at(due + 5).await;
        let end = order(&app, &id).await;
        let stock = app.stock_of(WINE).await;
        let outcome = match (end["status"].as_str().unwrap(), &end["version"]) {
            ("paid", v) if *v == 1 => {
                assert_eq!(stock, 6);
                "paid"
            }
            ("cancelled", v) if *v == 2 => {
                assert_eq!(end["refund_due"], true, "paid, then cancelled: {end}");
                assert_eq!(stock, 10, "units back once");
                "paid, then cancelled"
            }
            (status @ ("cancelled" | "expired"), v) if *v == 1 => {
                assert_eq!(end["refund_due"], false);
                assert_eq!(stock, 10, "units back once");
                status
            }
            _ => panic!("an end the table does not allow: {end}"),
        };
        *seen.entry(outcome.to_owned()).or_default() += 1;
    }
    println!("outcomes over 12 rounds: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellations_racing_each_other_return_the_units_once() {
    let app = TestApp::spawn().await;
    let (_, id) = bought(&app, 20, 5).await;
    let cancels = (0..8).map(|i| {
        let app = &app;
        let id = id.clone();
        async move {
            match i % 2 {
                0 => app.cancel_order(&id, 7).await,
                _ => app.admin_cancel_order(&id).await,
            }
        }
    });
    let answers = join_all(cancels).await;
    assert!(answers
        .iter()
        .all(|r| r.status == 200 && status(r) == "cancelled"));
    assert_eq!(app.stock_of(WINE).await, 20);
    assert_eq!(order(&app, &id).await["version"], 1);
}

/// Many users buy and cancel at once, some orders wait for payments that come or do not, and
/// the sweep runs: for the item, stock + units of orders still standing = initial.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchases_and_cancellations_from_many_users_keep_the_stock_invariant() {
    let _heavy = testkit::heavy().await;
    for policy in [CheckoutPolicy::Latest, testkit::hold_policy()] {
        let app = TestApp::spawn()
            .await
            .with_policy(policy)
            .taking_payments(1);
        app.seed(&[("Wine - Port", 869, 60)]).await;
        let work = (0..12u64).map(|user| {
            let app = &app;
            async move {
                let cart = app.new_cart(100 + user).await;
                if app.add(&cart, 100 + user, WINE, 1 + user % 3).await.status != 200 {
                    return;
                }
                let r = app.purchase(&cart, 100 + user, "k").await;
                let Some(id) = r.body["order"]["id"].as_str().map(str::to_owned) else {
                    return;
                };
                match user % 4 {
                    0 => drop(app.cancel_order(&id, 100 + user).await),
                    1 => drop(app.report_payment(&id, "captured", "pi").await),
                    2 => drop(app.report_payment(&id, "failed", "pi").await),
                    _ => {} // left to expire
                }
            }
        });
        let sweeps = async {
            for _ in 0..4 {
                app.sweep().await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        };
        tokio::join!(join_all(work), sweeps);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        app.sweep_at(now_unix() + 2).await;
        let standing: u64 = app
            .stored_orders()
            .await
            .iter()
            .filter(|o| !matches!(o["status"].as_str(), Some("cancelled" | "expired")))
            .flat_map(|o| o["lines"].as_array().cloned().unwrap_or_default())
            .map(|l| l["quantity"].as_u64().unwrap())
            .sum();
        let (stock, held) = (app.stock_of(WINE).await, app.held_units(WINE).await);
        assert_eq!(
            stock + held + standing,
            60,
            "{policy:?}: {stock} + {held} + {standing}"
        );
    }
}

#[tokio::test]
async fn a_lost_response_on_each_transition_is_applied_once() {
    let (app, proxy) = TestApp::spawn_behind_proxy().await;
    let app = app.taking_payments(900);
    app.seed(&[("Wine - Port", 869, 10)]).await;
    let (_, cancel) = buy(&app, 7, 2).await;
    let (_, pay) = buy(&app, 7, 3).await;
    for (target, call) in [
        ("DynamoDB_20120810.TransactWriteItems", "cancel"),
        ("DynamoDB_20120810.UpdateItem", "pay"),
        ("DynamoDB_20120810.UpdateItem", "fulfil"),
    ] {
        proxy.inject(target, Fault::LoseResponse, Times::Once);
        let r = match call {
            "cancel" => app.cancel_order(&cancel, 7).await,
            "pay" => app.report_payment(&pay, "captured", "pi_1").await,
            _ => app.fulfil_order(&pay).await,
        };
        assert_eq!(r.status, 200, "{call}: {}", r.text);
        proxy.clear();
    }
    assert_eq!(order(&app, &cancel).await["version"], 1);
    assert_eq!(order(&app, &pay).await["version"], 2);
    assert_eq!(order(&app, &pay).await["status"], "fulfilled");
    assert_eq!(
        app.stock_of(WINE).await,
        10 - 3,
        "the cancelled units came back once"
    );
}
