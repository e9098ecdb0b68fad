//! Refresh tokens in the store: rotation, reuse revoking the family, the retry grace window,
//! expiry, and concurrent writers waiting for each other.

use castellan::protocol::TenantSlug;
use castellan::store::grants::{Redemption, RefreshGrant};
use castellan::store::users::NewUser;

use crate::on_both_backends;
use crate::support::grants::{NOW, client_and_user, fresh_access, grant_of, refresh};
use crate::support::{Backend, TestDb};

on_both_backends!(
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    a_retry_within_the_grace_window_gets_the_same_successor,
    concurrent_writers_wait_for_each_other,
);

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
    let family = grant_of("fam-r", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"r1", &family, NOW + 3600), NOW)
        .await
        .unwrap();

    let first = store
        .rotate_refresh(
            b"r1",
            &fresh_access(),
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
            &fresh_access(),
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
            &fresh_access(),
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
            &fresh_access(),
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
            &fresh_access(),
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
        .rotate_refresh(b"d1", &fresh_access(), |_| None, 0, NOW + 1)
        .await
        .unwrap();
    assert_eq!(declined, Redemption::Declined(spare.clone()));
    let accepted = store
        .rotate_refresh(
            b"d1",
            &fresh_access(),
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
                &fresh_access(),
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
                &fresh_access(),
                |g| Some(refresh(b"a2", g, NOW + 2000)),
                0,
                NOW + 50
            )
            .await
            .unwrap(),
        Redemption::Invalid
    );
}

/// The caller derives a successor from the token and its salt; the store only compares hashes.
/// A retry that derives the stored, unused successor gets it again; anything else is a replay.
async fn a_retry_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
    let family = grant_of("fam-g", &client_row, &user_row);
    store
        .insert_refresh(&refresh(b"g1", &family, NOW + 3600), NOW)
        .await
        .unwrap();
    let rotate = |spent: &'static [u8], next: &'static [u8], at: i64| async move {
        store
            .rotate_refresh(
                spent,
                &fresh_access(),
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
        .rotate_refresh(b"o1", &fresh_access(), |_| None, 5, NOW + 11)
        .await
        .unwrap();
    assert_eq!(
        declined,
        Redemption::Replayed {
            family: "fam-other".into()
        }
    );
}

/// Writers that read before they write (creating a user reads its tenant first) must wait
/// for each other, not fail: on SQLite a plain `BEGIN` answered "database is locked" at once.
async fn concurrent_writers_wait_for_each_other(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = db.store.clone();
            let (client_row, user_row) = (client_row.clone(), user_row.clone());
            tokio::spawn(async move {
                let new = NewUser {
                    tenant: TenantSlug::parse("default").unwrap(),
                    username: format!("user-{i}"),
                    email_verified: false,
                    given_name: None,
                    family_name: None,
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
                        &fresh_access(),
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
    let users = db.store.list_users(None).await.unwrap();
    assert_eq!(users.len(), 17, "every concurrent user was stored");
}
