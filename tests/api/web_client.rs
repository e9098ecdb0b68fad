//! The README's quick-start: `examples/web-client.rs` as a process, against a real server, with
//! a person signing in through headless Chromium. The example checks state and iss, exchanges the
//! code with its PKCE verifier, validates the ID token and prints the claims.

use std::path::PathBuf;
use std::process::Stdio;

use fantoccini::Locator;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::browser::{Browser, appears, submit, type_credentials};
use crate::support::binary::free_port;
use crate::support::{Backend, PASSWORD, PATIENCE, TestApp, TestClient};

#[tokio::test]
async fn the_example_web_client_signs_a_person_in() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_ada(&[]).await;
    let port = free_port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let created = app
        .cli_create_client(
            "default",
            "web-client-example",
            &[
                "--display-name",
                "The example app",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                &redirect_uri,
                "--json",
            ],
        )
        .await
        .json();
    let client = TestClient::from_created(&created);

    let mut example = Command::new(example_binary("web-client").await)
        .args(["--issuer", &app.issuer, "--client-id", &client.id])
        .args(["--port", &port.to_string()])
        .env("WEB_CLIENT_SECRET", &client.secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(example.stdout.take().unwrap()).lines();
    let mut said = String::new();
    let open = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push_str(&line);
            said.push('\n');
            if let Some(url) = line.strip_prefix("Open in a browser: ") {
                return url.to_owned();
            }
        }
        panic!("the example ended before saying what to open:\n{said}");
    })
    .await
    .expect("the example starts");
    assert!(
        said.contains(&format!(
            "Register this redirect URI for the client: {redirect_uri}"
        )),
        "{said}"
    );

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&open).await.unwrap();
    appears(page, Locator::Id("username")).await;
    assert_eq!(page.title().await.unwrap(), "Sign in to The example app");
    type_credentials(page, PASSWORD).await;
    submit(page).await;
    appears(page, Locator::Css("button[value=allow]"))
        .await
        .click()
        .await
        .unwrap();
    let outcome = appears(page, Locator::Id("outcome")).await;
    assert_eq!(
        outcome.text().await.unwrap(),
        "Signed in as ada. The claims are in the terminal."
    );
    browser.close().await;

    let status = tokio::time::timeout(PATIENCE, example.wait())
        .await
        .expect("the example exits after the sign-in")
        .unwrap();
    let mut rest = String::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    let mut stderr = String::new();
    example
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {rest}{stderr}");
    let json = rest
        .split_once("ID token claims:\n")
        .and_then(|(_, after)| after.split_once("\n}\n"))
        .map(|(claims, _)| format!("{claims}\n}}"))
        .unwrap_or_else(|| panic!("no claims printed:\n{rest}"));
    let claims: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], serde_json::json!([client.id]));
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["email"], "ada@example.com");
    assert!(claims["nonce"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(!rest.contains(&client.secret), "the secret is not printed");
}

/// An example's binary, beside this test binary's folder (`target/debug/examples/`), built
/// first: `cargo test` builds the examples, but a run of this test binary alone (`cargo test
/// --test api`) does not, and an old binary would test old code. Cargo lets go of the build
/// folder before it runs the tests, so this inner build does not wait on the outer one.
async fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let built = tokio::time::timeout(std::time::Duration::from_secs(600), build.status())
        .await
        .expect("cargo build --example finishes")
        .unwrap();
    assert!(built.success(), "cargo build --example {name} failed");
    let binary = profile_dir.join("examples").join(name);
    assert!(binary.is_file(), "no {}", binary.display());
    binary
}
