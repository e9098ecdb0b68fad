//! The relying party persona: a confidential web client that sends a browser to sign in,
//! then exchanges the code it gets back and refreshes, introspects and revokes its tokens.

use super::html::urlencode;
use super::oauth::TestClient;

/// The web client's registered redirect URI.
pub const REDIRECT: &str = "https://app.example.com/callback";
/// Its registered post-logout redirect URI.
pub const BYE: &str = "https://app.example.com/bye";
/// RFC 7636 appendix B's verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A web client of a running server, with its credentials.
#[derive(Clone)]
pub struct Rp {
    pub id: String,
    pub secret: String,
    base: String,
    http: reqwest::Client,
}

impl Rp {
    /// `client` at the server on `base`, sending its requests through `http`.
    pub fn new(client: TestClient, base: &str, http: reqwest::Client) -> Self {
        Self {
            id: client.id,
            secret: client.secret,
            base: base.to_owned(),
            http,
        }
    }

    /// Its credentials, as any other client's.
    pub fn client(&self) -> TestClient {
        TestClient {
            id: self.id.clone(),
            secret: self.secret.clone(),
        }
    }

    /// Its authorization request: every scope, state `st-1`, nonce `nonce-1`, PKCE; then `extra`.
    pub fn authorize_url(&self, extra: &str) -> String {
        format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+profile+email+offline_access\
             &state=st-1&nonce=nonce-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            self.base,
            self.id,
            urlencode(REDIRECT)
        )
    }

    /// Exchanges a code from its own authorization request.
    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        self.exchange_with(code, REDIRECT, VERIFIER).await
    }

    /// Exchanges a code giving this `redirect_uri` and `code_verifier`.
    pub async fn exchange_with(
        &self,
        code: &str,
        redirect: &str,
        verifier: &str,
    ) -> reqwest::Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// A refresh, narrowed to `scope` if given.
    pub async fn refresh(&self, token: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        form.extend(scope.map(|s| ("scope", s)));
        self.token(&form).await
    }

    /// `POST /token` with this form and its credentials in a Basic header.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post("/token", form).await
    }

    pub async fn introspect(&self, token: &str) -> reqwest::Response {
        self.post("/introspect", &[("token", token)]).await
    }

    pub async fn revoke(&self, token: &str) -> reqwest::Response {
        self.post("/revoke", &[("token", token)]).await
    }

    /// A form `POST` to `path`, authenticated with `client_secret_basic`.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.id, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}
