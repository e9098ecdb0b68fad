//! Signing-key rotation as a caching resource server sees it, with an injected clock.

use castellan::clock::Clock;
use castellan::keys::rotation::{self, Policy};
use castellan::protocol::SigningAlg;
use castellan::store::keys::KeyState;

use crate::on_both_backends;
use crate::support::oauth::kid_of;
use crate::support::{Backend, TestApp};

const API: &str = "https://ledger.example.com";
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

on_both_backends!(a_year_of_scheduled_rotations_never_breaks_a_caching_validator);

/// Every two hours for a year: the schedule runs, a token is issued and validated, and the
/// previous token is validated again (its key may have been retired meanwhile).
async fn a_year_of_scheduled_rotations_never_breaks_a_caching_validator(backend: Backend) {
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::builder(backend)
        .clock(clock.clone())
        .config(|c| {
            c.jwks_max_age = 6 * HOUR;
            // Derived from the max-age when read from settings (twice it); set here by hand.
            c.key_publish_ahead = 12 * HOUR;
            c.access_token_ttl = 3 * HOUR;
            c.max_token_ttl = 3 * HOUR;
            c.key_rotation_period = 14 * DAY;
        })
        .spawn()
        .await;
    let client = app.client_for(API, &["ledger:read"]).await;
    let mut validator = app.validator(API);

    let mut previous: Option<String> = None;
    let mut kids_used = Vec::<String>::new();
    let mut failures = Vec::new();
    let end = clock.now() + 365 * DAY;
    while clock.now() < end {
        clock.advance(2 * HOUR);
        app.rotator.tick().await.unwrap();
        let token = app.access_token(&client).await;
        let kid = kid_of(&token);
        if kids_used.last() != Some(&kid) {
            kids_used.push(kid);
        }
        for t in previous.iter().chain(std::iter::once(&token)) {
            if let Err(why) = validator.validate(t, clock.now()).await {
                failures.push(format!("at {}: {why}", clock.now()));
            }
        }
        previous = Some(token);
    }

    assert!(
        failures.is_empty(),
        "{} validation failures: {failures:?}",
        failures.len()
    );
    assert_eq!(
        validator.unknown_kid_refetches, 0,
        "a validator honouring max-age never met an unpublished key"
    );
    assert!(
        validator.max_keys <= 3,
        "JWKS held {} keys",
        validator.max_keys
    );
    // 365 days / 14 days: 26 rotations, so 27 keys signed in turn.
    assert_eq!(kids_used.len(), 27, "{kids_used:?}");
    let stored = app.store.list_keys().await.unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count(),
        1
    );
    assert!(stored.len() <= 3);
}

on_both_backends!(on_demand_rotation_publishes_first_and_revocation_is_immediate);

async fn on_demand_rotation_publishes_first_and_revocation_is_immediate(backend: Backend) {
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::builder(backend).clock(clock.clone()).spawn().await;
    let client = app.client_for(API, &["ledger:read"]).await;
    let first = active_kid(&app).await;

    let (master, policy) = (app.master_key(), Policy::from_config(&app.config));

    // `keys rotate`: published now, signing only after the publish-ahead window (1200 s by default).
    rotation::rotate_soon(&app.store, &master, &policy, &clock, SigningAlg::RS256)
        .await
        .unwrap();
    app.rotator.tick().await.unwrap();
    let published = app.jwks_kids().await;
    assert_eq!(published.len(), 2, "{published:?}");
    let next = published.iter().find(|k| **k != first).unwrap().clone();
    assert_eq!(
        kid_of(&app.access_token(&client).await),
        first,
        "the new key must not sign yet"
    );
    clock.advance(1199);
    app.rotator.tick().await.unwrap();
    assert_eq!(kid_of(&app.access_token(&client).await), first);
    clock.advance(1);
    app.rotator.tick().await.unwrap();
    let old_token = app.access_token(&client).await;
    assert_eq!(
        kid_of(&old_token),
        next,
        "the published key signs after the window"
    );
    assert!(
        app.jwks_kids().await.contains(&first),
        "the retired key stays published"
    );

    // `keys rotate --now`: a new key signs at once; the old one stays published.
    rotation::rotate_now(&app.store, &master, &policy, clock.now(), SigningAlg::RS256)
        .await
        .unwrap();
    app.rotator.tick().await.unwrap();
    let current = active_kid(&app).await;
    assert_ne!(current, next);
    let mut validator = app.validator(API);
    validator.validate(&old_token, clock.now()).await.unwrap();

    // `keys revoke` on the active key: it leaves the JWKS at once and a successor signs.
    let was = rotation::revoke(&app.store, &master, &policy, &current, clock.now())
        .await
        .unwrap();
    assert_eq!(was, KeyState::Active);
    app.rotator.tick().await.unwrap();
    let kids = app.jwks_kids().await;
    assert!(!kids.contains(&current), "{kids:?}");
    let after = app.access_token(&client).await;
    assert_ne!(kid_of(&after), current);
    let mut fresh = app.validator(API);
    fresh.validate(&after, clock.now()).await.unwrap();
    assert!(
        fresh.validate(&old_token, clock.now()).await.is_ok(),
        "a retired, unrevoked key still validates"
    );

    // Retired keys leave once every token they signed has expired (max_token_ttl + clock skew).
    clock.advance(86_400 + 60);
    app.rotator.tick().await.unwrap();
    assert_eq!(app.jwks_kids().await, vec![kid_of(&after)]);

    // Each scheduled step is in the audit trail, whoever ran the schedule.
    let activated = format!("activated {next}, retired {first}");
    let removed = format!("removed {first}");
    let rows = app.audit_rows(&[]).await;
    let scheduled: Vec<&str> = rows
        .iter()
        .filter(|r| r["event"] == "key.rotated" && r["actor"] == "scheduler")
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        scheduled.contains(&activated.as_str()) && scheduled.contains(&removed.as_str()),
        "audit rows for the scheduled steps: {scheduled:?}"
    );
}

async fn active_kid(app: &TestApp) -> String {
    let keys = app.store.list_keys().await.unwrap();
    keys.into_iter()
        .find(|k| k.state == KeyState::Active)
        .unwrap()
        .kid
}
