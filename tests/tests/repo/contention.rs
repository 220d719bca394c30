//! The kit's contention rule (`testkit::contention`), against the rules it models: a held item
//! refuses other transactions at its positions and plain writes, a resent token in flight is in
//! progress, an item takes its write units a second, and holds are log-normal around their
//! median. Pure: no DynamoDB needed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::contention::{Contention, ContentionRule, Judgement};

fn update(table: &str, id: u64) -> Value {
    json!({ "Update": { "TableName": table, "Key": { "id": { "N": id.to_string() } },
                        "UpdateExpression": "SET #s = #s - :q" } })
}

fn transaction(token: &str, actions: Vec<Value>) -> Value {
    json!({ "ClientRequestToken": token, "TransactItems": actions })
}

fn reasons(judgement: &Judgement) -> Vec<String> {
    match judgement {
        Judgement::Refuse(body) => body["CancellationReasons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["Code"].as_str().unwrap().to_owned())
            .collect(),
        Judgement::Forward => vec![],
    }
}

/// Every window exactly 20 ms (no spread), and a generous bucket unless said.
fn fixed(units: f64) -> Contention {
    Contention::new(ContentionRule {
        window_median: Duration::from_millis(20),
        window_sigma: 0.0,
        write_units_per_second: units,
    })
}

#[test]
fn a_transaction_holds_its_items_and_a_second_one_is_cancelled_at_their_positions() {
    let mut rule = fixed(1_000.0);
    let t0 = Instant::now();
    let first = transaction("a", vec![update("t-catalog", 1), update("t-carts", 7)]);
    assert_eq!(
        rule.judge("TransactWriteItems", &first, t0),
        Judgement::Forward
    );
    let second = transaction(
        "b",
        vec![
            update("t-carts", 8),
            update("t-catalog", 1),
            update("t-catalog", 2),
        ],
    );
    let at = t0 + Duration::from_millis(10);
    assert_eq!(
        reasons(&rule.judge("TransactWriteItems", &second, at)),
        ["None", "TransactionConflict", "None"]
    );
    // A plain write to a held item is refused too; another item's is not.
    let write = json!({ "TableName": "t-catalog", "Key": { "id": { "N": "1" } } });
    let refused = rule.judge("UpdateItem", &write, at);
    assert!(
        matches!(&refused, Judgement::Refuse(b) if b["__type"].as_str().unwrap().ends_with("TransactionConflictException"))
    );
    let other = json!({ "TableName": "t-catalog", "Key": { "id": { "N": "3" } } });
    assert_eq!(rule.judge("UpdateItem", &other, at), Judgement::Forward);
    // Once the window has passed, the item is free again.
    let later = t0 + Duration::from_millis(21);
    assert_eq!(
        rule.judge("TransactWriteItems", &second, later),
        Judgement::Forward
    );
    assert_eq!((rule.stats.conflicts, rule.stats.write_conflicts), (1, 1));
}

#[test]
fn a_resent_token_in_flight_is_in_progress_and_a_put_names_its_item_by_its_key() {
    let mut rule = fixed(1_000.0);
    let t0 = Instant::now();
    let put = json!({ "Put": { "TableName": "t-orders",
                               "Item": { "order_id": { "S": "o" }, "lines": { "L": [] } } } });
    let tx = transaction("same", vec![put]);
    assert_eq!(
        rule.judge("TransactWriteItems", &tx, t0),
        Judgement::Forward
    );
    let again = rule.judge("TransactWriteItems", &tx, t0 + Duration::from_millis(5));
    assert!(
        matches!(&again, Judgement::Refuse(b) if b["__type"].as_str().unwrap().ends_with("TransactionInProgressException"))
    );
    let write = json!({ "TableName": "t-orders", "Key": { "order_id": { "S": "o" } } });
    assert!(matches!(
        rule.judge("DeleteItem", &write, t0),
        Judgement::Refuse(_)
    ));
}

#[test]
fn an_item_takes_its_write_units_a_second_and_no_more() {
    // 10 units a second: five 1 KB transactional writes (2 each) empty the bucket.
    let mut rule = fixed(10.0);
    let t0 = Instant::now();
    let mut at = t0;
    for i in 0..5 {
        let tx = transaction(&i.to_string(), vec![update("t-catalog", 1)]);
        assert_eq!(
            rule.judge("TransactWriteItems", &tx, at),
            Judgement::Forward,
            "{i}"
        );
        at += Duration::from_millis(21);
    }
    // 105 ms later about 1 unit came back: not enough for a 2-unit transactional write, enough
    // for one plain write (1 unit), not for a second.
    let tx = transaction("5", vec![update("t-catalog", 1)]);
    assert_eq!(
        reasons(&rule.judge("TransactWriteItems", &tx, at)),
        ["ThrottlingError"]
    );
    let plain = json!({ "TableName": "t-catalog", "Key": { "id": { "N": "1" } } });
    assert_eq!(rule.judge("UpdateItem", &plain, at), Judgement::Forward);
    let throttled = rule.judge("UpdateItem", &plain, at);
    assert!(
        matches!(&throttled, Judgement::Refuse(b) if b["__type"].as_str().unwrap().ends_with("ThrottlingException"))
    );
    // Other items have buckets of their own; and a second later this one is full again.
    let other = transaction("6", vec![update("t-catalog", 2)]);
    assert_eq!(
        rule.judge("TransactWriteItems", &other, at),
        Judgement::Forward
    );
    let next = transaction("7", vec![update("t-catalog", 1)]);
    assert_eq!(
        rule.judge("TransactWriteItems", &next, at + Duration::from_secs(1)),
        Judgement::Forward
    );
}

#[test]
fn windows_are_log_normal_around_their_median() {
    let rule = Contention::new(ContentionRule::default());
    let mut windows: Vec<Duration> = (0..2_001).map(|_| rule.window()).collect();
    windows.sort();
    let median = windows[1_000].as_secs_f64() * 1_000.0;
    assert!((17.0..23.0).contains(&median), "median {median} ms");
    assert!(windows[1_900] > windows[1_000].mul_f64(1.5), "a right tail");
}
