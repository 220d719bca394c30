//! `POST /api/v1/cart/{cart_id}/items`: adds units of an item to the caller's cart, checked
//! against the item's stock at this moment.
//!
//! Without a key, two requests: read the item, then one conditional update of the cart (an
//! atomic increment, exactly once even when the SDK resends it). With an `Idempotency-Key`, two
//! as well: one `BatchGetItem` (the key's record, the cart, the item), then one transaction
//! writing the cart's new version with the key's record; a replay is one request.

use lambda_http::Request;
use shared::domain::{
    now_unix, AddRefusal, Fingerprint, Item, ItemId, KeyScope, Quantity, Shortfall, MAX_CART_LINES,
};
use shared::http::{
    authenticate, cart_answer, cart_in_path, commit_keyed, exactly_once, json_object, key_header,
    named_user, required_field, AppState, Attempt, Endpoint, HandlerResult,
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
        let key = key_header(&req)?;
        if cart_id.owner() != &user {
            // Someone else's cart, or none: the same answer either way.
            return Err(ApiError::CartNotFound);
        }
        let store = &state.store;

        let Some(key) = key else {
            let item = store.get_item(item_id).await?;
            let item = item.ok_or(ApiError::ItemNotFound(item_id))?;
            return match store.add_cart_line(&cart_id, &item, quantity).await? {
                AddLine::Added(cart) => cart_answer(200, &cart),
                AddLine::CartNotFound => Err(ApiError::CartNotFound),
                AddLine::CartFull => Err(refused(AddRefusal::CartFull, &item, quantity)),
                AddLine::InsufficientStock { in_cart } => Err(refused(
                    AddRefusal::InsufficientStock { in_cart },
                    &item,
                    quantity,
                )),
            };
        };
        let request = Fingerprint::of("add", &[&cart_id, &item_id, &quantity.get()]);
        let pk = KeyScope::User(&user).record_key(&key);
        let (pk, request_ref, cart_id) = (pk.as_str(), &request, &cart_id);
        exactly_once(&request, || async move {
            let now = now_unix();
            let read = store
                .read_cart(cart_id, Some(pk), Some(item_id), now)
                .await?;
            if let Some(receipt) = read.receipt {
                return Ok(Attempt::Replay(receipt));
            }
            let cart = read.cart.ok_or(ApiError::CartNotFound)?;
            let item = read.item.ok_or(ApiError::ItemNotFound(item_id))?;
            let after = cart
                .with_added(&item, quantity)
                .map_err(|refusal| refused(refusal, &item, quantity))?;
            commit_keyed(state, &cart, &after, pk, request_ref, now).await
        })
        .await
    }
}

fn refused(refusal: AddRefusal, item: &Item, quantity: Quantity) -> ApiError {
    match refusal {
        AddRefusal::CartFull => ApiError::CartFull {
            limit: MAX_CART_LINES,
        },
        AddRefusal::InsufficientStock { in_cart } => ApiError::InsufficientStock(vec![Shortfall {
            item_id: item.id,
            requested: in_cart + u64::from(quantity.get()),
            available: item.stock.get(),
        }]),
    }
}
