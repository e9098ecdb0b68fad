//! Sign-in in a real headless Chromium driven over WebDriver: the login form, consent, and the
//! code at the redirect URI. Saves screenshots of both pages under `target/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{
    Backend, PASSWORD, PATIENCE, REDIRECT, Rp, TestApp, eventually, param, token_of, urlencode,
};

const VERIFIER: &str = "browser-test-verifier-0123456789-abcdefghijklmnop";
const STATE: &str = "state-from-the-browser-test";

#[tokio::test]
async fn a_person_signs_in_and_consents_in_chromium() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = app.setup_sign_in().await;
    let browser = Browser::start().await;
    let page = &browser.client;

    page.goto(&authorize_url(&app, &rp)).await.unwrap();
    type_credentials(page, PASSWORD).await;
    assert_eq!(heading(page).await, "Sign in");
    screenshot(page, "login.png").await;
    submit(page).await;

    let allow = appears(page, Locator::Css("button[value=allow]")).await;
    assert_eq!(heading(page).await, "Allow Ledger Web?");
    screenshot(page, "consent.png").await;
    allow.click().await.unwrap();

    // The redirect URI's host does not resolve (see `Browser::start`), so Chromium shows an error
    // page; its address is still the redirect the server sent.
    let landed = eventually("Chromium reaches the redirect URI", async || {
        let url = page.current_url().await.unwrap();
        url.as_str().starts_with(REDIRECT).then_some(url)
    })
    .await;
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "state"), Some(STATE));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    let code = param(&params, "code").expect("a code in the redirect");

    let tokens = token_of(rp.exchange_with(code, REDIRECT, VERIFIER).await).await;
    assert!(tokens["id_token"].as_str().is_some());
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_in_chromium_shows_the_error_and_stays() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = app.setup_sign_in().await;
    let browser = Browser::start().await;
    let page = &browser.client;

    page.goto(&authorize_url(&app, &rp)).await.unwrap();
    type_credentials(page, "not the password").await;
    submit(page).await;

    let error = appears(page, Locator::Id("login-error")).await;
    assert_eq!(
        error.text().await.unwrap(),
        "The username or password is not right."
    );
    assert_eq!(heading(page).await, "Sign in");
    let username = page.find(Locator::Id("username")).await.unwrap();
    assert_eq!(
        username.prop("value").await.unwrap().as_deref(),
        Some("ada")
    );
    let url = page.current_url().await.unwrap();
    assert_eq!(url.as_str(), app.url("/login"));
    browser.close().await;
}

fn authorize_url(app: &TestApp, rp: &Rp) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+profile+email\
         &state={STATE}&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256",
        app.base,
        urlencode(&rp.id),
        urlencode(REDIRECT),
    )
}

/// Types `ada` and `password` into the login form, as a person would.
async fn type_credentials(page: &Client, password: &str) {
    for (field, text) in [("username", "ada"), ("password", password)] {
        page.find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
}

async fn submit(page: &Client) {
    let button = page
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap();
    button.click().await.unwrap();
}

/// The element `locator` finds, once the page shows it.
async fn appears(page: &Client, locator: Locator<'_>) -> Element {
    page.wait()
        .at_most(PATIENCE)
        .for_element(locator)
        .await
        .unwrap()
}

async fn heading(page: &Client) -> String {
    let h1 = page.find(Locator::Css("h1")).await.unwrap();
    h1.text().await.unwrap()
}

/// Saves the visible page as `target/screenshots/NAME` (build output; README's copies live in
/// `docs/screenshots/`).
async fn screenshot(page: &Client, name: &str) {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = page.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// A headless Chromium behind its own chromedriver. chromedriver runs in its own process group,
/// which Chromium joins, so dropping this kills every process the test started, even after a
/// failed assertion.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let (Some(chromedriver), Some(chromium)) = (on_path("chromedriver"), on_path("chromium"))
        else {
            panic!(
                "the browser tests need chromium and chromedriver on PATH: install the Debian \
                 packages chromium and chromium-driver (scripts/test does it)"
            );
        };
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let port = driver_port(&mut driver).await;

        let profile = tempfile::tempdir().unwrap();
        let options = json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=800,640",
                format!("--user-data-dir={}", profile.path().display()),
                // Only loopback resolves: the test never reaches the network, and the client's
                // redirect URI fails at once instead of waiting on DNS.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            ],
        });
        let capabilities = serde_json::Map::from_iter([("goog:chromeOptions".into(), options)]);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Ends the session, so chromedriver shuts Chromium down cleanly.
    async fn close(self) {
        self.client.clone().close().await.unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Reads chromedriver's "started successfully on port N." line (it picks a free port for
/// `--port=0`); then keeps draining its output so it never blocks on a full pipe.
async fn driver_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = String::new();
    let port = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                return rest.trim_end_matches('.').parse::<u16>().ok();
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        None
    })
    .await;
    let Ok(Some(port)) = port else {
        panic!("chromedriver did not report its port; it said:\n{seen}");
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    port
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
