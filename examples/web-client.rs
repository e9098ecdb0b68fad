//! A web application that signs people in through Castellan, to try it with a real browser: it
//! listens on a loopback port, sends the browser to Castellan (authorization code with PKCE S256,
//! `state` and `nonce`), receives the callback, exchanges the code, validates the ID token and
//! prints its claims, then exits. Built on the `openidconnect` crate, unmodified.
//!
//! ```sh
//! cargo run --example web-client -- --issuer http://127.0.0.1:8080 \
//!     --client-id CLIENT_ID --client-secret CLIENT_SECRET
//! ```
//!
//! The client must be registered with the redirect URI it prints
//! (`http://127.0.0.1:8400/callback` by default; `--port` changes it).

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use clap::Parser;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

#[derive(Parser)]
#[command(about = "Sign in through Castellan in a browser and print the ID token's claims")]
struct Args {
    /// Castellan's issuer, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    client_id: String,
    /// The client's secret (or set WEB_CLIENT_SECRET, which keeps it out of the shell history).
    #[arg(long, env = "WEB_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// The loopback port to listen on; the redirect URI is http://127.0.0.1:PORT/callback.
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// Scopes to ask for besides openid, space-separated.
    #[arg(long, default_value = "profile email")]
    scope: String,
}

type Outcome = Result<String, String>;

/// A callback's query, handed to `main`, which answers with the page to show.
type Callback = (HashMap<String, String>, oneshot::Sender<Outcome>);

#[derive(Clone)]
struct Web {
    authorize_url: String,
    callbacks: mpsc::Sender<Callback>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let http = openidconnect::reqwest::Client::builder()
        // Following redirects would let a server redirect token requests elsewhere.
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()?;
    let issuer = IssuerUrl::new(args.issuer.trim_end_matches('/').to_owned())?;
    let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
        .await
        .map_err(|e| format!("cannot read {issuer}/.well-known/openid-configuration: {e}"))?;

    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(args.client_id),
        Some(ClientSecret::new(args.client_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.clone())?);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in args.scope.split_whitespace() {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let (authorize_url, state, nonce) = request.url();

    let (callbacks, mut received) = mpsc::channel::<Callback>(1);
    let web = Web {
        authorize_url: authorize_url.to_string(),
        callbacks,
    };
    let app = Router::new()
        .route("/", get(start))
        .route("/callback", get(callback))
        .with_state(Arc::new(Mutex::new(Some(web))));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    println!("Register this redirect URI for the client: {redirect_uri}");
    println!("Open in a browser: http://127.0.0.1:{port}/");

    let Some((query, answer)) = received.recv().await else {
        return Err("the callback server stopped".into());
    };
    let outcome = finish(&query, &state, &issuer, async |code| {
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))?
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(|e| format!("the code exchange failed: {e}"))?;
        let id_token = tokens
            .id_token()
            .ok_or("the token response has no ID token")?;
        let id_verifier = client.id_token_verifier();
        // Signature (from the JWKS), issuer, audience, expiry and nonce.
        let claims = id_token.claims(&id_verifier, &nonce)?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = AccessTokenHash::from_token(
                tokens.access_token(),
                id_token.signing_alg()?,
                id_token.signing_key(&id_verifier)?,
            )?;
            if actual != *expected {
                return Err("the ID token's at_hash does not match the access token".into());
            }
        }
        println!("ID token claims:");
        println!("{}", serde_json::to_string_pretty(claims)?);
        if let Some(expires_in) = tokens.expires_in() {
            println!("An access token came too, for {} s.", expires_in.as_secs());
        }
        let who = claims
            .preferred_username()
            .map(|u| u.to_string())
            .unwrap_or_else(|| claims.subject().to_string());
        Ok(who)
    })
    .await;
    let page = match &outcome {
        Ok(who) => Ok(format!(
            "Signed in as {who}. The claims are in the terminal."
        )),
        Err(e) => Err(format!("The sign-in failed: {e}")),
    };
    let _ = answer.send(page);
    let _ = stop.send(());
    let _ = server.await;
    outcome.map(|_| ()).map_err(|e| {
        eprintln!("web-client: {e}");
        e.into()
    })
}

/// Checks the callback (RFC 6749 §4.1.2 and RFC 9207) and runs `exchange` on its code.
async fn finish(
    query: &HashMap<String, String>,
    state: &CsrfToken,
    issuer: &IssuerUrl,
    exchange: impl AsyncFnOnce(String) -> Result<String, Box<dyn Error>>,
) -> Result<String, String> {
    if query.get("state") != Some(state.secret()) {
        return Err("the callback's state is not the one sent".into());
    }
    // RFC 9207: the answer must come from the issuer the request went to.
    if query.get("iss").map(String::as_str) != Some(issuer.as_str()) {
        return Err("the callback's iss is not the issuer".into());
    }
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        return Err(format!("Castellan answered {error}: {description}"));
    }
    let code = query.get("code").ok_or("the callback has no code")?;
    exchange(code.clone()).await.map_err(|e| e.to_string())
}

type Shared = Arc<Mutex<Option<Web>>>;

/// Sends the browser to Castellan's authorization endpoint.
async fn start(State(web): State<Shared>) -> Response {
    let url = web
        .lock()
        .ok()
        .and_then(|web| web.as_ref().map(|w| w.authorize_url.clone()));
    match url {
        Some(url) => Redirect::to(&url).into_response(),
        None => Html("This sign-in is over; start the example again.").into_response(),
    }
}

/// Takes the one callback this run waits for and shows how it ended.
async fn callback(
    State(web): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let taken = web.lock().ok().and_then(|mut web| web.take());
    let Some(web) = taken else {
        return Html("This sign-in is over; start the example again.").into_response();
    };
    let (answer, outcome) = oneshot::channel();
    if web.callbacks.send((query, answer)).await.is_err() {
        return Html("The example stopped.").into_response();
    }
    let text = match outcome.await {
        Ok(Ok(text)) | Ok(Err(text)) => text,
        Err(_) => "The example stopped.".to_owned(),
    };
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Html(format!(
        "<!doctype html><title>web-client</title><p id=\"outcome\">{escaped}</p>"
    ))
    .into_response()
}
