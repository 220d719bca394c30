//! `POST /api/v1/webhooks/stripe` (no user authorizer: Stripe signs it): the first payment
//! adapter. The `Stripe-Signature` header is verified exactly as Stripe documents it
//! (`shared::http::stripe`); a bad or stale signature is `400 invalid_signature` and changes
//! nothing. `payment_intent.succeeded` and `payment_intent.payment_failed` carrying
//! `metadata.order_id` are the payment transitions (as `admin-order-payment` reports them, the
//! PaymentIntent's id as the reference); other events are acknowledged and ignored. A
//! redelivered event is the same event: its transition already happened, and it answers the
//! order unchanged.

use lambda_http::Request;
use serde_json::json;
use shared::app::orders::{transition, Actor};
use shared::app::AppState;
use shared::domain::now_unix;
use shared::http::stripe::{verified_event, PaymentEvent};
use shared::http::{json, reply, Endpoint, HandlerResult, MAX_BODY_BYTES};
use shared::ApiError;

pub struct StripeWebhook;

impl Endpoint for StripeWebhook {
    const NAME: &'static str = "stripe-webhook";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let Some(secret) = &state.config.stripe_webhook_secret else {
            return Err(ApiError::ServiceUnavailable(
                "STRIPE_WEBHOOK_SECRET is not set: no event can be verified".into(),
            ));
        };
        let header = req.headers().get("stripe-signature");
        let header = header.and_then(|h| h.to_str().ok()).unwrap_or_default();
        let body: &[u8] = req.body().as_ref();
        // Refused before any HMAC is computed over it.
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        match verified_event(header, body, secret, now_unix())? {
            PaymentEvent::Ignored { kind } => json(200, &json!({ "received": true, "type": kind })),
            PaymentEvent::Payment { order, change } => {
                reply(transition(state, Actor::Webhook, order, &change, None, None).await?)
            }
        }
    }
}
