//! `asyncapi.yaml`, the order events' contract: one message per event the publisher makes, the
//! order in each as openapi.yaml's `Order` (what `GET` answers), and schemas the tests' validator
//! checks in full (`testkit::contract`; `make test` also lints the document with the AsyncAPI
//! parser).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use shared::domain::order_events::{event_of, OrderEventKind};
use shared::domain::{CartId, ItemId, Order, OrderId, OrderLine, OrderStatus, Price, UserId};
use testkit::contract::{keywords, Contract, FORMATS};

#[test]
fn every_schema_of_the_contract_uses_only_keywords_and_formats_the_tests_check() {
    let contract = Contract::load();
    let allowed: BTreeSet<&str> = keywords().collect();
    let schemas = contract.schemas();
    assert!(
        schemas.len() > 20,
        "the payloads and what they refer to: {}",
        schemas.len()
    );
    for (at, schema) in schemas {
        let Some(map) = schema.as_object() else {
            continue;
        };
        for (keyword, value) in map {
            assert!(allowed.contains(keyword.as_str()), "{at}: {keyword}");
            if keyword == "format" {
                assert!(
                    FORMATS.contains(&value.as_str().unwrap()),
                    "{at}: format {value}"
                );
            }
        }
    }
}

#[test]
fn the_contract_has_one_message_per_order_event() {
    let contract = Contract::load();
    let messages: BTreeSet<String> = contract.messages().into_iter().collect();
    let kinds: BTreeSet<String> = OrderEventKind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(messages, kinds);
    let operation = &contract.document()["operations"]["publishOrderEvents"];
    assert_eq!(operation["action"], "send");
    assert_eq!(operation["messages"].as_array().unwrap().len(), kinds.len());
}

#[test]
fn the_events_order_is_the_order_the_api_answers() {
    let contract = Contract::load();
    let detail = &contract.document()["components"]["schemas"]["OrderEventDetail"];
    assert_eq!(
        detail["properties"]["order"]["$ref"],
        "openapi.yaml#/components/schemas/Order"
    );
    assert_eq!(
        detail["properties"]["previous_status"]["oneOf"][0]["$ref"],
        "openapi.yaml#/components/schemas/OrderStatus"
    );
}

fn order(status: OrderStatus, version: u64, cart: &CartId) -> Order {
    let user = UserId::parse("7").unwrap();
    Order {
        id: OrderId::of_key("user#7#k"),
        cart_id: cart.clone(),
        user_id: user,
        lines: vec![OrderLine {
            item_id: ItemId::new(1).unwrap(),
            name: "Fruit - Pomegranate".to_owned(),
            quantity: 2,
            unit_price: Price::new(3099).unwrap(),
        }],
        subtotal: 6198,
        discount: None,
        total: 6198,
        created_at: "2026-11-23T10:17:41Z".to_owned(),
        status,
        version,
        payment_due_by: Some(1_795_429_961),
        refund_due: status == OrderStatus::Cancelled,
        payment_reference: (version > 0 && status != OrderStatus::Expired)
            .then(|| "pi_3QExampleOrderPayment01".to_owned()),
    }
}

/// The event as a rule's target receives it (the local bus's envelope).
fn delivered(kind: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": kind,
        "source": "cart-api", "account": "123456789012", "time": detail["occurred_at"],
        "region": "us-east-1", "resources": [], "detail": detail,
    })
}

#[test]
fn every_event_the_publisher_makes_is_valid_against_its_message_and_no_other() {
    use OrderStatus::*;
    let contract = Contract::load();
    let cart = CartId::generate(UserId::parse("7").unwrap());
    let at = 1_795_429_100;
    let changes = [
        (None, PendingPayment),
        (Some(PendingPayment), Paid),
        (Some(Paid), Cancelled),
        (Some(PendingPayment), Expired),
        (Some(Paid), Fulfilled),
    ];
    let mut seen = BTreeSet::new();
    for (before, after) in changes {
        let before = before.map(|s| order(s, 0, &cart));
        let after = order(after, if before.is_some() { 1 } else { 0 }, &cart);
        let event = event_of(before.as_ref(), Some(&after), at).unwrap();
        let kind = event.kind.name();
        let detail = serde_json::to_value(&event).unwrap();
        contract.assert_valid(&delivered(kind, detail.clone()));
        seen.insert(kind);
        for other in OrderEventKind::ALL
            .iter()
            .map(|k| k.name())
            .filter(|k| *k != kind)
        {
            let errors = contract.check(&delivered(other, detail.clone()));
            assert!(errors.is_err(), "{kind}'s detail passed as {other}");
        }
    }
    assert_eq!(seen.len(), OrderEventKind::ALL.len());
}
