//! Authorization codes and refresh tokens in the store: single use, rotation, replay revokes the family.

use castellan::protocol::{ClientId, TenantSlug};
use castellan::store::grants::{CodeGrant, IssuedAccess, NewRefresh, Redemption, RefreshGrant};
use castellan::store::sessions::NewSession;
use castellan::store::users::NewUser;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

const NOW: i64 = 1_800_000_000;

on_both_backends!(
    a_code_works_once_and_a_replay_revokes_its_family,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    a_retry_within_the_grace_window_gets_the_same_successor,
    revoking_a_family_revokes_its_access_tokens,
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
        sid: Some("sid-1".into()),
        redirect_uri_given: true,
    }
}

/// Every token row carries this salt; what the caller derives from it is its own business.
const SALT: [u8; 32] = [7; 32];

/// A fresh access-token record for a redemption to store.
fn access() -> IssuedAccess {
    IssuedAccess {
        jti: castellan::crypto::random::uuid_v4().unwrap().to_string(),
        client_id: "client".into(),
        expires_at: NOW + 300,
    }
}

fn refresh(hash: &[u8], grant: &RefreshGrant, idle_until: i64) -> NewRefresh {
    NewRefresh {
        hash: hash.to_vec(),
        grant: grant.clone(),
        idle_expires_at: idle_until,
        salt: SALT.to_vec(),
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
        successor_salt: Some(SALT.to_vec()),
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
            .redeem_code(b"code-1", NOW + 1, &access(), |_| None)
            .await
            .unwrap(),
        Redemption::Fresh(grant)
    );
    assert!(!store.family_revoked("fam-1").await.unwrap());
    assert_eq!(
        store
            .redeem_code(b"code-1", NOW + 2, &access(), |_| None)
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
            &access(),
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
            .redeem_code(b"code-2", NOW + 60, &access(), |_| None)
            .await
            .unwrap(),
        Redemption::Invalid,
        "60 s and no more"
    );
    assert_eq!(
        store
            .redeem_code(b"nope", NOW, &access(), |_| None)
            .await
            .unwrap(),
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
        .rotate_refresh(
            b"r1",
            &access(),
            |g| Some(refresh(b"r2", g, NOW + 7200)),
            0,
            NOW + 10,
        )
        .await
        .unwrap();
    assert_eq!(first, Redemption::Fresh(family.clone()));
    let second = store
        .rotate_refresh(
            b"r2",
            &access(),
            |g| Some(refresh(b"r3", g, NOW + 9000)),
            0,
            NOW + 20,
        )
        .await
        .unwrap();
    assert_eq!(second, Redemption::Fresh(family.clone()));

    let reuse = store
        .rotate_refresh(
            b"r1",
            &access(),
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
        .rotate_refresh(
            b"r3",
            &access(),
            |g| Some(refresh(b"r4", g, NOW + 9000)),
            0,
            NOW + 40,
        )
        .await
        .unwrap();
    assert_eq!(current, Redemption::Invalid, "the whole family is revoked");
    let planted = store
        .rotate_refresh(
            b"evil",
            &access(),
            |g| Some(refresh(b"x", g, NOW + 9000)),
            0,
            NOW + 41,
        )
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
        .rotate_refresh(b"d1", &access(), |_| None, 0, NOW + 1)
        .await
        .unwrap();
    assert_eq!(declined, Redemption::Declined(spare.clone()));
    let accepted = store
        .rotate_refresh(
            b"d1",
            &access(),
            |g| Some(refresh(b"d2", g, NOW + 7200)),
            0,
            NOW + 2,
        )
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
            .rotate_refresh(
                b"i1",
                &access(),
                |g| Some(refresh(b"i2", g, NOW + 200)),
                0,
                NOW + 100
            )
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
            .rotate_refresh(
                b"a1",
                &access(),
                |g| Some(refresh(b"a2", g, NOW + 2000)),
                0,
                NOW + 50
            )
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
            tokio::spawn(async move {
                store
                    .redeem_code(b"race", NOW + 1, &access(), |_| None)
                    .await
            })
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
                    .rotate_refresh(
                        &first,
                        &access(),
                        |g| Some(refresh(&next, g, NOW + 7200)),
                        0,
                        NOW + 1,
                    )
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
    consent_is_remembered_per_user_client_and_audience
);

fn session<'a>(id_hash: &'a [u8], user_row: &'a str) -> NewSession<'a> {
    NewSession {
        id_hash,
        sid: "sid",
        user_row,
        login_request_hash: b"request",
    }
}

async fn sessions_end_expire_and_die_with_their_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, user_row) = client_and_user(&app).await;
    let store = &app.store;
    store
        .create_session(&session(b"s1", &user_row), NOW, NOW + 3600)
        .await
        .unwrap();
    store
        .create_session(&session(b"s2", &user_row), NOW, NOW + 3600)
        .await
        .unwrap();
    let live = store.find_session(b"s1", NOW + 10).await.unwrap().unwrap();
    assert_eq!(
        (live.user_row.as_str(), live.auth_time, live.sid.as_deref()),
        (user_row.as_str(), NOW, Some("sid"))
    );
    assert_eq!(live.login_request_hash.as_deref(), Some(&b"request"[..]));
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

async fn consent_is_remembered_per_user_client_and_audience(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    const API: &str = "https://api.example.com";
    let granted = async |client_row: &str, audience: &str| {
        store
            .consented_scopes(&user_row, client_row, audience, 0)
            .await
            .unwrap()
    };
    assert!(granted(&client_row, API).await.is_empty());
    store
        .record_consent(&user_row, &client_row, API, &["", "openid", "read"], NOW)
        .await
        .unwrap();
    store
        .record_consent(&user_row, &client_row, API, &["read", "email"], NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        granted(&client_row, API).await,
        ["", "email", "openid", "read"]
    );
    assert!(
        granted(&client_row, "https://other.example.com")
            .await
            .is_empty(),
        "agreeing to read for one API does not cover read for another"
    );
    let later = store
        .consented_scopes(&user_row, &client_row, API, NOW + 1)
        .await
        .unwrap();
    assert_eq!(later, ["email", "read"], "older consents age out");
    let other = app
        .create_client("default", &[(API, &["read"])], &[], None)
        .await;
    let other_row = store
        .find_client(&ClientId::parse(&other.id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(granted(&other_row, API).await.is_empty(), "per client");
}

/// The caller derives a successor from the token and its salt; the store only compares hashes.
/// A retry that derives the stored, unused successor gets it again; anything else is a replay.
async fn a_retry_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    let family = grant_of("fam-g", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"g1", &family, NOW + 3600), NOW)
        .await
        .unwrap();
    let rotate = |spent: &'static [u8], next: &'static [u8], at: i64| async move {
        store
            .rotate_refresh(
                spent,
                &access(),
                |g| Some(refresh(next, g, NOW + 7200)),
                5,
                at,
            )
            .await
            .unwrap()
    };
    let fresh = Redemption::Fresh(family.clone());
    assert_eq!(rotate(b"g1", b"g2", NOW + 10).await, fresh);
    // The response carrying g2 was lost; the client retries with g1 within 5 s and derives g2.
    assert_eq!(
        rotate(b"g1", b"g2", NOW + 12).await,
        fresh,
        "a retry gets the same successor"
    );
    assert_eq!(rotate(b"g1", b"g2", NOW + 13).await, fresh, "and again");
    assert!(
        !store.family_revoked("fam-g").await.unwrap(),
        "a retry is not a replay"
    );
    assert_eq!(
        rotate(b"g2", b"g3", NOW + 14).await,
        fresh,
        "the successor still works"
    );

    // Once the successor has been used, presenting its parent is a replay, grace or not.
    assert_eq!(
        rotate(b"g1", b"g2", NOW + 14).await,
        Redemption::Replayed {
            family: "fam-g".into()
        }
    );
    assert_eq!(
        rotate(b"g3", b"g4", NOW + 17).await,
        Redemption::Invalid,
        "the family is revoked"
    );

    // A retry that derives another successor (not the token's holder) is a replay.
    let other = grant_of("fam-d", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"d1", &other, NOW + 3600), NOW)
        .await
        .unwrap();
    assert_eq!(
        rotate(b"d1", b"d2", NOW + 10).await,
        Redemption::Fresh(other)
    );
    assert_eq!(
        rotate(b"d1", b"d2-other", NOW + 11).await,
        Redemption::Replayed {
            family: "fam-d".into()
        }
    );
    assert_eq!(rotate(b"d2", b"d3", NOW + 12).await, Redemption::Invalid);

    // After the window, a retry is a replay too.
    let spent_at_10 = async |family: &str, first: &'static [u8], next: &'static [u8]| {
        let grant = grant_of(family, &client_row, &user_row);
        store
            .insert_refresh(&refresh(first, &grant, NOW + 3600), NOW)
            .await
            .unwrap();
        assert_eq!(
            rotate(first, next, NOW + 10).await,
            Redemption::Fresh(grant)
        );
    };
    spent_at_10("fam-late", b"l1", b"l2").await;
    assert_eq!(
        rotate(b"l1", b"l2", NOW + 16).await,
        Redemption::Replayed {
            family: "fam-late".into()
        }
    );

    // Within the window, a retry the caller declines (another client) is a replay as well.
    spent_at_10("fam-other", b"o1", b"o2").await;
    let declined = store
        .rotate_refresh(b"o1", &access(), |_| None, 5, NOW + 11)
        .await
        .unwrap();
    assert_eq!(
        declined,
        Redemption::Replayed {
            family: "fam-other".into()
        }
    );
}

/// Revoking a grant revokes the access tokens issued to it (RFC 7009 §2.1, RFC 9700 §4.14.2).
async fn revoking_a_family_revokes_its_access_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_row, user_row) = client_and_user(&app).await;
    let store = &app.store;
    store
        .insert_code(b"c", &code("fam-a", &client_row, &user_row), NOW, NOW + 60)
        .await
        .unwrap();
    let first = access();
    let family = grant_of("fam-a", &client_row, &user_row);
    store
        .redeem_code(b"c", NOW + 1, &first, |_| {
            Some(refresh(b"a1", &family, NOW + 7200))
        })
        .await
        .unwrap();
    let second = access();
    store
        .rotate_refresh(
            b"a1",
            &second,
            |g| Some(refresh(b"a2", g, NOW + 7200)),
            0,
            NOW + 2,
        )
        .await
        .unwrap();
    assert!(!store.is_revoked(&first.jti).await.unwrap());
    assert!(!store.is_revoked(&second.jti).await.unwrap());
    // The code replayed: both access tokens of the grant are revoked.
    store
        .redeem_code(b"c", NOW + 3, &access(), |_| None)
        .await
        .unwrap();
    assert!(store.is_revoked(&first.jti).await.unwrap());
    assert!(store.is_revoked(&second.jti).await.unwrap());
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
        .redeem_code(b"c", NOW + 1, &access(), |_| {
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
    store
        .redeem_code(b"c", NOW + 3, &access(), |_| None)
        .await
        .unwrap();
    assert_eq!(store.live_refresh(b"first", NOW + 4).await.unwrap(), None);
}
