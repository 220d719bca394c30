//! `POST /api/v1/cart/{cart_id}/items`: adds units of an item to the caller's cart, checked
//! against the item's stock at this moment. Two requests: read the item, update the cart.

use lambda_http::Request;
use serde_json::json;
use shared::domain::Shortfall;
use shared::domain::{ItemId, Quantity, MAX_CART_LINES};
use shared::http::{
    authenticate, cart_in_path, json, json_object, named_user, required_field, AppState, Endpoint,
    HandlerResult,
};
use shared::store::AddLine;
use shared::ApiError;

pub struct AddCartItem;

impl Endpoint for AddCartItem {
    const NAME: &'static str = "add-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let caller = authenticate(state, &req)?;
        let cart_id = cart_in_path(&req)?;
        let body = json_object(&req)?;
        let user = caller.user(named_user(&req, &body)?)?;
        let item_id = required_field(&body, "item_id", ItemId::from_json)?;
        let quantity = required_field(&body, "quantity", Quantity::from_json)?;
        if cart_id.owner() != &user {
            // Someone else's cart, or none: the same answer either way.
            return Err(ApiError::CartNotFound);
        }

        let item = state
            .store
            .get_item(item_id)
            .await?
            .ok_or(ApiError::ItemNotFound(item_id))?;

        match state.store.add_cart_line(&cart_id, &item, quantity).await? {
            AddLine::Added(cart) => json(200, &json!({ "cart": cart })),
            AddLine::CartNotFound => Err(ApiError::CartNotFound),
            AddLine::CartFull => Err(ApiError::CartFull {
                limit: MAX_CART_LINES,
            }),
            AddLine::InsufficientStock { in_cart } => {
                Err(ApiError::InsufficientStock(vec![Shortfall {
                    item_id,
                    requested: in_cart + u64::from(quantity.get()),
                    available: item.stock.get(),
                }]))
            }
        }
    }
}
