//! What the client credentials grant issues: which API (`resource`/`audience`, RFC 8707),
//! which scopes (RFC 6749 §3.3), for how long, and which tenant, roles and permissions.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, CC, TestApp, TestClient, expect_oauth_error, token_of};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "https://billing.example.com/api";

on_both_backends!(
    no_scope_grants_every_scope_of_the_api,
    a_subset_of_scopes_is_granted_exactly_and_sorted,
    a_blank_scope_never_yields_an_empty_grant,
    scopes_not_granted_are_invalid_scope,
    resource_or_audience_selects_the_api,
    several_apis_without_a_target_is_invalid_target,
    targets_not_granted_or_malformed_are_invalid_target,
    tokens_for_one_api_never_carry_another_apis_scopes,
    per_client_token_ttl_is_honoured,
    other_tenants_and_clients_without_roles,
);

/// Asserts a token response and validates its token for `audience`; returns the claims.
async fn issued(app: &TestApp, response: reqwest::Response, audience: &str) -> (Value, Value) {
    let body = token_of(response).await;
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), audience)
        .await;
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["scope"], body["scope"], "response and claim agree");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        body["expires_in"].as_i64().unwrap()
    );
    (body, claims)
}

async fn two_api_client(app: &TestApp) -> TestClient {
    app.create_api(ORDERS, &["orders:read", "orders:write", "orders:admin"])
        .await;
    app.create_api(BILLING, &["billing:read", "billing:write"])
        .await;
    app.create_client(
        "default",
        &[
            (ORDERS, &["orders:write", "orders:read"]),
            (BILLING, &["billing:read"]),
        ],
        &[],
        None,
    )
    .await
}

async fn no_scope_grants_every_scope_of_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:write", "orders:read", "orders:admin"])
        .await;
    let client = app
        .create_client(
            "default",
            &[(ORDERS, &["orders:write", "orders:read"])],
            &[],
            None,
        )
        .await;
    let (body, _) = issued(&app, app.token_basic(&client, &[CC]).await, ORDERS).await;
    assert_eq!(body["scope"], "orders:read orders:write");

    // An empty scope parameter counts as absent (RFC 6749 §3.1).
    let (body, _) = issued(
        &app,
        app.token_post(&client, &[CC, ("scope", "")]).await,
        ORDERS,
    )
    .await;
    assert_eq!(body["scope"], "orders:read orders:write");
}

async fn a_subset_of_scopes_is_granted_exactly_and_sorted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["a", "b", "c"]).await;
    let client = app
        .create_client("default", &[(ORDERS, &["a", "b", "c"])], &[], None)
        .await;
    for (asked, granted) in [
        ("b", "b"),
        ("c a", "a c"),
        ("c  b", "b c"),
        ("b b a", "a b"),
        ("c b a", "a b c"),
    ] {
        let response = app.token_basic(&client, &[CC, ("scope", asked)]).await;
        let (body, claims) = issued(&app, response, ORDERS).await;
        assert_eq!(body["scope"], granted, "asked {asked:?}");
        assert_eq!(claims["scope"], granted, "asked {asked:?}");
    }
}

async fn a_blank_scope_never_yields_an_empty_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:read", "orders:write"])
        .await;
    let client = app
        .create_client(
            "default",
            &[(ORDERS, &["orders:read", "orders:write"])],
            &[],
            None,
        )
        .await;
    // RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`, so a value of only spaces is
    // either malformed (invalid_scope) or, like an empty value, absent. A token whose scope
    // is "" is neither.
    for blank in [" ", "   "] {
        let response = app.token_basic(&client, &[CC, ("scope", blank)]).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == 200 {
            assert_eq!(body["scope"], "orders:read orders:write", "scope={blank:?}");
        } else {
            assert_eq!(
                (status.as_u16(), body["error"].as_str()),
                (400, Some("invalid_scope")),
                "scope={blank:?}: {body}"
            );
        }
    }
}

async fn scopes_not_granted_are_invalid_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // `orders:admin` exists on the API but is not granted to this client.
    app.create_api(ORDERS, &["orders:read", "orders:admin"])
        .await;
    let client = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], None)
        .await;
    for asked in [
        "orders:admin",
        "orders:read orders:admin",
        "nonexistent",
        "castellan:admin",
        "ORDERS:READ",
        "bad\"scope",
    ] {
        let response = app.token_basic(&client, &[CC, ("scope", asked)]).await;
        let (_, body) = expect_oauth_error(response, 400, "invalid_scope").await;
        assert!(body.get("access_token").is_none());
    }
}

async fn resource_or_audience_selects_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = two_api_client(&app).await;

    let (body, _) = issued(
        &app,
        app.token_basic(&client, &[CC, ("resource", ORDERS)]).await,
        ORDERS,
    )
    .await;
    assert_eq!(body["scope"], "orders:read orders:write");

    let (body, _) = issued(
        &app,
        app.token_post(&client, &[CC, ("audience", BILLING)]).await,
        BILLING,
    )
    .await;
    assert_eq!(body["scope"], "billing:read");

    // The same API named by both parameters is one target.
    let both = [CC, ("resource", BILLING), ("audience", BILLING)];
    issued(&app, app.token_basic(&client, &both).await, BILLING).await;

    let scoped = [CC, ("resource", ORDERS), ("scope", "orders:write")];
    let (body, _) = issued(&app, app.token_basic(&client, &scoped).await, ORDERS).await;
    assert_eq!(body["scope"], "orders:write");
}

async fn several_apis_without_a_target_is_invalid_target(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = two_api_client(&app).await;
    let response = app.token_basic(&client, &[CC]).await;
    expect_oauth_error(response, 400, "invalid_target").await;
    let response = app
        .token_basic(&client, &[CC, ("scope", "orders:read")])
        .await;
    expect_oauth_error(response, 400, "invalid_target").await;
}

async fn targets_not_granted_or_malformed_are_invalid_target(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:read"]).await;
    app.create_api(BILLING, &["billing:read"]).await;
    let client = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], None)
        .await;
    let cases: &[&[(&str, &str)]] = &[
        // Exists, but not granted to this client.
        &[("resource", BILLING)],
        &[("audience", BILLING)],
        &[("resource", "urn:castellan:admin")],
        // Does not exist at all.
        &[("resource", "https://nowhere.example.com")],
        &[("audience", "https://nowhere.example.com")],
        // Near misses of the granted identifier.
        &[("resource", "https://orders.example.com/")],
        &[("resource", "HTTPS://orders.example.com")],
        // Not an absolute URI (RFC 8707 §2).
        &[("resource", "orders.example.com")],
        &[("resource", "/orders")],
        &[("resource", "https://orders.example.com#frag")],
        // Two different APIs at once.
        &[("resource", ORDERS), ("audience", BILLING)],
        &[
            ("resource", ORDERS),
            ("audience", "https://nowhere.example.com"),
        ],
    ];
    for extra in cases {
        let mut pairs = vec![CC];
        pairs.extend_from_slice(extra);
        let response = app.token_basic(&client, &pairs).await;
        expect_oauth_error(response, 400, "invalid_target").await;
    }
}

async fn tokens_for_one_api_never_carry_another_apis_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Both APIs define `read` and `write`; the client may only `read` billing.
    app.create_api(ORDERS, &["read", "write", "orders:only"])
        .await;
    app.create_api(BILLING, &["read", "write"]).await;
    let client = app
        .create_client(
            "default",
            &[
                (ORDERS, &["read", "write", "orders:only"]),
                (BILLING, &["read"]),
            ],
            &[],
            None,
        )
        .await;

    let (body, claims) = issued(
        &app,
        app.token_basic(&client, &[CC, ("resource", BILLING)]).await,
        BILLING,
    )
    .await;
    assert_eq!(body["scope"], "read");
    assert_eq!(claims["scope"], "read");

    for asked in ["write", "read write", "orders:only"] {
        let response = app
            .token_basic(&client, &[CC, ("resource", BILLING), ("scope", asked)])
            .await;
        expect_oauth_error(response, 400, "invalid_scope").await;
    }

    let (_, claims) = issued(
        &app,
        app.token_basic(&client, &[CC, ("resource", ORDERS)]).await,
        ORDERS,
    )
    .await;
    assert_eq!(claims["scope"], "orders:only read write");
}

async fn per_client_token_ttl_is_honoured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:read"]).await;
    let short = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], Some(42))
        .await;
    let long = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], Some(7200))
        .await;
    let default = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], None)
        .await;
    for (client, ttl) in [(&short, 42), (&long, 7200), (&default, 300)] {
        let (body, claims) = issued(&app, app.token_basic(client, &[CC]).await, ORDERS).await;
        assert_eq!(body["expires_in"], ttl);
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + ttl);
        assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    }
}

async fn other_tenants_and_clients_without_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:read"]).await;
    app.create_tenant("acme").await;
    app.create_role("acme", "ops", &["deploy.run", "audit.read"])
        .await;
    app.create_role("acme", "viewer", &["audit.read"]).await;
    app.create_role("acme", "empty", &[]).await;
    let acme = app
        .create_client(
            "acme",
            &[(ORDERS, &["orders:read"])],
            &["viewer", "ops"],
            None,
        )
        .await;
    let bare = app
        .create_client("acme", &[(ORDERS, &["orders:read"])], &[], None)
        .await;
    let empty_role = app
        .create_client("acme", &[(ORDERS, &["orders:read"])], &["empty"], None)
        .await;
    let default = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &[], None)
        .await;

    let (_, claims) = issued(&app, app.token_basic(&acme, &[CC]).await, ORDERS).await;
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(claims["roles"], json!(["ops", "viewer"]));
    assert_eq!(claims["permissions"], json!(["audit.read", "deploy.run"]));

    for client in [&bare, &default] {
        let (_, claims) = issued(&app, app.token_basic(client, &[CC]).await, ORDERS).await;
        // Empty arrays trip strict validators (authlib's RFC 9068 check): omitted instead.
        assert!(claims.get("roles").is_none(), "{claims}");
        assert!(claims.get("permissions").is_none(), "{claims}");
    }
    let (_, claims) = issued(&app, app.token_basic(&bare, &[CC]).await, ORDERS).await;
    assert_eq!(claims["tenant_id"], "acme");
    let (_, claims) = issued(&app, app.token_basic(&default, &[CC]).await, ORDERS).await;
    assert_eq!(claims["tenant_id"], "default");

    let (_, claims) = issued(&app, app.token_basic(&empty_role, &[CC]).await, ORDERS).await;
    assert_eq!(claims["roles"], json!(["empty"]));
    assert!(claims.get("permissions").is_none(), "{claims}");
}
