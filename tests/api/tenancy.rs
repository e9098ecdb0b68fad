//! The tenants an API serves, set through the CLI: a client is granted, and gets tokens for,
//! only an API that serves its tenant, and a later change reaches tokens within seconds.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestClient, eventually, expect_oauth_error, refused, spawn_app, token_of,
};
use crate::on_both_backends;
use crate::signin::{self, PASSWORD, REDIRECT, Rp, VERIFIER};

const ORDERS: &str = "https://orders.example.com";
const LEDGER: &str = "https://ledger.example.com";

on_both_backends!(
    an_api_of_one_tenant_is_granted_in_that_tenant_only,
    an_api_shared_with_named_tenants_serves_those_only,
    an_api_that_stops_serving_a_tenant_stops_its_codes_and_refresh_tokens,
);

/// `client create --tenant TENANT --name NAME EXTRA... --json` through the CLI.
pub(crate) async fn cli_client(
    app: &TestApp,
    tenant: &str,
    name: &str,
    extra: &[&str],
) -> TestClient {
    let mut args = vec!["client", "create", "--tenant", tenant, "--name", name];
    args.extend_from_slice(extra);
    args.push("--json");
    let created = app.cli(&args).await.json();
    TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// A service client of `tenant` granted `api` with scope `scope`.
pub(crate) async fn cli_service(app: &TestApp, tenant: &str, api: &str, scope: &str) -> TestClient {
    let args = [
        "--grant",
        "client_credentials",
        "--api",
        api,
        "--scope",
        scope,
    ];
    cli_client(app, tenant, "service", &args).await
}

pub(crate) async fn cli_tenants(app: &TestApp, slugs: &[&str]) {
    for slug in slugs {
        app.cli(&["tenant", "create", slug]).await.ok();
    }
}

/// The CLI's answer to a command that must fail: its message.
fn refusal(out: &crate::helpers::CliOutput) -> &str {
    assert!(!out.success, "succeeded: {out:?}");
    assert!(!out.stderr.contains("internal"), "{out:?}");
    out.stderr.trim()
}

async fn service_token(app: &TestApp, client: &TestClient, api: &str) -> reqwest::Response {
    app.token_basic(
        client,
        &[("grant_type", "client_credentials"), ("resource", api)],
    )
    .await
}

/// Waits until the running server refuses `client` tokens for `api` (the CLI's change has
/// reached its cache), and returns the refusal.
async fn refused_soon(app: &TestApp, client: &TestClient, api: &str) -> reqwest::Response {
    eventually("the server refuses the token", async || {
        refused(service_token(app, client, api).await)
    })
    .await
}

async fn an_api_of_one_tenant_is_granted_in_that_tenant_only(backend: Backend) {
    let app = spawn_app(backend).await;
    cli_tenants(&app, &["acme"]).await;
    let created = app
        .cli(&[
            "api",
            "create",
            "--identifier",
            ORDERS,
            "--tenant",
            "acme",
            "--scope",
            "orders:read",
            "--json",
        ])
        .await
        .json();
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["all_tenants"], false);

    // The CLI refuses to grant it, or to register its resource server, across the boundary.
    let grant = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "default",
            "--name",
            "x",
            "--grant",
            "client_credentials",
            "--api",
            ORDERS,
        ])
        .await;
    assert!(
        refusal(&grant).contains("does not serve tenant default"),
        "{grant:?}"
    );
    let rs = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "default",
            "--name",
            "x",
            "--resource-server-for",
            ORDERS,
        ])
        .await;
    assert!(
        refusal(&rs).contains("does not serve tenant default"),
        "{rs:?}"
    );
    // Nor may another tenant's client be given the admin API, which reads every tenant's trail.
    let admin = app
        .cli(&[
            "client",
            "create",
            "--tenant",
            "acme",
            "--name",
            "x",
            "--grant",
            "client_credentials",
            "--api",
            "urn:castellan:admin",
        ])
        .await;
    assert!(
        refusal(&admin).contains("does not serve tenant acme"),
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

    let acme = cli_service(&app, "acme", ORDERS, "orders:read").await;
    let body = token_of(service_token(&app, &acme, ORDERS).await).await;
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), ORDERS)
        .await;
    assert_eq!(claims["tenant_id"], "acme");

    // An API shared by all, granted to a default client, then given to acme: /token refuses it.
    app.cli(&[
        "api",
        "create",
        "--identifier",
        LEDGER,
        "--scope",
        "ledger:read",
    ])
    .await
    .ok();
    let service = cli_service(&app, "default", LEDGER, "ledger:read").await;
    token_of(service_token(&app, &service, LEDGER).await).await;
    app.cli(&["api", "update", LEDGER, "--tenant", "acme"])
        .await
        .ok();
    expect_oauth_error(
        refused_soon(&app, &service, LEDGER).await,
        400,
        "invalid_target",
    )
    .await;
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
    let acme_ledger = cli_service(&app, "acme", LEDGER, "ledger:read").await;
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
    let app = spawn_app(backend).await;
    cli_tenants(&app, &["acme", "beta", "gamma"]).await;
    app.cli(&[
        "api",
        "create",
        "--identifier",
        ORDERS,
        "--scope",
        "orders:read",
        "--share-with",
        "acme",
        "--share-with",
        "beta",
    ])
    .await
    .ok();
    let acme = cli_service(&app, "acme", ORDERS, "orders:read").await;
    let beta = cli_service(&app, "beta", ORDERS, "orders:read").await;
    for tenant in ["default", "gamma"] {
        let out = app
            .cli(&[
                "client",
                "create",
                "--tenant",
                tenant,
                "--name",
                "x",
                "--grant",
                "client_credentials",
                "--api",
                ORDERS,
            ])
            .await;
        assert!(
            refusal(&out).contains(&format!("does not serve tenant {tenant}")),
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
    expect_oauth_error(
        refused_soon(&app, &beta, ORDERS).await,
        400,
        "invalid_target",
    )
    .await;
    token_of(service_token(&app, &acme, ORDERS).await).await;

    // "Every tenant but one" is refused rather than read as "no one"; --all-tenants widens again.
    let shared = app.cli(&["api", "create", "--identifier", LEDGER]).await;
    shared.ok();
    let out = app
        .cli(&["api", "update", LEDGER, "--unshare", "beta"])
        .await;
    assert!(refusal(&out).contains("serves every tenant"), "{out:?}");
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
    app.cli_with_stdin(
        &[
            "user",
            "create",
            "--tenant",
            "default",
            "--username",
            "ada",
            "--password-stdin",
        ],
        PASSWORD.as_bytes(),
    )
    .await
    .ok();
    let web = cli_client(
        app,
        "default",
        "Ledger Web",
        &[
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            REDIRECT,
            "--api",
            ORDERS,
            "--scope",
            "orders:read",
        ],
    )
    .await;
    Rp {
        id: web.id,
        secret: web.secret,
    }
}

async fn an_api_that_stops_serving_a_tenant_stops_its_codes_and_refresh_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    cli_tenants(&app, &["acme"]).await;
    app.cli(&[
        "api",
        "create",
        "--identifier",
        ORDERS,
        "--scope",
        "orders:read",
    ])
    .await
    .ok();
    let rp = orders_web_client(&app).await;
    let browser = signin::browser();
    let url = signin::authorize_url(
        &app,
        &rp,
        &format!("&resource={}", crate::helpers::urlencode(ORDERS)),
    )
    .replace("scope=openid+", "scope=openid+orders%3Aread+");
    let params = signin::sign_in_at(&app, &browser, &url).await;
    let code = signin::param(&params, "code").unwrap().to_owned();
    let tokens = token_of(signin::exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    app.verify_access_token(tokens["access_token"].as_str().unwrap(), ORDERS)
        .await;
    // A second code, through the session, to exchange after the change.
    let again = browser.get(&url).send().await.unwrap();
    let pending = signin::param(&signin::redirect_params(&again), "code")
        .unwrap()
        .to_owned();

    app.cli(&["api", "update", ORDERS, "--tenant", "acme"])
        .await
        .ok();
    let mut current = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refusal = eventually("refresh tokens stop minting for the API", async || {
        let response = signin::refresh(&app, &rp, &current, None).await;
        if response.status() != 200 {
            return Some(response);
        }
        let body: Value = response.json().await.unwrap();
        current = body["refresh_token"].as_str().unwrap().to_owned();
        None
    })
    .await;
    expect_oauth_error(refusal, 400, "invalid_grant").await;
    let late = signin::exchange(&app, &rp, &pending, REDIRECT, VERIFIER).await;
    expect_oauth_error(late, 400, "invalid_grant").await;
    // And a new authorization request for it goes back to the client with an error.
    let asked = browser.get(&url).send().await.unwrap();
    let params = signin::redirect_params(&asked);
    assert_eq!(signin::param(&params, "error"), Some("invalid_scope"));
    assert_eq!(signin::param(&params, "code"), None);
}
