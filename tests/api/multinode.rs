//! Two real `castellan serve` processes on one PostgreSQL database: shared keys, rotation seen by
//! both within seconds, every token valid at the other node, and a node killed mid-rotation.

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use castellan::clock::Clock;
use castellan::protocol::{ApiIdentifier, Scope, TenantSlug};
use castellan::store::Store;
use castellan::store::keys::KeyState;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::helpers::{Backend, PATIENCE, free_port, fresh_database};
use crate::validator::Validator;

const API: &str = "https://inventory.example.com";
const ISSUER: &str = "http://castellan.test";

struct Node {
    base: String,
    child: Child,
}

impl Node {
    async fn start(env: &[(String, String)], dir: &std::path::Path) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_castellan"))
            .arg("serve")
            .envs(env.iter().cloned())
            .env("CASTELLAN_LISTEN", format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let node = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await
                && r.status() == 200
            {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "node on port {port} never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A token, or `None` if the node refused (it may not have seen the client yet).
    async fn try_token(&self, http: &reqwest::Client, id: &str, secret: &str) -> Option<String> {
        let response = http
            .post(format!("{}/token", self.base))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        if response.status() != 200 {
            return None;
        }
        let body: Value = response.json().await.unwrap();
        Some(body["access_token"].as_str().unwrap().to_owned())
    }

    async fn token(&self, http: &reqwest::Client, id: &str, secret: &str) -> String {
        self.try_token(http, id, secret).await.expect("a token")
    }

    async fn jwks_kids(&self, http: &reqwest::Client) -> Vec<String> {
        let jwks: Value = http
            .get(format!("{}/jwks.json", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn cli(env: &[(String, String)], dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_castellan"))
        .args(args)
        .envs(env.iter().cloned())
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "castellan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Polls `check` until it holds, failing after `limit`.
async fn within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_nodes_rotate_together_and_survive_a_kill_mid_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await;
    let mut key = [0u8; 32];
    castellan::crypto::random::fill(&mut key).unwrap();
    let env: Vec<(String, String)> = [
        ("CASTELLAN_DATABASE_URL", url.as_str()),
        (
            "CASTELLAN_MASTER_KEY",
            &base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("CASTELLAN_ISSUER", ISSUER),
        ("CASTELLAN_JWKS_MAX_AGE", "1"),
        ("CASTELLAN_KEY_PUBLISH_AHEAD", "11"),
        ("CASTELLAN_ACCESS_TOKEN_TTL", "10"),
        ("CASTELLAN_MAX_TOKEN_TTL", "10"),
        ("CASTELLAN_CLOCK_SKEW", "0"),
        ("CASTELLAN_KEY_ROTATION_PERIOD", "3600"),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut a = Node::start(&env, dir.path()).await;
    let b = Node::start(&env, dir.path()).await;
    let http = reqwest::Client::new();

    let store = Store::open(&url, 2).await.unwrap();
    let now = Clock::System.now();
    store
        .create_api(
            &ApiIdentifier::parse(API).unwrap(),
            "Inventory",
            &[Scope::parse("inv:read").unwrap()],
            now,
        )
        .await
        .unwrap();
    let new = castellan::store::clients::NewClient {
        tenant: TenantSlug::parse("default").unwrap(),
        name: "svc".into(),
        grant_types: vec![castellan::protocol::GrantType::ClientCredentials],
        apis: vec![(
            ApiIdentifier::parse(API).unwrap(),
            vec![Scope::parse("inv:read").unwrap()],
        )],
        resource_server_for: vec![],
        roles: vec![],
        token_ttl: None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        public: false,
        skip_consent: false,
    };
    let (client, secret) = castellan::admin::create_client(&store, &Clock::System, &new)
        .await
        .unwrap();
    let (id, secret) = (
        client.client_id.to_string(),
        secret.unwrap().secret().to_owned(),
    );

    // Both nodes publish the same single key; tokens from each validate at the other.
    let mut at_a = Validator::new(&format!("{}/jwks.json", a.base), ISSUER, API);
    let mut at_b = Validator::new(&format!("{}/jwks.json", b.base), ISSUER, API);
    let mut first = String::new();
    within(PATIENCE, "the node sees the new client", async || {
        first = b.try_token(&http, &id, &secret).await.unwrap_or_default();
        !first.is_empty()
    })
    .await;
    assert_eq!(a.jwks_kids(&http).await, b.jwks_kids(&http).await);
    let first_kid = kid_of(&first);

    // Rotation with --now through the CLI: both nodes sign with the new key, without a restart.
    cli(&env, dir.path(), &["keys", "rotate", "--now"]).await;
    within(PATIENCE, "both nodes sign with the new key", async || {
        let ta = a.token(&http, &id, &secret).await;
        let tb = b.token(&http, &id, &secret).await;
        kid_of(&ta) != first_kid && kid_of(&tb) == kid_of(&ta)
    })
    .await;
    let second_kid = kid_of(&a.token(&http, &id, &secret).await);
    for _ in 0..5 {
        let (ta, tb) = (
            a.token(&http, &id, &secret).await,
            b.token(&http, &id, &secret).await,
        );
        at_b.validate(&ta, Clock::System.now()).await.unwrap();
        at_a.validate(&tb, Clock::System.now()).await.unwrap();
    }
    at_b.validate(&first, Clock::System.now())
        .await
        .expect("the retired key stays published");

    // A scheduled-style rotation: published now, active after 11 s. Kill A inside that window.
    let unknown_before = at_b.unknown_kid_refetches;
    cli(&env, dir.path(), &["keys", "rotate"]).await;
    let mut next_kid = String::new();
    within(PATIENCE, "both nodes publish the next key", async || {
        let (ka, kb) = (a.jwks_kids(&http).await, b.jwks_kids(&http).await);
        match ka.iter().find(|k| **k != first_kid && **k != second_kid) {
            Some(k) if kb.contains(k) => {
                next_kid = k.clone();
                true
            }
            _ => false,
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.child.kill().await.unwrap();

    // The survivor keeps issuing valid tokens, performs the activation, and signs with the new key.
    let started = Instant::now();
    let mut switched = false;
    // Activation is due 11 s after publication; a loaded machine may take longer to get there.
    while started.elapsed() < Duration::from_secs(11) + PATIENCE {
        let token = b.token(&http, &id, &secret).await;
        at_b.validate(&token, Clock::System.now()).await.unwrap();
        if kid_of(&token) == next_kid {
            switched = true;
            break;
        }
        assert_eq!(
            kid_of(&token),
            second_kid,
            "only the active key signs until the switch"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        switched,
        "the surviving node never activated the published key"
    );
    assert_eq!(
        at_b.unknown_kid_refetches, unknown_before,
        "a key published ahead was never unknown to a caching validator"
    );

    let keys = store.list_keys().await.unwrap();
    let active: Vec<_> = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kid, next_kid);
    let published = b.jwks_kids(&http).await;
    assert!(
        published.contains(&next_kid) && published.contains(&second_kid),
        "{published:?}"
    );
    store.close().await;
}
