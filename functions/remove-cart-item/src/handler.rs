//! `DELETE /api/v1/cart/{cart_id}/items/{item_id}`: removes a line from the owner's cart.
//! The owner comes in the body or, since many clients drop DELETE bodies, in `?user_id=`.

use lambda_http::Request;
use serde_json::json;
use shared::domain::{CartId, ItemId, UserId};
use shared::http::{
    json, json_object, optional_field, path_param, query_param, AppState, Endpoint, HandlerResult,
};
use shared::store::CartChange;
use shared::ApiError;

pub struct RemoveCartItem;

impl Endpoint for RemoveCartItem {
    const NAME: &'static str = "remove-cart-item";

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let cart_id = path_param(&req, "cart_id", CartId::parse)?;
        let item_id = path_param(&req, "item_id", ItemId::parse)?;
        let body = json_object(&req)?;
        let in_body = optional_field(&body, "user_id", UserId::from_json)?;
        let in_query = query_param(&req, "user_id")?
            .map(|v| UserId::parse(v).map_err(|why| ApiError::invalid("user_id", why)))
            .transpose()?;
        let user = match (in_body, in_query) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::invalid(
                    "user_id",
                    "differs between the body and the query string",
                ))
            }
            (Some(user), _) | (None, Some(user)) => user,
            (None, None) => {
                return Err(ApiError::invalid(
                    "user_id",
                    "is required, in the body or as ?user_id=",
                ))
            }
        };
        if cart_id.owner() != user {
            return Err(ApiError::CartNotFound);
        }
        match state.store.remove_cart_line(&cart_id, item_id).await? {
            CartChange::Changed(cart) => json(200, &json!({ "cart": cart })),
            CartChange::CartNotFound => Err(ApiError::CartNotFound),
            CartChange::LineNotFound => Err(ApiError::ItemNotInCart(item_id)),
        }
    }
}
