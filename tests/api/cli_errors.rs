//! What the `castellan` binary refuses, it refuses clearly: bad input to the management
//! commands, and a misspelt variable.

use serde_json::json;

use crate::on_both_backends;
use crate::support::cli::BILLING;
use crate::support::{Backend, TestApp};

on_both_backends!(cli_refuses_bad_input_clearly);

async fn cli_refuses_bad_input_clearly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let client = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "bad",
            "--grant",
            "client_credentials",
        ];
        args.extend_from_slice(extra);
        args
    };
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "unknown tenant",
            client(&[
                "--tenant",
                "nope",
                "--api",
                BILLING,
                "--scope",
                "billing:read",
            ]),
            "nope",
        ),
        (
            "role in unknown tenant",
            vec!["role", "create", "--tenant", "nope", "r"],
            "nope",
        ),
        (
            "API identifier that is not a URI",
            vec!["api", "create", "--identifier", "billing.example.com"],
            "billing.example.com",
        ),
        (
            "duplicate tenant slug",
            vec!["tenant", "create", "acme"],
            "acme",
        ),
        (
            "duplicate API",
            vec!["api", "create", "--identifier", BILLING],
            BILLING,
        ),
        (
            "--scope before any --api",
            client(&[
                "--tenant",
                "acme",
                "--scope",
                "billing:read",
                "--api",
                BILLING,
            ]),
            "--scope",
        ),
        (
            "scope the API does not define",
            client(&[
                "--tenant",
                "acme",
                "--api",
                BILLING,
                "--scope",
                "billing:delete",
            ]),
            "billing:delete",
        ),
        (
            "scope of the other API",
            client(&["--tenant", "acme", "--api", BILLING, "--scope", "x"]),
            "\"x\"",
        ),
        (
            "unknown API",
            client(&["--tenant", "acme", "--api", "https://nowhere.example.com"]),
            "nowhere.example.com",
        ),
        (
            "unknown role",
            client(&["--tenant", "acme", "--api", BILLING, "--role", "nobody"]),
            "nobody",
        ),
        (
            "--token-ttl 0",
            client(&["--tenant", "acme", "--api", BILLING, "--token-ttl", "0"]),
            "--token-ttl",
        ),
        (
            "unsupported grant",
            vec![
                "client", "create", "--tenant", "acme", "--name", "bad", "--grant", "password",
            ],
            "password",
        ),
        (
            "bad tenant slug",
            vec!["tenant", "create", "Not A Slug"],
            "slug",
        ),
    ];
    for (what, args, mention) in cases {
        let out = app.cli(&args).await;
        assert!(!out.success, "{what}: succeeded: {out:?}");
        assert_ne!(out.code, Some(0));
        let stderr = out.stderr.trim();
        assert!(!stderr.is_empty(), "{what}: no message");
        assert!(
            stderr.contains(mention),
            "{what}: {stderr:?} does not mention {mention:?}"
        );
        assert!(!stderr.contains("internal"), "{what}: {stderr}");
    }

    // Nothing half-created by the refused commands.
    let clients = app
        .cli(&["client", "list", "--tenant", "acme", "--json"])
        .await
        .json();
    assert_eq!(clients, json!([]));
    let tenants = app.cli(&["tenant", "list", "--json"]).await.json();
    let slugs: Vec<&str> = tenants
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "default"]);
}

/// A misspelt variable stops the binary before it does anything, naming the setting meant;
/// the variables of the project's tests and benchmarks are not settings and pass.
#[tokio::test]
async fn a_misspelt_variable_is_refused_with_the_name_meant() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let typo = app
        .cli_with_env(&["serve"], &[("CASTELLAN_ISUER", "https://id.example.com")])
        .await;
    assert_eq!(typo.code, Some(2), "{typo:?}");
    assert!(
        typo.stderr.contains(
            "unknown environment variable CASTELLAN_ISUER; did you mean CASTELLAN_ISSUER?"
        ),
        "{typo:?}"
    );
    let tooling = app
        .cli_with_env(
            &["tenant", "list", "--json"],
            &[
                ("CASTELLAN_TEST_POSTGRES_URL", "postgres://127.0.0.1/x"),
                ("CASTELLAN_BENCH_SECS", "2"),
                ("CASTELLAN_SOAK_RATE", "10"),
            ],
        )
        .await;
    tooling.json();
}

/// The mistakes a newcomer made, each answered with a message that says what to do.
#[tokio::test]
async fn a_newcomers_mistakes_get_messages_to_act_on() {
    use crate::support::binary;
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite://castellan.db";
    let run = async |args: &[&str], env: &[(&str, &str)]| {
        binary::run(dir.path(), url, args, env, b"").await
    };

    // A corrupt TOML file: its path, line and column.
    let config = dir.path().join("castellan.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:9000\"\nissuer = \"http://x\n",
    )
    .unwrap();
    let out = run(
        &["--config", config.to_str().unwrap(), "tenant", "list"],
        &[],
    )
    .await;
    let message = out.refusal();
    assert!(
        message.contains(&format!("{}:2:", config.display())),
        "{message}"
    );

    // A bad issuer, quoted as given, without Rust's `Some(…)`.
    let out = run(&["tenant", "list"], &[("CASTELLAN_ISSUER", "ftp://x")]).await;
    let message = out.refusal();
    assert!(
        message.contains("issuer \"ftp://x\" must be an absolute http"),
        "{message}"
    );
    assert!(!message.contains("Some("), "{message}");

    // `serve --port`: the setting that does it.
    let out = run(&["serve", "--port", "9000"], &[]).await;
    let message = out.refusal();
    assert!(message.contains("`listen` setting"), "{message}");
    assert!(
        message.contains("CASTELLAN_LISTEN=127.0.0.1:9000"),
        "{message}"
    );
    assert_eq!(out.code, Some(2));

    // A host name as the listen address is accepted; one that does not resolve says so.
    let out = run(&["init"], &[("CASTELLAN_LISTEN", "localhost:8092")]).await;
    out.ok();
    let out = run(
        &["tenant", "list"],
        &[("CASTELLAN_LISTEN", "no-such-host.invalid:8092")],
    )
    .await;
    assert!(out.refusal().contains("does not resolve"), "{out:?}");
    let out = run(&["tenant", "list"], &[("CASTELLAN_LISTEN", "localhost")]).await;
    assert!(out.refusal().contains("needs a port"), "{out:?}");

    // A file that is no PEM at all: what was expected.
    let pem = dir.path().join("key.pem");
    std::fs::write(&pem, "not a key\n").unwrap();
    let out = run(&["keys", "import", pem.to_str().unwrap()], &[]).await;
    let message = out.refusal();
    assert!(message.contains("-----BEGIN PRIVATE KEY-----"), "{message}");
}
