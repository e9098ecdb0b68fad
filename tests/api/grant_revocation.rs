//! Revoking a user's grant reaches its access tokens at Castellan's own endpoints: after a
//! replayed code, a reused refresh token and RFC 7009 revocation; and racing refreshes.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Rp, TestApp, expect_oauth_error, text, token_of};

on_both_backends!(
    a_replayed_code_revokes_the_access_tokens_it_issued,
    a_reused_refresh_token_revokes_every_access_token_of_the_sign_in,
    revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant,
    two_racing_refreshes_have_one_winner_and_end_the_family,
);

/// Is this access token still good at `/userinfo` and `/introspect` (asked by its own client)?
async fn live(app: &TestApp, rp: &Rp, tokens: &Value) -> (bool, bool) {
    let access = text(tokens, "access_token");
    let userinfo = app.userinfo(Some(&access)).await;
    let introspected: Value = rp.introspect(&access).await.json().await.unwrap();
    (
        userinfo.status() == 200,
        introspected["active"] == Value::Bool(true),
    )
}

/// A user signed in through `rp`, and the tokens of the code exchange.
async fn signed_in(backend: Backend) -> (TestApp, Rp, Value) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let tokens = app.browser().signed_in_tokens(&rp).await;
    (app, rp, tokens)
}

async fn a_replayed_code_revokes_the_access_tokens_it_issued(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let code = app.browser().sign_in(&rp).await;
    let tokens = token_of(rp.exchange(&code).await).await;
    assert_eq!(live(&app, &rp, &tokens).await, (true, true));

    // RFC 6749 §4.1.2: a code used twice revokes what it issued (RFC 9700 §4.2.4).
    expect_oauth_error(rp.exchange(&code).await, 400, "invalid_grant").await;
    assert_eq!(live(&app, &rp, &tokens).await, (false, false));
    let refresh = text(&tokens, "refresh_token");
    expect_oauth_error(rp.refresh(&refresh, None).await, 400, "invalid_grant").await;
}

async fn a_reused_refresh_token_revokes_every_access_token_of_the_sign_in(backend: Backend) {
    let (app, rp, first) = signed_in(backend).await;
    let spent = text(&first, "refresh_token");
    let second = token_of(rp.refresh(&spent, None).await).await;
    assert_eq!(live(&app, &rp, &second).await, (true, true));

    expect_oauth_error(rp.refresh(&spent, None).await, 400, "invalid_grant").await;
    for tokens in [&first, &second] {
        assert_eq!(live(&app, &rp, tokens).await, (false, false));
    }
}

async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant(backend: Backend) {
    let (app, rp, tokens) = signed_in(backend).await;
    // Another sign-in of the same user and client is another grant, and stays.
    let other = app.browser().signed_in_tokens(&rp).await;

    let refresh = text(&tokens, "refresh_token");
    let hint = [
        ("token", refresh.as_str()),
        ("token_type_hint", "refresh_token"),
    ];
    assert_eq!(rp.post("/revoke", &hint).await.status(), 200);
    // RFC 7009 §2.1: the access tokens of the same grant go with it.
    assert_eq!(live(&app, &rp, &tokens).await, (false, false));
    assert_eq!(live(&app, &rp, &other).await, (true, true));
}

/// Two refreshes of one token at once: exactly one wins; the loser presented a spent token, so
/// the family is revoked and the winner's successor is refused too (RFC 9700 §4.14.2).
async fn two_racing_refreshes_have_one_winner_and_end_the_family(backend: Backend) {
    let (app, rp, tokens) = signed_in(backend).await;
    let token = text(&tokens, "refresh_token");
    let (a, b) = tokio::join!(rp.refresh(&token, None), rp.refresh(&token, None));
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
    let successor = text(winner, "refresh_token");
    expect_oauth_error(rp.refresh(&successor, None).await, 400, "invalid_grant").await;
    assert_eq!(live(&app, &rp, winner).await, (false, false));
}
