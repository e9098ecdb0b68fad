//! Browser sign-in over HTTP, as a browser and a relying party would do it: authorization
//! request, login form, consent, code, token exchange, ID token validation, and the refusals.

use castellan::admin;
use castellan::clock::Clock;
use castellan::crypto::password;
use castellan::protocol::{GrantType, RedirectUri, TenantSlug};
use castellan::store::clients::NewClient;
use castellan::store::users::NewUser;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, expect_oauth_error, key_for, spawn_app, token_of, validation,
};
use crate::on_both_backends;

pub(crate) const REDIRECT: &str = "https://app.example.com/callback";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const PASSWORD: &str = "correct horse battery";
const BYE: &str = "https://app.example.com/bye";

on_both_backends!(
    a_user_signs_in_consents_and_the_client_gets_verified_tokens,
    the_authorization_endpoint_refuses_what_it_must,
    the_code_exchange_refuses_what_it_must,
);

pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// A user `ada` and a confidential web client that asks for consent.
pub(crate) async fn setup(app: &TestApp) -> Rp {
    let hash = password::hash_blocking(PASSWORD).unwrap();
    let user = NewUser {
        tenant: TenantSlug::parse("default").unwrap(),
        username: "ada".into(),
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        roles: vec![],
    };
    app.store
        .create_user(&user, &hash, Clock::System.now())
        .await
        .unwrap();
    let new = NewClient {
        tenant: TenantSlug::parse("default").unwrap(),
        name: "Ledger Web".into(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        apis: vec![],
        resource_server_for: vec![],
        roles: vec![],
        token_ttl: None,
        redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse(BYE).unwrap()],
        public: false,
        skip_consent: false,
    };
    let (client, secret) = admin::create_client(&app.store, &Clock::System, &new)
        .await
        .unwrap();
    Rp {
        id: client.client_id.to_string(),
        secret: secret.unwrap().secret().to_owned(),
    }
}

/// A browser: keeps cookies, does not follow redirects.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn authorize_url(app: &TestApp, rp: &Rp, extra: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+profile+email+offline_access\
         &state=st-1&nonce=nonce-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        app.base,
        rp.id,
        urlencoding(REDIRECT)
    )
}

fn urlencoding(s: &str) -> String {
    crate::helpers::urlencode(s)
}

/// The value of a hidden input, with HTML character references decoded as a browser would.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if entity.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&entity[2..], 16).unwrap()).unwrap()
            }
            _ if entity.starts_with('#') => char::from_u32(entity[1..].parse().unwrap()).unwrap(),
            _ => panic!("unknown entity {entity}"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The query pairs of a redirect to the client.
pub(crate) fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 303, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location.split_once('?').unwrap().1;
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let v = percent_decode(v);
            (k.to_owned(), v)
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) async fn post_form(
    browser: &reqwest::Client,
    url: String,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(url).form(form).send().await.unwrap()
}

/// Opens `url` (an authorization request) and submits its login form as `username`.
pub(crate) async fn submit_login(
    app: &TestApp,
    browser: &reqwest::Client,
    url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    post_form(
        browser,
        app.url("/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", &hidden(&html, "csrf")),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

/// From the login page to the redirect with a code, for a browser with no session yet.
pub(crate) async fn sign_in(app: &TestApp, rp: &Rp, browser: &reqwest::Client) -> String {
    let params = sign_in_at(app, browser, &authorize_url(app, rp, "")).await;
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    param(&params, "code").expect("a code").to_owned()
}

/// A person at the browser: opens `url`, signs in as ada, allows; returns the redirect's query.
pub(crate) async fn sign_in_at(
    app: &TestApp,
    browser: &reqwest::Client,
    url: &str,
) -> Vec<(String, String)> {
    let consent = submit_login(app, browser, url, "ada", PASSWORD).await;
    // Consent is asked once per user and client; later sign-ins go straight back.
    let done = if consent.status() == 303 {
        consent
    } else {
        assert_eq!(consent.status(), 200);
        let html = consent.text().await.unwrap();
        assert!(html.contains("Allow Ledger Web?"), "{html}");
        assert!(html.contains("See your email address"), "{html}");
        post_form(
            browser,
            app.url("/consent"),
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await
    };
    redirect_params(&done)
}

/// Signs `ada` in through `browser` and exchanges the code: the tokens, checked to be a 200
/// `no-store` token response.
pub(crate) async fn signed_in_tokens(app: &TestApp, rp: &Rp, browser: &reqwest::Client) -> Value {
    let code = sign_in(app, rp, browser).await;
    token_of(exchange(app, rp, &code, REDIRECT, VERIFIER).await).await
}

pub(crate) async fn exchange(
    app: &TestApp,
    rp: &Rp,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

async fn a_user_signs_in_consents_and_the_client_gets_verified_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();

    // A wrong password shows the form again, with the same message an unknown user gets.
    let page = browser
        .get(authorize_url(&app, &rp, ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in") && page.contains("Ledger Web"),
        "{page}"
    );
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    for (user, pass) in [("ada", "wrong password"), ("nobody", PASSWORD)] {
        let retry = post_form(
            &browser,
            app.url("/login"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("username", user),
                ("password", pass),
            ],
        )
        .await;
        assert_eq!(retry.status(), 200);
        let html = retry.text().await.unwrap();
        assert!(
            html.contains("The username or password is not right."),
            "{html}"
        );
    }

    let code = sign_in(&app, &rp, &browser).await;
    let response = exchange(&app, &rp, &code, REDIRECT, VERIFIER).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);

    let user = app
        .store
        .find_user(&TenantSlug::parse("default").unwrap(), "ada")
        .await
        .unwrap();
    let access = app
        .verify_access_token(
            tokens["access_token"].as_str().unwrap(),
            &format!("{}/userinfo", app.issuer),
        )
        .await;
    assert_eq!(access["sub"], user.id.as_str());
    assert_eq!(access["client_id"], rp.id.as_str());
    assert_eq!(access["tenant_id"], "default");

    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(
        (header.alg, header.typ.as_deref()),
        (Algorithm::RS256, Some("JWT"))
    );
    let key = key_for(&app.jwks().await, &header.kid.unwrap()).unwrap();
    // ID tokens carry no nbf (OIDC Core §2); everything else is checked as usual.
    let mut rules = validation(&app.issuer, &rp.id);
    rules.validate_nbf = false;
    rules.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &rules)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims["azp"], rp.id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(
        claims["at_hash"],
        castellan::crypto::jwt::at_hash(tokens["access_token"].as_str().unwrap())
    );
    assert!((claims["auth_time"].as_i64().unwrap() - Clock::System.now()).abs() < 30);

    // Single sign-on: the session and the remembered consent lead straight back with a code.
    let again = browser
        .get(authorize_url(&app, &rp, "").replace("state=st-1", "state=st-2"))
        .send()
        .await
        .unwrap();
    let params = redirect_params(&again);
    assert_eq!(param(&params, "state"), Some("st-2"));
    assert!(param(&params, "code").is_some());

    // prompt=login forces the form even with a session.
    let forced = browser
        .get(authorize_url(&app, &rp, "&prompt=login"))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 200);
    assert!(forced.text().await.unwrap().contains("name=\"password\""));
}

async fn the_authorization_endpoint_refuses_what_it_must(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;

    // Unknown client or unregistered redirect URI: an error page, never a redirect.
    for url in [
        authorize_url(&app, &rp, "").replace(&rp.id, "nobody"),
        authorize_url(&app, &rp, "").replace(
            &urlencoding(REDIRECT),
            &urlencoding("https://evil.example.com/cb"),
        ),
        authorize_url(&app, &rp, "").replace(
            &urlencoding(REDIRECT),
            &urlencoding("https://app.example.com/callback/"),
        ),
    ] {
        let response = browser().get(url).send().await.unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("cannot continue"));
    }

    // Everything else goes back to the client, with state and iss.
    let cases = [
        (
            authorize_url(&app, &rp, "").replace(
                "&code_challenge_method=S256",
                "&code_challenge_method=plain",
            ),
            "invalid_request",
        ),
        (
            authorize_url(&app, &rp, "").replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authorize_url(&app, &rp, "&request=eyJ"),
            "request_not_supported",
        ),
        (
            authorize_url(&app, &rp, "&request_uri=urn%3Ax"),
            "request_uri_not_supported",
        ),
        (authorize_url(&app, &rp, "&prompt=none"), "login_required"),
        (
            authorize_url(&app, &rp, "").replace("scope=openid", "scope=openid+admin"),
            "invalid_scope",
        ),
    ];
    for (url, error) in cases {
        let response = browser().get(&url).send().await.unwrap();
        let params = redirect_params(&response);
        assert_eq!(param(&params, "error"), Some(error), "{url}");
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    }

    // A form without its CSRF token is refused.
    let browser = browser();
    let html = browser
        .get(authorize_url(&app, &rp, ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let no_csrf = post_form(
        &browser,
        app.url("/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("username", "ada"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(no_csrf.status(), 400);
    let forged = post_form(
        &browser,
        app.url("/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", "forged"),
            ("username", "ada"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(forged.status(), 400);

    // Denying consent sends access_denied back.
    let html = post_form(
        &browser,
        app.url("/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", &hidden(&html, "csrf")),
            ("username", "ada"),
            ("password", PASSWORD),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    let denied = post_form(
        &browser,
        app.url("/consent"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", &hidden(&html, "csrf")),
            ("decision", "deny"),
        ],
    )
    .await;
    assert_eq!(
        param(&redirect_params(&denied), "error"),
        Some("access_denied")
    );

    // A disabled user cannot sign in, and is told nothing more than a wrong password would.
    app.store
        .disable_user(
            &TenantSlug::parse("default").unwrap(),
            "ada",
            Clock::System.now(),
        )
        .await
        .unwrap();
    let refused = submit_login(
        &app,
        &self::browser(),
        &authorize_url(&app, &rp, ""),
        "ada",
        PASSWORD,
    )
    .await;
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("The username or password is not right.")
    );
}

async fn the_code_exchange_refuses_what_it_must(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;

    let code = sign_in(&app, &rp, &browser()).await;
    expect_oauth_error(
        exchange(&app, &rp, &code, REDIRECT, &VERIFIER.replace('d', "e")).await,
        400,
        "invalid_grant",
    )
    .await;
    expect_oauth_error(
        exchange(&app, &rp, &code, REDIRECT, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;

    let code = sign_in(&app, &rp, &browser()).await;
    expect_oauth_error(
        exchange(&app, &rp, &code, "https://app.example.com/other", VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;

    let code = sign_in(&app, &rp, &browser()).await;
    let first = exchange(&app, &rp, &code, REDIRECT, VERIFIER).await;
    assert_eq!(first.status(), 200);
    let replay = exchange(&app, &rp, &code, REDIRECT, VERIFIER).await;
    let (_, body) = expect_oauth_error(replay, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );

    let code = sign_in(&app, &rp, &browser()).await;
    let missing = app
        .http
        .post(app.url("/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    expect_oauth_error(missing, 400, "invalid_grant").await;
    expect_oauth_error(
        exchange(&app, &rp, "made-up-code", REDIRECT, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}

on_both_backends!(refresh_tokens_rotate_and_reuse_revokes_the_sign_in);

pub(crate) async fn refresh(
    app: &TestApp,
    rp: &Rp,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(scope.map(|s| ("scope", s)));
    app.http
        .post(app.url("/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let tokens = signed_in_tokens(&app, &rp, &browser()).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Rotation: a new refresh token each time; scopes may shrink, never grow.
    let response = refresh(&app, &rp, &first, Some("openid email")).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["scope"], "email openid");
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first);
    let claims = app
        .verify_access_token(
            second["access_token"].as_str().unwrap(),
            &format!("{}/userinfo", app.issuer),
        )
        .await;
    assert_eq!(claims["scope"], "email openid");
    let wider = refresh(&app, &rp, &second_token, Some("openid admin")).await;
    expect_oauth_error(wider, 400, "invalid_scope").await;

    // A refused refresh spends nothing: the same token still rotates.
    let third: Value = refresh(&app, &rp, &second_token, None)
        .await
        .json()
        .await
        .unwrap();
    let newest = third["refresh_token"].as_str().unwrap().to_owned();

    // The spent first token, presented again, revokes the whole sign-in: the newest token dies too.
    let (_, body) =
        expect_oauth_error(refresh(&app, &rp, &first, None).await, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    expect_oauth_error(
        refresh(&app, &rp, &newest, None).await,
        400,
        "invalid_grant",
    )
    .await;
    expect_oauth_error(
        refresh(&app, &rp, "made-up", None).await,
        400,
        "invalid_grant",
    )
    .await;
}

on_both_backends!(a_refresh_retry_within_the_grace_window_is_answered);

/// With `refresh_reuse_grace`, a client that lost the response to a refresh may retry with the
/// same token and gets the same successor again: a replayer inside the window gains nothing the
/// client does not also hold, and cannot revoke the client's successor (RFC 9700 §4.14.2).
async fn a_refresh_retry_within_the_grace_window_is_answered(backend: Backend) {
    let app =
        crate::helpers::spawn_app_with(backend, &[("CASTELLAN_REFRESH_REUSE_GRACE", "30")]).await;
    let rp = setup(&app).await;
    let tokens = signed_in_tokens(&app, &rp, &browser()).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = |token: String| {
        let (app, rp) = (&app, &rp);
        async move {
            let response = refresh(app, rp, &token, None).await;
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["refresh_token"].as_str().unwrap().to_owned()
        }
    };
    let lost = refreshed(first.clone()).await;
    let retried = refreshed(first.clone()).await;
    assert_eq!(
        lost, retried,
        "the retry is answered with the same successor"
    );
    let next = refreshed(retried.clone()).await;
    // The successor has been used since: presenting its parent is a replay after all, and the
    // whole sign-in is revoked.
    expect_oauth_error(refresh(&app, &rp, &first, None).await, 400, "invalid_grant").await;
    expect_oauth_error(refresh(&app, &rp, &next, None).await, 400, "invalid_grant").await;
}

on_both_backends!(userinfo_answers_by_scope_and_refuses_bad_tokens);

async fn userinfo(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.url("/userinfo"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn userinfo_answers_by_scope_and_refuses_bad_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let tokens = signed_in_tokens(&app, &rp, &browser()).await;
    let access = tokens["access_token"].as_str().unwrap();

    let response = userinfo(&app, Some(access)).await;
    assert_eq!(response.status(), 200);
    let claims: Value = response.json().await.unwrap();
    let user = app
        .store
        .find_user(&TenantSlug::parse("default").unwrap(), "ada")
        .await
        .unwrap();
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    let posted = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    // A narrower token sees fewer claims.
    let narrow: Value = refresh(
        &app,
        &rp,
        tokens["refresh_token"].as_str().unwrap(),
        Some("openid"),
    )
    .await
    .json()
    .await
    .unwrap();
    let claims: Value = userinfo(&app, narrow["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        claims.get("email").is_none() && claims.get("name").is_none(),
        "{claims}"
    );

    let bare = userinfo(&app, None).await;
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.headers()["www-authenticate"],
        "Bearer realm=\"castellan\""
    );
    let garbage = userinfo(&app, Some("garbage")).await;
    assert_eq!(garbage.status(), 401);
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // A service token (no openid scope) is not for userinfo.
    let (admin_id, admin_secret) = &app.admin;
    let service: Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(admin_id, Some(admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = userinfo(&app, service["access_token"].as_str()).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // Revoked: userinfo says invalid_token, as introspection says inactive.
    let revoked = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(userinfo(&app, Some(access)).await.status(), 401);
}

on_both_backends!(logout_ends_the_session_and_returns_only_to_registered_uris);

async fn logout_ends_the_session_and_returns_only_to_registered_uris(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    let tokens = signed_in_tokens(&app, &rp, &browser).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // Signed in: the authorization endpoint answers at once.
    assert_eq!(
        browser
            .get(authorize_url(&app, &rp, ""))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );

    let url = format!(
        "{}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
        app.base,
        urlencoding(BYE)
    );
    let out = browser.get(url).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], format!("{BYE}?state=bye-1"));
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("castellan_session=;")
    );

    // The session is over, even for a browser that kept the old cookie.
    let page = browser
        .get(authorize_url(&app, &rp, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));

    // Anything unregistered, or unattributable, gets the signed-out page and no redirect.
    for query in [
        format!(
            "client_id={}&post_logout_redirect_uri={}",
            rp.id,
            urlencoding("https://evil.example.com/")
        ),
        format!("post_logout_redirect_uri={}", urlencoding(BYE)),
        format!(
            "client_id=other&id_token_hint={id_token}&post_logout_redirect_uri={}",
            urlencoding(BYE)
        ),
        String::new(),
    ] {
        let response = browser
            .get(format!("{}/logout?{query}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{query}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("You are signed out")
        );
    }
}

on_both_backends!(refresh_tokens_introspect_and_revoke);

async fn refresh_tokens_introspect_and_revoke(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let tokens = signed_in_tokens(&app, &rp, &browser()).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let call = |path: &'static str| {
        app.http
            .post(app.url(path))
            .basic_auth(&rp.id, Some(&rp.secret))
            .form(&[("token", token), ("token_type_hint", "refresh_token")])
            .send()
    };
    let info: Value = call("/introspect").await.unwrap().json().await.unwrap();
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(info["client_id"], rp.id.as_str());
    assert_eq!(info["scope"], "email offline_access openid profile");

    // Another client learns nothing about it.
    let (admin_id, admin_secret) = &app.admin;
    let other: Value = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(admin_id, Some(admin_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other, serde_json::json!({ "active": false }));

    assert_eq!(call("/revoke").await.unwrap().status(), 200);
    let info: Value = call("/introspect").await.unwrap().json().await.unwrap();
    assert_eq!(info, serde_json::json!({ "active": false }));
    expect_oauth_error(refresh(&app, &rp, token, None).await, 400, "invalid_grant").await;
}
