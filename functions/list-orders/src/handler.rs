//! `GET /api/v1/orders`: the caller's orders, newest first, a page at a time (`limit`, 20 by
//! default and at most 100; `next_cursor` continues): one Query of the orders' `by-user` index
//! per page.

use lambda_http::Request;
use serde_json::json;
use shared::app::AppState;
use shared::domain::lifecycle::as_of;
use shared::domain::now_unix;
use shared::domain::OrdersQuery;
use shared::http::{json, query_param, Endpoint, HandlerResult, UserCall};
use shared::ApiError;

pub struct ListOrders;

impl Endpoint for ListOrders {
    const NAME: &'static str = "list-orders";
    const USES_CURSORS: bool = true;

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let user = UserCall::parse(state, &req)?.user;
        let (limit, cursor) = (query_param(&req, "limit")?, query_param(&req, "cursor")?);
        let secret = state.config.cursor_key()?;
        let param = |name: &str| match name {
            "limit" => limit,
            "cursor" => cursor,
            _ => None,
        };
        let query = OrdersQuery::parse(param, &user, secret)
            .map_err(|(field, why)| ApiError::invalid(field, why))?;
        let page = state.store.list_orders(&user, &query).await?;
        let next_cursor = page.next.map(|at| OrdersQuery::cursor(&at, &user, secret));
        let now = now_unix();
        let orders: Vec<_> = page.orders.iter().map(|o| as_of(o, now)).collect();
        json(
            200,
            &json!({ "orders": orders, "next_cursor": next_cursor }),
        )
    }
}
