//! Browser sign-ins over the lean client: a web client that skips consent and its users,
//! registered with the CLI; a new browser's whole sign-in (authorization request, login form with
//! a password, code exchange for an ID token); and sign-ins back to back, with a probe alongside.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};

use super::Result;
use super::client::{Target, connect, send, send_keeping_headers};
use super::closed_loop::{Probe, Tally, Window};
use super::html::{form_encode, hidden, query_param};
use super::server::{Server, client_credentials, retry_for};

/// Sign-ins go round these users, so no one account takes them all.
pub const USERS: usize = 32;
pub const PASSWORD: &str = "bench correct horse battery";
const REDIRECT_URI: &str = "https://app.bench.example.com/callback";
/// RFC 7636 appendix B's verifier and its S256 challenge.
const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CSRF_COOKIE: &str = "castellan_csrf";

/// A confidential web client that skips consent, its users, and the requests of a sign-in.
pub struct SignInFlow {
    addr: SocketAddr,
    host: HeaderValue,
    client_id: String,
    authorization: HeaderValue,
    users: Vec<String>,
}

impl SignInFlow {
    pub async fn register(server: &Server) -> Result<Self> {
        let created = server
            .cli(&format!(
                "client create --tenant default --name bench-web --grant authorization_code \
                 --redirect-uri {REDIRECT_URI} --skip-consent --json"
            ))
            .await?;
        let (client_id, authorization) = client_credentials(&created)?;
        let mut users = Vec::with_capacity(USERS);
        for i in 0..USERS {
            let username = format!("bench-user-{i:02}");
            let args =
                format!("user create --tenant default --username {username} --password-stdin");
            server.cli_with_input(&args, Some(PASSWORD)).await?;
            users.push(username);
        }
        Ok(Self {
            addr: server.addr,
            host: HeaderValue::from_str(&server.addr.to_string())?,
            client_id,
            authorization,
            users,
        })
    }

    /// A new browser (its own connection, no cookies) signs in as user `n` (round the users);
    /// the client then exchanges the code on its connection `rp`. Complete when the token
    /// response holds an ID token.
    pub async fn sign_in(&self, rp: &mut SendRequest<Full<Bytes>>, n: usize) -> Result<()> {
        let user = &self.users[n % self.users.len()];
        let state = format!("s{n}");
        let mut browser = connect(self.addr).await?;
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", &state),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        let authorize = Request::get(format!("/authorize?{query}"))
            .header(header::HOST, self.host.clone())
            .body(Full::default())?;
        let (status, headers, page) = send_keeping_headers(&mut browser, authorize).await?;
        expect(StatusCode::OK, status, "GET /authorize", &page)?;
        let csrf = set_cookie(&headers, CSRF_COOKIE).ok_or("the login page set no CSRF cookie")?;
        let page = std::str::from_utf8(&page)?;
        let login = self.post(
            "/login",
            &[
                ("request", &hidden(page, "request")?),
                ("csrf", &hidden(page, "csrf")?),
                ("username", user),
                ("password", PASSWORD),
            ],
            (
                header::COOKIE,
                HeaderValue::from_str(&format!("{CSRF_COOKIE}={csrf}"))?,
            ),
        )?;
        let (status, headers, body) = send_keeping_headers(&mut browser, login).await?;
        expect(StatusCode::SEE_OTHER, status, "POST /login", &body)?;
        let location = headers
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default();
        let back = location
            .strip_prefix(REDIRECT_URI)
            .and_then(|rest| rest.strip_prefix('?'))
            .ok_or_else(|| format!("POST /login sent the browser to {location:?}"))?;
        if query_param(back, "state").as_deref() != Some(state.as_str()) {
            return Err(format!("the redirect lost the state: {location}").into());
        }
        let code = query_param(back, "code").ok_or_else(|| format!("no code in {location}"))?;
        let exchange = self.post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            (header::AUTHORIZATION, self.authorization.clone()),
        )?;
        let (status, body) = send(rp, exchange).await?;
        expect(StatusCode::OK, status, "POST /token (code)", &body)?;
        let tokens: serde_json::Value = serde_json::from_slice(&body)?;
        match tokens["id_token"].as_str() {
            Some(id_token) if id_token.split('.').count() == 3 => Ok(()),
            _ => Err(format!("no ID token in {tokens}").into()),
        }
    }

    /// A form POST with one more header: the browser's cookie or the client's credentials.
    fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        (name, value): (header::HeaderName, HeaderValue),
    ) -> Result<Request<Full<Bytes>>> {
        Ok(Request::post(path)
            .header(header::HOST, self.host.clone())
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(name, value)
            .body(Full::new(Bytes::from(form_encode(form))))?)
    }
}

/// The server notices the new client within about a second; a first sign-in is the real signal.
pub async fn wait_for_first_sign_in(server: &mut Server, flow: &SignInFlow) -> Result<()> {
    let addr = server.addr;
    let mut rp = connect(addr).await?;
    retry_for(
        server,
        (15, 200),
        "no sign-in succeeded within 15 s",
        async || {
            let signed_in = flow.sign_in(&mut rp, 0).await;
            if signed_in.is_err() {
                rp = connect(addr).await?;
            }
            Ok(signed_in)
        },
    )
    .await
}

/// Sign-ins, `concurrency` at a time, for `duration`, with the token probe every
/// `probe_interval` alongside: the sign-ins with the server's CPU time meanwhile, and the
/// probe's tokens.
pub async fn sign_in_window(
    server: &Server,
    flow: &Arc<SignInFlow>,
    probe: &Arc<Target>,
    (concurrency, duration): (usize, Duration),
    probe_interval: Duration,
) -> Result<(Window, Window)> {
    let prober = Probe::start(server.addr, probe, probe_interval);
    let cpu_before = server.process().cpu_time()?;
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|i| tokio::spawn(sign_in_loop(Arc::clone(flow), i, concurrency, deadline)))
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await??);
    }
    let elapsed = started.elapsed();
    let server_cpu = server.process().cpu_time()?.saturating_sub(cpu_before);
    let probed = prober.finish().await?;
    Ok((
        tally
            .into_result("sign-in")?
            .into_window(elapsed, server_cpu),
        probed,
    ))
}

/// Sign-ins back to back until the deadline, as users `first`, `first + step`, ...
async fn sign_in_loop(
    flow: Arc<SignInFlow>,
    first: usize,
    step: usize,
    deadline: Instant,
) -> Result<Tally> {
    let mut rp = connect(flow.addr).await?;
    let mut tally = Tally::default();
    let mut n = first;
    while Instant::now() < deadline {
        let started = Instant::now();
        match flow.sign_in(&mut rp, n).await {
            Ok(()) => {
                tally.ok += 1;
                tally.latencies.push(started.elapsed());
            }
            Err(e) => {
                tally.fail(e.to_string());
                rp = connect(flow.addr).await?;
            }
        }
        n += step;
    }
    Ok(tally)
}

fn expect(want: StatusCode, got: StatusCode, what: &str, body: &[u8]) -> Result<()> {
    if got == want {
        return Ok(());
    }
    // The text of an HTML page, roughly: what a person would read in it.
    let body = String::from_utf8_lossy(body);
    let mut text = String::new();
    for chunk in body
        .split('<')
        .map(|c| c.split_once('>').map_or(c, |(_, t)| t))
    {
        text.extend(chunk.split_whitespace().flat_map(|w| [w, " "]));
    }
    let text: String = text.chars().take(300).collect();
    Err(format!("{what}: {got}, not {want}: {}", text.trim()).into())
}

/// The value that a `Set-Cookie` response header gives cookie `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim().to_owned())
}
