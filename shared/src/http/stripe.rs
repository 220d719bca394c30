//! Stripe's webhook events, verified as Stripe documents it ("Check the webhook signatures"):
//! the `Stripe-Signature` header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`; the
//! signed payload is `<t>.<the raw body>`; a `v1` signature is the hex HMAC-SHA256 of it keyed
//! with the endpoint's secret (`whsec_...`), compared in constant time; an event signed more
//! than [`TOLERANCE_SECS`] away from now is refused (a replayed capture). Several `v1`
//! signatures may come (while a secret is rolled): one matching is enough.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::lifecycle::Change;
use crate::domain::{OrderId, PaymentReference};
use crate::ApiError;

/// Stripe's default tolerance between the signature's time and now.
pub const TOLERANCE_SECS: i64 = 300;

/// What a verified event asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    /// A payment of `order`: captured (`payment_intent.succeeded`) or failed
    /// (`payment_intent.payment_failed`).
    Payment { order: OrderId, change: Change },
    /// Any other event: acknowledged, nothing done.
    Ignored { kind: String },
}

/// The event in `body`, if `header` signs it with `secret` within the tolerance of `now`.
pub fn verified_event(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<PaymentEvent, ApiError> {
    verify(header, body, secret, now)?;
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::MalformedBody("it is not valid JSON".to_owned()))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let captured = match kind {
        "payment_intent.succeeded" => true,
        "payment_intent.payment_failed" => false,
        _ => {
            return Ok(PaymentEvent::Ignored {
                kind: kind.to_owned(),
            })
        }
    };
    let intent = &event["data"]["object"];
    let order = intent["metadata"]["order_id"].as_str().map(OrderId::parse);
    let Some(Ok(order)) = order else {
        return Err(ApiError::invalid(
            "data.object.metadata.order_id",
            "must be the id of the order the payment is for",
        ));
    };
    let reference = PaymentReference::from_json(&intent["id"])
        .map_err(|why| ApiError::invalid("data.object.id", why))?;
    let reference = reference.as_str().to_owned();
    let change = match captured {
        true => Change::Pay { reference },
        false => Change::PaymentFailed { reference },
    };
    Ok(PaymentEvent::Payment { order, change })
}

/// `Ok` when one `v1` signature of `header` is the HMAC of `<t>.<body>`, and `t` is within the
/// tolerance of `now`.
fn verify(header: &str, body: &[u8], secret: &[u8], now: i64) -> Result<(), ApiError> {
    let mut at = None;
    let mut signatures = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => at = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.extend(decode_hex(hex)),
            _ => {}
        }
    }
    let at = at.ok_or(ApiError::InvalidSignature)?;
    if (now - at).abs() > TOLERANCE_SECS {
        return Err(ApiError::InvalidSignature);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(at.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let matches = |signature: &Vec<u8>| mac.clone().verify_slice(signature).is_ok();
    match signatures.iter().any(matches) {
        true => Ok(()),
        false => Err(ApiError::InvalidSignature),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The header Stripe would send for `body` at `at` with `secret`: what tests sign events with,
/// as Stripe's own libraries do (`generate_test_header_string`).
pub fn sign(body: &[u8], secret: &[u8], at: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{at}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={at},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"whsec_test_secret";
    const NOW: i64 = 1_764_900_000;

    fn event(kind: &str, order: &str) -> Vec<u8> {
        json!({
            "id": "evt_1", "type": kind,
            "data": { "object": { "id": "pi_1", "metadata": { "order_id": order } } }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_signed_event_verifies_and_any_other_header_is_refused() {
        let order = OrderId::of_key("user#7#k");
        let body = event("payment_intent.succeeded", &order.to_string());
        let good = sign(&body, SECRET, NOW);
        assert_eq!(
            verified_event(&good, &body, SECRET, NOW).ok(),
            Some(PaymentEvent::Payment {
                order,
                change: Change::Pay {
                    reference: "pi_1".to_owned()
                }
            })
        );
        let signed_v1 = good.split_once("v1=").unwrap().1.to_owned();
        // Several v1 signatures (a secret being rolled) and a v0: one match is enough.
        let rolled = format!("{},v1={signed_v1},v0=abcd", sign(&body, b"old", NOW));
        assert!(
            verified_event(&rolled, &body, SECRET, NOW).is_ok(),
            "{rolled}"
        );
        let refused = [
            ("no header", String::new()),
            ("another secret", sign(&body, b"whsec_other", NOW)),
            ("stale", sign(&body, SECRET, NOW - TOLERANCE_SECS - 1)),
            (
                "from the future",
                sign(&body, SECRET, NOW + TOLERANCE_SECS + 1),
            ),
            ("no timestamp", format!("v1={signed_v1}")),
            ("another timestamp", format!("t={},v1={signed_v1}", NOW - 1)),
            ("only v0", format!("t={NOW},v0={signed_v1}")),
            ("not hex", format!("t={NOW},v1=zz")),
        ];
        for (case, header) in refused {
            let got = verified_event(&header, &body, SECRET, NOW);
            assert!(
                matches!(got, Err(ApiError::InvalidSignature)),
                "{case}: {got:?}"
            );
        }
        // A changed body no longer verifies.
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(verified_event(&good, &tampered, SECRET, NOW).is_err());
    }

    #[test]
    fn payment_events_map_to_the_payment_transitions_and_others_are_ignored() {
        let order = OrderId::of_key("user#7#k");
        let check = |kind: &str, order: &str| {
            let body = event(kind, order);
            verified_event(&sign(&body, SECRET, NOW), &body, SECRET, NOW)
        };
        assert_eq!(
            check("payment_intent.payment_failed", &order.to_string()).ok(),
            Some(PaymentEvent::Payment {
                order,
                change: Change::PaymentFailed {
                    reference: "pi_1".to_owned()
                }
            })
        );
        assert_eq!(
            check("charge.refunded", "x").ok(),
            Some(PaymentEvent::Ignored {
                kind: "charge.refunded".to_owned()
            })
        );
        let bad_order = check("payment_intent.succeeded", "not-an-order");
        assert!(matches!(bad_order, Err(ApiError::InvalidRequest { .. })));
    }
}
