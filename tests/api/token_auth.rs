//! Client authentication at `POST /token`: `client_secret_basic`, `client_secret_post`, and
//! every way of getting it wrong (RFC 6749 §2.3.1 and §5.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use castellan::protocol::ClientId;

use crate::on_both_backends;
use crate::support::html::form_encode;
use crate::support::oauth::{basic, refused};
use crate::support::{Backend, CC, TestApp, TestClient, eventually, expect_oauth_error, token_of};

const ORDERS: &str = "https://orders.example.com";
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

async fn app_with_client(backend: Backend) -> (TestApp, TestClient) {
    let app = TestApp::spawn(backend).await;
    let client = app.client_for(ORDERS, &["orders:read"]).await;
    (app, client)
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_encode(pairs).into_bytes()
}

on_both_backends!(
    basic_and_post_both_issue_valid_tokens,
    basic_credentials_are_form_urlencoded,
    wrong_secret_and_unknown_client_are_indistinguishable,
    missing_or_partial_credentials_are_invalid_client,
    two_authentication_methods_at_once_are_invalid_request,
    malformed_authorization_headers_are_invalid_client,
    disabled_client_is_refused_without_a_restart,
);

async fn basic_and_post_both_issue_valid_tokens(backend: Backend) {
    let (app, client) = app_with_client(backend).await;

    let via_basic = token_of(app.client_credentials(&client).await).await;
    let via_post = token_of(app.token_post(&client, &[CC]).await).await;

    for body in [via_basic, via_post] {
        assert_eq!(body["scope"], "orders:read");
        let claims = app
            .verify_access_token(body["access_token"].as_str().unwrap(), ORDERS)
            .await;
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["sub"], client.id.as_str());
        assert_eq!(claims["aud"], ORDERS);
        assert_eq!(claims["scope"], "orders:read");
    }

    // A Basic header and a matching client_id in the body is one method, not two.
    let both = app
        .token_basic(&client, &[CC, ("client_id", client.id.as_str())])
        .await;
    token_of(both).await;
}

async fn basic_credentials_are_form_urlencoded(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    // RFC 6749 §2.3.1: each part is form-urlencoded before base64; %XX escapes of plain
    // characters must decode to the same credentials.
    let escape_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let header = basic(&escape_all(&client.id), &escape_all(&client.secret));
    let response = app.token_raw(FORM, Some(&header), form(&[CC])).await;
    let body = token_of(response).await;
    app.verify_access_token(body["access_token"].as_str().unwrap(), ORDERS)
        .await;

    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let lower = format!(
        "basic {}",
        STANDARD.encode(format!("{}:{}", client.id, client.secret))
    );
    token_of(app.token_raw(FORM, Some(&lower), form(&[CC])).await).await;
}

async fn wrong_secret_and_unknown_client_are_indistinguishable(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let wrong = TestClient {
        id: client.id.clone(),
        secret: format!("{}x", client.secret),
    };
    let unknown = TestClient {
        id: "no-such-client".into(),
        secret: client.secret.clone(),
    };

    let (wrong_headers, wrong_body) =
        expect_oauth_error(app.token_basic(&wrong, &[CC]).await, 401, "invalid_client").await;
    let challenge = wrong_headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    let (unknown_headers, unknown_body) = expect_oauth_error(
        app.token_basic(&unknown, &[CC]).await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(unknown_body, wrong_body, "no client enumeration");
    assert_eq!(
        unknown_headers["www-authenticate"],
        wrong_headers["www-authenticate"]
    );

    // Ids that cannot exist (too long, not VSCHAR) look the same as ids that do not.
    for id in ["no-such-client", &"x".repeat(200), "ünïcödé", "a b"] {
        let unknown = TestClient {
            id: id.to_owned(),
            secret: client.secret.clone(),
        };
        let (_, body) = expect_oauth_error(
            app.token_basic(&unknown, &[CC]).await,
            401,
            "invalid_client",
        )
        .await;
        assert_eq!(body, wrong_body, "basic, client_id {id:?}");
        let (_, body) =
            expect_oauth_error(app.token_post(&unknown, &[CC]).await, 401, "invalid_client").await;
        assert_eq!(body, wrong_body, "post, client_id {id:?}");
    }
    let (_, wrong_post) =
        expect_oauth_error(app.token_post(&wrong, &[CC]).await, 401, "invalid_client").await;
    assert_eq!(wrong_post, wrong_body, "same answer for both methods");

    // The secret is not a prefix match, and it is case-sensitive.
    let truncated = TestClient {
        id: client.id.clone(),
        secret: client.secret[..client.secret.len() - 1].to_owned(),
    };
    expect_oauth_error(
        app.token_basic(&truncated, &[CC]).await,
        401,
        "invalid_client",
    )
    .await;
    let swapped_case = TestClient {
        id: client.id.clone(),
        secret: client
            .secret
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    };
    expect_oauth_error(
        app.token_basic(&swapped_case, &[CC]).await,
        401,
        "invalid_client",
    )
    .await;
}

async fn missing_or_partial_credentials_are_invalid_client(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no credentials at all", vec![CC]),
        (
            "client_id without a secret",
            vec![CC, ("client_id", &client.id)],
        ),
        (
            "client_id with an empty secret",
            vec![CC, ("client_id", &client.id), ("client_secret", "")],
        ),
        (
            "a secret without a client_id",
            vec![CC, ("client_secret", &client.secret)],
        ),
    ];
    for (what, pairs) in cases {
        let response = app.token_raw(FORM, None, form(&pairs)).await;
        let (_, body) = expect_oauth_error(response, 401, "invalid_client").await;
        assert!(body.get("access_token").is_none(), "{what}: {body}");
    }
}

async fn two_authentication_methods_at_once_are_invalid_request(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let response = app
        .token_basic(
            &client,
            &[
                CC,
                ("client_id", client.id.as_str()),
                ("client_secret", client.secret.as_str()),
            ],
        )
        .await;
    expect_oauth_error(response, 400, "invalid_request").await;

    let secret_only = app
        .token_basic(&client, &[CC, ("client_secret", client.secret.as_str())])
        .await;
    expect_oauth_error(secret_only, 400, "invalid_request").await;
}

async fn malformed_authorization_headers_are_invalid_client(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let no_colon = format!("Basic {}", STANDARD.encode(&client.id));
    let empty_secret = basic(&client.id, "");
    let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0xff]));
    let bad_escape = basic(&client.id, "%ff%fe");
    let headers = [
        "",
        "Basic",
        "Basic ",
        "Basic !!!not-base64!!!",
        no_colon.as_str(),
        empty_secret.as_str(),
        not_utf8.as_str(),
        bad_escape.as_str(),
        "Bearer x",
        "Digest username=\"x\"",
        "x",
    ];
    for header in headers {
        let response = app.token_raw(FORM, Some(header), form(&[CC])).await;
        let (headers, body) = expect_oauth_error(response, 401, "invalid_client").await;
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("Basic"),
            "{header:?}: {challenge} {body}"
        );
    }

    // A Bearer token next to body credentials is still a failed Authorization header.
    let body = form(&[
        CC,
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ]);
    let response = app.token_raw(FORM, Some("Bearer x"), body).await;
    assert!(
        [400, 401].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none(), "{body}");
}

async fn disabled_client_is_refused_without_a_restart(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    // Warm the server's client cache first: disabling must get through it.
    token_of(app.token_basic(&client, &[CC]).await).await;

    app.store
        .disable_client(&ClientId::parse(&client.id).unwrap(), app.clock.now())
        .await
        .unwrap();

    let answer = eventually("the server refuses the disabled client", async || {
        let response = app.token_basic(&client, &[CC]).await;
        refused(response)
    })
    .await;
    let (headers, _) = expect_oauth_error(answer, 401, "invalid_client").await;
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("Basic")
    );
    expect_oauth_error(app.token_post(&client, &[CC]).await, 401, "invalid_client").await;
}
