//! Malformed and hostile token requests: each gets an RFC 6749 §5.2 error, never a 5xx.

use castellan::protocol::form::FormParams;

use crate::on_both_backends;
use crate::support::oauth::{error_of, header};
use crate::support::{Backend, TestApp, TestClient, expect_oauth_error, token_of};

const ORDERS: &str = "https://orders.example.com";
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const MAX_BODY: usize = 64 * 1024;

async fn app_with_client(backend: Backend) -> (TestApp, TestClient) {
    let app = TestApp::spawn(backend).await;
    let client = app.client_for(ORDERS, &["orders:read"]).await;
    (app, client)
}

on_both_backends!(
    grant_type_missing_or_unsupported,
    repeated_parameters_are_invalid_request_naming_them,
    malformed_bodies_are_invalid_request,
    content_type_must_be_form_urlencoded,
    bodies_over_64_kib_are_413,
    a_body_exactly_at_the_limit_is_served,
    wrong_methods_and_paths_are_json,
);

async fn grant_type_missing_or_unsupported(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let (_, body) =
        expect_oauth_error(app.token_basic(&client, &[]).await, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type"),
        "{body}"
    );
    let empty = app.token_basic(&client, &[("grant_type", "")]).await;
    expect_oauth_error(empty, 400, "invalid_request").await;

    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "CLIENT_CREDENTIALS",
        "client_credentials ",
    ] {
        let response = app.token_basic(&client, &[("grant_type", grant)]).await;
        expect_oauth_error(response, 400, "unsupported_grant_type").await;
        let response = app.token_post(&client, &[("grant_type", grant)]).await;
        expect_oauth_error(response, 400, "unsupported_grant_type").await;
    }
    // A supported grant without its parameters is a malformed request, not an unknown grant.
    let response = app
        .token_basic(&client, &[("grant_type", "authorization_code")])
        .await;
    let (_, body) = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"].as_str().unwrap().contains("code"),
        "{body}"
    );
}

async fn repeated_parameters_are_invalid_request_naming_them(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let auth = client.basic();
    for (body, name) in [
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "grant_type",
        ),
        ("grant_type=client_credentials&scope=a&scope=b", "scope"),
        (
            "grant_type=client_credentials&scope=orders%3Aread&scope=orders%3Aread",
            "scope",
        ),
        (
            "grant_type=client_credentials&resource=urn%3Aa&resource=",
            "resource",
        ),
    ] {
        let response = app
            .token_raw(FORM, Some(&auth), body.as_bytes().to_vec())
            .await;
        let (_, err) = expect_oauth_error(response, 400, "invalid_request").await;
        let description = err["error_description"].as_str().unwrap();
        assert!(description.contains(name), "{body}: {description}");
    }
    // client_secret_post with a repeated client_id.
    let body = format!(
        "grant_type=client_credentials&client_id={id}&client_id={id}&client_secret={}",
        client.secret,
        id = client.id
    );
    let response = app.token_raw(FORM, None, body.into_bytes()).await;
    let (_, err) = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("client_id")
    );
}

async fn malformed_bodies_are_invalid_request(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let auth = client.basic();
    let bodies: [&[u8]; 4] = [
        b"grant_type=client_credentials&scope=\xff",
        b"grant_type=client_credentials&scope=%ff",
        b"grant_type=client_credentials&\xc3\x28=x",
        b"grant_type=client_credentials&scope=%ed%a0%80",
    ];
    for body in bodies {
        let response = app.token_raw(FORM, Some(&auth), body.to_vec()).await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }

    // `%ZZ` is not a valid escape. WHATWG form decoding keeps it literally, which this server
    // does; the request must then fail on the value it produced, never succeed or 5xx.
    for body in [
        "grant_type=client%ZZcredentials",
        "grant_type=client_credentials&scope=%ZZ",
        "grant_type=client_credentials&resource=%ZZ",
        "grant_type=client_credentials&scope=orders%3Aread%",
    ] {
        let response = app
            .token_raw(FORM, Some(&auth), body.as_bytes().to_vec())
            .await;
        let (status, err) = error_of(response).await;
        assert_eq!(status, 400, "{body}: {err}");
        let code = err["error"].as_str().unwrap();
        assert!(
            [
                "invalid_request",
                "unsupported_grant_type",
                "invalid_scope",
                "invalid_target"
            ]
            .contains(&code),
            "{body}: {err}"
        );
        assert!(!err["error_description"].as_str().unwrap().is_empty());
    }
}

async fn content_type_must_be_form_urlencoded(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let auth = client.basic();
    let form = b"grant_type=client_credentials".to_vec();
    let json = br#"{"grant_type":"client_credentials"}"#.to_vec();
    for (content_type, body) in [
        (Some("application/json"), json.clone()),
        (Some("application/json"), form.clone()),
        (Some("text/plain"), form.clone()),
        (Some("multipart/form-data; boundary=x"), form.clone()),
        (Some("application/x-www-form-urlencodedx"), form.clone()),
        (None, form.clone()),
        (None, json),
    ] {
        let response = app.token_raw(content_type, Some(&auth), body).await;
        expect_oauth_error(response, 400, "invalid_request").await;
    }

    // Parameters and case of the media type do not matter (RFC 9110 §8.3.1).
    for content_type in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
    ] {
        let response = app
            .token_raw(Some(content_type), Some(&auth), form.clone())
            .await;
        token_of(response).await;
    }
}

async fn bodies_over_64_kib_are_413(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let auth = client.basic();
    for size in [MAX_BODY + 1, 4 * MAX_BODY] {
        let mut body = b"grant_type=client_credentials&junk=".to_vec();
        body.resize(size, b'a');
        let response = app.token_raw(FORM, Some(&auth), body).await;
        let (_, err) = expect_oauth_error(response, 413, "invalid_request").await;
        assert!(err.get("access_token").is_none());
    }
}

async fn a_body_exactly_at_the_limit_is_served(backend: Backend) {
    let (app, client) = app_with_client(backend).await;
    let auth = client.basic();
    // RFC 6749 §3.2: unrecognised parameters are ignored, as long as each is of a sane length.
    let mut body = b"grant_type=client_credentials".to_vec();
    let mut n = 0;
    while body.len() < MAX_BODY {
        n += 1;
        let room = MAX_BODY - body.len();
        let prefix = format!("&junk{n}=");
        let value = (room.saturating_sub(prefix.len())).min(FormParams::MAX_VALUE);
        body.extend_from_slice(prefix.as_bytes());
        body.resize(body.len() + value, b'a');
    }
    assert_eq!(body.len(), MAX_BODY);
    let response = app.token_raw(FORM, Some(&auth), body).await;
    let token = token_of(response).await;
    app.verify_access_token(token["access_token"].as_str().unwrap(), ORDERS)
        .await;

    // One value longer than any parameter may be.
    let mut body = b"grant_type=client_credentials&junk=".to_vec();
    body.resize(body.len() + FormParams::MAX_VALUE + 1, b'a');
    let response = app.token_raw(FORM, Some(&auth), body).await;
    expect_oauth_error(response, 400, "invalid_request").await;
}

async fn wrong_methods_and_paths_are_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = app
            .http
            .request(method.clone(), app.url("/token"))
            .send()
            .await
            .unwrap();
        let allow = header(&response, "allow");
        let (status, body) = error_of(response).await;
        assert_eq!(status, 405, "{method}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
        );
        // RFC 9110 §15.5.6: a 405 MUST list the allowed methods.
        assert!(
            allow.as_deref().is_some_and(|a| a.contains("POST")),
            "{method} /token: Allow = {allow:?}"
        );
    }
    let response = app.http.post(app.url("/jwks.json")).send().await.unwrap();
    let (status, _) = error_of(response).await;
    assert_eq!(status, 405);

    for path in ["/nope", "/token/extra", "/.well-known/nope", "/oauth/token"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        let content_type = header(&response, "content-type");
        let (status, body) = error_of(response).await;
        assert_eq!(status, 404, "{path}");
        assert!(content_type.is_some_and(|c| c.starts_with("application/json")));
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
        );
    }
}
