//! Failed-login lockout: per account and address, account-wide, password spraying, guesses sent
//! at once, and IPv6 addresses counted per /64.

use castellan::clock::Clock;
use castellan::config::Config;

use crate::on_both_backends;
use crate::support::browser::client_builder;
use crate::support::{Backend, Browser, PASSWORD, Rp, TestApp, expect_oauth_error};

on_both_backends!(
    failed_logins_lock_the_account_for_that_address_then_release,
    guesses_sent_at_once_never_exceed_the_threshold,
    guesses_from_many_addresses_at_once_stop_at_the_account_threshold,
    failures_from_several_addresses_lock_the_account_everywhere,
    an_address_failing_across_accounts_is_throttled,
    ipv6_clients_count_per_slash_64,
);

const LOCKED: &str = "Too many failed sign-ins";
const WRONG: &str = "The username or password is not right.";

/// Lockout thresholds small enough to reach in a test, then `edit`; 127.0.0.1 is a trusted
/// proxy so each request can say which address it comes from.
async fn app_with_lockout(
    backend: Backend,
    edit: impl FnOnce(&mut Config) + Send + 'static,
) -> (TestApp, Clock) {
    let clock = Clock::fixed(Clock::System.now());
    let app = TestApp::builder(backend)
        .clock(clock.clone())
        .config(|c| {
            c.lockout.threshold = 3;
            c.lockout.base_delay = 2;
            c.lockout.account_threshold = 6;
            c.lockout.address_threshold = 10;
            c.lockout.window = 900;
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .config(edit)
        .spawn()
        .await;
    (app, clock)
}

/// A fresh browser whose requests say they come from `address`.
fn browser_from(app: &TestApp, address: &str) -> Browser {
    let mut from = reqwest::header::HeaderMap::new();
    from.insert("x-forwarded-for", address.parse().unwrap());
    let http = client_builder().default_headers(from).build().unwrap();
    Browser::with(http, &app.base, &app.issuer)
}

/// One login attempt from `address`, in a fresh browser; returns the status and the page.
async fn attempt(app: &TestApp, rp: &Rp, address: &str, username: &str, password: &str) -> Outcome {
    let browser = browser_from(app, address);
    let url = rp.authorize_url("");
    outcome(browser.submit_login(&url, username, password).await).await
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
    let (app, clock) = app_with_lockout(backend, |_| {}).await;
    let rp = app.setup_sign_in().await;
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
    // A 2-second lock says so, not "1 minute".
    assert!(refused.2.contains("Wait 2 seconds"), "{}", refused.2);

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
    let mut pages = vec![];
    for (address, username) in guesses {
        let browser = browser_from(app, address);
        let page = browser.get(&rp.authorize_url("")).await;
        let html = page.text().await.unwrap();
        pages.push((browser, html, (*username).to_owned()));
    }
    let mut burst = tokio::task::JoinSet::new();
    for (browser, html, username) in pages {
        burst.spawn(async move { outcome(browser.log_in(&html, &username, "guess").await).await });
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
    let (app, _clock) = app_with_lockout(backend, |c| c.lockout.threshold = 5).await;
    let rp = app.setup_sign_in().await;
    for (address, username) in [("198.51.100.30", "ada"), ("198.51.100.31", "ghost")] {
        let outcomes = burst(&app, &rp, &[(address, username); 24]).await;
        assert_eq!(tally(&outcomes), (5, 19), "{username}");
        // Still locked: the right password is refused before any hashing.
        let right = attempt(&app, &rp, address, username, PASSWORD).await;
        assert!(locked(&right), "{right:?}");
    }
    // The audit trail agrees: one wrong-password failure per checked guess, one lock per account.
    let rows = app.audit_rows(&[]).await;
    let count = |event: &str, outcome: Option<&str>| {
        rows.iter()
            .filter(|r| r["event"] == event && outcome.is_none_or(|o| r["outcome"] == o))
            .count()
    };
    assert_eq!(
        count("signin.failure", None),
        2 * 25,
        "every attempt recorded"
    );
    assert_eq!(count("signin.failure", Some("failure")), 2 * 5);
    assert_eq!(count("signin.lockout", Some("denied")), 2);
}

/// The account-wide threshold holds under the same race: 24 guesses from eight addresses at once
/// (three each, under the per-address threshold) reach the password check six times.
async fn guesses_from_many_addresses_at_once_stop_at_the_account_threshold(backend: Backend) {
    let (app, _clock) = app_with_lockout(backend, |c| c.lockout.threshold = 5).await;
    let rp = app.setup_sign_in().await;
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
    let (app, clock) = app_with_lockout(backend, |_| {}).await;
    let rp = app.setup_sign_in().await;
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
    let (app, _clock) = app_with_lockout(backend, |c| c.lockout.address_threshold = 4).await;
    let rp = app.setup_sign_in().await;
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

/// One IPv6 host usually holds a whole /64: its addresses share one allowance and one lockout
/// count, while a neighbouring /64 keeps its own.
async fn ipv6_clients_count_per_slash_64(backend: Backend) {
    let (app, _clock) = app_with_lockout(backend, |c| c.rate_limits.token = 2).await;
    let token = async |address| app.admin_token_from(address).await;
    assert_eq!(token("2001:db8:1:2::1").await.status(), 200);
    assert_eq!(token("2001:db8:1:2::2").await.status(), 200);
    let limited = token("2001:db8:1:2:ffff:ffff:ffff:fffe").await;
    expect_oauth_error(limited, 429, "temporarily_unavailable").await;
    assert_eq!(token("2001:db8:1:3::1").await.status(), 200);
    // An IPv4 client forwarded in its IPv6-mapped form is still that IPv4 client.
    assert_eq!(token("198.51.100.9").await.status(), 200);
    assert_eq!(token("::ffff:198.51.100.9").await.status(), 200);
    let mapped = token("198.51.100.9").await;
    expect_oauth_error(mapped, 429, "temporarily_unavailable").await;

    // Three failures from three addresses of one /64 lock that /64 out of the account.
    let rp = app.setup_sign_in().await;
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
