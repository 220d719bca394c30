//! `DELETE /api/v1/guest/carts/{cart_id}/items/{item_id}` with `Guest-Token`: removes a guest's
//! line (what it held goes back at once). The loop: `shared::app::carts::remove`.

use lambda_http::Request;
use shared::app::{carts, AppState};
use shared::domain::ItemId;
use shared::http::{path_param, reply, Endpoint, GuestCall, HandlerResult};

pub struct GuestRemoveCartItem;

impl Endpoint for GuestRemoveCartItem {
    const NAME: &'static str = "guest-remove-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let call = GuestCall::parse(state, &req)?;
        let item = path_param(&req, "item_id", ItemId::parse)?;
        reply(carts::remove(state, &call.cart, item, call.key.as_ref()).await?)
    }
}
