//! Bad keys are refused with a clear error, never a silently regenerated key set.

use base64::Engine;
use castellan::app::App;
use castellan::config::{Config, MasterKeySource};
use castellan::protocol::SigningAlg;
use castellan::store::keys::KeyState;
use sqlx::Connection;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, eventually};

on_both_backends!(
    a_wrong_master_key_refuses_to_start_and_changes_nothing,
    a_corrupt_stored_key_refuses_to_start,
    bad_key_imports_are_refused_and_a_good_one_is_published,
);

/// Why a second server on the database of the first, with `config`, does not start.
async fn start_error(config: &Config) -> String {
    match App::build(config).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

async fn a_wrong_master_key_refuses_to_start_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.store.list_keys().await.unwrap();
    let other = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    // The first server's settings listen on a port of their own: only the key differs.
    let mut config = app.config.clone();
    config.master_key = MasterKeySource::Inline(other.clone());
    let error = start_error(&config).await;
    assert!(error.contains("cannot decrypt signing key"), "{error}");
    assert!(error.contains("master key"), "{error}");
    let after = app.store.list_keys().await.unwrap();
    let kids = |keys: &[castellan::store::keys::StoredKey]| {
        keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        kids(&before),
        kids(&after),
        "the key set must be left alone"
    );

    let out = app
        .cli_with_env(&["keys", "rotate"], &[("CASTELLAN_MASTER_KEY", &other)])
        .await;
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("cannot decrypt signing key"), "{out:?}");
    assert_eq!(app.store.list_keys().await.unwrap().len(), before.len());
}

async fn a_corrupt_stored_key_refuses_to_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let kid = app.store.list_keys().await.unwrap()[0].kid.clone();
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE signing_keys SET private_key = $1 WHERE kid = $2")
        .bind(vec![1u8, 2, 3])
        .bind(&kid)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let error = start_error(&app.config).await;
    assert!(
        error.contains(&format!("cannot decrypt signing key {kid}")),
        "{error}"
    );
}

async fn bad_key_imports_are_refused_and_a_good_one_is_published(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = app.dir.path();
    let write = |name: &str, text: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let garbage = write("garbage.pem", b"hello");
    let certificate = write(
        "cert.pem",
        b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n",
    );
    let small = openssl_key(
        dir,
        "small.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    let ed25519 = openssl_key(dir, "ed.pem", &["-algorithm", "ed25519"]);
    for (file, expected) in [
        (garbage, "not a PEM file"),
        (certificate, "is not a private key"),
        (small, "smaller than 2048 bits"),
        (ed25519, "EdDSA is not enabled"),
        (dir.join("missing.pem").display().to_string(), "cannot read"),
    ] {
        let out = app.cli(&["keys", "import", &file]).await;
        assert!(!out.success, "{file}: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{file}: expected {expected:?} in {out:?}"
        );
    }
    assert_eq!(
        app.store.list_keys().await.unwrap().len(),
        1,
        "nothing was stored"
    );

    let good = openssl_key(
        dir,
        "good.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
    );
    let out = app.cli(&["keys", "import", &good]).await;
    let stdout = out.ok();
    let kid = stdout.split_whitespace().nth(3).unwrap().to_owned();
    eventually("the imported key is published", async || {
        app.jwks_kids().await.contains(&kid).then_some(())
    })
    .await;
    let keys = app.store.list_keys().await.unwrap();
    let imported = keys.iter().find(|k| k.kid == kid).unwrap();
    assert_eq!(imported.bits, 3072);
    assert_eq!(imported.state, castellan::store::keys::KeyState::Next);

    let out = app.cli(&["keys", "revoke", "no-such-kid"]).await;
    assert!(
        !out.success && out.stderr.contains("no signing key with kid no-such-kid"),
        "{out:?}"
    );
}

fn openssl_key(dir: &std::path::Path, name: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    let status = std::process::Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed to make test keys");
    assert!(status.success());
    path.display().to_string()
}

on_both_backends!(keys_of_each_algorithm_are_imported_and_wrong_curves_refused);

/// P-256 keys become ES256 keys and Ed25519 keys EdDSA keys, as `next` keys of their own
/// algorithm; other curves and sizes are refused with a reason, and nothing is stored for them.
async fn keys_of_each_algorithm_are_imported_and_wrong_curves_refused(backend: Backend) {
    const ALGS: &str = "RS256,ES256,EdDSA";
    let app = TestApp::builder(backend)
        .config(|c| c.signing_algs = vec![SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA])
        .spawn()
        .await;
    let dir = app.dir.path();
    let env = [("CASTELLAN_SIGNING_ALGS", ALGS)];
    let ec = |curve: &str| format!("ec_paramgen_curve:{curve}");
    let (p384, k256) = (ec("P-384"), ec("secp256k1"));
    let refused = [
        (
            "p384.pem",
            vec!["-algorithm", "EC", "-pkeyopt", &p384],
            "curve P-384",
        ),
        (
            "k256.pem",
            vec!["-algorithm", "EC", "-pkeyopt", &k256],
            "curve secp256k1",
        ),
        ("ed448.pem", vec!["-algorithm", "ed448"], "Ed448"),
        ("x25519.pem", vec!["-algorithm", "x25519"], "key agreement"),
    ];
    let before = app.store.list_keys().await.unwrap().len();
    for (name, args, expected) in &refused {
        let file = openssl_key(dir, name, args);
        let out = app.cli_with_env(&["keys", "import", &file], &env).await;
        assert!(!out.success, "{name}: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{name}: expected {expected:?} in {out:?}"
        );
    }
    let p256 = openssl_key(
        dir,
        "p256.pem",
        &["-algorithm", "EC", "-pkeyopt", &ec("P-256")],
    );
    let out = app
        .cli_with_env(&["keys", "import", &p256, "--alg", "EdDSA"], &env)
        .await;
    assert!(
        !out.success && out.stderr.contains("follows from the key"),
        "{out:?}"
    );
    assert_eq!(
        app.store.list_keys().await.unwrap().len(),
        before,
        "nothing was stored"
    );

    // The first keys of a fresh database are active; imports wait as `next` keys of their alg.
    // Publish-ahead keeps them from signing; a second import of one algorithm finds its slot taken.
    let ed = openssl_key(dir, "ed.pem", &["-algorithm", "ed25519"]);
    for (file, alg) in [(&p256, SigningAlg::ES256), (&ed, SigningAlg::EdDSA)] {
        let out = app.cli_with_env(&["keys", "import", file], &env).await;
        let stdout = out.ok();
        assert!(stdout.contains(&format!("imported {alg} key")), "{stdout}");
        let kid = stdout.split_whitespace().nth(3).unwrap().to_owned();
        let keys = app.store.list_keys().await.unwrap();
        let imported = keys.iter().find(|k| k.kid == kid).unwrap();
        assert_eq!((imported.alg, imported.state), (alg, KeyState::Next));
        assert_eq!(imported.bits, 256);
        eventually("the imported key is published", async || {
            app.jwks_kids().await.contains(&kid).then_some(())
        })
        .await;
    }
    let again = openssl_key(
        dir,
        "p256b.pem",
        &["-algorithm", "EC", "-pkeyopt", &ec("P-256")],
    );
    let out = app.cli_with_env(&["keys", "import", &again], &env).await;
    assert!(
        !out.success && out.stderr.contains("a next ES256 key is already published"),
        "{out:?}"
    );
    let listed = app
        .cli_with_env(&["keys", "list", "--json"], &env)
        .await
        .json();
    let algs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert_eq!(
            algs.iter().filter(|a| **a == alg).count(),
            if alg == "RS256" { 1 } else { 2 },
            "{listed}"
        );
    }
    let out = app.cli_with_env(&["keys", "list"], &env).await;
    let text = out.ok();
    assert!(text.lines().next().unwrap().contains("ALG"), "{text}");
}
