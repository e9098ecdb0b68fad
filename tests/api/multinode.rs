//! Two real `castellan serve` processes on one PostgreSQL database: shared keys, rotation seen by
//! both within seconds, every token valid at the other node, and a node killed mid-rotation.

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use castellan::clock::Clock;
use castellan::store::keys::KeyState;
use serde_json::Value;
use tokio::process::Child;

use crate::support::binary::serve;
use crate::support::db::fresh_database;
use crate::support::oauth::{kid_of, kids};
use crate::support::validator::Validator;
use crate::support::{Backend, CC, PATIENCE, Rp, TestClient, TestDb, eventually};

const API: &str = "https://inventory.example.com";
const ISSUER: &str = "http://castellan.test";

struct Node {
    base: String,
    child: Child,
    http: reqwest::Client,
}

impl Node {
    async fn start(env: &[(&str, &str)], dir: &std::path::Path) -> Self {
        let (mut command, addr) = serve(dir);
        let child = command
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Self {
            base: format!("http://{addr}"),
            child,
            http: reqwest::Client::new(),
        };
        eventually(&format!("node {addr} becomes ready"), async || {
            let ready = node.http.get(format!("{}/readyz", node.base)).send().await;
            ready.is_ok_and(|r| r.status() == 200).then_some(())
        })
        .await;
        node
    }

    /// A token, or `None` if the node refused (it may not have seen the client yet).
    async fn try_token(&self, client: &TestClient) -> Option<String> {
        let rp = Rp::new(client.clone(), &self.base, self.http.clone());
        let response = rp.token(&[CC]).await;
        if response.status() != 200 {
            return None;
        }
        let body: Value = response.json().await.unwrap();
        Some(body["access_token"].as_str().unwrap().to_owned())
    }

    async fn token(&self, client: &TestClient) -> String {
        self.try_token(client).await.expect("a token")
    }

    async fn jwks_kids(&self) -> Vec<String> {
        let jwks = self.http.get(format!("{}/jwks.json", self.base)).send();
        kids(&jwks.await.unwrap().json().await.unwrap())
    }

    fn validator(&self) -> Validator {
        Validator::new(&format!("{}/jwks.json", self.base), ISSUER, API)
    }
}

#[tokio::test]
async fn two_nodes_rotate_together_and_survive_a_kill_mid_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await;
    let mut key = [0u8; 32];
    castellan::crypto::random::fill(&mut key).unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let env = [
        ("CASTELLAN_DATABASE_URL", url.as_str()),
        ("CASTELLAN_MASTER_KEY", &key),
        ("CASTELLAN_ISSUER", ISSUER),
        ("CASTELLAN_JWKS_MAX_AGE", "1"),
        ("CASTELLAN_KEY_PUBLISH_AHEAD", "11"),
        ("CASTELLAN_ACCESS_TOKEN_TTL", "10"),
        ("CASTELLAN_MAX_TOKEN_TTL", "10"),
        ("CASTELLAN_CLOCK_SKEW", "0"),
        ("CASTELLAN_KEY_ROTATION_PERIOD", "3600"),
        ("RUST_LOG", "warn"),
    ];
    let mut a = Node::start(&env, dir.path()).await;
    let b = Node::start(&env, dir.path()).await;

    let db = TestDb::open(url.clone(), dir).await;
    let client = db.client_for(API, &["inv:read"]).await;

    // Both nodes publish the same single key; tokens from each validate at the other.
    let (mut at_a, mut at_b) = (a.validator(), b.validator());
    let first = eventually("the node sees the new client", async || {
        b.try_token(&client).await
    })
    .await;
    assert_eq!(a.jwks_kids().await, b.jwks_kids().await);
    let first_kid = kid_of(&first);

    // Rotation with --now through the CLI: both nodes sign with the new key, without a restart.
    db.cli_with_env(&["keys", "rotate", "--now"], &env)
        .await
        .ok();
    eventually("both nodes sign with the new key", async || {
        let ta = a.token(&client).await;
        let tb = b.token(&client).await;
        (kid_of(&ta) != first_kid && kid_of(&tb) == kid_of(&ta)).then_some(())
    })
    .await;
    let second_kid = kid_of(&a.token(&client).await);
    for _ in 0..5 {
        let (ta, tb) = (a.token(&client).await, b.token(&client).await);
        at_b.validate(&ta, Clock::System.now()).await.unwrap();
        at_a.validate(&tb, Clock::System.now()).await.unwrap();
    }
    at_b.validate(&first, Clock::System.now())
        .await
        .expect("the retired key stays published");

    // A scheduled-style rotation: published now, active after 11 s. Kill A inside that window.
    let unknown_before = at_b.unknown_kid_refetches;
    db.cli_with_env(&["keys", "rotate"], &env).await.ok();
    let next_kid = eventually("both nodes publish the next key", async || {
        let (ka, kb) = (a.jwks_kids().await, b.jwks_kids().await);
        ka.into_iter()
            .find(|k| *k != first_kid && *k != second_kid)
            .filter(|k| kb.contains(k))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.child.kill().await.unwrap();

    // The survivor keeps issuing valid tokens, performs the activation, and signs with the new key.
    let started = Instant::now();
    let mut switched = false;
    // Activation is due 11 s after publication; a loaded machine may take longer to get there.
    while started.elapsed() < Duration::from_secs(11) + PATIENCE {
        let token = b.token(&client).await;
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

    let keys = db.store.list_keys().await.unwrap();
    let active: Vec<_> = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kid, next_kid);
    let published = b.jwks_kids().await;
    assert!(
        published.contains(&next_kid) && published.contains(&second_kid),
        "{published:?}"
    );
    db.store.close().await;
}

/// Two nodes serving RS256 alone are restarted one by one with ES256 enabled. The first to
/// start publishes the first ES256 key as `next`; no ES256 token comes from either node before
/// that key has been published for the window; afterwards both sign ES256, and a caching
/// validator never meets an unknown key.
#[tokio::test]
async fn enabling_an_algorithm_on_two_running_nodes_waits_for_the_window() {
    const ES_API: &str = "https://es.inventory.example.com";
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await;
    let mut key = [0u8; 32];
    castellan::crypto::random::fill(&mut key).unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let env = [
        ("CASTELLAN_DATABASE_URL", url.as_str()),
        ("CASTELLAN_MASTER_KEY", &key),
        ("CASTELLAN_ISSUER", ISSUER),
        ("CASTELLAN_JWKS_MAX_AGE", "1"),
        ("CASTELLAN_KEY_PUBLISH_AHEAD", "11"),
        ("CASTELLAN_ACCESS_TOKEN_TTL", "10"),
        ("CASTELLAN_MAX_TOKEN_TTL", "10"),
        ("CASTELLAN_CLOCK_SKEW", "0"),
        ("CASTELLAN_KEY_ROTATION_PERIOD", "3600"),
        ("RUST_LOG", "warn"),
    ];
    let with_es256 = [&env[..], &[("CASTELLAN_SIGNING_ALGS", "RS256,ES256")]].concat();
    let mut a = Node::start(&env, dir.path()).await;
    let mut b = Node::start(&env, dir.path()).await;
    let db = TestDb::open(url.clone(), dir).await;
    let created = db
        .cli_with_env(
            &[
                "api",
                "create",
                "--identifier",
                ES_API,
                "--scope",
                "r",
                "--signing-alg",
                "ES256",
            ],
            &with_es256,
        )
        .await;
    created.ok();
    let client = db
        .cli_with_env(
            &[
                "client",
                "create",
                "--tenant",
                "default",
                "--name",
                "es",
                "--grant",
                "client_credentials",
                "--api",
                ES_API,
                "--scope",
                "r",
                "--json",
            ],
            &env,
        )
        .await;
    let client = crate::support::TestClient::from_created(&client.json());
    let token = eventually("the nodes see the new client", async || {
        b.try_token(&client).await
    })
    .await;
    assert_eq!(alg_of(&token), "RS256", "ES256 is not enabled yet");

    // A rolling restart: B first, then A, each with ES256 enabled. The validator reads B's JWKS
    // from before A's restart on.
    b.child.kill().await.unwrap();
    b = Node::start(&with_es256, db.dir.path()).await;
    let mut validator = Validator::new(&format!("{}/jwks.json", b.base), ISSUER, ES_API);
    let token = b.token(&client).await;
    assert_eq!(
        alg_of(&token),
        "RS256",
        "the first ES256 key is not active yet"
    );
    validator
        .validate(&token, Clock::System.now())
        .await
        .unwrap();
    a.child.kill().await.unwrap();
    a = Node::start(&with_es256, db.dir.path()).await;
    let keys = db.store.list_keys().await.unwrap();
    let es: Vec<_> = keys
        .iter()
        .filter(|k| k.alg == castellan::protocol::SigningAlg::ES256)
        .collect();
    assert_eq!(
        es.len(),
        1,
        "one first key, whichever node made it: {keys:?}"
    );
    let (es_kid, published_at) = (es[0].kid.clone(), es[0].created_at);

    let started = Instant::now();
    let (mut from_a, mut from_b) = (false, false);
    while !(from_a && from_b) {
        assert!(
            started.elapsed() < Duration::from_secs(11) + PATIENCE,
            "both nodes should sign ES256 by now (a: {from_a}, b: {from_b})"
        );
        for (node, signed) in [(&a, &mut from_a), (&b, &mut from_b)] {
            let token = node.token(&client).await;
            let now = Clock::System.now();
            validator.validate(&token, now).await.unwrap();
            if alg_of(&token) == "ES256" {
                assert_eq!(kid_of(&token), es_kid);
                // Whole seconds: the key was stored within the second `published_at` names.
                assert!(
                    now >= published_at + 11,
                    "an ES256 token {} s after its key was published",
                    now - published_at
                );
                *signed = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(validator.unknown_kid_refetches, 0);
    let keys = db.store.list_keys().await.unwrap();
    let active = keys
        .iter()
        .find(|k| k.kid == es_kid)
        .map(|k| (k.state, k.activated_at));
    let Some((KeyState::Active, Some(activated_at))) = active else {
        panic!("the ES256 key is not active: {keys:?}");
    };
    assert!(activated_at >= published_at + 11);
    drop((a, b));
    db.store.close().await;
}

fn alg_of(token: &str) -> String {
    let header = jsonwebtoken::decode_header(token).unwrap();
    format!("{:?}", header.alg)
}
