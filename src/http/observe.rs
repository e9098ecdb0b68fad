//! Every request gets an id (the caller's `X-Request-Id` if it is sane, else a new one) that is
//! on every log line written while it is handled, on the response and on its error page; and is
//! counted, timed and written to the access log (one INFO line per request).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::crypto::random;
use crate::http::client_addr;
use crate::metrics::{Metrics, RequestLabels, RouteLabels};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request being handled, for pages that show it (`PageError`).
    static CURRENT_ID: String;
}

/// The id of the request this task is handling, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_ID.try_with(String::clone).ok()
}

/// What the middleware needs: where to count, and whose `X-Forwarded-For` to believe.
#[derive(Clone)]
pub struct Observer {
    pub metrics: Arc<Metrics>,
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// A caller's id is kept if it is short and plain, so it cannot forge log lines.
fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn observe(State(observer): State<Observer>, request: Request, next: Next) -> Response {
    let started = crate::clock::monotonic();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| random::short_id().unwrap_or_default());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let client = client_addr::of(
        request.extensions(),
        request.headers(),
        &observer.trusted_proxies,
    );
    let span = tracing::info_span!("request", id = %id, %method, %route);
    let mut response = CURRENT_ID
        .scope(id.clone(), next.run(request))
        .instrument(span)
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // The access log: the matched route, never the path or query (codes, tokens, hints). It is
    // written outside the request's span, whose fields it repeats.
    tracing::info!(
        target: "castellan::access",
        %method,
        %route,
        status,
        latency_ms = (elapsed.as_secs_f64() * 1e4).round() / 10.0,
        request_id = %id,
        %client,
        "answered"
    );
    let metrics = &observer.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status,
        })
        .inc();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(acceptable("3f1c-41aa_b.c:1"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("id\nforged log line"));
        assert!(!acceptable("a b"));
    }
}
