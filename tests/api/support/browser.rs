//! The browser persona: a person at a browser that keeps cookies and follows no redirects, who
//! opens an authorization request, signs in with the login form and answers the consent page.

use serde_json::Value;

use super::db::PASSWORD;
use super::html;
use super::oauth::token_of;
use super::rp::{REDIRECT, Rp};

/// A browser at one server.
pub struct Browser {
    pub http: reqwest::Client,
    base: String,
    issuer: String,
}

/// A browser's client: keeps cookies, does not follow redirects. Tests that need more (a shared
/// cookie jar, a forwarded address) add to it and wrap it with [`Browser::with`].
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
}

impl Browser {
    /// A new browser, with no cookies yet, at the server on `base` whose issuer is `issuer`.
    pub fn new(base: &str, issuer: &str) -> Self {
        Self::with(client_builder().build().unwrap(), base, issuer)
    }

    pub fn with(http: reqwest::Client, base: &str, issuer: &str) -> Self {
        Self {
            http,
            base: base.to_owned(),
            issuer: issuer.to_owned(),
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// The page at `url`, which must answer 200.
    pub async fn page(&self, url: &str) -> String {
        let page = self.get(url).await;
        assert_eq!(page.status(), 200, "{url}");
        page.text().await.unwrap()
    }

    /// Submits a form to `path` of the server.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Fills in the login form of `page` (its hidden fields kept) as `username`.
    pub async fn log_in(&self, page: &str, username: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/login",
            &[
                ("request", &hidden(page, "request")),
                ("csrf", &hidden(page, "csrf")),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Opens `url` (an authorization request) and submits its login form as `username`.
    pub async fn submit_login(
        &self,
        url: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self.page(url).await;
        self.log_in(&page, username, password).await
    }

    /// Answers the consent page `page` with `decision` (`allow` or `deny`).
    pub async fn decide(&self, page: &str, decision: &str) -> reqwest::Response {
        self.post_form(
            "/consent",
            &[
                ("request", &hidden(page, "request")),
                ("csrf", &hidden(page, "csrf")),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Expects the consent page for Ledger Web and allows.
    pub async fn allow(&self, page: reqwest::Response) -> reqwest::Response {
        assert_eq!(page.status(), 200, "expected the consent page");
        let html = page.text().await.unwrap();
        assert!(html.contains("Allow Ledger Web?"), "{html}");
        self.decide(&html, "allow").await
    }

    /// Opens `url`, signs in as ada and, if asked, allows what the page says; returns the
    /// redirect's query.
    pub async fn sign_in_at(&self, url: &str) -> Vec<(String, String)> {
        let consent = self.submit_login(url, "ada", PASSWORD).await;
        // Consent is asked once per user and client; later sign-ins go straight back.
        let done = if consent.status() == 303 {
            consent
        } else {
            assert_eq!(consent.status(), 200);
            let html = consent.text().await.unwrap();
            assert!(html.contains("Allow Ledger Web?"), "{html}");
            assert!(html.contains("See your email address"), "{html}");
            self.decide(&html, "allow").await
        };
        redirect_params(&done)
    }

    /// From the login page to the redirect with a code, for a browser with no session yet.
    pub async fn sign_in(&self, rp: &Rp) -> String {
        let params = self.sign_in_at(&rp.authorize_url("")).await;
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some(self.issuer.as_str()));
        param(&params, "code").expect("a code").to_owned()
    }

    /// Signs ada in and has `rp` exchange the code: the tokens, checked to be a 200 `no-store`
    /// token response.
    pub async fn signed_in_tokens(&self, rp: &Rp) -> Value {
        let code = self.sign_in(rp).await;
        token_of(rp.exchange(&code).await).await
    }

    /// A code for a browser that already has a session and has consented: no form on the way.
    pub async fn code_for(&self, rp: &Rp) -> String {
        let params = redirect_params(&self.get(&rp.authorize_url("")).await);
        param(&params, "code").expect("a code").to_owned()
    }

    /// Does the browser have a session (the authorization endpoint answers at once)?
    pub async fn signed_in(&self, rp: &Rp) -> bool {
        self.get(&rp.authorize_url("")).await.status() == 303
    }
}

/// The value of a hidden input, with HTML character references decoded as a browser would.
pub fn hidden(page: &str, name: &str) -> String {
    html::hidden(page, name).unwrap_or_else(|e| panic!("{e}: {page}"))
}

/// The query pairs of a redirect to the client.
pub fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 303, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location.split_once('?').unwrap().1;
    html::query_pairs(query).unwrap_or_else(|e| panic!("{e}: {location}"))
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
