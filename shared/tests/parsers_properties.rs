//! Properties of the edge parsers and of the cursor codec, over arbitrary input.

use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::{
    CartId, Cursor, IdempotencyKey, ItemId, ListQuery, OrderId, Price, Quantity, UserId,
    MAX_SAFE_INTEGER,
};

const SECRET: &[u8] = b"property-test-secret";

fn any_query() -> impl Strategy<Value = ListQuery> {
    (
        0..=1_000_000u64,
        0..=1_000_000u64,
        proptest::option::of("[a-z ]{1,20}"),
        1..=200u32,
    )
        .prop_map(|(a, b, name, limit)| ListQuery {
            min_price: Price::new(a.min(b)).unwrap(),
            max_price: Price::new(a.max(b)).unwrap(),
            name,
            limit,
            after: None,
        })
}

proptest! {
    #[test]
    fn a_json_integer_is_a_user_id_from_one_to_two_to_the_53_minus_one_and_means_its_digits(n in any::<i128>()) {
        let value: Value = serde_json::from_str(&n.to_string()).unwrap();
        let valid = (1..=i128::from(MAX_SAFE_INTEGER)).contains(&n);
        prop_assert_eq!(UserId::from_json(&value).is_ok(), valid);
        if valid {
            prop_assert_eq!(UserId::from_json(&value).unwrap(), UserId::parse(&n.to_string()).unwrap());
        }
    }

    #[test]
    fn any_string_is_a_user_id_only_if_it_is_1_to_128_allowed_characters(s in "[A-Za-z0-9._:@|+#/ \\-]{0,130}|\\PC{0,8}") {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._:@|+-".contains(c);
        let expected = (1..=128).contains(&s.len()) && s.chars().all(allowed);
        prop_assert_eq!(UserId::parse_any(&s).map(|u| u.to_string()).ok(), expected.then(|| s.clone()));
        // A request never names a guest.
        let user = expected && !s.starts_with("guest:");
        prop_assert_eq!(UserId::parse(&s).map(|u| u.to_string()).ok(), user.then(|| s.clone()));
    }

    #[test]
    fn any_string_is_an_item_id_only_if_it_is_plain_digits_in_range(s in "\\PC{0,20}") {
        let parsed = ItemId::parse(&s);
        let expected = !s.is_empty()
            && s.len() <= 16
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse::<u64>().is_ok_and(|n| (1..=MAX_SAFE_INTEGER).contains(&n));
        prop_assert_eq!(parsed.is_ok(), expected);
    }

    #[test]
    fn floats_are_never_ids_or_quantities(f in any::<f64>()) {
        let value = json!(f);
        prop_assert!(UserId::from_json(&value).is_err());
        prop_assert!(Quantity::from_json(&value).is_err());
    }

    #[test]
    fn any_string_either_parses_to_a_cart_id_that_prints_back_the_same_or_is_refused(s in "\\PC{0,40}") {
        if let Ok(id) = CartId::parse(&s) {
            prop_assert_eq!(id.to_string(), s);
        }
    }

    #[test]
    fn cart_ids_round_trip(owner in "[A-Za-z0-9._:@|+-]{1,128}") {
        let id = CartId::generate(UserId::parse(&owner).unwrap());
        prop_assert_eq!(CartId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn any_string_either_parses_to_an_order_id_that_prints_back_the_same_or_is_refused(s in "\\PC{0,40}") {
        if let Ok(id) = OrderId::parse(&s) {
            prop_assert_eq!(id.to_string(), s);
        }
    }

    #[test]
    fn idempotency_keys_are_exactly_the_printable_ascii_strings_up_to_255(s in "\\PC{0,300}") {
        let expected = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x20..=0x7e).contains(&b));
        prop_assert_eq!(IdempotencyKey::parse(&s).is_ok(), expected);
    }

    #[test]
    fn a_cursor_round_trips_through_its_text(query in any_query(), offset in 0..=1_000_000u64, id in 1..=MAX_SAFE_INTEGER) {
        let span = query.max_price.get() - query.min_price.get();
        let price = Price::new(query.min_price.get() + offset % (span + 1)).unwrap();
        let cursor = Cursor { price, id: ItemId::new(id).unwrap() };
        let text = query.encode_cursor(cursor, SECRET);
        prop_assert_eq!(query.decode_cursor(&text, SECRET), Some(cursor));
    }

    #[test]
    fn any_byte_string_either_decodes_to_a_cursor_inside_the_query_or_is_refused(query in any_query(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Some(cursor) = query.decode_cursor(&text, SECRET) {
            prop_assert!(cursor.price >= query.min_price && cursor.price <= query.max_price);
        }
    }

    #[test]
    fn a_cursor_with_any_single_character_changed_is_refused(query in any_query(), id in 1..=MAX_SAFE_INTEGER, at in 0..44usize, with in "[A-Za-z0-9_-]") {
        let cursor = Cursor { price: query.min_price, id: ItemId::new(id).unwrap() };
        let text = query.encode_cursor(cursor, SECRET);
        let mut chars: Vec<char> = text.chars().collect();
        let replacement = with.chars().next().unwrap();
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let tampered: String = chars.into_iter().collect();
        prop_assert_eq!(query.decode_cursor(&tampered, SECRET), None);
    }

    #[test]
    fn the_listing_parser_never_panics_and_refusals_name_a_known_parameter(
        min in proptest::option::of("\\PC{0,20}"),
        max in proptest::option::of("\\PC{0,20}"),
        name in proptest::option::of("\\PC{0,120}"),
        limit in proptest::option::of("\\PC{0,5}"),
        cursor in proptest::option::of("\\PC{0,60}"),
    ) {
        let params = [("min_value", &min), ("max_value", &max), ("name", &name), ("limit", &limit), ("cursor", &cursor)];
        let result = ListQuery::parse(
            |k| params.iter().find(|(n, _)| *n == k).and_then(|(_, v)| v.as_deref()),
            SECRET,
        );
        if let Err((field, _)) = result {
            prop_assert!(["min_value", "max_value", "name", "limit", "cursor"].contains(&field));
        }
    }
}
