//! `DELETE /api/v1/cart/{cart_id}/items/{item_id}`: removes a line from the caller's cart.
//! A `user_id` may come in the body or, since many clients drop DELETE bodies, in `?user_id=`.

use lambda_http::Request;
use serde_json::json;
use shared::domain::ItemId;
use shared::http::{
    authenticate, cart_in_path, json, json_object, named_user, path_param, AppState, Endpoint,
    HandlerResult,
};
use shared::store::CartChange;
use shared::ApiError;

pub struct RemoveCartItem;

impl Endpoint for RemoveCartItem {
    const NAME: &'static str = "remove-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let item_id = path_param(&req, "item_id", ItemId::parse)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        if cart_id.owner() != &user {
            return Err(ApiError::CartNotFound);
        }
        match state.store.remove_cart_line(&cart_id, item_id).await? {
            CartChange::Changed(cart) => json(200, &json!({ "cart": cart })),
            CartChange::CartNotFound => Err(ApiError::CartNotFound),
            CartChange::LineNotFound => Err(ApiError::ItemNotInCart(item_id)),
        }
    }
}
