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

on_both_backends!(a_year_of_rotations_of_three_algorithms_never_breaks_a_caching_validator);

/// The year above with RS256, ES256 and EdDSA enabled together: each algorithm rotates on the
/// same schedule with its own keys, and every API's tokens validate, old and new.
async fn a_year_of_rotations_of_three_algorithms_never_breaks_a_caching_validator(
    backend: Backend,
) {
    let algs = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];
    let clock = Clock::fixed(1_800_000_000);
    let app = TestApp::builder(backend)
        .clock(clock.clone())
        .config(move |c| {
            c.signing_algs = algs.to_vec();
            // Three tokens every step: more than a minute's worth of the per-address limit.
            c.rate_limits.token = 0;
            c.jwks_max_age = 6 * HOUR;
            c.key_publish_ahead = 12 * HOUR;
            c.access_token_ttl = 3 * HOUR;
            c.max_token_ttl = 3 * HOUR;
            c.key_rotation_period = 14 * DAY;
        })
        .spawn()
        .await;
    struct Api {
        alg: SigningAlg,
        client: crate::support::TestClient,
        validator: crate::support::validator::Validator,
        previous: Option<String>,
        kids: Vec<String>,
    }
    let mut apis = Vec::new();
    for alg in algs {
        let audience = format!("https://{}.ledger.example.com", alg.as_str().to_lowercase());
        apis.push(Api {
            alg,
            client: app.client_for_alg(&audience, &["ledger:read"], alg).await,
            validator: app.validator(&audience),
            previous: None,
            kids: Vec::new(),
        });
    }

    let mut failures = Vec::new();
    let end = clock.now() + 365 * DAY;
    while clock.now() < end {
        clock.advance(2 * HOUR);
        app.rotator.tick().await.unwrap();
        for api in &mut apis {
            let token = app.access_token(&api.client).await;
            let header = jsonwebtoken::decode_header(&token).unwrap();
            if format!("{:?}", header.alg) != api.alg.as_str() {
                failures.push(format!("{}: signed {:?}", api.alg, header.alg));
            }
            let kid = kid_of(&token);
            if api.kids.last() != Some(&kid) {
                api.kids.push(kid);
            }
            for t in api.previous.iter().chain(std::iter::once(&token)) {
                if let Err(why) = api.validator.validate(t, clock.now()).await {
                    failures.push(format!("{} at {}: {why}", api.alg, clock.now()));
                }
            }
            api.previous = Some(token);
        }
    }

    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
    for api in &apis {
        assert_eq!(
            api.validator.unknown_kid_refetches, 0,
            "{}: a validator honouring max-age never met an unpublished key",
            api.alg
        );
        assert!(
            api.validator.max_keys <= 9,
            "JWKS held {}",
            api.validator.max_keys
        );
        assert_eq!(api.kids.len(), 27, "{}: {:?}", api.alg, api.kids);
    }
    let stored = app.store.list_keys().await.unwrap();
    for alg in algs {
        let of_alg: Vec<_> = stored.iter().filter(|k| k.alg == alg).collect();
        let active = of_alg
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        assert_eq!(active, 1, "{alg}");
        assert!(of_alg.len() <= 3, "{alg}: {} keys", of_alg.len());
    }
}

on_both_backends!(an_algorithm_enabled_later_signs_only_once_its_key_was_published_ahead);

/// A deployment that ran RS256 alone restarts with ES256 enabled: the first ES256 key is
/// published as `next`, the API that chose ES256 gets RS256 tokens until the publish-ahead
/// window has passed, then ES256 ones, which a validator with a cached JWKS already knows.
/// A node still running the old settings leaves the new key alone and signs with it too.
async fn an_algorithm_enabled_later_signs_only_once_its_key_was_published_ahead(backend: Backend) {
    let clock = Clock::fixed(1_800_000_000);
    // One deployment: both nodes are one issuer.
    let issuer =
        |c: &mut castellan::config::Config| c.issuer = Some("http://castellan.test".into());
    let old = TestApp::builder(backend)
        .clock(clock.clone())
        .config(issuer)
        .spawn()
        .await;
    let api = "https://es.ledger.example.com";
    let client = old
        .client_for_alg(api, &["ledger:read"], SigningAlg::ES256)
        .await;
    let mut validator = old.validator(api);
    let token = old.access_token(&client).await;
    assert_eq!(alg_of(&token), "RS256", "not enabled: RS256 meanwhile");
    validator.validate(&token, clock.now()).await.unwrap();

    let new = TestApp::builder(backend)
        .clock(clock.clone())
        .sharing(&old)
        .config(issuer)
        .config(|c| c.signing_algs = vec![SigningAlg::RS256, SigningAlg::ES256])
        .spawn()
        .await;
    let ahead = new.config.key_publish_ahead;
    let keys = new.store.list_keys().await.unwrap();
    let es: Vec<_> = keys.iter().filter(|k| k.alg == SigningAlg::ES256).collect();
    assert_eq!(es.len(), 1, "{keys:?}");
    let es_kid = es[0].kid.clone();
    assert_eq!(es[0].state, KeyState::Next);
    assert_eq!(es[0].activate_after, Some(clock.now() + ahead));
    assert!(new.jwks_kids().await.contains(&es_kid), "published at once");

    // Until the window has passed: RS256, from both nodes, whoever runs the schedule.
    let mut seen = 0;
    while seen < ahead {
        let step = (ahead - seen).min(300);
        clock.advance(step);
        seen += step;
        old.rotator.tick().await.unwrap();
        new.rotator.tick().await.unwrap();
        let token = new.access_token(&client).await;
        let expected = if seen < ahead { "RS256" } else { "ES256" };
        assert_eq!(alg_of(&token), expected, "{seen} s after publication");
        validator.validate(&token, clock.now()).await.unwrap();
    }
    let token = new.access_token(&client).await;
    assert_eq!(kid_of(&token), es_kid);
    assert_eq!(validator.unknown_kid_refetches, 0);
    let audit = new.audit_rows(&[]).await;
    let started = format!("activated {es_kid}, the first ES256 key");
    assert!(
        audit.iter().any(|r| r["detail"] == started.as_str()),
        "no {started:?} in the audit trail"
    );

    // The node with the old settings picks the new key set up within seconds and signs with it.
    crate::support::eventually("the old node signs ES256 too", async || {
        let token = old.access_token(&client).await;
        (kid_of(&token) == es_kid).then_some(())
    })
    .await;
    let stored = old.store.list_keys().await.unwrap();
    assert!(
        stored
            .iter()
            .any(|k| k.kid == es_kid && k.state == KeyState::Active)
    );
}

fn alg_of(token: &str) -> String {
    let header = jsonwebtoken::decode_header(token).unwrap();
    format!("{:?}", header.alg)
}

on_both_backends!(rotate_and_revoke_work_per_algorithm);

/// `keys rotate --alg ES256 [--now]` and `keys revoke` on an ES256 key touch that algorithm's
/// keys only; `keys rotate` without `--alg` rotates every enabled algorithm.
async fn rotate_and_revoke_work_per_algorithm(backend: Backend) {
    let algs = [SigningAlg::RS256, SigningAlg::ES256];
    let app = TestApp::builder(backend)
        .config(move |c| c.signing_algs = algs.to_vec())
        .spawn()
        .await;
    let env = [("CASTELLAN_SIGNING_ALGS", "RS256,ES256")];
    let api = "https://es.ledger.example.com";
    let client = app
        .client_for_alg(api, &["ledger:read"], SigningAlg::ES256)
        .await;
    let rs_first = active_of(&app, SigningAlg::RS256).await;
    let es_first = active_of(&app, SigningAlg::ES256).await;
    assert_eq!(kid_of(&app.access_token(&client).await), es_first);

    let out = app
        .cli_with_env(&["keys", "rotate", "--alg", "ES256", "--now"], &env)
        .await;
    assert!(out.ok().contains("ES256 key"));
    let es_second = active_of(&app, SigningAlg::ES256).await;
    assert_ne!(es_second, es_first);
    assert_eq!(
        active_of(&app, SigningAlg::RS256).await,
        rs_first,
        "RS256 untouched"
    );
    crate::support::eventually("the server signs with the new ES256 key", async || {
        (kid_of(&app.access_token(&client).await) == es_second).then_some(())
    })
    .await;
    assert!(
        app.jwks_kids().await.contains(&es_first),
        "retired, still published"
    );

    // Revoking the active ES256 key: it leaves at once, a new ES256 key takes over.
    app.cli_with_env(&["keys", "revoke", &es_second], &env)
        .await
        .ok();
    let es_third = active_of(&app, SigningAlg::ES256).await;
    assert!(es_third != es_second && es_third != es_first);
    crate::support::eventually("the revoked key leaves the JWKS", async || {
        let kids = app.jwks_kids().await;
        (!kids.contains(&es_second) && kids.contains(&es_third)).then_some(())
    })
    .await;

    // Without --alg, each enabled algorithm gets a successor published as `next`.
    let out = app.cli_with_env(&["keys", "rotate"], &env).await;
    let text = out.ok();
    assert!(
        text.contains("published RS256 key") && text.contains("published ES256 key"),
        "{text}"
    );
    let keys = app.store.list_keys().await.unwrap();
    for alg in algs {
        assert_eq!(
            keys.iter()
                .filter(|k| k.alg == alg && k.state == KeyState::Next)
                .count(),
            1,
            "{alg}"
        );
    }
    // An algorithm the CLI's configuration does not enable is refused.
    let out = app.cli(&["keys", "rotate", "--alg", "ES256"]).await;
    assert!(
        !out.success && out.stderr.contains("ES256 is not enabled"),
        "{out:?}"
    );
}

async fn active_of(app: &TestApp, alg: SigningAlg) -> String {
    let keys = app.store.list_keys().await.unwrap();
    keys.into_iter()
        .find(|k| k.alg == alg && k.state == KeyState::Active)
        .unwrap()
        .kid
}
