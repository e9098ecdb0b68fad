//! ES256, EdDSA and PS256 beside RS256: each API's access tokens and each client's ID tokens
//! signed with the algorithm it chose, validated as resource servers and relying parties do
//! (jsonwebtoken, and the `openidconnect` crate for ID tokens), and forgeries refused.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan::protocol::{ApiIdentifier, ClientId, SigningAlg};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oauth::kid_of;
use crate::support::{
    BYE, Backend, Browser, REDIRECT, TestApp, TestClient, param, text, urlencode,
};

const ALL: [SigningAlg; 4] = [
    SigningAlg::RS256,
    SigningAlg::PS256,
    SigningAlg::ES256,
    SigningAlg::EdDSA,
];

async fn app_with_every_alg(backend: Backend) -> TestApp {
    TestApp::builder(backend)
        .config(|c| c.signing_algs = ALL.to_vec())
        .spawn()
        .await
}

fn api_of(alg: SigningAlg) -> String {
    format!("https://{}.example.com", alg.as_str().to_ascii_lowercase())
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

on_both_backends!(
    each_api_gets_access_tokens_of_its_algorithm_and_the_jwks_describes_every_key,
    each_client_gets_id_tokens_of_its_algorithm_that_openidconnect_verifies,
    forged_headers_and_foreign_keys_are_refused,
    an_algorithm_not_enabled_is_refused_at_the_cli_and_signs_rs256_meanwhile,
);

async fn each_api_gets_access_tokens_of_its_algorithm_and_the_jwks_describes_every_key(
    backend: Backend,
) {
    let app = app_with_every_alg(backend).await;

    // A fresh database: one active key per enabled algorithm, each described for its type.
    let jwks = app.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4, "{jwks}");
    for key in keys {
        assert_eq!(key["use"], "sig");
        let kty_crv = (key["kty"].as_str().unwrap(), key["crv"].as_str());
        let members: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        match key["alg"].as_str().unwrap() {
            "RS256" | "PS256" => {
                assert_eq!(kty_crv, ("RSA", None));
                assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
            }
            "ES256" => {
                assert_eq!(kty_crv, ("EC", Some("P-256")));
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
            }
            "EdDSA" => {
                assert_eq!(kty_crv, ("OKP", Some("Ed25519")));
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
            }
            other => panic!("unexpected alg {other}"),
        }
    }
    let discovery = app.openid_configuration().await;
    for name in [
        "id_token_signing_alg_values_supported",
        "access_token_signing_alg_values_supported",
    ] {
        assert_eq!(
            discovery[name],
            json!(["RS256", "PS256", "ES256", "EdDSA"]),
            "{name}"
        );
    }

    let mut kids = Vec::new();
    for alg in ALL {
        let api = api_of(alg);
        let client = app.client_for_alg(&api, &["read"], alg).await;
        let token = app.access_token(&client).await;
        let header = header_of(&token);
        assert_eq!(header["alg"], alg.as_str(), "{header}");
        assert_eq!(header["typ"], "at+jwt");
        let kid = text(&header, "kid");
        let jwk = keys.iter().find(|k| k["kid"] == kid.as_str()).unwrap();
        assert_eq!(
            jwk["alg"],
            alg.as_str(),
            "the kid names a key of that algorithm"
        );
        if alg == SigningAlg::ES256 {
            let signature = token.rsplit('.').next().unwrap();
            assert_eq!(
                URL_SAFE_NO_PAD.decode(signature).unwrap().len(),
                64,
                "r || s"
            );
        }
        // A resource server: the JWKS by kid, the JWK's algorithm, every claim.
        let claims = app.verify_access_token(&token, &api).await;
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["scope"], "read");
        // Castellan's own verifier: introspection.
        let answer: Value = app.introspect(&client, &token).await.json().await.unwrap();
        assert_eq!(answer["active"], true, "{alg}: {answer}");
        kids.push(kid);
    }
    kids.dedup();
    assert_eq!(kids.len(), 4, "one key per algorithm: {kids:?}");

    // The admin API takes its own tokens in whichever algorithm its API chose.
    app.store
        .set_api_signing_alg(
            &ApiIdentifier::parse(castellan::admin::ADMIN_API).unwrap(),
            Some(SigningAlg::EdDSA),
        )
        .await
        .unwrap();
    let body: Value = app.admin_token().await.json().await.unwrap();
    let admin_token = text(&body, "access_token");
    assert_eq!(header_of(&admin_token)["alg"], "EdDSA");
    let audit = app
        .http
        .get(app.url("/admin/audit"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(audit.status(), 200);
}

async fn each_client_gets_id_tokens_of_its_algorithm_that_openidconnect_verifies(backend: Backend) {
    let app = app_with_every_alg(backend).await;
    app.create_ada(&[]).await;
    for (alg, expected) in [
        (
            SigningAlg::RS256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        ),
        (SigningAlg::PS256, CoreJwsSigningAlgorithm::RsaSsaPssSha256),
        (SigningAlg::ES256, CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        (SigningAlg::EdDSA, CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let client = app.create_web_client(&[]).await;
        let id = ClientId::parse(&client.id).unwrap();
        app.store
            .set_client_id_token_alg(&id, Some(alg), 0)
            .await
            .unwrap();
        // Client names are unique per tenant: the next round's Ledger Web needs the name.
        let rename = castellan::store::clients::ClientUpdate {
            name: Some(format!("ledger-web {alg}")),
            ..Default::default()
        };
        app.store
            .update_client_settings(&id, &rename, 0)
            .await
            .unwrap();
        let (id_token, signing_alg, browser) = openidconnect_sign_in(&app, &client).await;
        assert_eq!(signing_alg, expected, "{alg}");
        assert_eq!(header_of(&id_token)["kid"], kid_of(&id_token));

        // Logout reads it back as an id_token_hint: it names the session and the client, so
        // the browser is signed out and sent to the registered post-logout URI at once.
        let query = format!(
            "id_token_hint={id_token}&post_logout_redirect_uri={}&state=s",
            urlencode(BYE)
        );
        let out = browser.get(&format!("{}/logout?{query}", app.base)).await;
        assert_eq!(out.status(), 303, "{alg}");
        assert_eq!(out.headers()["location"], format!("{BYE}?state=s"));
    }
}

/// The `openidconnect` crate, unmodified: discovery, PKCE, code exchange and its own checks of
/// the ID token (signature from the JWKS, alg allowed by discovery, issuer, audience, nonce,
/// at_hash with the hash its algorithm calls for).
async fn openidconnect_sign_in(
    app: &TestApp,
    rp: &TestClient,
) -> (String, CoreJwsSigningAlgorithm, Browser) {
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        openidconnect::ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = app.browser();
    let params = browser.sign_in_at(url.as_str()).await;
    let code = param(&params, "code").expect("a code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.into()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    let signing_alg = id_token.signing_alg().unwrap();
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        signing_alg,
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    (id_token.to_string(), signing_alg.clone(), browser)
}

/// Signs `header.payload` (both JSON) with `sign`, which returns the raw signature.
fn forge(header: Value, payload: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(payload);
    let signature = sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

fn hs256(secret: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    move |input| aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
}

async fn forged_headers_and_foreign_keys_are_refused(backend: Backend) {
    let app = app_with_every_alg(backend).await;
    let (es_api, rs_api) = (api_of(SigningAlg::ES256), api_of(SigningAlg::RS256));
    let es_client = app
        .client_for_alg(&es_api, &["read"], SigningAlg::ES256)
        .await;
    let rs_client = app
        .client_for_alg(&rs_api, &["read"], SigningAlg::RS256)
        .await;
    let es_token = app.access_token(&es_client).await;
    let rs_token = app.access_token(&rs_client).await;
    let (es_kid, rs_kid) = (kid_of(&es_token), kid_of(&rs_token));
    let payload = es_token.split('.').nth(1).unwrap().to_owned();
    let jwks = app.jwks().await;
    let jwk_of = |kid: &str| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()
            .clone()
    };
    let (es_jwk, rs_jwk) = (jwk_of(&es_kid), jwk_of(&rs_kid));
    let header = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "at+jwt", "kid": kid });

    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa_sign = |input: &[u8]| {
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input,
            &mut sig,
        )
        .unwrap();
        sig
    };
    let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let p384_sign = |input: &[u8]| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        p384.sign(&rng, input).unwrap().as_ref().to_vec()
    };
    let other_p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let p256_sign = |input: &[u8]| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        other_p256.sign(&rng, input).unwrap().as_ref().to_vec()
    };
    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_sign = |input: &[u8]| ed.sign(input).as_ref().to_vec();
    let public_rsa_jwk = rs_jwk.to_string();
    let public_ec_x = URL_SAFE_NO_PAD
        .decode(es_jwk["x"].as_str().unwrap())
        .unwrap();

    let forgeries: Vec<(&str, String)> = vec![
        (
            "RS256 header on the ES256 key",
            forge(header("RS256", &es_kid), &payload, rsa_sign),
        ),
        (
            "ES256 header on the RS256 key",
            forge(header("ES256", &rs_kid), &payload, p256_sign),
        ),
        (
            "EdDSA header on the ES256 key",
            forge(header("EdDSA", &es_kid), &payload, ed_sign),
        ),
        (
            "Ed25519 header on the ES256 key",
            forge(header("Ed25519", &es_kid), &payload, ed_sign),
        ),
        (
            "alg none",
            forge(header("none", &es_kid), &payload, |_| vec![]),
        ),
        (
            "alg None",
            forge(header("None", &rs_kid), &payload, |_| vec![]),
        ),
        (
            "HS256 keyed with the RSA JWK",
            forge(
                header("HS256", &rs_kid),
                &payload,
                hs256(public_rsa_jwk.as_bytes()),
            ),
        ),
        (
            "HS256 keyed with the EC public key",
            forge(header("HS256", &es_kid), &payload, hs256(&public_ec_x)),
        ),
        (
            "ES384 by a P-384 key under our ES256 kid",
            forge(header("ES384", &es_kid), &payload, p384_sign),
        ),
        (
            "ES256 header, P-384 signature",
            forge(header("ES256", &es_kid), &payload, p384_sign),
        ),
        (
            "ES256 by another P-256 key under our kid",
            forge(header("ES256", &es_kid), &payload, p256_sign),
        ),
        ("our ES256 signature as DER", {
            let (input, sig) = es_token.rsplit_once('.').unwrap();
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let der = der_signature(&raw[..32], &raw[32..]);
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(der))
        }),
    ];
    let answer: Value = app
        .introspect(&es_client, &es_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true, "the real token is live: {answer}");
    let mut accepted = Vec::new();
    for (what, token) in &forgeries {
        let answer: Value = app
            .introspect(&es_client, token)
            .await
            .json()
            .await
            .unwrap();
        if answer["active"] != false {
            accepted.push(format!("{what}: {answer}"));
        }
        let admin = app
            .http
            .get(app.url("/admin/audit"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 401, "{what}");
    }
    assert!(accepted.is_empty(), "accepted: {accepted:#?}");
}

/// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`, the form JWS does not use (RFC 7518 §3.4).
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x02];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend(v);
        out
    };
    let body = [int(r), int(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

async fn an_algorithm_not_enabled_is_refused_at_the_cli_and_signs_rs256_meanwhile(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let jwks = app.jwks().await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        1,
        "RS256 alone by default"
    );
    let discovery = app.openid_configuration().await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );

    let out = app
        .cli_create_api(
            "https://es.example.com",
            &["--scope", "read", "--signing-alg", "ES256"],
        )
        .await;
    assert!(
        !out.success && out.stderr.contains("ES256 is not enabled"),
        "{out:?}"
    );
    let out = app
        .cli_create_api(
            "https://es.example.com",
            &["--scope", "read", "--signing-alg", "HS256"],
        )
        .await;
    assert!(
        !out.success && out.stderr.contains("not a signing algorithm"),
        "{out:?}"
    );

    // Chosen where the store allows it (an algorithm turned off again, say): RS256 meanwhile.
    let api = "https://later.example.com";
    let client = app.client_for_alg(api, &["read"], SigningAlg::ES256).await;
    let token = app.access_token(&client).await;
    assert_eq!(header_of(&token)["alg"], "RS256");
    app.verify_access_token(&token, api).await;

    // With the algorithm enabled (for the CLI too), the choice is accepted and shown.
    let env = [("CASTELLAN_SIGNING_ALGS", "RS256,ES256")];
    let out = app
        .cli_with_env(
            &["api", "update", api, "--signing-alg", "es256", "--json"],
            &env,
        )
        .await;
    assert_eq!(out.json()["access_token_signing_alg"], "ES256");
    let created = app
        .cli_with_env(
            &[
                "client",
                "create",
                "--tenant",
                "default",
                "--name",
                "web",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                REDIRECT,
                "--id-token-signing-alg",
                "ES256",
                "--json",
            ],
            &env,
        )
        .await
        .json();
    assert_eq!(created["id_token_signed_response_alg"], "ES256");
    let id = text(&created, "client_id");
    let out = app
        .cli_with_env(
            &[
                "client",
                "update",
                &id,
                "--id-token-signing-alg",
                "RS256",
                "--json",
            ],
            &env,
        )
        .await;
    assert_eq!(out.json()["id_token_signed_response_alg"], "RS256");
}

/// The real binary says once, not once per token, that an API's chosen algorithm has no
/// active key and its tokens are signed RS256 meanwhile.
#[tokio::test]
async fn the_rs256_fallback_is_logged_once() {
    use crate::support::binary::{serve, sqlite_in, terminate};
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let (mut command, addr) = serve(dir.path());
    let mut server = command
        .envs(sqlite_in(dir.path()))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let [(_, database_url), _] = sqlite_in(dir.path());
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    crate::support::eventually("the server is ready", async || {
        let ready = http.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
    let db = crate::support::TestDb::open(database_url, dir).await;
    let api = "https://later.example.com";
    let client = db.client_for_alg(api, &["read"], SigningAlg::EdDSA).await;
    let rp = crate::support::Rp::new(client, &base, http.clone());
    let mut issued = 0;
    crate::support::eventually("the server sees the client", async || {
        (rp.token(&[crate::support::CC]).await.status() == 200).then_some(())
    })
    .await;
    for _ in 0..5 {
        let body: Value = rp.token(&[crate::support::CC]).await.json().await.unwrap();
        assert_eq!(header_of(&text(&body, "access_token"))["alg"], "RS256");
        issued += 1;
    }
    terminate(server.id().unwrap());
    server.wait().await.unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("signing with RS256 meanwhile"))
        .collect();
    assert_eq!(lines.len(), 1, "{issued} tokens: {log}");
    assert!(lines[0].contains("EdDSA"), "{}", lines[0]);
}
