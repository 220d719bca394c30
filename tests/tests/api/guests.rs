//! Guests: a cart without signing in, opened only with its guest token (shown once, kept only
//! as a hash: the guest's id), with a user's checks and a guest's own hold cap, idling out and
//! giving its holds back; and the merge at sign-in, never silent: every line that changed is
//! reported, held units move without passing through the stock, what does not fit goes back,
//! exactly once per key, and a merge racing adds to either cart loses nothing.

use futures::future::join_all;
use serde_json::{json, Value};
use shared::domain::{now_unix, CheckoutPolicy};
use testkit::{ApiRequest, TestApp, TestResponse};

const USER: u64 = 7;

fn lines(r: &TestResponse) -> Vec<(u64, u64)> {
    let lines = r.body["cart"]["lines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    lines
        .iter()
        .map(|l| {
            (
                l["item_id"].as_u64().unwrap(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn changes(r: &TestResponse) -> Vec<(u64, String, u64, String)> {
    let merge = r.body["merge"].as_array().cloned().unwrap_or_default();
    merge
        .iter()
        .map(|c| {
            (
                c["item_id"].as_u64().unwrap(),
                c["outcome"].as_str().unwrap().to_owned(),
                c["quantity"].as_u64().unwrap(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn catalog(app: &TestApp) {
    app.seed(&[
        ("Wine - Port", 869, 20),
        ("Mussels", 1470, 20),
        ("Tea", 450, 20),
    ])
    .await;
}

// --- Guest carts ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_guest_fills_a_cart_without_signing_in_and_only_their_token_opens_it() {
    // Arrange
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let (cart, token) = app.guest_cart().await;
    let (other_cart, other_token) = app.guest_cart().await;
    assert_eq!(token.len(), 43, "32 bytes, 244 of their bits random");

    // Act
    let added = app.guest_add(&cart, &token, 1, 2).await;
    let set = app.guest_set(&cart, &token, 1, 3).await;
    app.guest_add(&cart, &token, 2, 1).await;
    let removed = app
        .send(ApiRequest::guest_remove_cart_item(&cart, 2, Some(&token)))
        .await;
    let viewed = app.guest_view(&cart, &token).await;

    // Assert
    for r in [&added, &set, &removed, &viewed] {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(lines(&viewed), [(1, 3)]);
    assert_eq!(
        viewed.header("etag"),
        Some(format!("\"{}\"", viewed.body["cart"]["version"]).as_str())
    );
    // No token: 401. Another guest's token, a forged or truncated one: 404, as no cart.
    app.send(ApiRequest::guest_get_cart(&cart, None))
        .await
        .assert_problem(401, "unauthenticated");
    for wrong in [other_token.as_str(), &token[..42], "x"] {
        app.guest_view(&cart, wrong)
            .await
            .assert_problem(404, "cart_not_found");
        app.guest_add(&cart, wrong, 1, 1)
            .await
            .assert_problem(404, "cart_not_found");
    }
    app.guest_view(&other_cart, &token)
        .await
        .assert_problem(404, "cart_not_found");
    // A guest's cart is no user's: not on the user routes, and purchases stay signed in.
    app.view_cart(&cart)
        .await
        .assert_problem(404, "cart_not_found");
    app.purchase(&cart, USER, "k")
        .await
        .assert_problem(404, "cart_not_found");
    // The token is kept nowhere: only its hash names the guest.
    let stored = app.scan(&app.direct().tables().carts).await;
    assert!(!Value::Array(stored).to_string().contains(&token));
    assert_eq!(
        lines(&app.guest_view(&cart, &token).await),
        [(1, 3)],
        "unchanged"
    );
}

#[tokio::test]
async fn under_hold_a_guest_holds_within_their_own_cap_and_an_idle_cart_gives_its_holds_back() {
    // Idle after 4 s: time enough for the adds on a loaded machine (an expiry is in whole
    // seconds, so 1 s could end before the first add).
    let app = TestApp::spawn().await.holding(900, 10).guest_idling(4);
    catalog(&app).await;
    let (cart, token) = app.guest_cart().await;
    app.guest_add(&cart, &token, 1, 3)
        .await
        .assert_problem(409, "hold_limit");
    assert_eq!(app.guest_add(&cart, &token, 1, 2).await.status, 200);
    assert_eq!(app.stock_of(1).await, 18, "held at once");

    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await;

    app.guest_view(&cart, &token)
        .await
        .assert_problem(404, "cart_not_found");
    app.sweep_at(now_unix() + 901).await;
    assert_eq!(
        app.stock_of(1).await,
        20,
        "the idle guest's holds are given back"
    );
}

#[tokio::test]
async fn iam_mode_serves_guests_through_the_shops_backend_only() {
    let app = TestApp::spawn().await.in_iam_mode();
    catalog(&app).await;
    app.send(ApiRequest::guest_create_cart())
        .await
        .assert_problem(403, "forbidden");
    let created = app.send(ApiRequest::guest_create_cart().with_iam()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cart = created.body["cart"]["id"].as_str().unwrap();
    let token = created.body["guest_token"].as_str().unwrap();
    let add = |iam: bool| {
        let request = ApiRequest::guest_add_cart_item(cart, Some(token))
            .json(json!({ "item_id": 1, "quantity": 1 }));
        app.send(if iam { request.with_iam() } else { request })
    };
    add(false).await.assert_problem(403, "forbidden");
    assert_eq!(add(true).await.status, 200);
}

// --- Merge at sign-in ----------------------------------------------------------------------------

#[tokio::test]
async fn a_merge_adds_the_guests_lines_to_the_users_and_the_held_units_never_pass_the_stock() {
    for policy in [CheckoutPolicy::Latest, testkit::hold_policy()] {
        // Arrange: the user holds 2 of item 1; the guest 2 of item 1 and 1 of item 2.
        let app = TestApp::spawn().await.with_policy(policy);
        catalog(&app).await;
        let mine = app.cart_with(USER, &[(1, 2)]).await;
        let (cart, token) = app.guest_cart().await;
        app.guest_add(&cart, &token, 1, 2).await;
        app.guest_add(&cart, &token, 2, 1).await;
        let stock = (app.stock_of(1).await, app.stock_of(2).await);

        // Act
        let merged = app.merge(USER, &cart, &token, "merge").await;

        // Assert
        assert_eq!(merged.status, 200, "{}", merged.text);
        assert_eq!(merged.body["cart"]["id"], mine);
        assert_eq!(lines(&merged), [(1, 4), (2, 1)], "{policy:?}");
        assert_eq!(
            changes(&merged),
            [
                (1, "merged".to_owned(), 2, String::new()),
                (2, "merged".to_owned(), 1, String::new())
            ]
        );
        assert_eq!((app.stock_of(1).await, app.stock_of(2).await), stock);
        if policy.holds() {
            assert_eq!((app.held_units(1).await, app.held_units(2).await), (4, 1));
        }
        app.guest_view(&cart, &token)
            .await
            .assert_problem(404, "cart_not_found");
        assert_eq!(lines(&app.view_cart(&mine).await), [(1, 4), (2, 1)]);
    }
}

#[tokio::test]
async fn a_merge_caps_what_the_user_may_not_hold_and_gives_it_back_and_says_so() {
    let app = TestApp::spawn().await.holding(900, 3);
    catalog(&app).await;
    app.cart_with(USER, &[(1, 2)]).await;
    let (cart, token) = app.guest_cart().await;
    app.guest_add(&cart, &token, 1, 2).await;
    assert_eq!(app.stock_of(1).await, 16);

    let merged = app.merge(USER, &cart, &token, "merge").await;

    assert_eq!(lines(&merged), [(1, 3)]);
    assert_eq!(
        changes(&merged),
        [(1, "capped".to_owned(), 1, "hold_limit".to_owned())]
    );
    assert_eq!(
        app.stock_of(1).await,
        17,
        "the unit that did not fit went back"
    );
    assert_eq!(app.held_units(1).await, 3);
}

#[tokio::test]
async fn replace_gives_the_users_lines_up_and_keep_discards_the_guests() {
    let app = TestApp::spawn().await.holding(900, 10);
    catalog(&app).await;
    let mine = app.cart_with(USER, &[(1, 2)]).await;
    let (cart, token) = app.guest_cart().await;
    app.guest_add(&cart, &token, 3, 1).await;

    let replaced = app.merge(USER, &cart, &token, "replace").await;

    assert_eq!(lines(&replaced), [(3, 1)]);
    assert_eq!(
        changes(&replaced),
        [
            (1, "dropped".to_owned(), 0, "replaced".to_owned()),
            (3, "merged".to_owned(), 1, String::new())
        ]
    );
    assert_eq!((app.stock_of(1).await, app.stock_of(3).await), (20, 19));

    let (kept_cart, kept_token) = app.guest_cart().await;
    app.guest_add(&kept_cart, &kept_token, 2, 2).await;
    let kept = app.merge(USER, &kept_cart, &kept_token, "keep").await;
    assert_eq!(lines(&kept), [(3, 1)]);
    assert_eq!(
        changes(&kept),
        [(2, "dropped".to_owned(), 0, "kept".to_owned())]
    );
    assert_eq!(
        app.stock_of(2).await,
        20,
        "the discarded guest's holds came back"
    );
    assert_eq!(lines(&app.view_cart(&mine).await), [(3, 1)]);
}

#[tokio::test]
async fn a_merge_is_made_once_per_key_and_a_user_without_a_cart_gets_one() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let (cart, token) = app.guest_cart().await;
    app.guest_add(&cart, &token, 1, 1).await;
    let keyed = || {
        let body = json!({ "guest_cart_id": cart, "guest_token": token });
        ApiRequest::merge_cart()
            .json(body)
            .as_user(8)
            .header("Idempotency-Key", "merge-1")
    };
    let first = app.send(keyed()).await;
    let replay = app.send(keyed()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(lines(&first), [(1, 1)], "a new cart for user 8");
    assert_eq!(replay.text, first.text);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let (other, other_token) = app.guest_cart().await;
    let reused = app
        .send(
            ApiRequest::merge_cart()
                .json(json!({ "guest_cart_id": other, "guest_token": other_token }))
                .as_user(8)
                .header("Idempotency-Key", "merge-1"),
        )
        .await;
    reused.assert_problem(422, "idempotency_key_reused");
}

/// A merge races adds to the guest's cart and to the user's, many times: every accepted add's
/// units end in the user's cart or were refused with the guest's cart gone; under `hold`, stock
/// and holds always add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_racing_adds_to_either_cart_loses_nothing() {
    let _heavy = testkit::heavy().await;
    for policy in [CheckoutPolicy::Latest, testkit::hold_policy()] {
        for round in 0..4 {
            let app = TestApp::spawn().await.with_policy(policy);
            catalog(&app).await;
            let mine = app.cart_with(USER, &[(1, 1)]).await;
            let (cart, token) = app.guest_cart().await;
            app.guest_add(&cart, &token, 2, 1).await;
            // Two: a guest holds at most 2 units of an item under `hold`.
            let guest_adds = (0..2).map(|_| app.guest_add(&cart, &token, 3, 1));
            let user_adds = (0..3).map(|_| app.add(&mine, USER, 1, 1));
            let (merged, guests, users) = tokio::join!(
                app.merge(USER, &cart, &token, "merge"),
                join_all(guest_adds),
                join_all(user_adds)
            );
            assert_eq!(merged.status, 200, "{}", merged.text);
            let accepted =
                |rs: &[TestResponse]| rs.iter().filter(|r| r.status == 200).count() as u64;
            for r in guests.iter().chain(&users) {
                assert!(matches!(r.status, 200 | 404), "{}", r.text);
            }
            let end = app.view_cart(&mine).await;
            let units = |item| {
                lines(&end)
                    .iter()
                    .find(|(i, _)| *i == item)
                    .map_or(0, |(_, q)| *q)
            };
            // Item 1: the user's own adds, all of them. Items 2 and 3: the guest's adds that
            // came before the merge, all of them, and none after it (those were refused).
            assert_eq!(units(1), 1 + accepted(&users), "{policy:?} round {round}");
            assert_eq!(units(2), 1);
            let merged_3 = changes(&merged)
                .iter()
                .find(|c| c.0 == 3)
                .map_or(0, |c| c.2);
            assert_eq!(units(3), merged_3);
            assert!(merged_3 <= accepted(&guests));
            if policy.holds() {
                for item in 1..=3 {
                    let total = app.stock_of(item).await + app.held_units(item).await;
                    assert_eq!(total, 20, "item {item}: nothing lost, nothing made");
                }
            }
        }
    }
}

#[tokio::test]
async fn hostile_merges_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let mine = app.cart_with(USER, &[(1, 1)]).await;
    let (cart, token) = app.guest_cart().await;
    let (other, other_token) = app.guest_cart().await;
    app.guest_add(&cart, &token, 2, 1).await;
    let merge = |body: Value| app.send(ApiRequest::merge_cart().json(body).as_user(USER));
    let cases = [
        (
            "the user's own cart as the guest's",
            json!({ "guest_cart_id": mine, "guest_token": token }),
            404,
            "cart_not_found",
        ),
        (
            "another guest's cart",
            json!({ "guest_cart_id": other, "guest_token": token }),
            404,
            "cart_not_found",
        ),
        (
            "another guest's token",
            json!({ "guest_cart_id": cart, "guest_token": other_token }),
            404,
            "cart_not_found",
        ),
        (
            "a truncated token",
            json!({ "guest_cart_id": cart, "guest_token": &token[..40] }),
            404,
            "cart_not_found",
        ),
        (
            "a forged cart id",
            json!({ "guest_cart_id": "AAAA", "guest_token": token }),
            404,
            "cart_not_found",
        ),
        (
            "no cart id",
            json!({ "guest_token": token }),
            400,
            "invalid_request",
        ),
        (
            "no token",
            json!({ "guest_cart_id": cart }),
            400,
            "invalid_request",
        ),
        (
            "an unknown mode",
            json!({ "guest_cart_id": cart, "guest_token": token, "mode": "all" }),
            400,
            "invalid_request",
        ),
        (
            "a number for a token",
            json!({ "guest_cart_id": cart, "guest_token": 7 }),
            400,
            "invalid_request",
        ),
    ];
    for (case, body, status, code) in cases {
        let r = merge(body).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (status, Some(code)),
            "{case}: {}",
            r.text
        );
    }
    assert_eq!(lines(&app.view_cart(&mine).await), [(1, 1)]);
    assert_eq!(lines(&app.guest_view(&cart, &token).await), [(2, 1)]);
    // After a merge the token opens nothing.
    assert_eq!(app.merge(USER, &cart, &token, "merge").await.status, 200);
    app.merge(USER, &cart, &token, "merge")
        .await
        .assert_problem(404, "cart_not_found");
}

/// A cart's whole state is written in a few clauses, whatever its size: a guest's 50 lines merge
/// into a user's cart in one transaction, and the sweep releases a 50-line cart whose holds all
/// ended.
#[tokio::test]
async fn fifty_lines_merge_at_once_and_fifty_ended_holds_are_swept_at_once() {
    let app = TestApp::spawn().await.holding(60, 10);
    let names: Vec<String> = (1..=50).map(|i| format!("Item {i}")).collect();
    let items: Vec<(&str, u64, u64)> = names.iter().map(|n| (n.as_str(), 100, 10)).collect();
    let items = app.seed(&items).await;
    let (cart, token) = app.guest_cart().await;
    for item in 1..=50 {
        assert_eq!(app.guest_add(&cart, &token, item, 1).await.status, 200);
    }
    app.cart_with(USER, &[]).await;

    let merged = app.merge(USER, &cart, &token, "merge").await;

    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(lines(&merged).len(), 50);
    let held: u64 = futures::future::join_all((1..=50).map(|i| app.held_units(i)))
        .await
        .iter()
        .sum();
    assert_eq!(held, 50, "the guest's holds are the user's now");
    // A user's cart of 50 lines, every hold ended: one sweep gives all back.
    app.fill_cart(8, &items, 1).await;
    let swept = app.sweep_at(now_unix() + 120).await;
    assert_eq!(
        (swept.failed_carts, swept.units),
        (0, 100),
        "both carts: {swept:?}"
    );
}
