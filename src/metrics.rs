//! Prometheus metrics. One registry per server (not a process-wide recorder), so several
//! servers in one process — the test suite — each count their own traffic.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::protocol::GrantType;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (`/token`), never the raw path, so label values stay few.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Grant {
    client_credentials,
    authorization_code,
    refresh_token,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    pub grant: Grant,
}

impl From<GrantType> for Grant {
    fn from(grant: GrantType) -> Self {
        match grant {
            GrantType::ClientCredentials => Self::client_credentials,
            GrantType::AuthorizationCode => Self::authorization_code,
            GrantType::RefreshToken => Self::refresh_token,
        }
    }
}

/// How a client authenticated, for `client_authentications`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AuthMethodLabel {
    client_secret,
    private_key_jwt,
    federated,
    none,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    success,
    failure,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub method: AuthMethodLabel,
    pub outcome: Outcome,
}

/// Values read when scraped rather than kept up to date.
pub struct Snapshot {
    pub active_key_age: i64,
    pub pool_size: u32,
    pub pool_idle: usize,
    pub audit_dropped: u64,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub tokens_issued: Family<GrantLabels, Counter>,
    pub client_authentications: Family<AuthLabels, Counter>,
    pub signin_failures: Counter,
    pub lockouts: Counter,
    active_key_age: Gauge,
    pool_size: Gauge,
    pool_in_use: Gauge,
    audit_dropped: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("castellan");
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.5 ms to about 8 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 15))) as fn() -> Histogram,
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        let client_authentications = Family::<AuthLabels, Counter>::default();
        registry.register(
            "client_authentications",
            "Client authentications at the token, introspection and revocation endpoints, by method and outcome",
            client_authentications.clone(),
        );
        let signin_failures = Counter::default();
        let lockouts = Counter::default();
        let active_key_age = Gauge::default();
        let pool_size = Gauge::default();
        let pool_in_use = Gauge::default();
        let audit_dropped = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued, by grant",
            tokens_issued.clone(),
        );
        registry.register(
            "signin_failures",
            "Refused sign-ins (wrong credentials or locked)",
            signin_failures.clone(),
        );
        registry.register(
            "lockouts",
            "Accounts locked for an address after repeated failures",
            lockouts.clone(),
        );
        registry.register(
            "signing_key_age_seconds",
            "Time since the oldest active signing key (of any algorithm) began signing",
            active_key_age.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_size.clone(),
        );
        registry.register(
            "db_pool_connections_in_use",
            "Database connections in use",
            pool_in_use.clone(),
        );
        registry.register(
            "audit_events_dropped",
            "Audit events lost because the queue was full",
            audit_dropped.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tokens_issued,
            client_authentications,
            signin_failures,
            lockouts,
            active_key_age,
            pool_size,
            pool_in_use,
            audit_dropped,
        }
    }

    pub fn token_issued(&self, grant: GrantType) {
        self.tokens_issued
            .get_or_create(&GrantLabels {
                grant: grant.into(),
            })
            .inc();
    }

    pub fn client_authenticated(&self, method: AuthMethodLabel, ok: bool) {
        let outcome = if ok {
            Outcome::success
        } else {
            Outcome::failure
        };
        self.client_authentications
            .get_or_create(&AuthLabels { method, outcome })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.active_key_age.set(snapshot.active_key_age);
        self.pool_size.set(i64::from(snapshot.pool_size));
        let in_use =
            i64::from(snapshot.pool_size) - i64::try_from(snapshot.pool_idle).unwrap_or(i64::MAX);
        self.pool_in_use.set(in_use.max(0));
        self.audit_dropped
            .set(i64::try_from(snapshot.audit_dropped).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels_and_gauges() {
        let m = Metrics::new();
        m.token_issued(GrantType::ClientCredentials);
        m.token_issued(GrantType::ClientCredentials);
        m.requests
            .get_or_create(&RequestLabels {
                route: "/token".into(),
                method: "POST".into(),
                status: 200,
            })
            .inc();
        let text = m.render(&Snapshot {
            active_key_age: 42,
            pool_size: 5,
            pool_idle: 3,
            audit_dropped: 0,
        });
        assert!(
            text.contains("castellan_tokens_issued_total{grant=\"client_credentials\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("castellan_signing_key_age_seconds 42"),
            "{text}"
        );
        assert!(
            text.contains("castellan_db_pool_connections_in_use 2"),
            "{text}"
        );
    }
}
