//! Authorization codes in the store: single use, a replay revoking the family and its access
//! tokens, racing redemptions, and the refresh token stored with a redemption.

use castellan::store::grants::Redemption;

use crate::on_both_backends;
use crate::support::grants::{NOW, client_and_user, code, fresh_access, grant_of, refresh};
use crate::support::{Backend, TestDb};

on_both_backends!(
    a_code_works_once_and_a_replay_revokes_its_family,
    racing_redemptions_have_exactly_one_winner,
    revoking_a_family_revokes_its_access_tokens,
    a_code_and_its_refresh_token_are_stored_together,
);

async fn a_code_works_once_and_a_replay_revokes_its_family(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
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
            .redeem_code(b"code-1", NOW + 1, &fresh_access(), |_| None)
            .await
            .unwrap(),
        Redemption::Fresh(grant)
    );
    assert!(!store.family_revoked("fam-1").await.unwrap());
    assert_eq!(
        store
            .redeem_code(b"code-1", NOW + 2, &fresh_access(), |_| None)
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
            &fresh_access(),
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
            .redeem_code(b"code-2", NOW + 60, &fresh_access(), |_| None)
            .await
            .unwrap(),
        Redemption::Invalid,
        "60 s and no more"
    );
    assert_eq!(
        store
            .redeem_code(b"nope", NOW, &fresh_access(), |_| None)
            .await
            .unwrap(),
        Redemption::Invalid
    );
    assert!(
        !store.family_revoked("fam-2").await.unwrap(),
        "an expired code is no replay"
    );
}

async fn racing_redemptions_have_exactly_one_winner(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = db.store.clone();
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
                    .redeem_code(b"race", NOW + 1, &fresh_access(), |_| None)
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

/// Revoking a grant revokes the access tokens issued to it (RFC 7009 §2.1, RFC 9700 §4.14.2).
async fn revoking_a_family_revokes_its_access_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
    store
        .insert_code(b"c", &code("fam-a", &client_row, &user_row), NOW, NOW + 60)
        .await
        .unwrap();
    let first = fresh_access();
    let family = grant_of("fam-a", &client_row, &user_row);
    store
        .redeem_code(b"c", NOW + 1, &first, |_| {
            Some(refresh(b"a1", &family, NOW + 7200))
        })
        .await
        .unwrap();
    let second = fresh_access();
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
        .redeem_code(b"c", NOW + 3, &fresh_access(), |_| None)
        .await
        .unwrap();
    assert!(store.is_revoked(&first.jti).await.unwrap());
    assert!(store.is_revoked(&second.jti).await.unwrap());
}

async fn a_code_and_its_refresh_token_are_stored_together(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
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
        .redeem_code(b"c", NOW + 1, &fresh_access(), |_| {
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
        .redeem_code(b"c", NOW + 3, &fresh_access(), |_| None)
        .await
        .unwrap();
    assert_eq!(store.live_refresh(b"first", NOW + 4).await.unwrap(), None);
}
