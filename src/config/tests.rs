//! Unit tests of `config`.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_follow_the_listen_address() {
    let c = Config::from_sources(None, &env(&[("CASTELLAN_LISTEN", "127.0.0.1:9000")])).unwrap();
    assert_eq!(c.issuer_for(c.listen), "http://127.0.0.1:9000");
    assert_eq!(c.database_url, "sqlite://data/castellan.db");
    assert_eq!(c.access_token_ttl, 300);
    assert!(
        matches!(c.master_key, MasterKeySource::File(ref p) if p == Path::new("keys/master.key"))
    );
}

#[test]
fn reports_every_problem_at_once() {
    let err = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_ISSUER", "https://id.example.com/?x=1"),
            ("CASTELLAN_ACCESS_TOKEN_TTL", "5"),
            ("CASTELLAN_LISTEN", "nowhere"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 3, "{err}");
}

#[test]
fn environment_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "access_token_ttl = 600\nissuer = \"https://file.example\"\n",
    )
    .unwrap();
    let c = Config::from_sources(
        Some(&path),
        &env(&[("CASTELLAN_ISSUER", "https://env.example")]),
    )
    .unwrap();
    assert_eq!(c.issuer.as_deref(), Some("https://env.example"));
    assert_eq!(c.access_token_ttl, 600);
}

#[test]
fn metrics_listen_is_an_address_apart_from_listen() {
    let c = Config::from_sources(
        None,
        &env(&[("CASTELLAN_METRICS_LISTEN", "127.0.0.1:9090")]),
    )
    .unwrap();
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
    assert_eq!(
        Config::from_sources(None, &env(&[]))
            .unwrap()
            .metrics_listen,
        None
    );
    let err =
        Config::from_sources(None, &env(&[("CASTELLAN_METRICS_LISTEN", "9090")])).unwrap_err();
    assert!(
        err.to_string()
            .contains("metrics_listen \"9090\" needs a port: HOST:PORT"),
        "{err}"
    );
    let err = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_LISTEN", "127.0.0.1:8080"),
            ("CASTELLAN_METRICS_LISTEN", "127.0.0.1:8080"),
        ]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("metrics_listen must differ from listen"),
        "{err}"
    );
}

#[test]
fn publish_ahead_shorter_than_the_jwks_cache_is_refused() {
    let err = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_JWKS_MAX_AGE", "600"),
            ("CASTELLAN_KEY_PUBLISH_AHEAD", "300"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("key_publish_ahead"), "{err}");
}

#[test]
fn rotation_period_must_outlast_publication_and_retention() {
    let err =
        Config::from_sources(None, &env(&[("CASTELLAN_KEY_ROTATION_PERIOD", "3600")])).unwrap_err();
    assert!(err.to_string().contains("key_rotation_period"), "{err}");
    let ok = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_KEY_ROTATION_PERIOD", "60"),
            ("CASTELLAN_JWKS_MAX_AGE", "5"),
            ("CASTELLAN_KEY_PUBLISH_AHEAD", "15"),
            ("CASTELLAN_ACCESS_TOKEN_TTL", "10"),
            ("CASTELLAN_MAX_TOKEN_TTL", "20"),
            ("CASTELLAN_CLOCK_SKEW", "0"),
        ]),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn defaults_are_consistent() {
    let c = Config::from_sources(None, &HashMap::new()).unwrap();
    assert_eq!(c.key_publish_ahead, 1200);
    assert_eq!(c.key_rotation_period, 30 * 86_400);
    assert_eq!(c.purge_interval, 300);
}

#[test]
fn policies_are_read_and_checked() {
    let c = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_REFRESH_REUSE_GRACE", "5"),
            ("CASTELLAN_SESSION_TTL", "600"),
            ("CASTELLAN_RATE_LIMIT_LOGIN", "0"),
            ("CASTELLAN_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ]),
    )
    .unwrap();
    assert_eq!(c.sessions.refresh_reuse_grace, 5);
    assert_eq!(c.sessions.session_ttl, 600);
    assert_eq!(c.rate_limits.login, 0);
    assert_eq!(c.trusted_proxies.len(), 2);
    assert!(c.trusted_proxies[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));

    let err = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_REFRESH_IDLE_TTL", "7200"),
            ("CASTELLAN_REFRESH_ABSOLUTE_TTL", "3600"),
            ("CASTELLAN_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("CASTELLAN_REFRESH_REUSE_GRACE", "61"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 3, "{err}");
}

#[test]
fn file_values_of_any_type_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "lockout_threshold = 3\ntrusted_proxies = \"127.0.0.1\"\n",
    )
    .unwrap();
    let c = Config::from_sources(Some(&path), &HashMap::new()).unwrap();
    assert_eq!(c.lockout.threshold, 3);
    assert_eq!(c.trusted_proxies.len(), 1);
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "isuer = \"x\"\n").unwrap();
    let err = Config::from_sources(Some(&path), &HashMap::new()).unwrap_err();
    assert!(
        err.to_string().contains("did you mean \"issuer\"?"),
        "{err}"
    );
}

#[test]
fn unknown_variables_are_refused_with_the_nearest_name() {
    let err = Config::from_sources(
        None,
        &env(&[
            ("CASTELLAN_LOCKOUT_TRESHOLD", "3"),
            ("CASTELLAN_SOMETHING_ELSE", "1"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(
        err.0[0].contains("CASTELLAN_LOCKOUT_TRESHOLD; did you mean CASTELLAN_LOCKOUT_THRESHOLD?"),
        "{err}"
    );
    assert!(err.0[1].ends_with("CASTELLAN_SOMETHING_ELSE"), "{err}");
}

#[test]
fn variables_that_are_not_settings_are_allowed() {
    let ok = Config::from_sources_allowing(
        None,
        &env(&[
            ("CASTELLAN_CONFIG", "castellan.toml"),
            ("CASTELLAN_TEST_POSTGRES_URL", "postgres://localhost/x"),
            ("CASTELLAN_BENCH_SECS", "2"),
            ("CASTELLAN_SOAK_RATE", "100"),
            ("CASTELLAN_FROM_THE_CLI", "x"),
            ("PATH", "/bin"),
        ]),
        &["CASTELLAN_FROM_THE_CLI"],
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn signing_algs_come_from_a_file_array_or_a_comma_list_and_need_rs256() {
    use crate::protocol::SigningAlg::{ES256, EdDSA, PS256, RS256};
    let c = Config::from_sources(None, &env(&[])).unwrap();
    assert_eq!(c.signing_algs, [RS256], "RS256 alone by default");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "signing_algs = [\"EdDSA\", \"RS256\", \"ES256\"]\n").unwrap();
    let c = Config::from_sources(Some(&path), &env(&[])).unwrap();
    assert_eq!(
        c.signing_algs,
        [RS256, ES256, EdDSA],
        "RS256 first, then a fixed order"
    );

    let c = Config::from_sources(
        Some(&path),
        &env(&[("CASTELLAN_SIGNING_ALGS", "rs256, PS256,ES256,ES256")]),
    )
    .unwrap();
    assert_eq!(
        c.signing_algs,
        [RS256, PS256, ES256],
        "the environment wins"
    );

    let err =
        Config::from_sources(None, &env(&[("CASTELLAN_SIGNING_ALGS", "ES256,HS256")])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"HS256\" is not a signing algorithm"),
        "{text}"
    );
    assert!(text.contains("must include RS256"), "{text}");
}

#[test]
fn jwks_fetch_settings_are_read_and_checked() {
    let c = Config::from_sources(None, &HashMap::new()).unwrap();
    assert!(!c.jwks_fetch_allow_http_loopback);
    assert!(c.jwks_fetch_allowed_networks.is_empty());
    assert_eq!((c.jwks_fetch_timeout, c.jwks_fetch_max_bytes), (5, 65_536));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "jwks_fetch_allowed_networks = [\"10.20.0.0/16\", \"fd00:ec2::254\"]\n\
         jwks_fetch_allow_http_loopback = true\njwks_fetch_timeout = 2\n",
    )
    .unwrap();
    let c = Config::from_sources(Some(&path), &HashMap::new()).unwrap();
    assert!(c.jwks_fetch_allow_http_loopback);
    assert_eq!(c.jwks_fetch_allowed_networks.len(), 2);
    assert_eq!(c.jwks_fetch_timeout, 2);

    let err = Config::from_sources(
        None,
        &env(&[
            (
                "CASTELLAN_JWKS_FETCH_ALLOWED_NETWORKS",
                "10.0.0.0/8, nowhere",
            ),
            ("CASTELLAN_JWKS_FETCH_TIMEOUT", "0"),
            ("CASTELLAN_JWKS_FETCH_MAX_BYTES", "100"),
            ("CASTELLAN_JWKS_FETCH_ALLOW_HTTP_LOOPBACK", "yes"),
        ]),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 4, "{err}");
    assert!(
        err.0
            .iter()
            .any(|e| e.starts_with("jwks_fetch_allowed_networks: \"nowhere\"")),
        "{err}"
    );
}
