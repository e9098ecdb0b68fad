//! The admin API: `GET /admin/audit`, for tokens of the `urn:castellan:admin` API with the
//! `castellan:admin` scope (the bootstrap admin client mints them).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::bearer;
use super::error::{method_not_allowed, plain_error};
use crate::admin::{ADMIN_API, ADMIN_SCOPE};
use crate::http::state::AppState;
use crate::issuer::Issuer;
use crate::issuer::bearer::BearerError;
use crate::protocol::form::FormParams;

const MAX_LIMIT: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit).fallback(method_not_allowed))
}

/// Query: `tenant`, `since` (unix seconds), `limit` (1 to 1000, default 100). The newest events,
/// oldest first, as `castellan audit tail --json` prints them.
async fn audit(
    State(issuer): State<Arc<Issuer>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer::token(&headers) else {
        return BearerError::Missing.into_response();
    };
    if let Err(e) = issuer.bearer(token, Some(ADMIN_API), ADMIN_SCOPE).await {
        return e.into_response();
    }
    let bad = |why: &str| plain_error(StatusCode::BAD_REQUEST, "invalid_request", why);
    let params = match FormParams::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return bad(&e.description),
    };
    let number = |name: &str| params.get(name).map(str::parse::<i64>).transpose();
    let (Ok(since), Ok(limit)) = (number("since"), number("limit")) else {
        return bad("since and limit must be whole numbers");
    };
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return bad("limit must be from 1 to 1000");
    }
    match issuer
        .ctx
        .store
        .audit_tail(params.get("tenant"), since, limit)
        .await
    {
        Ok(rows) => {
            let mut response = Json(rows).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the audit trail");
            plain_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the audit trail cannot be read right now",
            )
        }
    }
}
