//! Store records for the store-level tests of codes, refresh tokens, sessions and the purge:
//! a client and a user to point at, and grants at a fixed time.

use castellan::protocol::TenantSlug;
use castellan::store::grants::{CodeGrant, IssuedAccess, NewRefresh, RefreshGrant};
use castellan::store::sessions::NewSession;
use castellan::store::users::NewUser;

use super::db::TestDb;

/// The time the records are made at, well in the future of any real clock.
pub const NOW: i64 = 1_800_000_000;
pub const DAY: i64 = 86_400;
/// Every token row carries this salt; what the caller derives from it is its own business.
pub const SALT: [u8; 32] = [7; 32];

/// The audience of every grant.
const API: &str = "https://api.example.com";

/// Row ids of a client and a user (`ada`), for grants to point at.
pub async fn client_and_user(db: &TestDb) -> (String, String) {
    let client = db.client_for(API, &["read"]).await;
    let client_row = db.client_row(&client).await;
    let new = NewUser {
        tenant: TenantSlug::parse("default").unwrap(),
        username: "ada".into(),
        email_verified: false,
        given_name: None,
        family_name: None,
        email: None,
        name: None,
        roles: vec![],
    };
    let user = db
        .store
        .create_user(&new, "$argon2id$placeholder", NOW)
        .await
        .unwrap();
    (client_row, user.id)
}

/// A code of `family`, valid for the redirect URI and PKCE challenge of RFC 7636 appendix B.
pub fn code(family: &str, client_row: &str, user_row: &str) -> CodeGrant {
    CodeGrant {
        family: family.into(),
        client_row: client_row.into(),
        user_row: user_row.into(),
        redirect_uri: "https://app.example.com/cb".into(),
        scope: "openid offline_access".into(),
        audience: API.into(),
        nonce: Some("n".into()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        auth_time: NOW,
        sid: Some("sid-1".into()),
        redirect_uri_given: true,
    }
}

/// An access-token record for a redemption to store.
pub fn access(jti: &str) -> IssuedAccess {
    IssuedAccess {
        jti: jti.into(),
        client_id: "client".into(),
        expires_at: NOW + 300,
    }
}

/// [`access`] with a fresh random `jti`.
pub fn fresh_access() -> IssuedAccess {
    access(&castellan::crypto::random::uuid_v4().unwrap().to_string())
}

/// The grant a refresh token of `family` carries, ending 30 days after [`NOW`].
pub fn grant_of(family: &str, client_row: &str, user_row: &str) -> RefreshGrant {
    RefreshGrant {
        family: family.into(),
        client_row: client_row.into(),
        user_row: user_row.into(),
        scope: "openid offline_access".into(),
        audience: API.into(),
        auth_time: NOW,
        expires_at: NOW + 30 * DAY,
        successor_salt: Some(SALT.to_vec()),
        sid: Some("sid-1".into()),
    }
}

/// A refresh token hashed `hash`, of `grant`, dead if unused by `idle_until`.
pub fn refresh(hash: &[u8], grant: &RefreshGrant, idle_until: i64) -> NewRefresh {
    NewRefresh {
        hash: hash.to_vec(),
        grant: grant.clone(),
        idle_expires_at: idle_until,
        salt: SALT.to_vec(),
    }
}

/// A session of `user_row` whose id hashes to `id_hash`.
pub fn session<'a>(id_hash: &'a [u8], user_row: &'a str) -> NewSession<'a> {
    NewSession {
        id_hash,
        sid: "sid",
        user_row,
        login_request_hash: b"request",
    }
}
