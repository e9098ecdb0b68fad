//! Hostile token requests: NUL bytes, emoji, huge and numerous values. Each gets a 4xx error in
//! JSON, never a 5xx, and no error description echoes its input unbounded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::on_both_backends;
use crate::support::oauth::error_of;
use crate::support::{Backend, TestApp};

const ORDERS: &str = "https://orders.example.com";
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

on_both_backends!(
    hostile_inputs_never_cause_a_server_error,
    error_descriptions_do_not_echo_input_at_any_length,
);

async fn hostile_inputs_never_cause_a_server_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client_for(ORDERS, &["orders:read"]).await;
    let auth = client.basic();
    let long_id = "a".repeat(100 * 1024);
    let long_basic = format!("Basic {}", STANDARD.encode(format!("{long_id}:x")));
    let emoji_basic = format!("Basic {}", STANDARD.encode("😀:😀"));
    let thousand: String = (0..1000)
        .map(|i| format!("p{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let thousand = format!("grant_type=client_credentials&{thousand}");
    let long_scope = format!("grant_type=client_credentials&scope={}", "s".repeat(60_000));
    let many_scopes = format!(
        "grant_type=client_credentials&scope={}",
        vec!["s"; 20_000].join("+")
    );
    let long_resource = format!(
        "grant_type=client_credentials&resource=https%3A%2F%2F{}",
        "r".repeat(60_000)
    );
    let long_grant = format!("grant_type={}", "g".repeat(60_000));

    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        (
            "100 KB client_id in Basic",
            Some(&long_basic),
            b"grant_type=client_credentials".to_vec(),
        ),
        (
            "emoji in Basic",
            Some(&emoji_basic),
            b"grant_type=client_credentials".to_vec(),
        ),
        (
            "NUL in grant_type",
            Some(&auth),
            b"grant_type=client_credentials\0".to_vec(),
        ),
        (
            "escaped NUL in grant_type",
            Some(&auth),
            b"grant_type=client_credentials%00".to_vec(),
        ),
        (
            "NUL in scope",
            Some(&auth),
            b"grant_type=client_credentials&scope=%00".to_vec(),
        ),
        (
            "NUL in resource",
            Some(&auth),
            b"grant_type=client_credentials&resource=urn%3Aa%00".to_vec(),
        ),
        (
            "NUL client_id",
            None,
            b"grant_type=client_credentials&client_id=%00&client_secret=x".to_vec(),
        ),
        ("NUL bytes only", Some(&auth), vec![0; 64]),
        (
            "emoji grant",
            Some(&auth),
            "grant_type=😀".as_bytes().to_vec(),
        ),
        (
            "emoji scope",
            Some(&auth),
            "grant_type=client_credentials&scope=😀".as_bytes().to_vec(),
        ),
        (
            "emoji resource",
            Some(&auth),
            "grant_type=client_credentials&resource=😀"
                .as_bytes()
                .to_vec(),
        ),
        (
            "emoji audience",
            Some(&auth),
            "grant_type=client_credentials&audience=😀"
                .as_bytes()
                .to_vec(),
        ),
        (
            "emoji client_id",
            None,
            "grant_type=client_credentials&client_id=😀&client_secret=😀"
                .as_bytes()
                .to_vec(),
        ),
        ("1000 parameters", Some(&auth), thousand.into_bytes()),
        ("60 KB scope token", Some(&auth), long_scope.into_bytes()),
        ("20000 scope tokens", Some(&auth), many_scopes.into_bytes()),
        ("60 KB resource", Some(&auth), long_resource.into_bytes()),
        ("60 KB grant_type", Some(&auth), long_grant.into_bytes()),
        ("only separators", Some(&auth), b"&&&&====&&&".to_vec()),
        ("lone percent", Some(&auth), b"%".to_vec()),
        (
            "control characters",
            Some(&auth),
            b"grant_type=client_credentials&scope=%01%02%1b".to_vec(),
        ),
        ("empty body", Some(&auth), Vec::new()),
    ];
    for (what, authorization, body) in cases {
        let response = app.token_raw(FORM, authorization, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!((400..500).contains(&status), "{what}: {status} {text}");
        // hyper may refuse huge headers itself (431); everything the server answers is JSON.
        if status != 431 {
            let body: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
            assert!(body["error"].as_str().is_some(), "{what}: {body}");
            assert!(body.get("access_token").is_none(), "{what}: {body}");
        }
    }
}

async fn error_descriptions_do_not_echo_input_at_any_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client_for(ORDERS, &["orders:read"]).await;
    // The server truncates echoed grant types and audiences; every echo should be bounded.
    let big = "x".repeat(30_000);
    let many: Vec<String> = (0..4000).map(|i| format!("s{i}")).collect();
    let bodies = [
        (
            "many ungranted scopes",
            format!("grant_type=client_credentials&scope={}", many.join("+")),
        ),
        ("grant_type", format!("grant_type={big}")),
        (
            "scope",
            format!("grant_type=client_credentials&scope={big}"),
        ),
        (
            "audience",
            format!("grant_type=client_credentials&audience=urn%3A{big}"),
        ),
        (
            "resource",
            format!("grant_type=client_credentials&resource=urn%3A{big}"),
        ),
        (
            "resource",
            format!("grant_type=client_credentials&resource={big}"),
        ),
    ];
    let mut too_long = Vec::new();
    for (what, body) in bodies {
        let response = app
            .token_raw(FORM, Some(&client.basic()), body.into_bytes())
            .await;
        let (status, err) = error_of(response).await;
        assert_eq!(status, 400, "{what}");
        let description = err["error_description"].as_str().unwrap();
        if description.len() > 1024 {
            too_long.push(format!("{what}: {} bytes", description.len()));
        }
    }
    assert!(too_long.is_empty(), "unbounded echoes: {too_long:?}");
}
