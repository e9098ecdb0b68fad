//! Changing and deleting through the CLI: an update replaces what it names and the server
//! honours it within seconds; a delete is refused, naming what, while anything refers to it.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::cli::{BILLING, INVENTORY};
use crate::support::oauth::{claims_unverified, refused};
use crate::support::{Backend, CC, TestApp, TestClient, eventually, text};

on_both_backends!(
    client_update_replaces_what_it_names_and_the_server_honours_it,
    deletes_are_refused_while_anything_refers_to_them,
    client_names_are_unique_per_tenant_and_audit_rows_carry_the_id,
);

async fn create_svc(app: &TestApp, name: &str) -> (Value, TestClient) {
    let created = app
        .cli_create_client(
            "acme",
            name,
            &[
                "--grant",
                "client_credentials",
                "--api",
                BILLING,
                "--scope",
                "billing:read",
                "--role",
                "admin",
                "--json",
            ],
        )
        .await
        .json();
    let client = TestClient::from_created(&created);
    (created, client)
}

fn claims(token: &Value) -> Value {
    claims_unverified(&text(token, "access_token"))
}

async fn client_update_replaces_what_it_names_and_the_server_honours_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (_, svc) = create_svc(&app, "svc").await;
    let updated = app
        .cli(&[
            "client",
            "update",
            &svc.id,
            "--name",
            "svc two",
            "--api",
            BILLING,
            "--scope",
            "billing:write",
            "--api",
            INVENTORY,
            "--scope",
            "x",
            "--no-roles",
            "--token-ttl",
            "60",
            "--json",
        ])
        .await
        .json();
    assert_eq!(updated["name"], "svc two");
    assert_eq!(
        updated["apis"],
        json!([{"api": BILLING, "scopes": ["billing:write"]}, {"api": INVENTORY, "scopes": ["x"]}])
    );
    assert_eq!(updated["roles"], json!([]));
    assert_eq!(updated["token_ttl"], 60);
    // What show says is what is stored.
    let shown = app.cli(&["client", "show", &svc.id, "--json"]).await.json();
    assert_eq!(shown, updated);

    // The server follows: the old scope is gone, the new one carries no roles and a 60 s life.
    eventually("the running server sees the update", async || {
        let old = app
            .token_basic(
                &svc,
                &[CC, ("resource", BILLING), ("scope", "billing:read")],
            )
            .await;
        refused(old)
    })
    .await;
    let token = app
        .token_basic(
            &svc,
            &[CC, ("resource", BILLING), ("scope", "billing:write")],
        )
        .await;
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    let claims = claims(&token);
    assert_eq!(claims["scope"], "billing:write");
    assert!(claims.get("roles").is_none(), "{claims}");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );

    // Withdrawn: no token for inventory any more; back to the default lifetime.
    app.cli(&[
        "client",
        "update",
        &svc.id,
        "--remove-api",
        INVENTORY,
        "--default-token-ttl",
    ])
    .await
    .ok();
    let shown = app.cli(&["client", "show", &svc.id, "--json"]).await.json();
    assert_eq!(
        shown["apis"],
        json!([{"api": BILLING, "scopes": ["billing:write"]}])
    );
    assert_eq!(shown["token_ttl"], Value::Null);

    // Refusals say what to do, and change nothing.
    let cases: [(&[&str], &str); 6] = [
        (&[], "nothing to change"),
        (
            &["--grant", "authorization_code"],
            "needs at least one --redirect-uri",
        ),
        (&["--remove-api", INVENTORY], "is not granted API"),
        (&["--role", "no-such-role"], "no-such-role"),
        (
            &["--api", BILLING, "--scope", "billing:nope"],
            "does not define scope",
        ),
        (
            &["--pkce", "optional"],
            "concerns the authorization_code grant",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["client", "update", svc.id.as_str()];
        args.extend_from_slice(extra);
        let out = app.cli(&args).await;
        let message = out.refusal();
        assert!(message.contains(expected), "{extra:?}: {message}");
    }
    let after = app.cli(&["client", "show", &svc.id, "--json"]).await.json();
    assert_eq!(after, shown, "a refused update changes nothing");
    let missing = app.cli(&["client", "update", "nope", "--name", "x"]).await;
    assert!(missing.refusal().contains("does not exist"), "{missing:?}");

    // A web client's URIs and consent.
    let web = app.cli_web_client("acme", "Web", &[]).await;
    let changed = app
        .cli(&[
            "client",
            "update",
            &web.id,
            "--redirect-uri",
            "https://new.example.com/cb",
            "--post-logout-redirect-uri",
            "https://new.example.com/bye",
            "--consent",
            "skip",
            "--pkce",
            "optional",
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        changed["redirect_uris"],
        json!(["https://new.example.com/cb"])
    );
    assert_eq!(
        changed["post_logout_redirect_uris"],
        json!(["https://new.example.com/bye"])
    );
    assert_eq!(changed["skip_consent"], true);
    assert_eq!(changed["pkce_required"], false);
}

async fn deletes_are_refused_while_anything_refers_to_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (_, svc) = create_svc(&app, "svc").await;

    let role = app
        .cli(&["role", "delete", "--tenant", "acme", "admin"])
        .await;
    assert!(
        role.refusal().contains("1 client(s) holding it"),
        "{role:?}"
    );
    let scope = app
        .cli(&["api", "update", BILLING, "--remove-scope", "billing:read"])
        .await;
    assert!(
        scope.refusal().contains("still granted to 1 client(s)"),
        "{scope:?}"
    );
    let api = app.cli(&["api", "delete", BILLING]).await;
    assert!(api.refusal().contains("1 client(s) granted it"), "{api:?}");
    let tenant = app.cli(&["tenant", "delete", "acme"]).await;
    let message = tenant.refusal();
    assert!(
        message.contains("1 client(s)") && message.contains("1 role(s)"),
        "{message}"
    );
    let admin = app.cli(&["api", "delete", "urn:castellan:admin"]).await;
    assert!(admin.refusal().contains("cannot be deleted"), "{admin:?}");
    // Nothing was removed by the refusals: the client still gets its token, roles and all.
    let token = app
        .token_basic(
            &svc,
            &[CC, ("resource", BILLING), ("scope", "billing:read")],
        )
        .await;
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert_eq!(claims(&token)["roles"], json!(["admin"]));

    // Updates of roles, APIs and tenants.
    app.cli(&[
        "role",
        "update",
        "--tenant",
        "acme",
        "admin",
        "--permission",
        "e.f",
        "--rename",
        "boss",
    ])
    .await
    .ok();
    let roles = app
        .cli(&["role", "list", "--tenant", "acme", "--json"])
        .await
        .json();
    assert_eq!(roles[0]["name"], "boss");
    assert_eq!(roles[0]["permissions"], json!(["e.f"]));
    app.cli(&[
        "api",
        "update",
        BILLING,
        "--name",
        "Ledger",
        "--add-scope",
        "billing:admin",
    ])
    .await
    .ok();
    let apis = app.cli(&["api", "list", "--json"]).await.json();
    let billing = apis
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identifier"] == BILLING)
        .unwrap();
    assert_eq!(billing["name"], "Ledger");
    assert!(
        billing["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("billing:admin"))
    );
    app.cli(&["tenant", "update", "acme", "--name", "Acme Corp"])
        .await
        .ok();
    let tenants = app.cli(&["tenant", "list", "--json"]).await.json();
    assert!(
        tenants
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Acme Corp")
    );

    // Once nothing refers to them, they go.
    app.cli(&["client", "update", &svc.id, "--no-roles"])
        .await
        .ok();
    app.cli(&["role", "delete", "--tenant", "acme", "boss"])
        .await
        .ok();
    app.cli(&["api", "update", BILLING, "--remove-scope", "billing:admin"])
        .await
        .ok();
    app.cli(&["client", "delete", &svc.id]).await.ok();
    app.cli(&["api", "delete", BILLING]).await.ok();
    let apis = app.cli(&["api", "list", "--json"]).await.json();
    assert!(
        !apis
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["identifier"] == BILLING)
    );
    app.cli(&["tenant", "delete", "acme"]).await.ok();
    let tenants = app.cli(&["tenant", "list", "--json"]).await.json();
    assert!(
        !tenants
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["slug"] == "acme")
    );
    let gone = app.cli(&["tenant", "delete", "acme"]).await;
    assert!(gone.refusal().contains("does not exist"), "{gone:?}");
}

async fn client_names_are_unique_per_tenant_and_audit_rows_carry_the_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (_, first) = create_svc(&app, "svc").await;
    let again = app
        .cli_create_client("acme", "svc", &["--grant", "client_credentials"])
        .await;
    assert!(
        again
            .refusal()
            .contains("already has a client named \"svc\""),
        "{again:?}"
    );
    // Two registrations of one new name at once: exactly one is made.
    let grant = ["--grant", "client_credentials"];
    let (a, b) = tokio::join!(
        app.cli_create_client("acme", "twin", &grant),
        app.cli_create_client("acme", "twin", &grant)
    );
    assert_eq!(
        [a.success, b.success].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    let twins = app
        .cli(&["client", "list", "--tenant", "acme", "--json"])
        .await
        .json();
    let named_twin = twins
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "twin")
        .count();
    assert_eq!(named_twin, 1);

    // An update cannot reach across tenants: an API another tenant owns, a role of another.
    app.cli(&["tenant", "create", "beta"]).await.ok();
    app.cli_create_api(
        "urn:example:beta-only",
        &["--scope", "b", "--tenant", "beta"],
    )
    .await
    .ok();
    app.cli(&["role", "create", "--tenant", "beta", "beta-admin"])
        .await
        .ok();
    for extra in [
        &["--api", "urn:example:beta-only", "--scope", "b"][..],
        &["--role", "beta-admin"][..],
    ] {
        let mut args = vec!["client", "update", first.id.as_str()];
        args.extend_from_slice(extra);
        let out = app.cli(&args).await;
        assert!(!out.success, "{extra:?}: {out:?}");
        assert!(!out.stderr.contains("internal"), "{out:?}");
    }
    let shown = app
        .cli(&["client", "show", &first.id, "--json"])
        .await
        .json();
    assert_eq!(
        shown["apis"],
        json!([{"api": BILLING, "scopes": ["billing:read"]}])
    );
    assert_eq!(shown["roles"], json!(["admin"]));
    // Another tenant may use the name.
    let other = app
        .cli_create_client("default", "svc", &["--grant", "client_credentials"])
        .await;
    other.ok();
    let (_, second) = create_svc(&app, "svc 2").await;
    let rename = app
        .cli(&["client", "update", &second.id, "--name", "svc"])
        .await;
    assert!(rename.refusal().contains("unique per tenant"), "{rename:?}");

    let rows = app.audit_rows(&["client.created"]).await;
    let created: Vec<&Value> = rows
        .iter()
        .filter(|r| r["event"] == "client.created")
        .collect();
    for id in [&first.id, &second.id] {
        assert!(
            created.iter().any(|r| r["client_id"] == id.as_str()),
            "no client.created row carries {id}: {created:#?}"
        );
    }
}
