//! OpenID Connect standard claims (OIDC Core §5.1): `given_name`, `family_name` and `updated_at`
//! with `profile`; `email_verified` with `email`, in the ID token and at `/userinfo` alike.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::oauth::claims_unverified;
use crate::support::{Backend, PASSWORD, TestApp, text};

on_both_backends!(profile_and_email_claims_follow_the_user_record);

async fn profile_and_email_claims_follow_the_user_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .cli_create_user(
            "default",
            "ada",
            &[
                "--email",
                "ada@example.com",
                "--email-verified",
                "--name",
                "Ada Lovelace",
                "--given-name",
                "Ada",
                "--family-name",
                "Lovelace",
                "--json",
            ],
            PASSWORD.as_bytes(),
        )
        .await
        .json();
    let updated_at = created["updated_at"].as_i64().unwrap();
    let rp = app.rp(app.create_web_client(&[]).await);
    let tokens = app.browser().signed_in_tokens(&rp).await;
    let id = claims_unverified(&text(&tokens, "id_token"));
    assert_eq!(id["given_name"], "Ada");
    assert_eq!(id["family_name"], "Lovelace");
    assert_eq!(id["name"], "Ada Lovelace");
    assert_eq!(id["updated_at"], updated_at);
    assert_eq!(id["email"], "ada@example.com");
    assert_eq!(id["email_verified"], true);
    let info: Value = app
        .userinfo(Some(&text(&tokens, "access_token")))
        .await
        .json()
        .await
        .unwrap();
    for claim in [
        "given_name",
        "family_name",
        "name",
        "updated_at",
        "email",
        "email_verified",
    ] {
        assert_eq!(info[claim], id[claim], "{claim}: {info}");
    }

    // A new address is unverified until the operator says otherwise.
    let changed = app
        .cli(&[
            "user",
            "update",
            "--tenant",
            "default",
            "ada",
            "--email",
            "ada@lovelace.example",
            "--given-name",
            "Augusta Ada",
            "--json",
        ])
        .await
        .json();
    assert_eq!(changed["email_verified"], false);
    let refreshed: Value = rp
        .refresh(&text(&tokens, "refresh_token"), None)
        .await
        .json()
        .await
        .unwrap();
    let id = claims_unverified(&text(&refreshed, "id_token"));
    assert_eq!(id["email"], "ada@lovelace.example");
    assert_eq!(id["email_verified"], false);
    assert_eq!(id["given_name"], "Augusta Ada");
    assert!(id["updated_at"].as_i64().unwrap() >= updated_at);

    // Without the scopes, none of it.
    let narrow = rp
        .refresh(&text(&refreshed, "refresh_token"), Some("openid"))
        .await;
    let narrow: Value = narrow.json().await.unwrap();
    let id = claims_unverified(&text(&narrow, "id_token"));
    for claim in [
        "given_name",
        "family_name",
        "updated_at",
        "email",
        "email_verified",
    ] {
        assert!(id.get(claim).is_none(), "{claim} without its scope: {id}");
    }

    let refused = app
        .cli(&[
            "user",
            "update",
            "--tenant",
            "default",
            "ada",
            "--no-email",
            "--email-verified",
            "true",
        ])
        .await;
    assert!(
        refused.refusal().contains("nothing to verify"),
        "{refused:?}"
    );

    // The discovery document lists them.
    let discovery = app.openid_configuration().await;
    let supported = discovery["claims_supported"].as_array().unwrap();
    for claim in ["given_name", "family_name", "updated_at", "email_verified"] {
        assert!(supported.contains(&Value::from(claim)), "{claim}");
    }
}

/// At a terminal, `--password-stdin` asks twice and echoes nothing (run under `script`, which
/// gives the command a pseudo-terminal and records all it shows).
#[tokio::test]
async fn the_password_prompt_at_a_terminal_does_not_echo() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let command = format!(
        "{} user create --tenant default --username grace --password-stdin",
        env!("CARGO_BIN_EXE_castellan")
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("CASTELLAN_DATABASE_URL", &app.database_url)
        .env("CASTELLAN_MASTER_KEY_FILE", app.master_key_path())
        .env_remove("CASTELLAN_TEST_POSTGRES_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let secret = "hopper-cobol-1959";
    // Typed after each prompt has had time to turn echo off.
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{secret}\n").as_bytes())
            .await
            .unwrap();
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("Password:"), "{shown}");
    assert!(shown.contains("Repeat the password:"), "{shown}");
    assert!(shown.contains("created user grace"), "{shown}");
    assert!(!shown.contains(secret), "the password was echoed: {shown}");
}
