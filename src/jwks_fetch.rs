//! Remote JWKS of `private_key_jwt` clients and trusted issuers: fetched over https only, within a
//! time and size budget, never through a redirect nor to an address the SSRF guard refuses, and
//! cached as the server's `Cache-Control` says, within bounds.
//!
//! Caching: a document is kept for its `max-age` (less its `Age`), clamped to
//! `[min_cache, max_cache]`; without `max-age`, or with `no-cache`/`no-store`, for `min_cache`, so
//! no server can make Castellan fetch on every request. Failures are not cached; concurrent callers
//! for one URL share one fetch in flight. A key removed from a client's JWKS stops being accepted
//! at most `max_cache` later; a new key is picked up at once through `refetch`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use reqwest::Url;
use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, HeaderMap, LOCATION};

use crate::error_chain::report;

mod guard;
#[cfg(test)]
mod tests;

use guard::{Blocked, Guard, GuardedResolver};

/// The shortest time a fetched JWKS is kept, and its lifetime when the server names none.
pub const MIN_CACHE: Duration = Duration::from_secs(300);
/// The longest time a fetched JWKS is kept, whatever its `max-age`.
pub const MAX_CACHE: Duration = Duration::from_secs(3600);
/// How often one client or trust may force a fetch after an unknown `kid`.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// URLs whose documents are cached at once; the rest are evicted, least used first.
const MAX_URLS: u64 = 10_000;
/// (URL, who) pairs remembered for the refetch rate limit.
const MAX_REFETCHERS: u64 = 100_000;

/// What may be fetched, how, and how long it is kept.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// http to loopback hosts, and loopback addresses at all (tests only).
    pub allow_http_loopback: bool,
    /// Networks let through although the guard refuses them (private, link-local, ...).
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// For connecting, and again for the whole request, body included.
    pub timeout: Duration,
    /// The largest document read; reading stops as soon as it is passed.
    pub max_bytes: usize,
    pub min_cache: Duration,
    pub max_cache: Duration,
    pub refetch_interval: Duration,
}

impl FetchPolicy {
    /// The `jwks_fetch_*` settings, with [`MIN_CACHE`], [`MAX_CACHE`] and [`REFETCH_INTERVAL`].
    pub fn from_config(c: &crate::config::Config) -> Self {
        Self {
            allow_http_loopback: c.jwks_fetch_allow_http_loopback,
            allowed_networks: c.jwks_fetch_allowed_networks.clone(),
            timeout: Duration::from_secs(c.jwks_fetch_timeout),
            max_bytes: c.jwks_fetch_max_bytes,
            min_cache: MIN_CACHE,
            max_cache: MAX_CACHE,
            refetch_interval: REFETCH_INTERVAL,
        }
    }
}

/// Why a JWKS could not be had, naming the URL: for the operator registering it and for the
/// client whose authentication failed because of it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("jwks_uri {url:?} is not a usable URL: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error(
        "jwks_uri {url:?} must use https (http only to loopback, with jwks_fetch_allow_http_loopback)"
    )]
    NotHttps { url: String },
    #[error(
        "jwks_uri {url:?} is refused: {host} has the address {address}, {why}; \
         add its network to jwks_fetch_allowed_networks if it is meant"
    )]
    Refused {
        url: String,
        host: String,
        address: IpAddr,
        why: &'static str,
    },
    #[error("jwks_uri {url:?} cannot be resolved: {reason}")]
    Resolve { url: String, reason: String },
    #[error("jwks_uri {url:?} did not answer within {} s", .after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    #[error("jwks_uri {url:?} could not be fetched: {reason}")]
    Transport { url: String, reason: String },
    #[error(
        "jwks_uri {url:?} answered {status} redirecting to {location:?}; redirects are not \
         followed: register the final URL"
    )]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    #[error("jwks_uri {url:?} answered HTTP {status}, not 200")]
    Status { url: String, status: u16 },
    #[error("jwks_uri {url:?} sent more than {max_bytes} bytes (jwks_fetch_max_bytes)")]
    TooLarge { url: String, max_bytes: usize },
    #[error("jwks_uri {url:?} did not send a JWKS: {reason}")]
    NotJwks { url: String, reason: String },
    #[error("jwks_uri {url:?} cannot be fetched: the HTTP client could not start: {reason}")]
    Setup { url: String, reason: String },
}

/// A fetched document and how long it may be kept.
#[derive(Debug, Clone)]
struct Fetched {
    text: Arc<str>,
    lifetime: Duration,
}

/// Each document expires after its own lifetime, also when a refetch replaces it.
struct Lifetime;

impl moka::Expiry<String, Fetched> for Lifetime {
    fn expire_after_create(
        &self,
        _url: &String,
        fetched: &Fetched,
        _at: std::time::Instant,
    ) -> Option<Duration> {
        Some(fetched.lifetime)
    }

    fn expire_after_update(
        &self,
        _url: &String,
        fetched: &Fetched,
        _at: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(fetched.lifetime)
    }
}

/// Fetches and caches remote JWKS; share one in an `Arc`.
pub struct JwksFetcher {
    policy: FetchPolicy,
    guard: Arc<Guard>,
    /// The client, or why it could not be built (reported by every fetch).
    client: Result<reqwest::Client, String>,
    cache: Cache<String, Fetched>,
    /// (URL, who) pairs that refetched within `refetch_interval`.
    refetched: moka::sync::Cache<(String, String), ()>,
    /// Issuer → the `jwks_uri` its discovery document names, for `min_cache`.
    discovered: Cache<String, Arc<str>>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("policy", &self.policy)
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl JwksFetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        let guard = Arc::new(Guard {
            allow_loopback: policy.allow_http_loopback,
            allowed: policy.allowed_networks.clone(),
        });
        let client = reqwest::Client::builder()
            .dns_resolver(GuardedResolver(Arc::clone(&guard)))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("castellan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| report(&e));
        let cache = Cache::builder()
            .max_capacity(MAX_URLS)
            .expire_after(Lifetime)
            .build();
        let refetched = moka::sync::Cache::builder()
            .max_capacity(MAX_REFETCHERS)
            .time_to_live(policy.refetch_interval)
            .build();
        let discovered = Cache::builder()
            .max_capacity(MAX_URLS)
            .time_to_live(policy.min_cache)
            .build();
        Self {
            policy,
            guard,
            client,
            cache,
            refetched,
            discovered,
        }
    }

    /// The JWKS document text for `url`, from cache while its lifetime lasts (see the module's
    /// documentation), else fetched; concurrent calls for one URL share one fetch.
    pub async fn keys(&self, url: &str) -> Result<Arc<str>, FetchError> {
        let fetched = self
            .cache
            .try_get_with_by_ref(url, self.fetch(url))
            .await
            .map_err(|e| FetchError::clone(&e))?;
        Ok(fetched.text)
    }

    /// After an unknown `kid`: fetch again now unless `who` (a client id or trust name) already
    /// refetched `url` within `refetch_interval`; `Ok(None)` when rate-limited. A failed refetch
    /// also counts, and leaves the cached document in place.
    pub async fn refetch(&self, url: &str, who: &str) -> Result<Option<Arc<str>>, FetchError> {
        let first = self
            .refetched
            .entry((url.to_owned(), who.to_owned()))
            .or_insert(())
            .is_fresh();
        if !first {
            return Ok(None);
        }
        let fetched = self.fetch(url).await?;
        let text = Arc::clone(&fetched.text);
        self.cache.insert(url.to_owned(), fetched).await;
        Ok(Some(text))
    }

    /// Checks a URL at registration time (scheme, host, the SSRF guard on the addresses its host
    /// has now) without fetching it.
    pub async fn check_url(&self, url: &str) -> Result<(), FetchError> {
        let (_, host) = self.vet(url)?;
        let Some(host) = host else {
            return Ok(());
        };
        match tokio::time::timeout(self.policy.timeout, self.guard.resolve(&host)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(blocked)) => Err(blocked_error(url, &host, &blocked)),
            Err(_) => Err(FetchError::Timeout {
                url: url.to_owned(),
                after: self.policy.timeout,
            }),
        }
    }

    /// The parsed URL and, for a host name (not a literal address), the name to resolve.
    fn vet(&self, url: &str) -> Result<(Url, Option<String>), FetchError> {
        let invalid = |reason| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| invalid("not an absolute URL"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid("it must not carry a user name or password"));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("it has no host"))?
            .to_owned();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let loopback_host = literal.map_or_else(
            || guard::is_localhost(&host),
            |ip| guard::canonical(ip).is_loopback(),
        );
        match parsed.scheme() {
            "https" => {}
            "http" if self.policy.allow_http_loopback && loopback_host => {}
            _ => {
                return Err(FetchError::NotHttps {
                    url: url.to_owned(),
                });
            }
        }
        match literal {
            // The HTTP client connects to a literal address without asking the resolver.
            Some(address) => {
                self.guard
                    .check(address)
                    .map_err(|why| FetchError::Refused {
                        url: url.to_owned(),
                        host: host.clone(),
                        address,
                        why,
                    })?;
                Ok((parsed, None))
            }
            None => Ok((parsed, Some(host))),
        }
    }

    /// The `jwks_uri` that `issuer`'s OpenID discovery document names (OIDC Discovery §4),
    /// fetched under the same rules as a key set; the document's `issuer` must be `issuer`.
    pub async fn discovered_jwks_uri(&self, issuer: &str) -> Result<Arc<str>, FetchError> {
        self.discovered
            .try_get_with_by_ref(issuer, self.discover(issuer))
            .await
            .map_err(|e| FetchError::clone(&e))
    }

    /// The discovery document's URL for an issuer.
    pub fn discovery_url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }

    async fn discover(&self, issuer: &str) -> Result<Arc<str>, FetchError> {
        let url = Self::discovery_url(issuer);
        let (text, _) = self.fetch_text(&url, "application/json").await?;
        let wrong = |reason: String| FetchError::NotJwks {
            url: url.clone(),
            reason,
        };
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| wrong(format!("the discovery document is not JSON ({e})")))?;
        if doc.get("issuer").and_then(serde_json::Value::as_str) != Some(issuer) {
            return Err(wrong(format!(
                "the discovery document's issuer is not {issuer:?}"
            )));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| wrong("the discovery document names no jwks_uri".into()))?;
        self.vet(jwks_uri)?;
        Ok(Arc::from(jwks_uri))
    }

    async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let (text, lifetime) = self
            .fetch_text(url, "application/jwk-set+json, application/json")
            .await?;
        let not_jwks = |reason: String| FetchError::NotJwks {
            url: url.to_owned(),
            reason,
        };
        serde_json::from_str::<KeySetShape>(&text)
            .map_err(|e| not_jwks(format!("not a JSON object with a \"keys\" array ({e})")))?;
        Ok(Fetched {
            text: Arc::from(text),
            lifetime,
        })
    }

    /// A UTF-8 body of at most `max_bytes` from a 200 answer, and its cache lifetime.
    async fn fetch_text(&self, url: &str, accept: &str) -> Result<(String, Duration), FetchError> {
        let (parsed, host) = self.vet(url)?;
        let client = self.client.as_ref().map_err(|reason| FetchError::Setup {
            url: url.to_owned(),
            reason: reason.clone(),
        })?;
        let host = host.unwrap_or_default();
        let timeout = FetchError::Timeout {
            url: url.to_owned(),
            after: self.policy.timeout,
        };
        let request = client.get(parsed).header(ACCEPT, accept).send();
        let read = async {
            let response = request
                .await
                .map_err(|e| transport_error(url, &host, &e, &timeout))?;
            self.read(url, response, &timeout).await
        };
        let (body, lifetime) = tokio::time::timeout(self.policy.timeout, read)
            .await
            .map_err(|_| timeout.clone())??;
        let not_jwks = |reason: String| FetchError::NotJwks {
            url: url.to_owned(),
            reason,
        };
        let text = String::from_utf8(body).map_err(|_| not_jwks("the body is not UTF-8".into()))?;
        Ok((text, lifetime))
    }

    /// The body of a 200 response, read no further than `max_bytes`, and its cache lifetime.
    async fn read(
        &self,
        url: &str,
        mut response: reqwest::Response,
        timeout: &FetchError,
    ) -> Result<(Vec<u8>, Duration), FetchError> {
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere")
                .to_owned();
            return Err(FetchError::Redirect {
                url: url.to_owned(),
                status: status.as_u16(),
                location,
            });
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let max_bytes = self.policy.max_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large());
        }
        let lifetime = lifetime(
            response.headers(),
            self.policy.min_cache,
            self.policy.max_cache,
        );
        let mut body = Vec::new();
        // Dropping the response mid-body closes the connection: the rest is never read.
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(url, "", &e, timeout))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, lifetime))
    }
}

/// Just enough of RFC 7517 §5 to know a JWK Set: the keys themselves are not looked at.
#[derive(serde::Deserialize)]
struct KeySetShape {
    #[allow(dead_code)]
    keys: Vec<serde::de::IgnoredAny>,
}

/// How long a response may be kept: its `max-age` less its `Age`, within `[min, max]`.
fn lifetime(headers: &HeaderMap, min: Duration, max: Duration) -> Duration {
    let mut max_age: Option<u64> = None;
    let mut uncacheable = false;
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for directive in directives {
        let (name, value) = directive
            .split_once('=')
            .map_or((directive, ""), |(n, v)| (n, v));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            uncacheable = true;
        } else if name.eq_ignore_ascii_case("max-age")
            && let Ok(seconds) = value.trim().trim_matches('"').parse::<u64>()
        {
            max_age = Some(max_age.map_or(seconds, |m| m.min(seconds)));
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let seconds = match (uncacheable, max_age) {
        (true, _) | (false, None) => 0,
        (false, Some(seconds)) => seconds.saturating_sub(age),
    };
    // Not `clamp`, which panics when min > max.
    Duration::from_secs(seconds).min(max).max(min)
}

/// The HTTP client's error as ours: the guard's refusal (raised in the resolver) when that is
/// the cause, else a timeout or a transport failure.
fn transport_error(url: &str, host: &str, e: &reqwest::Error, timeout: &FetchError) -> FetchError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(blocked) = c.downcast_ref::<Blocked>() {
            return blocked_error(url, host, blocked);
        }
        cause = c.source();
    }
    if e.is_timeout() {
        return timeout.clone();
    }
    FetchError::Transport {
        url: url.to_owned(),
        reason: report(e),
    }
}

fn blocked_error(url: &str, host: &str, blocked: &Blocked) -> FetchError {
    match blocked {
        Blocked::Refused { address, why } => FetchError::Refused {
            url: url.to_owned(),
            host: host.to_owned(),
            address: *address,
            why,
        },
        Blocked::Lookup(reason) => FetchError::Resolve {
            url: url.to_owned(),
            reason: reason.clone(),
        },
    }
}
