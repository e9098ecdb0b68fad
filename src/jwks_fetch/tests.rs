//! Unit tests of `jwks_fetch`, against a local server on 127.0.0.1. No test connects anywhere
//! else: addresses off loopback are only checked (`check_url`), never fetched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::routing::get;
use bytes::Bytes;
use hyper::body::Frame;

use super::*;

const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}"#;

#[derive(Default)]
struct Hits {
    jwks: AtomicUsize,
    target: AtomicUsize,
    endless_dropped: AtomicBool,
}

struct Server {
    base: String,
    port: u16,
    hits: Arc<Hits>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn jwks_hits(&self) -> usize {
        self.hits.jwks.load(Ordering::SeqCst)
    }
}

fn jwks(hits: &Hits) -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    hits.jwks.fetch_add(1, Ordering::SeqCst);
    ([(CONTENT_TYPE, "application/jwk-set+json")], JWKS)
}

/// A body that never ends, and says when the server gave up sending it.
struct Endless(Arc<Hits>);

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[b' '; 8192])))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.0.endless_dropped.store(true, Ordering::SeqCst);
    }
}

/// A body that sends one byte every 100 ms, forever.
struct Dribble(Pin<Box<tokio::time::Sleep>>);

impl hyper::body::Body for Dribble {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next =
            tokio::time::Instant::from_std(crate::clock::monotonic()) + Duration::from_millis(100);
        self.0.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b" ")))))
    }
}

async fn serve() -> Server {
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .route(
            "/jwks",
            get(|State(h): State<Arc<Hits>>| async move { jwks(&h) }),
        )
        .route(
            "/max-age/{n}",
            get(
                |Path(n): Path<String>, State(h): State<Arc<Hits>>| async move {
                    let (_, body) = jwks(&h);
                    ([(CACHE_CONTROL, format!("public, max-age={n}"))], body)
                },
            ),
        )
        .route(
            "/slowish",
            get(|State(h): State<Arc<Hits>>| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                jwks(&h)
            }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [(LOCATION, "/target")]) }),
        )
        .route(
            "/target",
            get(|State(h): State<Arc<Hits>>| async move {
                h.target.fetch_add(1, Ordering::SeqCst);
                JWKS
            }),
        )
        .route(
            "/endless",
            get(|State(h): State<Arc<Hits>>| async move { Body::new(Endless(h)) }),
        )
        .route("/big", get(|| async { " ".repeat(4096) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                JWKS
            }),
        )
        .route(
            "/dribble",
            get(|| async { Body::new(Dribble(Box::pin(tokio::time::sleep(Duration::ZERO)))) }),
        )
        .route("/html", get(|| async { "<html><body>keys</body></html>" }))
        .route("/no-keys", get(|| async { r#"{"key":[]}"# }))
        .route("/keys-object", get(|| async { r#"{"keys":{}}"# }))
        .route(
            "/server-error",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://{addr}"),
        port: addr.port(),
        hits,
    }
}

/// Loopback over http allowed, as in every test of a fetch; the rest as defaults.
fn policy() -> FetchPolicy {
    FetchPolicy {
        allow_http_loopback: true,
        allowed_networks: vec![],
        timeout: Duration::from_secs(5),
        max_bytes: 65_536,
        min_cache: MIN_CACHE,
        max_cache: MAX_CACHE,
        refetch_interval: REFETCH_INTERVAL,
    }
}

fn strict() -> JwksFetcher {
    JwksFetcher::new(FetchPolicy {
        allow_http_loopback: false,
        ..policy()
    })
}

#[tokio::test]
async fn a_document_is_fetched_once_and_then_served_from_the_cache() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(policy());
    let first = fetcher.keys(&server.url("/jwks")).await.unwrap();
    assert_eq!(&*first, JWKS);
    let second = fetcher.keys(&server.url("/jwks")).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(server.jwks_hits(), 1);
    assert!(format!("{fetcher:?}").contains("JwksFetcher"));
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let server = serve().await;
    let fetcher = Arc::new(JwksFetcher::new(policy()));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let fetcher = Arc::clone(&fetcher);
        let url = server.url("/slowish");
        calls.spawn(async move { fetcher.keys(&url).await });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(&*done.unwrap().unwrap(), JWKS);
    }
    assert_eq!(server.jwks_hits(), 1);
}

#[tokio::test]
async fn max_age_is_honoured() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(FetchPolicy {
        min_cache: Duration::ZERO,
        ..policy()
    });
    let url = server.url("/max-age/1");
    fetcher.keys(&url).await.unwrap();
    fetcher.keys(&url).await.unwrap();
    assert_eq!(server.jwks_hits(), 1, "still fresh");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    fetcher.keys(&url).await.unwrap();
    assert_eq!(server.jwks_hits(), 2, "max-age=1 has passed");
}

#[tokio::test]
async fn max_age_is_clamped_to_the_policy() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(FetchPolicy {
        min_cache: Duration::ZERO,
        max_cache: Duration::from_secs(1),
        ..policy()
    });
    let url = server.url("/max-age/3600");
    fetcher.keys(&url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    fetcher.keys(&url).await.unwrap();
    assert_eq!(server.jwks_hits(), 2, "kept no longer than max_cache");

    let server = serve().await;
    let fetcher = JwksFetcher::new(policy());
    for _ in 0..3 {
        fetcher.keys(&server.url("/max-age/0")).await.unwrap();
    }
    assert_eq!(server.jwks_hits(), 1, "kept at least min_cache");
}

#[test]
fn the_lifetime_follows_cache_control_within_bounds() {
    let (min, max) = (Duration::from_secs(60), Duration::from_secs(3600));
    let of = |pairs: &[(&str, &str)]| {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        lifetime(&headers, min, max).as_secs()
    };
    assert_eq!(of(&[]), 60, "no header: min_cache");
    assert_eq!(of(&[("cache-control", "public, max-age=600")]), 600);
    assert_eq!(of(&[("cache-control", "Max-Age=\"600\"")]), 600);
    assert_eq!(of(&[("cache-control", "max-age=600"), ("age", "100")]), 500);
    assert_eq!(of(&[("cache-control", "max-age=600"), ("age", "9999")]), 60);
    assert_eq!(of(&[("cache-control", "max-age=86400")]), 3600);
    assert_eq!(of(&[("cache-control", "max-age=10")]), 60);
    assert_eq!(of(&[("cache-control", "no-store, max-age=600")]), 60);
    assert_eq!(of(&[("cache-control", "private, max-age=nonsense")]), 60);
    assert_eq!(
        of(&[
            ("cache-control", "max-age=900"),
            ("cache-control", "max-age=700")
        ]),
        700
    );
}

#[tokio::test]
async fn a_refetch_is_rate_limited_per_caller() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(FetchPolicy {
        refetch_interval: Duration::from_millis(500),
        ..policy()
    });
    let url = server.url("/jwks");
    fetcher.keys(&url).await.unwrap();
    assert_eq!(
        fetcher.refetch(&url, "client-a").await.unwrap().as_deref(),
        Some(JWKS)
    );
    assert_eq!(server.jwks_hits(), 2);
    assert!(fetcher.refetch(&url, "client-a").await.unwrap().is_none());
    assert_eq!(server.jwks_hits(), 2, "rate-limited: nothing fetched");
    assert!(fetcher.refetch(&url, "client-b").await.unwrap().is_some());
    assert_eq!(server.jwks_hits(), 3, "another caller has its own budget");
    fetcher.keys(&url).await.unwrap();
    assert_eq!(server.jwks_hits(), 3, "the refetched document is cached");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(fetcher.refetch(&url, "client-a").await.unwrap().is_some());
    assert_eq!(server.jwks_hits(), 4, "the interval has passed");
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_cached_document_and_counts() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(policy());
    let good = server.url("/jwks");
    fetcher.keys(&good).await.unwrap();
    let bad = server.url("/server-error");
    let err = fetcher.refetch(&bad, "c").await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 500, .. }),
        "{err}"
    );
    assert!(fetcher.refetch(&bad, "c").await.unwrap().is_none());
    fetcher.keys(&good).await.unwrap();
    assert_eq!(server.jwks_hits(), 1);
}

#[tokio::test]
async fn a_redirect_is_refused_and_not_followed() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(policy());
    let url = server.url("/redirect");
    let err = fetcher.keys(&url).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Redirect { status: 302, location, .. } if location == "/target"),
        "{err}"
    );
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(server.hits.target.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_reading_it_all() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(FetchPolicy {
        max_bytes: 1024,
        ..policy()
    });
    let err = fetcher.keys(&server.url("/endless")).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::TooLarge {
                max_bytes: 1024,
                ..
            }
        ),
        "{err}"
    );
    // The connection was dropped: the server stops sending.
    for _ in 0..100 {
        if server.hits.endless_dropped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.hits.endless_dropped.load(Ordering::SeqCst));

    let err = fetcher.keys(&server.url("/big")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(FetchPolicy {
        timeout: Duration::from_millis(300),
        ..policy()
    });
    for path in ["/slow", "/dribble"] {
        let started = crate::clock::monotonic();
        let err = fetcher.keys(&server.url(path)).await.unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{path}: {err}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }
}

#[tokio::test]
async fn a_body_that_is_no_jwks_is_refused() {
    let server = serve().await;
    let fetcher = JwksFetcher::new(policy());
    for path in ["/html", "/no-keys", "/keys-object"] {
        let err = fetcher.keys(&server.url(path)).await.unwrap_err();
        assert!(matches!(err, FetchError::NotJwks { .. }), "{path}: {err}");
    }
    let err = fetcher.keys(&server.url("/nowhere")).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn https_is_required_unless_loopback_is_allowed() {
    let server = serve().await;
    let fetcher = strict();
    let url = server.url("/jwks");
    assert!(matches!(
        fetcher.keys(&url).await.unwrap_err(),
        FetchError::NotHttps { .. }
    ));
    assert!(matches!(
        fetcher.check_url(&url).await.unwrap_err(),
        FetchError::NotHttps { .. }
    ));
    assert_eq!(server.jwks_hits(), 0);

    // Even when loopback is allowed, http goes nowhere else.
    let loose = JwksFetcher::new(policy());
    for url in [
        "http://93.184.216.34/jwks",
        "http://example.com/jwks",
        "ftp://127.0.0.1/jwks",
    ] {
        let err = loose.check_url(url).await.unwrap_err();
        assert!(matches!(err, FetchError::NotHttps { .. }), "{url}: {err}");
    }
    loose.check_url(&url).await.unwrap();
    loose
        .check_url(&format!("http://localhost:{}/jwks", server.port))
        .await
        .unwrap();
}

#[tokio::test]
async fn urls_that_are_no_usable_urls_are_refused() {
    let fetcher = strict();
    for url in [
        "jwks.json",
        "https://user:pw@93.184.216.34/jwks",
        "https://",
    ] {
        let err = fetcher.check_url(url).await.unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }), "{url}: {err}");
    }
}

/// Special-use addresses, each refused by default and let through by `allowed_networks`.
const REFUSED: &[(&str, &str)] = &[
    ("https://127.0.0.1/jwks", "127.0.0.0/8"),
    ("https://10.0.0.1/jwks", "10.0.0.0/8"),
    ("https://172.16.5.4/jwks", "172.16.0.0/12"),
    ("https://192.168.1.1/jwks", "192.168.0.0/16"),
    (
        "https://169.254.169.254/latest/meta-data",
        "169.254.169.254/32",
    ),
    ("https://169.254.10.10/jwks", "169.254.0.0/16"),
    ("https://100.64.0.1/jwks", "100.64.0.0/10"),
    ("https://0.0.0.0/jwks", "0.0.0.0/8"),
    ("https://255.255.255.255/jwks", "255.255.255.255/32"),
    ("https://224.0.0.1/jwks", "224.0.0.0/4"),
    ("https://[::1]/jwks", "::1/128"),
    ("https://[::]/jwks", "::/128"),
    ("https://[::ffff:127.0.0.1]/jwks", "127.0.0.0/8"),
    ("https://[::ffff:10.0.0.1]/jwks", "::ffff:10.0.0.0/104"),
    ("https://[64:ff9b::a9fe:a9fe]/jwks", "169.254.0.0/16"),
    ("https://[fd00:ec2::254]/jwks", "fd00:ec2::/32"),
    ("https://[fd12:3456::1]/jwks", "fc00::/7"),
    ("https://[fe80::1]/jwks", "fe80::/10"),
    ("https://[ff02::1]/jwks", "ff00::/8"),
    ("https://0x7f.1/jwks", "127.0.0.0/8"),
];

#[tokio::test]
async fn special_addresses_are_refused_unless_allow_listed() {
    let fetcher = strict();
    for (url, network) in REFUSED {
        let err = fetcher.check_url(url).await.unwrap_err();
        assert!(matches!(err, FetchError::Refused { .. }), "{url}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(url) && text.contains("jwks_fetch_allowed_networks"),
            "{text}"
        );

        let allowed = JwksFetcher::new(FetchPolicy {
            allow_http_loopback: false,
            allowed_networks: vec![network.parse().unwrap()],
            ..policy()
        });
        allowed
            .check_url(url)
            .await
            .unwrap_or_else(|e| panic!("{url} with {network} allowed: {e}"));
    }
    // A public address passes, over https; nothing is fetched.
    fetcher
        .check_url("https://93.184.216.34/jwks")
        .await
        .unwrap();
    fetcher
        .check_url("https://[2606:2800:220:1:248:1893:25c8:1946]/jwks")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_literal_address_is_never_connected_to() {
    let server = serve().await;
    let url = format!("https://127.0.0.1:{}/jwks", server.port);
    let err = strict().keys(&url).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Refused { why, .. } if why.contains("loopback")),
        "{err}"
    );
    let mapped = format!("https://[::ffff:127.0.0.1]:{}/jwks", server.port);
    let err = strict().keys(&mapped).await.unwrap_err();
    assert!(matches!(err, FetchError::Refused { .. }), "{err}");
    assert_eq!(server.jwks_hits(), 0);

    // Allow-listed, the guard lets it through: the TLS handshake with a plain http server fails.
    let allowed = JwksFetcher::new(FetchPolicy {
        allow_http_loopback: false,
        allowed_networks: vec!["127.0.0.1/32".parse().unwrap()],
        ..policy()
    });
    let err = allowed.keys(&url).await.unwrap_err();
    assert!(matches!(err, FetchError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_on_connecting() {
    let server = serve().await;
    let fetcher = strict();
    let err = fetcher
        .check_url("https://localhost/jwks")
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Refused { .. }), "{err}");
    // Through the HTTP client's own resolver.
    let url = format!("https://localhost:{}/jwks", server.port);
    let err = fetcher.keys(&url).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Refused { host, .. } if host == "localhost"),
        "{err}"
    );
    assert_eq!(server.jwks_hits(), 0);

    // With loopback allowed, the same name is fetched from.
    let loose = JwksFetcher::new(policy());
    let url = format!("http://localhost:{}/jwks", server.port);
    assert_eq!(&*loose.keys(&url).await.unwrap(), JWKS);
    assert_eq!(server.jwks_hits(), 1);
}

#[test]
fn mapped_and_nat64_addresses_are_judged_as_ipv4() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(guard::canonical(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    assert_eq!(guard::canonical(ip("64:ff9b::7f00:1")), ip("127.0.0.1"));
    assert_eq!(guard::canonical(ip("2001:db8::1")), ip("2001:db8::1"));
    assert!(guard::special(ip("::ffff:169.254.169.254")).is_some_and(|w| w.contains("metadata")));
    assert_eq!(guard::special(ip("::ffff:93.184.216.34")), None);
    assert_eq!(guard::special(ip("8.8.8.8")), None);
    assert_eq!(guard::special(ip("100.128.0.1")), None, "just past CGNAT");
    assert_eq!(
        guard::special(ip("172.32.0.1")),
        None,
        "just past 172.16/12"
    );
}
