//! Revoking a user's grant reaches its access tokens at Castellan's own endpoints: after a
//! replayed code, a reused refresh token and RFC 7009 revocation; and racing refreshes.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, expect_oauth_error, spawn_app, token_of};
use crate::on_both_backends;
use crate::signin::{REDIRECT, Rp, VERIFIER, browser, exchange, refresh, setup, sign_in};

on_both_backends!(
    a_replayed_code_revokes_the_access_tokens_it_issued,
    a_reused_refresh_token_revokes_every_access_token_of_the_sign_in,
    revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant,
    two_racing_refreshes_have_one_winner_and_end_the_family,
);

/// Is this access token still good at `/userinfo` and `/introspect` (asked by its own client)?
async fn live(app: &TestApp, rp: &Rp, access: &str) -> (bool, bool) {
    let userinfo = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let introspected: Value = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        userinfo.status() == 200,
        introspected["active"] == Value::Bool(true),
    )
}

fn access_of(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn refresh_of(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn a_replayed_code_revokes_the_access_tokens_it_issued(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let code = sign_in(&app, &rp, &browser()).await;
    let tokens = token_of(exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    let access = access_of(&tokens);
    assert_eq!(live(&app, &rp, &access).await, (true, true));

    // RFC 6749 §4.1.2: a code used twice revokes what it issued (RFC 9700 §4.2.4).
    expect_oauth_error(
        exchange(&app, &rp, &code, REDIRECT, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(live(&app, &rp, &access).await, (false, false));
    expect_oauth_error(
        refresh(&app, &rp, &refresh_of(&tokens), None).await,
        400,
        "invalid_grant",
    )
    .await;
}

async fn a_reused_refresh_token_revokes_every_access_token_of_the_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let code = sign_in(&app, &rp, &browser()).await;
    let first = token_of(exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    let second = token_of(refresh(&app, &rp, &refresh_of(&first), None).await).await;
    assert_eq!(live(&app, &rp, &access_of(&second)).await, (true, true));

    expect_oauth_error(
        refresh(&app, &rp, &refresh_of(&first), None).await,
        400,
        "invalid_grant",
    )
    .await;
    for tokens in [&first, &second] {
        assert_eq!(live(&app, &rp, &access_of(tokens)).await, (false, false));
    }
}

async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let code = sign_in(&app, &rp, &browser()).await;
    let tokens = token_of(exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    // Another sign-in of the same user and client is another grant, and stays.
    let other_code = sign_in(&app, &rp, &browser()).await;
    let other = token_of(exchange(&app, &rp, &other_code, REDIRECT, VERIFIER).await).await;

    let revoked = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("token", refresh_of(&tokens).as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    // RFC 7009 §2.1: the access tokens of the same grant go with it.
    assert_eq!(live(&app, &rp, &access_of(&tokens)).await, (false, false));
    assert_eq!(live(&app, &rp, &access_of(&other)).await, (true, true));
}

/// Two refreshes of one token at once: exactly one wins; the loser presented a spent token, so
/// the family is revoked and the winner's successor is refused too (RFC 9700 §4.14.2).
async fn two_racing_refreshes_have_one_winner_and_end_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let code = sign_in(&app, &rp, &browser()).await;
    let tokens = token_of(exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    let token = refresh_of(&tokens);
    let (a, b) = tokio::join!(
        refresh(&app, &rp, &token, None),
        refresh(&app, &rp, &token, None)
    );
    let mut winners = Vec::new();
    for response in [a, b] {
        match response.status().as_u16() {
            200 => winners.push(response.json::<Value>().await.unwrap()),
            400 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "invalid_grant", "{body}");
            }
            other => panic!("a racing refresh got {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh succeeds");
    let winner = &winners[0];
    expect_oauth_error(
        refresh(&app, &rp, &refresh_of(winner), None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(live(&app, &rp, &access_of(winner)).await, (false, false));
}
