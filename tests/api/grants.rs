//! Authorization codes and refresh tokens in the store: single use, rotation, replay revokes the family.

use castellan::protocol::{ClientId, TenantSlug};
use castellan::store::grants::{CodeGrant, NewRefresh, Redemption, RefreshGrant};
use castellan::store::users::NewUser;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

const NOW: i64 = 1_800_000_000;

on_both_backends!(
    a_code_works_once_and_a_replay_revokes_its_family,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    a_retry_within_the_grace_window_replaces_the_unused_successor,
    a_code_and_its_refresh_token_are_stored_together,
    racing_redemptions_have_exactly_one_winner,
    concurrent_writers_wait_for_each_other,
);

/// Row ids of a client and a user, for grants to point at.
async fn client_and_user(app: &TestApp) -> (String, String) {
    app.create_api("https://api.example.com", &["read"]).await;
    let client = app
        .create_client(
            "default",
            &[("https://api.example.com", &["read"])],
            &[],
            None,
        )
        .await;
    let client_row = app
        .store
        .find_client(&ClientId::parse(&client.id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let new = NewUser {
        tenant: TenantSlug::parse("default").unwrap(),
        username: "ada".into(),
        email: None,
        name: None,
        roles: vec![],
    };
    let user = app
        .store
        .create_user(&new, "$argon2id$placeholder", NOW)
        .await
        .unwrap();
    (client_row, user.id)
}

fn code(family: &str, client_row: &str, user_row: &str) -> CodeGrant {
    CodeGrant {
        family: family.into(),
        client_row: client_row.into(),
        user_row: user_row.into(),
        redirect_uri: "https://app.example.com/cb".into(),
        scope: "openid offline_access".into(),
        audience: "https://api.example.com".into(),
        nonce: Some("n".into()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        auth_time: NOW,
    }
}

fn refresh(hash: &[u8], grant: &RefreshGrant, idle_until: i64) -> NewRefresh {
    NewRefresh {
        hash: hash.to_vec(),
        grant: grant.clone(),
        idle_expires_at: idle_until,
    }
}

fn grant_of(family: &str, client_row: &str, user_row: &str) -> RefreshGrant {
    RefreshGrant {
        family: family.into(),
        client_row: client_row.into(),
        user_row: user_row.into(),
        scope: "openid offline_access".into(),
        audience: "https://api.example.com".into(),
        auth_time: NOW,
        expires_at: NOW + 30 * 86_400,
    }
}

async fn a_code_works_once_and_a_replay_revokes_its_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    let grant = code("fam-1", &client_row, &user_row);
    store
        .insert_code(b"code-1", &grant, NOW, NOW + 60)
        .await
        .unwrap();
    store
        .insert_refresh(
            &refresh(
                b"rt-1",
                &grant_of("fam-1", &client_row, &user_row),
                NOW + 3600,
            ),
            NOW,
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .redeem_code(b"code-1", NOW + 1, |_| None)
            .await
            .unwrap(),
        Redemption::Fresh(grant)
    );
    assert!(!store.family_revoked("fam-1").await.unwrap());
    assert_eq!(
        store
            .redeem_code(b"code-1", NOW + 2, |_| None)
            .await
            .unwrap(),
        Redemption::Replayed {
            family: "fam-1".into()
        }
    );
    assert!(store.family_revoked("fam-1").await.unwrap());
    let after = store
        .rotate_refresh(
            b"rt-1",
            |g| Some(refresh(b"rt-2", g, NOW + 7200)),
            0,
            NOW + 3,
        )
        .await
        .unwrap();
    assert_eq!(
        after,
        Redemption::Invalid,
        "tokens issued from a replayed code are dead"
    );

    store
        .insert_code(
            b"code-2",
            &code("fam-2", &client_row, &user_row),
            NOW,
            NOW + 60,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_code(b"code-2", NOW + 60, |_| None)
            .await
            .unwrap(),
        Redemption::Invalid,
        "60 s and no more"
    );
    assert_eq!(
        store.redeem_code(b"nope", NOW, |_| None).await.unwrap(),
        Redemption::Invalid
    );
    assert!(
        !store.family_revoked("fam-2").await.unwrap(),
        "an expired code is no replay"
    );
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    let family = grant_of("fam-r", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"r1", &family, NOW + 3600), NOW)
        .await
        .unwrap();

    let first = store
        .rotate_refresh(b"r1", |g| Some(refresh(b"r2", g, NOW + 7200)), 0, NOW + 10)
        .await
        .unwrap();
    assert_eq!(first, Redemption::Fresh(family.clone()));
    let second = store
        .rotate_refresh(b"r2", |g| Some(refresh(b"r3", g, NOW + 9000)), 0, NOW + 20)
        .await
        .unwrap();
    assert_eq!(second, Redemption::Fresh(family.clone()));

    let reuse = store
        .rotate_refresh(
            b"r1",
            |g| Some(refresh(b"evil", g, NOW + 9000)),
            0,
            NOW + 30,
        )
        .await
        .unwrap();
    assert_eq!(
        reuse,
        Redemption::Replayed {
            family: "fam-r".into()
        }
    );
    let current = store
        .rotate_refresh(b"r3", |g| Some(refresh(b"r4", g, NOW + 9000)), 0, NOW + 40)
        .await
        .unwrap();
    assert_eq!(current, Redemption::Invalid, "the whole family is revoked");
    let planted = store
        .rotate_refresh(b"evil", |g| Some(refresh(b"x", g, NOW + 9000)), 0, NOW + 41)
        .await
        .unwrap();
    assert_eq!(
        planted,
        Redemption::Invalid,
        "no successor was stored for the reused token"
    );

    // A declined rotation spends nothing: the same token still works afterwards.
    let spare = grant_of("fam-declined", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"d1", &spare, NOW + 3600), NOW)
        .await
        .unwrap();
    let declined = store
        .rotate_refresh(b"d1", |_| None, 0, NOW + 1)
        .await
        .unwrap();
    assert_eq!(declined, Redemption::Declined(spare.clone()));
    let accepted = store
        .rotate_refresh(b"d1", |g| Some(refresh(b"d2", g, NOW + 7200)), 0, NOW + 2)
        .await
        .unwrap();
    assert_eq!(accepted, Redemption::Fresh(spare));

    // Idle expiry: a token not used in time is dead; the absolute end is inherited and never extended.
    let idle = grant_of("fam-idle", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"i1", &idle, NOW + 100), NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh(b"i1", |g| Some(refresh(b"i2", g, NOW + 200)), 0, NOW + 100)
            .await
            .unwrap(),
        Redemption::Invalid
    );
    let short = RefreshGrant {
        family: "fam-abs".into(),
        expires_at: NOW + 50,
        ..idle
    };
    store
        .insert_refresh(&refresh(b"a1", &short, NOW + 1000), NOW)
        .await
        .unwrap();
    assert_eq!(
        store
            .rotate_refresh(b"a1", |g| Some(refresh(b"a2", g, NOW + 2000)), 0, NOW + 50)
            .await
            .unwrap(),
        Redemption::Invalid
    );
}

async fn racing_redemptions_have_exactly_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = app.store.clone();
    store
        .insert_code(
            b"race",
            &code("fam-race", &client_row, &user_row),
            NOW,
            NOW + 60,
        )
        .await
        .unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.redeem_code(b"race", NOW + 1, |_| None).await })
        })
        .collect();
    let mut fresh = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(Redemption::Fresh(_)) => fresh += 1,
            Ok(_) => {}
            Err(e) => panic!("a losing redemption must be refused as a replay, not fail: {e}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one redemption wins");
}

/// Writers that read before they write (creating a user reads its tenant first) must wait
/// for each other, not fail: on SQLite a plain `BEGIN` answered "database is locked" at once.
async fn concurrent_writers_wait_for_each_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = app.store.clone();
            let (client_row, user_row) = (client_row.clone(), user_row.clone());
            tokio::spawn(async move {
                let new = NewUser {
                    tenant: TenantSlug::parse("default").unwrap(),
                    username: format!("user-{i}"),
                    email: None,
                    name: None,
                    roles: vec![],
                };
                store
                    .create_user(&new, "$argon2id$placeholder", NOW)
                    .await
                    .map_err(|e| format!("create user {i}: {e}"))?;
                let grant = grant_of(&format!("fam-{i}"), &client_row, &user_row);
                let first = format!("first-{i}").into_bytes();
                store
                    .insert_refresh(&refresh(&first, &grant, NOW + 3600), NOW)
                    .await
                    .map_err(|e| format!("insert refresh {i}: {e}"))?;
                let next = format!("next-{i}").into_bytes();
                let outcome = store
                    .rotate_refresh(&first, |g| Some(refresh(&next, g, NOW + 7200)), 0, NOW + 1)
                    .await
                    .map_err(|e| format!("rotate {i}: {e}"))?;
                match outcome {
                    Redemption::Fresh(_) => Ok(()),
                    _ => Err(format!("rotate {i}: not fresh")),
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let users = app.store.list_users(None).await.unwrap();
    assert_eq!(users.len(), 17, "every concurrent user was stored");
}

on_both_backends!(
    sessions_end_expire_and_die_with_their_user,
    consent_is_remembered_per_user_and_client
);

async fn sessions_end_expire_and_die_with_their_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, user_row) = client_and_user(&app).await;
    let store = &app.store;
    store
        .create_session(b"s1", &user_row, NOW, NOW + 3600)
        .await
        .unwrap();
    store
        .create_session(b"s2", &user_row, NOW, NOW + 3600)
        .await
        .unwrap();
    let live = store.find_session(b"s1", NOW + 10).await.unwrap().unwrap();
    assert_eq!(
        (live.user_row.as_str(), live.auth_time),
        (user_row.as_str(), NOW)
    );
    assert!(
        store
            .find_session(b"s1", NOW + 3600)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store.end_session(b"s1", NOW + 20).await.unwrap();
    assert!(
        store.find_session(b"s1", NOW + 21).await.unwrap().is_none(),
        "ended"
    );
    assert!(store.find_session(b"unknown", NOW).await.unwrap().is_none());
    let default = TenantSlug::parse("default").unwrap();
    store.disable_user(&default, "ada", NOW + 30).await.unwrap();
    assert!(
        store.find_session(b"s2", NOW + 31).await.unwrap().is_none(),
        "a disabled user has no session"
    );
}

async fn consent_is_remembered_per_user_and_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    assert!(
        store
            .consented_scopes(&user_row, &client_row, 0)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .record_consent(&user_row, &client_row, &["openid", "profile"], NOW)
        .await
        .unwrap();
    store
        .record_consent(&user_row, &client_row, &["profile", "email"], NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .consented_scopes(&user_row, &client_row, 0)
            .await
            .unwrap(),
        ["email", "openid", "profile"]
    );
    let other = app
        .create_client(
            "default",
            &[("https://api.example.com", &["read"])],
            &[],
            None,
        )
        .await;
    let other_row = store
        .find_client(&ClientId::parse(&other.id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        store
            .consented_scopes(&user_row, &other_row, 0)
            .await
            .unwrap()
            .is_empty(),
        "per client"
    );
}

async fn a_retry_within_the_grace_window_replaces_the_unused_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    let family = grant_of("fam-g", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"g1", &family, NOW + 3600), NOW)
        .await
        .unwrap();
    let rotate = |spent: &'static [u8], next: &'static [u8], at: i64| {
        let family = family.clone();
        async move {
            store
                .rotate_refresh(spent, |g| Some(refresh(next, g, NOW + 7200)), 5, at)
                .await
                .unwrap()
                == Redemption::Fresh(family)
        }
    };
    assert!(rotate(b"g1", b"g2", NOW + 10).await);
    // The response carrying g2 was lost; the client retries with g1 within 5 s.
    assert!(
        rotate(b"g1", b"g2-retry", NOW + 13).await,
        "a retry gets a successor"
    );
    assert!(
        !rotate(b"g2", b"x", NOW + 14).await,
        "the successor the client never saw is revoked"
    );
    assert!(
        !store.family_revoked("fam-g").await.unwrap(),
        "a retry is not a replay"
    );
    assert!(rotate(b"g2-retry", b"g3", NOW + 15).await);
    assert!(rotate(b"g3", b"g4", NOW + 16).await);

    // Once the successor has been used, presenting its parent is a replay, grace or not.
    let replay = store
        .rotate_refresh(
            b"g2-retry",
            |g| Some(refresh(b"y", g, NOW + 7200)),
            5,
            NOW + 17,
        )
        .await
        .unwrap();
    assert_eq!(
        replay,
        Redemption::Replayed {
            family: "fam-g".into()
        }
    );

    // After the window, a retry is a replay too.
    let spent_at_10 = async |family: &str, first: &'static [u8], next: &'static [u8]| {
        let grant = grant_of(family, &client_row, &user_row);
        store
            .insert_refresh(&refresh(first, &grant, NOW + 3600), NOW)
            .await
            .unwrap();
        let used = store
            .rotate_refresh(first, |g| Some(refresh(next, g, NOW + 7200)), 5, NOW + 10)
            .await
            .unwrap();
        assert_eq!(used, Redemption::Fresh(grant));
    };
    spent_at_10("fam-late", b"l1", b"l2").await;
    let after = store
        .rotate_refresh(b"l1", |g| Some(refresh(b"l2b", g, NOW + 7200)), 5, NOW + 16)
        .await
        .unwrap();
    assert_eq!(
        after,
        Redemption::Replayed {
            family: "fam-late".into()
        }
    );

    // Within the window, a retry the caller declines (another client) is a replay as well.
    spent_at_10("fam-other", b"o1", b"o2").await;
    let declined = store
        .rotate_refresh(b"o1", |_| None, 5, NOW + 11)
        .await
        .unwrap();
    assert_eq!(
        declined,
        Redemption::Replayed {
            family: "fam-other".into()
        }
    );
}

async fn a_code_and_its_refresh_token_are_stored_together(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    store
        .insert_code(b"c", &code("fam-c", &client_row, &user_row), NOW, NOW + 60)
        .await
        .unwrap();
    assert_eq!(
        store.code_user(b"c", NOW + 1).await.unwrap().as_deref(),
        Some(user_row.as_str()),
        "reading the user spends nothing"
    );
    let family = grant_of("fam-c", &client_row, &user_row);
    let redeemed = store
        .redeem_code(b"c", NOW + 1, |_| {
            Some(refresh(b"first", &family, NOW + 7200))
        })
        .await
        .unwrap();
    assert!(matches!(redeemed, Redemption::Fresh(_)));
    assert_eq!(store.code_user(b"c", NOW + 2).await.unwrap(), None);
    assert_eq!(
        store.live_refresh(b"first", NOW + 2).await.unwrap(),
        Some(family)
    );
    // The replay revokes the refresh token stored with the redemption.
    store.redeem_code(b"c", NOW + 3, |_| None).await.unwrap();
    assert_eq!(store.live_refresh(b"first", NOW + 4).await.unwrap(), None);
}
