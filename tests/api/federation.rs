//! Federated workload identity: Kubernetes-style service-account tokens, CI job tokens and SPIFFE
//! JWT-SVIDs, made here by local key sets (no cluster needed), authenticate as linked clients.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::assertion::{ClientKeyPair, JWT_BEARER, random_jti, time_now};
use crate::support::cli::BILLING;
use crate::support::oauth::claims_unverified;
use crate::support::{Backend, CC, TestApp, eventually, expect_oauth_error, text};

const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:payments:api";

on_both_backends!(
    a_kubernetes_service_account_token_authenticates_its_linked_client,
    a_ci_token_must_meet_its_conditions_and_is_used_once,
    a_spiffe_jwt_svid_authenticates_by_its_spiffe_id,
);

/// A client of BILLING (scope billing:read) in `tenant`, authenticating with a secret it will
/// not use: the trust link is what lets the workload in.
async fn service(app: &TestApp, tenant: &str) -> String {
    app.cli_service(tenant, BILLING, "billing:read").await.id
}

async fn setup(app: &TestApp) {
    app.cli_create_api(
        BILLING,
        &["--scope", "billing:read", "--scope", "billing:write"],
    )
    .await
    .ok();
}

fn trust_file(app: &TestApp, name: &str, key: &ClientKeyPair) -> String {
    let file = app.dir.path().join(format!("{name}.jwks"));
    std::fs::write(&file, ClientKeyPair::jwks(&[key])).unwrap();
    file.to_str().unwrap().to_owned()
}

async fn present(app: &TestApp, client: &str, kind: &str, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .form(&[
            CC,
            ("resource", BILLING),
            ("client_id", client),
            ("client_assertion_type", kind),
            ("client_assertion", token),
        ])
        .send()
        .await
        .unwrap()
}

/// What a projected service-account token holds (`kubectl create token api --audience …`).
fn kubernetes_claims(audience: &str, subject: &str) -> Value {
    let now = time_now();
    json!({
        "iss": CLUSTER, "sub": subject, "aud": [audience],
        "iat": now, "nbf": now, "exp": now + 600,
        "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}}
    })
}

async fn a_kubernetes_service_account_token_authenticates_its_linked_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let cluster = ClientKeyPair::rs256("cluster-key-1");
    let file = trust_file(&app, "cluster", &cluster);
    app.cli(&[
        "trust",
        "create",
        "--tenant",
        "default",
        "--name",
        "cluster",
        "--issuer",
        CLUSTER,
        "--jwks-file",
        &file,
        "--reusable-jti",
    ])
    .await
    .ok();
    let client = service(&app, "default").await;
    let linked = app
        .cli(&[
            "client",
            "link",
            &client,
            "--trust",
            "cluster",
            "--subject",
            SERVICE_ACCOUNT,
            "--json",
        ])
        .await
        .json();
    assert_eq!(linked["trust_links"][0]["subject"], SERVICE_ACCOUNT);

    let token = cluster.sign(&kubernetes_claims(&app.issuer, SERVICE_ACCOUNT));
    let issued = present(&app, &client, JWT_BEARER, &token).await;
    assert_eq!(issued.status(), 200);
    let issued: Value = issued.json().await.unwrap();
    let claims = claims_unverified(&text(&issued, "access_token"));
    // The client's own identity and grants, nothing from the external token.
    assert_eq!(claims["sub"], client.as_str());
    assert_eq!(claims["client_id"], client.as_str());
    assert_eq!(claims["tenant_id"], "default");
    assert_eq!(claims["scope"], "billing:read");
    assert!(claims.get("kubernetes.io").is_none());
    let rows = app.audit_rows(&["client.authenticated"]).await;
    assert!(
        rows.iter().any(|r| r["event"] == "client.authenticated"
            && r["client_id"] == client.as_str()
            && r["detail"].as_str().is_some_and(|d| d.contains("federated")
                && d.contains(CLUSTER)
                && d.contains(SERVICE_ACCOUNT)
                && d.contains("cluster-key-1"))),
        "{rows:#?}"
    );
    // Projected tokens are presented many times: this trust allows it.
    assert_eq!(
        present(&app, &client, JWT_BEARER, &token).await.status(),
        200
    );
    // Asking for more than the client's grant is refused as usual.
    let wider = app
        .http
        .post(app.url("/token"))
        .form(&[
            CC,
            ("resource", BILLING),
            ("scope", "billing:write"),
            ("client_id", client.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    expect_oauth_error(wider, 400, "invalid_scope").await;

    let other_key = ClientKeyPair::rs256("cluster-key-1");
    let mut far = kubernetes_claims(&app.issuer, SERVICE_ACCOUNT);
    far["exp"] = json!(time_now() + 7200);
    let refused: Vec<(&str, String)> = vec![
        (
            "another service account",
            cluster.sign(&kubernetes_claims(
                &app.issuer,
                "system:serviceaccount:payments:other",
            )),
        ),
        (
            "another audience",
            cluster.sign(&kubernetes_claims(
                "https://elsewhere.example",
                SERVICE_ACCOUNT,
            )),
        ),
        (
            "another cluster's key",
            other_key.sign(&kubernetes_claims(&app.issuer, SERVICE_ACCOUNT)),
        ),
        ("lives too long", cluster.sign(&far)),
        (
            "another issuer",
            cluster.sign(&{
                let mut c = kubernetes_claims(&app.issuer, SERVICE_ACCOUNT);
                c["iss"] = json!("https://other-cluster.example");
                c
            }),
        ),
    ];
    for (what, token) in refused {
        let response = present(&app, &client, JWT_BEARER, &token).await;
        let (_, body) = expect_oauth_error(response, 401, "invalid_client").await;
        let description = body["error_description"].as_str().unwrap_or("");
        let reason = match what {
            "another service account" | "another issuer" => "no trust of this client accepts",
            "another audience" => "aud must include",
            "another cluster's key" => "signature does not verify",
            _ => "lives too long",
        };
        assert!(description.contains(reason), "{what}: {body}");
    }
    // The token names no client: presented for another one, it is refused.
    let stranger = service(&app, "default").await;
    let response = present(&app, &stranger, JWT_BEARER, &token).await;
    expect_oauth_error(response, 401, "invalid_client").await;

    // Too many keys in a set, and a degenerate SPIFFE trust domain, are refused at creation.
    let many: Vec<ClientKeyPair> = (0..11)
        .map(|i| ClientKeyPair::ed25519(&format!("k{i}")))
        .collect();
    let many_file = app.dir.path().join("many.jwks");
    std::fs::write(
        &many_file,
        ClientKeyPair::jwks(&many.iter().collect::<Vec<_>>()),
    )
    .unwrap();
    let many_path = many_file.to_str().unwrap();
    let out = app
        .cli(&[
            "trust",
            "create",
            "--tenant",
            "default",
            "--name",
            "many",
            "--issuer",
            CLUSTER,
            "--jwks-file",
            many_path,
        ])
        .await;
    assert!(out.refusal().contains("at most 10"), "{out:?}");
    let one = trust_file(&app, "one", &cluster);
    let out = app
        .cli(&[
            "trust",
            "create",
            "--tenant",
            "default",
            "--name",
            "all",
            "--issuer",
            "spiffe:///",
            "--spiffe",
            "--jwks-file",
            &one,
        ])
        .await;
    assert!(out.refusal().contains("trust domain"), "{out:?}");

    // A trust of another tenant cannot be linked; a linked trust cannot be deleted.
    app.cli_tenants(&["acme"]).await;
    let foreign = service(&app, "acme").await;
    let out = app
        .cli(&[
            "client",
            "link",
            &foreign,
            "--trust",
            "cluster",
            "--subject",
            SERVICE_ACCOUNT,
        ])
        .await;
    assert!(out.refusal().contains("has no trust named"), "{out:?}");
    let out = app
        .cli(&["trust", "delete", "--tenant", "default", "cluster"])
        .await;
    assert!(
        out.refusal().contains("still linked to 1 client"),
        "{out:?}"
    );

    // Disabled, then unlinked: refused.
    app.cli(&["client", "disable", &client]).await.ok();
    eventually("a disabled client is refused", async || {
        (present(&app, &client, JWT_BEARER, &token).await.status() == 401).then_some(())
    })
    .await;
    app.cli(&["client", "enable", &client]).await.ok();
    app.cli(&["client", "unlink", &client, "--trust", "cluster"])
        .await
        .ok();
    eventually("an unlinked subject is refused", async || {
        (present(&app, &client, JWT_BEARER, &token).await.status() == 401).then_some(())
    })
    .await;
    app.cli(&["trust", "delete", "--tenant", "default", "cluster"])
        .await
        .ok();
    let listed = app.cli(&["trust", "list", "--json"]).await.json();
    assert_eq!(listed, json!([]));
}

async fn a_ci_token_must_meet_its_conditions_and_is_used_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let ci = ClientKeyPair::es256("ci-1");
    // A single JWK (not a set) is as good a key file.
    let single = app.dir.path().join("ci.jwk");
    std::fs::write(&single, ci.jwk.to_string()).unwrap();
    let file = single.to_str().unwrap().to_owned();
    let issuer = "https://token.actions.example.com";
    app.cli(&[
        "trust",
        "create",
        "--tenant",
        "default",
        "--name",
        "ci",
        "--issuer",
        issuer,
        "--jwks-file",
        &file,
        "--audience",
        "castellan",
        "--claim",
        "repository_owner=acme",
    ])
    .await
    .ok();
    let client = service(&app, "default").await;
    let subject = "repo:acme/payments:ref:refs/heads/main";
    app.cli(&[
        "client",
        "link",
        &client,
        "--trust",
        "ci",
        "--subject",
        subject,
        "--claim",
        "repository=acme/payments",
    ])
    .await
    .ok();
    let job = |repository: &str, owner: &str| {
        let now = time_now();
        json!({"iss": issuer, "sub": subject, "aud": "castellan", "iat": now, "exp": now + 300,
            "jti": random_jti(), "repository": repository, "repository_owner": owner})
    };
    // A second trust of the same issuer, linked to another client.
    app.cli(&[
        "trust",
        "create",
        "--tenant",
        "default",
        "--name",
        "ci-again",
        "--issuer",
        issuer,
        "--jwks-file",
        &file,
        "--audience",
        "castellan",
    ])
    .await
    .ok();
    let other = service(&app, "default").await;
    app.cli(&[
        "client",
        "link",
        &other,
        "--trust",
        "ci-again",
        "--subject",
        subject,
    ])
    .await
    .ok();
    let token = ci.sign(&job("acme/payments", "acme"));
    assert_eq!(
        present(&app, &client, JWT_BEARER, &token).await.status(),
        200
    );
    let (_, body) = expect_oauth_error(
        present(&app, &client, JWT_BEARER, &token).await,
        401,
        "invalid_client",
    )
    .await;
    // Used once, it is used up for every trust of its issuer.
    let (_, again) = expect_oauth_error(
        present(&app, &other, JWT_BEARER, &token).await,
        401,
        "invalid_client",
    )
    .await;
    assert!(again.to_string().contains("already used"), "{again}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    for token in [
        ci.sign(&job("acme/other", "acme")),
        ci.sign(&job("acme/payments", "evil")),
        ci.sign(&{
            let mut c = job("acme/payments", "acme");
            c.as_object_mut().unwrap().remove("jti");
            c
        }),
    ] {
        expect_oauth_error(
            present(&app, &client, JWT_BEARER, &token).await,
            401,
            "invalid_client",
        )
        .await;
    }
}

async fn a_spiffe_jwt_svid_authenticates_by_its_spiffe_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let spire = ClientKeyPair::es256("spire-1");
    let file = trust_file(&app, "spire", &spire);
    app.cli(&[
        "trust",
        "create",
        "--tenant",
        "default",
        "--name",
        "mesh",
        "--issuer",
        "spiffe://example.org",
        "--spiffe",
        "--jwks-file",
        &file,
        "--reusable-jti",
    ])
    .await
    .ok();
    let client = service(&app, "default").await;
    let spiffe_id = "spiffe://example.org/ns/payments/sa/api";
    app.cli(&[
        "client",
        "link",
        &client,
        "--trust",
        "mesh",
        "--subject",
        spiffe_id,
    ])
    .await
    .ok();
    let now = time_now();
    // A JWT-SVID may carry no iss: the trust anchor is the operator's.
    let svid =
        spire.sign(&json!({"sub": spiffe_id, "aud": [app.issuer], "exp": now + 300, "iat": now}));
    assert_eq!(
        present(&app, &client, JWT_SPIFFE, &svid).await.status(),
        200
    );
    // As a plain jwt-bearer assertion it matches no trust.
    expect_oauth_error(
        present(&app, &client, JWT_BEARER, &svid).await,
        401,
        "invalid_client",
    )
    .await;
    // The SPIFFE ID must be the linked one, in the trust domain.
    let elsewhere =
        spire.sign(&json!({"sub": "spiffe://evil.org/ns/payments/sa/api", "aud": [app.issuer], "exp": now + 300}));
    expect_oauth_error(
        present(&app, &client, JWT_SPIFFE, &elsewhere).await,
        401,
        "invalid_client",
    )
    .await;
}
