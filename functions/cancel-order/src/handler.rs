//! `POST /api/v1/orders/{order_id}/cancel`: the owner cancels their order: `placed`,
//! `pending_payment` or `paid` (then `refund_due`) become `cancelled`, every line's units back
//! in the stock in the same transaction. Cancelling a cancelled order answers it unchanged; a
//! fulfilled or expired one is `409 order_not_cancellable`; someone else's is `404`.
//!
//! One read of the order (with the key's record when keyed), then one `TransactWriteItems`.
//! The loop: `shared::app::orders::transition`; the rule: `shared::domain::lifecycle`.

use lambda_http::Request;
use shared::app::orders::{transition, Actor};
use shared::app::AppState;
use shared::domain::lifecycle::Change;
use shared::http::{if_match, key_header, order_in_path, reply, Endpoint, HandlerResult, UserCall};

pub struct CancelOrder;

impl Endpoint for CancelOrder {
    const NAME: &'static str = "cancel-order";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = UserCall::parse(state, &req)?;
        let order = order_in_path(&req)?;
        let (seen, key) = (if_match(&req)?, key_header(&req)?);
        let actor = Actor::Owner(&call.user);
        reply(transition(state, actor, order, &Change::Cancel, seen, key.as_ref()).await?)
    }
}
