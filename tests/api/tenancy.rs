//! The tenants an API serves, set through the CLI: a client is granted, and gets tokens for,
//! only an API that serves its tenant, and a later change reaches tokens within seconds.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oauth::refused;
use crate::support::{
    Backend, CC, PASSWORD, Rp, TestApp, TestClient, eventually, expect_oauth_error, param,
    redirect_params, token_of, urlencode,
};

const ORDERS: &str = "https://orders.example.com";
const LEDGER: &str = "https://ledger.example.com";

on_both_backends!(
    an_api_of_one_tenant_is_granted_in_that_tenant_only,
    an_api_shared_with_named_tenants_serves_those_only,
    an_api_that_stops_serving_a_tenant_stops_its_codes_and_refresh_tokens,
);

async fn service_token(app: &TestApp, client: &TestClient, api: &str) -> reqwest::Response {
    app.token_basic(client, &[CC, ("resource", api)]).await
}

/// Waits until the running server refuses `client` tokens for `api` (the CLI's change has
/// reached its cache), and asserts that the refusal is `invalid_target`.
async fn refused_soon(app: &TestApp, client: &TestClient, api: &str) {
    let refusal = eventually("the server refuses the token", async || {
        refused(service_token(app, client, api).await)
    })
    .await;
    expect_oauth_error(refusal, 400, "invalid_target").await;
}

async fn an_api_of_one_tenant_is_granted_in_that_tenant_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cli_tenants(&["acme"]).await;
    let created = app
        .cli_create_api(
            ORDERS,
            &["--tenant", "acme", "--scope", "orders:read", "--json"],
        )
        .await
        .json();
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["all_tenants"], false);

    // The CLI refuses to grant it, or to register its resource server, across the boundary.
    let granted = ["--grant", "client_credentials", "--api", ORDERS];
    let grant = app.cli_create_client("default", "x", &granted).await;
    assert!(
        grant.refusal().contains("does not serve tenant default"),
        "{grant:?}"
    );
    let serving = ["--resource-server-for", ORDERS];
    let rs = app.cli_create_client("default", "x", &serving).await;
    assert!(
        rs.refusal().contains("does not serve tenant default"),
        "{rs:?}"
    );
    // Nor may another tenant's client be given the admin API, which reads every tenant's trail.
    let admin_api = [
        "--grant",
        "client_credentials",
        "--api",
        "urn:castellan:admin",
    ];
    let admin = app.cli_create_client("acme", "x", &admin_api).await;
    assert!(
        admin.refusal().contains("does not serve tenant acme"),
        "{admin:?}"
    );
    let defaults = app
        .cli(&["client", "list", "--tenant", "default", "--json"])
        .await
        .json();
    assert_eq!(
        defaults.as_array().unwrap().len(),
        1,
        "only the bootstrap admin: {defaults}"
    );

    let acme = app.cli_service("acme", ORDERS, "orders:read").await;
    let body = token_of(service_token(&app, &acme, ORDERS).await).await;
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), ORDERS)
        .await;
    assert_eq!(claims["tenant_id"], "acme");

    // An API shared by all, granted to a default client, then given to acme: /token refuses it.
    app.cli_create_api(LEDGER, &["--scope", "ledger:read"])
        .await
        .ok();
    let service = app.cli_service("default", LEDGER, "ledger:read").await;
    token_of(service_token(&app, &service, LEDGER).await).await;
    app.cli(&["api", "update", LEDGER, "--tenant", "acme"])
        .await
        .ok();
    refused_soon(&app, &service, LEDGER).await;
    let shown = app
        .cli(&["client", "show", &service.id, "--json"])
        .await
        .json();
    assert_eq!(shown["apis"], json!([]));
    assert_eq!(
        shown["dormant_apis"],
        json!([LEDGER]),
        "the grant stays on record"
    );
    let text = app.cli(&["client", "show", &service.id]).await;
    assert!(
        text.ok().contains("does not serve tenant default"),
        "{text:?}"
    );
    let acme_ledger = app.cli_service("acme", LEDGER, "ledger:read").await;
    token_of(service_token(&app, &acme_ledger, LEDGER).await).await;

    let listed = app.cli(&["api", "list"]).await;
    let line = |api: &str| {
        listed
            .stdout
            .lines()
            .find(|l| l.starts_with(api))
            .unwrap()
            .to_owned()
    };
    assert!(line(LEDGER).ends_with("acme (owner)"), "{listed:?}");
    assert!(
        line("urn:castellan:admin").ends_with("default (owner)"),
        "{listed:?}"
    );
}

async fn an_api_shared_with_named_tenants_serves_those_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cli_tenants(&["acme", "beta", "gamma"]).await;
    app.cli_create_api(
        ORDERS,
        &[
            "--scope",
            "orders:read",
            "--share-with",
            "acme",
            "--share-with",
            "beta",
        ],
    )
    .await
    .ok();
    let acme = app.cli_service("acme", ORDERS, "orders:read").await;
    let beta = app.cli_service("beta", ORDERS, "orders:read").await;
    for tenant in ["default", "gamma"] {
        let granted = ["--grant", "client_credentials", "--api", ORDERS];
        let out = app.cli_create_client(tenant, "x", &granted).await;
        assert!(
            out.refusal()
                .contains(&format!("does not serve tenant {tenant}")),
            "{out:?}"
        );
    }
    for client in [&acme, &beta] {
        token_of(service_token(&app, client, ORDERS).await).await;
    }

    let all = app.cli(&["api", "list", "--json"]).await.json();
    let orders = all
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identifier"] == ORDERS)
        .unwrap();
    assert_eq!(
        (
            &orders["all_tenants"],
            &orders["tenant"],
            &orders["shared_with"]
        ),
        (&json!(false), &Value::Null, &json!(["acme", "beta"]))
    );
    let for_gamma = app
        .cli(&["api", "list", "--tenant", "gamma", "--json"])
        .await
        .json();
    assert!(
        for_gamma
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["identifier"] != ORDERS),
        "{for_gamma}"
    );

    // Unsharing beta stops beta's tokens, not acme's.
    app.cli(&["api", "update", ORDERS, "--unshare", "beta"])
        .await
        .ok();
    refused_soon(&app, &beta, ORDERS).await;
    token_of(service_token(&app, &acme, ORDERS).await).await;

    // "Every tenant but one" is refused rather than read as "no one"; --all-tenants widens again.
    let shared = app.cli_create_api(LEDGER, &[]).await;
    shared.ok();
    let out = app
        .cli(&["api", "update", LEDGER, "--unshare", "beta"])
        .await;
    assert!(out.refusal().contains("serves every tenant"), "{out:?}");
    app.cli(&["api", "update", ORDERS, "--all-tenants"])
        .await
        .ok();
    eventually("beta's client gets tokens again", async || {
        (service_token(&app, &beta, ORDERS).await.status() == 200).then_some(())
    })
    .await;
}

/// A browser client of the default tenant granted `ORDERS`, and a user `ada` to sign in.
async fn orders_web_client(app: &TestApp) -> Rp {
    app.cli_create_user("default", "ada", &[], PASSWORD.as_bytes())
        .await
        .ok();
    let orders = ["--api", ORDERS, "--scope", "orders:read"];
    app.rp(app.cli_web_client("default", "Ledger Web", &orders).await)
}

async fn an_api_that_stops_serving_a_tenant_stops_its_codes_and_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cli_tenants(&["acme"]).await;
    app.cli_create_api(ORDERS, &["--scope", "orders:read"])
        .await
        .ok();
    let rp = orders_web_client(&app).await;
    let browser = app.browser();
    let url = rp
        .authorize_url(&format!("&resource={}", urlencode(ORDERS)))
        .replace("scope=openid+", "scope=openid+orders%3Aread+");
    let params = browser.sign_in_at(&url).await;
    let code = param(&params, "code").unwrap().to_owned();
    let tokens = token_of(rp.exchange(&code).await).await;
    app.verify_access_token(tokens["access_token"].as_str().unwrap(), ORDERS)
        .await;
    // A second code, through the session, to exchange after the change.
    let again = browser.get(&url).await;
    let pending = param(&redirect_params(&again), "code").unwrap().to_owned();

    app.cli(&["api", "update", ORDERS, "--tenant", "acme"])
        .await
        .ok();
    let mut current = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refusal = eventually("refresh tokens stop minting for the API", async || {
        let response = rp.refresh(&current, None).await;
        if response.status() != 200 {
            return Some(response);
        }
        let body: Value = response.json().await.unwrap();
        current = body["refresh_token"].as_str().unwrap().to_owned();
        None
    })
    .await;
    expect_oauth_error(refusal, 400, "invalid_grant").await;
    let late = rp.exchange(&pending).await;
    expect_oauth_error(late, 400, "invalid_grant").await;
    // And a new authorization request for it goes back to the client with an error.
    let params = redirect_params(&browser.get(&url).await);
    assert_eq!(param(&params, "error"), Some("invalid_scope"));
    assert_eq!(param(&params, "code"), None);
}
