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

/// What a person meets on the pages, as Chromium shows them on a phone-sized screen: the
/// client's display name in the titles, a focus ring that stands out (WCAG 2.2 1.4.11), no
/// horizontal scrolling at 360 px, a consent page where Enter alone does not consent, and
/// "Not you?" leading back to the login page for the same request.
#[tokio::test]
async fn the_pages_suit_keyboards_small_screens_and_a_second_person() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_ada(&[]).await;
    // A long identifier, unbroken: the consent page names it, and must still fit.
    let api = "https://ledger.example.com/api/accounts-and-balances-of-every-household-member";
    app.create_api(api, &["read"]).await;
    let rp = app.rp(app.create_web_client(&[(api, &["read"])]).await);
    let browser = Browser::phone().await;
    let page = &browser.client;
    page.goto(&authorize_url_for(&app, &rp, "openid+profile+read"))
        .await
        .unwrap();
    appears(page, Locator::Id("username")).await;
    let viewport = page
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap();
    assert_eq!(viewport, json!(360), "the screen is 360 px wide");
    // The display name, not the client's technical name (`ledger-web`).
    assert_eq!(page.title().await.unwrap(), "Sign in to Ledger Web");
    fits_the_width(page, "login").await;
    // The username field has focus on arrival; its ring must stand out from the card.
    focus_ring_stands_out(page, "the username field").await;
    type_credentials(page, PASSWORD).await;
    // Tab to the Sign in button: a keyboard user sees the ring there too.
    let active = page.active_element().await.unwrap();
    active.send_keys(TAB).await.unwrap();
    let focused = page.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Sign in");
    focus_ring_stands_out(page, "the Sign in button").await;
    focused.send_keys(ENTER).await.unwrap();

    appears(page, Locator::Css("button[value=allow]")).await;
    assert_eq!(page.title().await.unwrap(), "Allow Ledger Web?");
    fits_the_width(page, "consent").await;
    let active = page
        .execute(
            "const e = document.activeElement; return [e.tagName, e.value || ''];",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(active, json!(["BUTTON", "allow"]), "focus is not on Allow");
    // Enter, wherever focus is, does not consent: the page stays.
    page.active_element()
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(heading(page).await, "Allow Ledger Web?");
    assert!(
        page.current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.base)
    );

    // Not you? Back to the login page of the same request, signed out.
    page.find(Locator::Id("switch-user"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    appears(page, Locator::Id("username")).await;
    assert_eq!(heading(page).await, "Sign in");
    assert_eq!(page.title().await.unwrap(), "Sign in to Ledger Web");
    type_credentials(page, PASSWORD).await;
    submit(page).await;
    let allow = appears(page, Locator::Css("button[value=allow]")).await;
    allow.click().await.unwrap();
    let landed = eventually("Chromium reaches the redirect URI", async || {
        let url = page.current_url().await.unwrap();
        url.as_str().starts_with(REDIRECT).then_some(url)
    })
    .await;
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "state"), Some(STATE));
    assert!(param(&params, "code").is_some(), "{params:?}");
    browser.close().await;
}

/// The login page's Cancel sends the browser back to the client with `access_denied`.
#[tokio::test]
async fn cancel_on_the_login_page_returns_access_denied_in_chromium() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = app.setup_sign_in().await;
    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&authorize_url(&app, &rp)).await.unwrap();
    let cancel = appears(page, Locator::Id("cancel")).await;
    assert_eq!(
        cancel.text().await.unwrap(),
        "Cancel and return to Ledger Web"
    );
    cancel.click().await.unwrap();
    let landed = eventually("Chromium reaches the redirect URI", async || {
        let url = page.current_url().await.unwrap();
        url.as_str().starts_with(REDIRECT).then_some(url)
    })
    .await;
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some(STATE));
    assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    browser.close().await;
}

/// WebDriver's keys (the WebDriver spec's code points for them).
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// The page scrolls no further sideways than the screen is wide.
async fn fits_the_width(page: &Client, name: &str) {
    let width = page
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    let width = width.as_u64().unwrap();
    assert!(width <= 360, "the {name} page is {width} px wide at 360 px");
}

/// The focused element's outline, as the browser computes it, has at least 3:1 contrast with
/// the card and the page behind it (WCAG 2.2 1.4.11).
async fn focus_ring_stands_out(page: &Client, what: &str) {
    let colours = page
        .execute(
            "const ring = getComputedStyle(document.activeElement); \
             return [ring.outlineStyle, ring.outlineWidth, ring.outlineColor, \
                     getComputedStyle(document.querySelector('main')).backgroundColor, \
                     getComputedStyle(document.body).backgroundColor];",
            vec![],
        )
        .await
        .unwrap();
    let colours: Vec<String> = serde_json::from_value(colours).unwrap();
    assert_eq!(colours[0], "solid", "{what} shows a ring: {colours:?}");
    let width: f64 = colours[1].trim_end_matches("px").parse().unwrap();
    assert!(width >= 2.0, "{what}'s ring is {width} px");
    let ring = rgb(&colours[2]);
    for behind in &colours[3..] {
        let ratio = contrast(ring, rgb(behind));
        assert!(
            ratio >= 3.0,
            "{what}'s ring {} has {ratio:.2}:1 against {behind}",
            colours[2]
        );
    }
}

/// `rgb(r, g, b)` or `rgba(r, g, b, a)` as CSS computes it.
fn rgb(css: &str) -> [f64; 3] {
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    [parts[0], parts[1], parts[2]]
}

/// WCAG 2.2's contrast ratio of two sRGB colours.
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| {
        let linear = |v: f64| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2])
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn contrast_is_computed_as_wcag_does() {
    let white = [255.0, 255.0, 255.0];
    assert!((contrast([0.0, 0.0, 0.0], white) - 21.0).abs() < 1e-9);
    // The old focus ring, #f59e0b on white.
    assert!((contrast([245.0, 158.0, 11.0], white) - 2.15).abs() < 0.01);
}

fn authorize_url(app: &TestApp, rp: &Rp) -> String {
    authorize_url_for(app, rp, "openid+profile+email")
}

/// An authorization request of `rp` for `scope` (form-encoded).
fn authorize_url_for(app: &TestApp, rp: &Rp, scope: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope={scope}\
         &state={STATE}&nonce=n-1&code_challenge={challenge}&code_challenge_method=S256",
        app.base,
        urlencode(&rp.id),
        urlencode(REDIRECT),
    )
}

/// Types `ada` and `password` into the login form, as a person would.
pub(crate) async fn type_credentials(page: &Client, password: &str) {
    for (field, text) in [("username", "ada"), ("password", password)] {
        page.find(Locator::Id(field))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
}

pub(crate) async fn submit(page: &Client) {
    let button = page
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap();
    button.click().await.unwrap();
}

/// The element `locator` finds, once the page shows it.
pub(crate) async fn appears(page: &Client, locator: Locator<'_>) -> Element {
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
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn start() -> Self {
        Self::launch(None).await
    }

    /// A browser emulating a phone whose screen is 360 × 740 CSS pixels (headless Chromium's
    /// windows are at least 500 px wide).
    async fn phone() -> Self {
        Self::launch(Some((360, 740))).await
    }

    async fn launch(phone: Option<(u32, u32)>) -> Self {
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
        let mut options = options;
        if let Some((width, height)) = phone {
            options["mobileEmulation"] =
                json!({ "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 } });
        }
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
    pub(crate) async fn close(self) {
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
