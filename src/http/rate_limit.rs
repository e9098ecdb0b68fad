//! Per-address request limits on the endpoints attackers hammer (`governor`'s GCRA), counted
//! per IPv4 address and per IPv6 /64. Each node counts on its own: N nodes behind a balancer
//! admit up to N times the configured rate.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::{client_addr, error};
use crate::address;
use crate::config::RateLimits;
use crate::protocol::{ErrorCode, OAuthError};

type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// One limiter per limited endpoint; `None` where the limit is off.
pub struct Limiters {
    token: Option<Keyed>,
    authorize: Option<Keyed>,
    login: Option<Keyed>,
    introspect: Option<Keyed>,
    revoke: Option<Keyed>,
    clock: DefaultClock,
}

/// How an endpoint speaks when it refuses.
enum Voice {
    OAuth,
    Page,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Self {
        let keyed = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
        };
        Self {
            token: keyed(limits.token),
            authorize: keyed(limits.authorize),
            login: keyed(limits.login),
            introspect: keyed(limits.introspect),
            revoke: keyed(limits.revoke),
            clock: DefaultClock::default(),
        }
    }

    fn for_path(&self, path: &str) -> Option<(&Keyed, Voice)> {
        let (limiter, voice) = match path {
            "/token" => (&self.token, Voice::OAuth),
            "/introspect" => (&self.introspect, Voice::OAuth),
            "/revoke" => (&self.revoke, Voice::OAuth),
            "/authorize" => (&self.authorize, Voice::Page),
            "/login" => (&self.login, Voice::Page),
            _ => return None,
        };
        limiter.as_ref().map(|l| (l, voice))
    }

    /// Forgets addresses that are back to a full allowance, so memory follows recent traffic.
    pub fn forget_idle(&self) {
        for limiter in [
            &self.token,
            &self.authorize,
            &self.login,
            &self.introspect,
            &self.revoke,
        ]
        .into_iter()
        .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// What the rate-limit middleware needs.
#[derive(Clone)]
pub struct Guard {
    pub limiters: Arc<Limiters>,
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// Middleware: `429` with `Retry-After` once an address exceeds an endpoint's rate.
pub async fn enforce(State(state): State<Guard>, request: Request, next: Next) -> Response {
    let Some((limiter, voice)) = state.limiters.for_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let addr = client_addr::of(
        request.extensions(),
        request.headers(),
        &state.trusted_proxies,
    );
    let Err(not_until) = limiter.check_key(&address::network(addr)) else {
        return next.run(request).await;
    };
    let wait = not_until.wait_time_from(state.limiters.clock.now());
    let seconds = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
    tracing::info!(%addr, path = request.uri().path(), "rate limited");
    let mut response = match voice {
        Voice::OAuth => error::oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            &OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!("too many requests from this address; retry in {seconds} s"),
            ),
        ),
        Voice::Page => error::PageError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Too many attempts from your network. Wait a minute and try again.".into(),
        }
        .into_response(),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}
