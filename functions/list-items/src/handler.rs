//! `GET /api/v1/items`: one page of the catalog, filtered by price range and name, in price
//! then id order, with an opaque cursor to the next page.

use lambda_http::Request;
use serde_json::json;
use shared::app::AppState;
use shared::domain::ListQuery;
use shared::http::{json, query_param, Endpoint, HandlerResult};
use shared::ApiError;

pub struct ListItems;

const PARAMETERS: [&str; 5] = ["min_value", "max_value", "name", "limit", "cursor"];

impl Endpoint for ListItems {
    const NAME: &'static str = "list-items";
    const USES_CURSORS: bool = true;

    async fn handle(state: &AppState, req: Request) -> HandlerResult {
        let mut given = Vec::with_capacity(PARAMETERS.len());
        for name in PARAMETERS {
            if let Some(value) = query_param(&req, name)? {
                given.push((name, value));
            }
        }
        let secret = state.config.cursor_key()?;
        let query = ListQuery::parse(
            |name| given.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            secret,
        )
        .map_err(|(field, why)| ApiError::invalid(field, why))?;

        let page = state
            .store
            .list_items(&query, state.config.list_read_budget)
            .await?;

        let next_cursor = page.next.map(|c| query.encode_cursor(c, secret));
        json(
            200,
            &json!({ "items": page.items, "next_cursor": next_cursor }),
        )
    }
}
