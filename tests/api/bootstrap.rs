//! A fresh database bootstraps an admin client that can obtain an admin token at once; its
//! secret goes to standard output, or to a private file that is never overwritten.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Child;

use crate::on_both_backends;
use crate::support::binary::{bootstrap_credentials, serve, sqlite_in};
use crate::support::{Backend, CC, Rp, TestApp, TestClient, eventually, token_of};

const ADMIN_API: &str = "urn:castellan:admin";

on_both_backends!(bootstrap_admin_obtains_an_admin_token);

async fn bootstrap_admin_obtains_an_admin_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = &app.admin;
    let body = token_of(app.admin_token().await).await;
    assert_eq!(body["scope"], "castellan:admin");
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), ADMIN_API)
        .await;
    assert_eq!(claims["aud"], ADMIN_API);
    assert_eq!(claims["scope"], "castellan:admin");
    assert_eq!(claims["client_id"], admin.id.as_str());
    assert_eq!(claims["tenant_id"], "default");

    // Asked for explicitly, by resource and by scope, it is the same grant.
    let response = app
        .token_post(
            admin,
            &[CC, ("resource", ADMIN_API), ("scope", "castellan:admin")],
        )
        .await;
    let body = token_of(response).await;
    app.verify_access_token(body["access_token"].as_str().unwrap(), ADMIN_API)
        .await;
}

/// `castellan serve` on the SQLite database and key in `dir`, with `args` and `env`, and its
/// base URL.
fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let (mut command, addr) = serve(dir);
    let child = command
        .args(args)
        .envs(sqlite_in(dir))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, format!("http://{addr}"))
}

async fn ready(base: &str) {
    let http = reqwest::Client::new();
    eventually("the server answers /readyz", async || {
        let up = http.get(format!("{base}/readyz")).send().await.ok()?;
        (up.status() == 200).then_some(())
    })
    .await;
}

/// Stops the server and returns what it printed on standard output.
async fn stop(mut server: Child) -> String {
    server.kill().await.unwrap();
    let mut out = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    out
}

/// `serve --bootstrap-secret-file`: the credentials land in a new 0600 file and work, stdout
/// never shows the secret, a restart leaves the file alone, and an existing file is never
/// overwritten (nor is a client created whose secret would have nowhere to go).
#[cfg(unix)]
#[tokio::test]
async fn the_bootstrap_secret_can_go_to_a_private_file() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.secret");
    let flag = ["--bootstrap-secret-file", path.to_str().unwrap()];
    let (server, base) = start(dir.path(), &flag, &[]);
    ready(&base).await;
    let written = std::fs::read_to_string(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let field = |name: &str| {
        written
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {written}"))
            .trim()
            .to_owned()
    };
    let admin = TestClient {
        id: field("client_id:"),
        secret: field("client_secret:"),
    };
    let token = Rp::new(admin.clone(), &base, reqwest::Client::new())
        .token(&[CC])
        .await;
    assert_eq!(token_of(token).await["scope"], "castellan:admin");
    let stdout = stop(server).await;
    assert!(
        stdout.contains(&admin.id) && stdout.contains(path.to_str().unwrap()),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&admin.secret),
        "the secret on stdout: {stdout}"
    );

    // A restart with the same flag: the database needs no bootstrap, the file is left alone.
    let (server, base) = start(dir.path(), &flag, &[]);
    ready(&base).await;
    stop(server).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

    // A fresh database and a file already there (here through the variable): refused, untouched.
    let other = tempfile::tempdir().unwrap();
    let taken = other.path().join("taken");
    std::fs::write(&taken, "an earlier secret").unwrap();
    let (mut server, _) = start(
        other.path(),
        &[],
        &[("CASTELLAN_BOOTSTRAP_SECRET_FILE", taken.to_str().unwrap())],
    );
    let status = tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .expect("the server gives up")
        .unwrap();
    assert!(!status.success());
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&taken).unwrap(),
        "an earlier secret"
    );
    // No client was made with nowhere to put its secret: the next start still bootstraps.
    let (mut server, _) = start(other.path(), &[], &[]);
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    bootstrap_credentials(&mut stdout).await;
}
