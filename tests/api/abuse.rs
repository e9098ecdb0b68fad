//! Abuse: failed-login lockout (per account and address, account-wide, spraying), rate limits,
//! trusted proxies, and a new sign-in replacing the browser's old session.

use std::sync::Arc;

use castellan::clock::Clock;
use reqwest::cookie::{CookieStore, Jar};

use crate::helpers::{Backend, TestApp, expect_oauth_error, spawn_app_at, spawn_app_with};
use crate::on_both_backends;
use crate::signin::{PASSWORD, Rp, authorize_url, hidden, redirect_params, setup, submit_login};

on_both_backends!(
    failed_logins_lock_the_account_for_that_address_then_release,
    guesses_sent_at_once_never_exceed_the_threshold,
    guesses_from_many_addresses_at_once_stop_at_the_account_threshold,
    failures_from_several_addresses_lock_the_account_everywhere,
    an_address_failing_across_accounts_is_throttled,
    rate_limits_answer_429_with_retry_after,
    ipv6_clients_count_per_slash_64,
    a_new_sign_in_ends_the_browsers_previous_session,
);

const LOCKED: &str = "Too many failed sign-ins";
const WRONG: &str = "The username or password is not right.";

/// Lockout thresholds small enough to reach in a test; 127.0.0.1 is a trusted proxy so each
/// request can say which address it comes from.
async fn app_with_lockout(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, Clock) {
    let clock = Clock::fixed(Clock::System.now());
    let mut env = vec![
        ("CASTELLAN_LOCKOUT_THRESHOLD", "3"),
        ("CASTELLAN_LOCKOUT_BASE_DELAY", "2"),
        ("CASTELLAN_LOCKOUT_ACCOUNT_THRESHOLD", "6"),
        ("CASTELLAN_LOCKOUT_ADDRESS_THRESHOLD", "10"),
        ("CASTELLAN_LOCKOUT_WINDOW", "900"),
        ("CASTELLAN_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    env.extend_from_slice(extra);
    let app = spawn_app_at(backend, clock.clone(), &env).await;
    (app, clock)
}

/// A fresh browser whose requests say they come from `address`.
fn browser_from(address: &str) -> reqwest::Client {
    let mut from = reqwest::header::HeaderMap::new();
    from.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(from)
        .build()
        .unwrap()
}

/// One login attempt from `address`, in a fresh browser; returns the status and the page.
async fn attempt(app: &TestApp, rp: &Rp, address: &str, username: &str, password: &str) -> Outcome {
    let browser = browser_from(address);
    let response = submit_login(
        app,
        &browser,
        &authorize_url(app, rp, ""),
        username,
        password,
    )
    .await;
    outcome(response).await
}

/// Status, `Retry-After` and page of a login answer.
type Outcome = (u16, Option<String>, String);

async fn outcome(response: reqwest::Response) -> Outcome {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.text().await.unwrap())
}

/// Signed in: the consent page (200, asked once) or straight back to the client (303).
fn signed_in(outcome: &Outcome) -> bool {
    outcome.0 == 303 || (outcome.0 == 200 && outcome.2.contains("Allow Ledger Web?"))
}

fn locked(outcome: &Outcome) -> bool {
    outcome.0 == 429 && outcome.1.is_some() && outcome.2.contains(LOCKED)
}

async fn failed_logins_lock_the_account_for_that_address_then_release(backend: Backend) {
    let (app, clock) = app_with_lockout(backend, &[]).await;
    let rp = setup(&app).await;
    let a = "198.51.100.1";

    for _ in 0..3 {
        let wrong = attempt(&app, &rp, a, "ada", "guess").await;
        assert_eq!(wrong.0, 200);
        assert!(wrong.2.contains(WRONG), "{}", wrong.2);
    }
    // Locked for this address: even the right password is refused, before any hashing.
    let refused = attempt(&app, &rp, a, "ada", PASSWORD).await;
    assert!(locked(&refused), "{refused:?}");
    assert_eq!(refused.1.as_deref(), Some("2"));

    // Another address is not affected: a guesser cannot lock its victim out.
    assert!(signed_in(
        &attempt(&app, &rp, "198.51.100.2", "ada", PASSWORD).await
    ));

    // An unknown username locks exactly the same way, so locks reveal nothing.
    for _ in 0..3 {
        let wrong = attempt(&app, &rp, a, "ghost", "guess").await;
        assert_eq!(wrong.0, 200);
        assert!(wrong.2.contains(WRONG));
    }
    let ghost = attempt(&app, &rp, a, "ghost", "guess").await;
    assert!(locked(&ghost), "{ghost:?}");
    assert_eq!(ghost.1, refused.1);

    // The lock lifts by itself; a success clears the count.
    clock.advance(3);
    assert!(signed_in(&attempt(&app, &rp, a, "ada", PASSWORD).await));
    let again = attempt(&app, &rp, a, "ada", "guess").await;
    assert!(again.2.contains(WRONG), "the count started over");

    // Growing delay: each failure past the threshold doubles the lock.
    clock.advance(3);
    let _ = attempt(&app, &rp, a, "ada", "guess").await;
    let _ = attempt(&app, &rp, a, "ada", "guess").await;
    let first = attempt(&app, &rp, a, "ada", "guess").await;
    assert_eq!(first.1.as_deref(), Some("2"), "{first:?}");
    clock.advance(3);
    let _ = attempt(&app, &rp, a, "ada", "guess").await;
    let second = attempt(&app, &rp, a, "ada", PASSWORD).await;
    assert_eq!(second.1.as_deref(), Some("4"), "{second:?}");

    // The audit trail saw the failures and the lock, never the password or the typed name.
    app.audit_rows(&["signin.failure", "signin.lockout", "signin.success"])
        .await
        .iter()
        .for_each(|row| {
            let text = row.to_string();
            assert!(!text.contains("guess") && !text.contains("ghost"), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
        });
}

/// Wrong guesses submitted at once, each from its own browser and the address paired with it;
/// every login form is fetched first, so the submissions race each other and nothing else.
async fn burst(app: &TestApp, rp: &Rp, guesses: &[(&str, &str)]) -> Vec<Outcome> {
    let mut forms = vec![];
    for (address, username) in guesses {
        let browser = browser_from(address);
        let page = browser
            .get(authorize_url(app, rp, ""))
            .send()
            .await
            .unwrap();
        let html = page.text().await.unwrap();
        let form = [
            ("request".to_owned(), hidden(&html, "request")),
            ("csrf".to_owned(), hidden(&html, "csrf")),
            ("username".to_owned(), (*username).to_owned()),
            ("password".to_owned(), "guess".to_owned()),
        ];
        forms.push((browser, form));
    }
    let mut burst = tokio::task::JoinSet::new();
    for (browser, form) in forms {
        let url = app.url("/login");
        burst.spawn(
            async move { outcome(browser.post(url).form(&form).send().await.unwrap()).await },
        );
    }
    burst.join_all().await
}

/// How many guesses reached the password check, and how many the lockout refused (429).
fn tally(outcomes: &[Outcome]) -> (usize, usize) {
    let checked = outcomes
        .iter()
        .filter(|o| o.0 == 200 && o.2.contains(WRONG))
        .count();
    let refused = outcomes.iter().filter(|o| locked(o)).count();
    assert_eq!(checked + refused, outcomes.len(), "{outcomes:?}");
    (checked, refused)
}

/// 24 wrong guesses for one account from one address, sent at once: each is counted before its
/// password is checked, so only `threshold` of them reach argon2 and the rest are refused with
/// 429; an unknown username is counted the same way.
async fn guesses_sent_at_once_never_exceed_the_threshold(backend: Backend) {
    let (app, _clock) = app_with_lockout(backend, &[("CASTELLAN_LOCKOUT_THRESHOLD", "5")]).await;
    let rp = setup(&app).await;
    for (address, username) in [("198.51.100.30", "ada"), ("198.51.100.31", "ghost")] {
        let outcomes = burst(&app, &rp, &[(address, username); 24]).await;
        assert_eq!(tally(&outcomes), (5, 19), "{username}");
        // Still locked: the right password is refused before any hashing.
        let right = attempt(&app, &rp, address, username, PASSWORD).await;
        assert!(locked(&right), "{right:?}");
    }
    // The audit trail agrees: one wrong-password failure per checked guess, one lock per account.
    let rows = app
        .audit_until("every attempt recorded", |rows| {
            rows.iter()
                .filter(|r| r["event"] == "signin.failure")
                .count()
                == 2 * 25
        })
        .await;
    let count = |event: &str, outcome: &str| {
        rows.iter()
            .filter(|r| r["event"] == event && r["outcome"] == outcome)
            .count()
    };
    assert_eq!(count("signin.failure", "failure"), 2 * 5);
    assert_eq!(count("signin.lockout", "denied"), 2);
}

/// The account-wide threshold holds under the same race: 24 guesses from eight addresses at once
/// (three each, under the per-address threshold) reach the password check six times.
async fn guesses_from_many_addresses_at_once_stop_at_the_account_threshold(backend: Backend) {
    let (app, _clock) = app_with_lockout(backend, &[("CASTELLAN_LOCKOUT_THRESHOLD", "5")]).await;
    let rp = setup(&app).await;
    let addresses: Vec<String> = (1..=8).map(|i| format!("203.0.113.{i}")).collect();
    let guesses: Vec<(&str, &str)> = addresses
        .iter()
        .flat_map(|a| [(a.as_str(), "ada"); 3])
        .collect();
    assert_eq!(tally(&burst(&app, &rp, &guesses).await), (6, 18));
    let elsewhere = attempt(&app, &rp, "203.0.113.99", "ada", PASSWORD).await;
    assert!(locked(&elsewhere), "{elsewhere:?}");
}

async fn failures_from_several_addresses_lock_the_account_everywhere(backend: Backend) {
    let (app, clock) = app_with_lockout(backend, &[]).await;
    let rp = setup(&app).await;
    for address in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..3 {
            let _ = attempt(&app, &rp, address, "ada", "guess").await;
        }
    }
    let elsewhere = attempt(&app, &rp, "203.0.113.3", "ada", PASSWORD).await;
    assert!(locked(&elsewhere), "{elsewhere:?}");
    // Other accounts are not affected.
    let other = attempt(&app, &rp, "203.0.113.3", "someone", "guess").await;
    assert!(other.2.contains(WRONG));

    clock.advance(901);
    assert!(signed_in(
        &attempt(&app, &rp, "203.0.113.3", "ada", PASSWORD).await
    ));
}

async fn an_address_failing_across_accounts_is_throttled(backend: Backend) {
    let (app, _clock) =
        app_with_lockout(backend, &[("CASTELLAN_LOCKOUT_ADDRESS_THRESHOLD", "4")]).await;
    let rp = setup(&app).await;
    let sprayer = "192.0.2.50";
    for user in ["u1", "u2", "u3", "u4"] {
        let wrong = attempt(&app, &rp, sprayer, user, "Winter2026!").await;
        assert!(wrong.2.contains(WRONG));
    }
    let sprayed = attempt(&app, &rp, sprayer, "ada", PASSWORD).await;
    assert!(locked(&sprayed), "{sprayed:?}");
    assert!(signed_in(
        &attempt(&app, &rp, "192.0.2.51", "ada", PASSWORD).await
    ));
}

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("CASTELLAN_RATE_LIMIT_TOKEN", "3"),
            ("CASTELLAN_RATE_LIMIT_AUTHORIZE", "2"),
            ("CASTELLAN_TRUSTED_PROXIES", "127.0.0.0/8"),
        ],
    )
    .await;
    let token = |address| service_token_from(&app, address);
    for _ in 0..3 {
        assert_eq!(token("198.51.100.7").await.unwrap().status(), 200);
    }
    let limited = token("198.51.100.7").await.unwrap();
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let (_, body) = expect_oauth_error(limited, 429, "temporarily_unavailable").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{body}"
    );
    // Limits are per address.
    assert_eq!(token("198.51.100.8").await.unwrap().status(), 200);

    // Pages answer with a page.
    let rp = setup(&app).await;
    let browser = crate::signin::browser();
    for _ in 0..2 {
        let page = browser
            .get(authorize_url(&app, &rp, ""))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
    let page = browser
        .get(authorize_url(&app, &rp, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("Too many attempts"));
}

/// One IPv6 host usually holds a whole /64: its addresses share one allowance and one lockout
/// count, while a neighbouring /64 keeps its own.
async fn ipv6_clients_count_per_slash_64(backend: Backend) {
    let (app, _clock) = app_with_lockout(
        backend,
        &[
            ("CASTELLAN_RATE_LIMIT_TOKEN", "2"),
            ("CASTELLAN_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let token = |address| service_token_from(&app, address);
    assert_eq!(token("2001:db8:1:2::1").await.unwrap().status(), 200);
    assert_eq!(token("2001:db8:1:2::2").await.unwrap().status(), 200);
    let limited = token("2001:db8:1:2:ffff:ffff:ffff:fffe").await.unwrap();
    expect_oauth_error(limited, 429, "temporarily_unavailable").await;
    assert_eq!(token("2001:db8:1:3::1").await.unwrap().status(), 200);
    // An IPv4 client forwarded in its IPv6-mapped form is still that IPv4 client.
    assert_eq!(token("198.51.100.9").await.unwrap().status(), 200);
    assert_eq!(token("::ffff:198.51.100.9").await.unwrap().status(), 200);
    let mapped = token("198.51.100.9").await.unwrap();
    expect_oauth_error(mapped, 429, "temporarily_unavailable").await;

    // Three failures from three addresses of one /64 lock that /64 out of the account.
    let rp = setup(&app).await;
    for host in ["2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6::3"] {
        let wrong = attempt(&app, &rp, host, "ada", "guess").await;
        assert!(wrong.2.contains(WRONG), "{}", wrong.2);
    }
    let same_site = attempt(&app, &rp, "2001:db8:5:6::4", "ada", PASSWORD).await;
    assert!(locked(&same_site), "{same_site:?}");
    assert!(signed_in(
        &attempt(&app, &rp, "2001:db8:5:7::1", "ada", PASSWORD).await
    ));
}

/// An untrusted peer's `X-Forwarded-For` is ignored: it cannot dodge a limit by inventing addresses.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(Backend::Sqlite, &[("CASTELLAN_RATE_LIMIT_TOKEN", "1")]).await;
    let token = |address| service_token_from(&app, address);
    assert_eq!(token("198.51.100.1").await.unwrap().status(), 200);
    assert_eq!(token("198.51.100.2").await.unwrap().status(), 429);
}

/// A client-credentials request for the admin client, forwarded for `address`.
async fn service_token_from(app: &TestApp, address: &str) -> reqwest::Result<reqwest::Response> {
    app.http
        .post(app.url("/token"))
        .header("x-forwarded-for", address)
        .basic_auth(&app.admin.0, Some(&app.admin.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
}

fn session_cookie(jar: &Jar, app: &TestApp) -> Option<String> {
    let url = app.base.parse().unwrap();
    let cookies = jar.cookies(&url)?;
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("castellan_session="))
        .map(str::to_owned)
}

async fn a_new_sign_in_ends_the_browsers_previous_session(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let rp = setup(&app).await;
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    crate::signin::sign_in_at(&app, &browser, &authorize_url(&app, &rp, "")).await;
    let first = session_cookie(&jar, &app).expect("a session cookie");
    crate::signin::sign_in_at(&app, &browser, &authorize_url(&app, &rp, "&prompt=login")).await;
    let second = session_cookie(&jar, &app).expect("a session cookie");
    assert_ne!(first, second, "a new session id at each sign-in");

    let with_session = |value: String| {
        let browser = crate::signin::browser();
        let url = authorize_url(&app, &rp, "&prompt=none");
        async move {
            browser
                .get(url)
                .header("cookie", format!("castellan_session={value}"))
                .send()
                .await
                .unwrap()
        }
    };
    let old = redirect_params(&with_session(first).await);
    assert_eq!(
        crate::signin::param(&old, "error"),
        Some("login_required"),
        "the replaced session is over"
    );
    let current = redirect_params(&with_session(second).await);
    assert!(
        crate::signin::param(&current, "code").is_some(),
        "{current:?}"
    );
}
