//! A graceful shutdown of the real binary: SIGTERM with a request in flight.

use std::process::Stdio;
use std::time::Duration;

use castellan::store::Store;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::binary::{bootstrap_credentials, serve, sqlite_in, terminate};
use crate::support::db::tokens_issued;
use crate::support::wait::bounded;
use crate::support::{PATIENCE, TestClient, eventually};

/// The real binary on SQLite: a `POST /token` whose body is still arriving when SIGTERM comes is
/// answered; new connections are refused; the process flushes the audit trail, closes the
/// pool and exits 0.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut command, addr) = serve(dir.path());
    let mut child = command
        .envs(sqlite_in(dir.path()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut log = String::new();
        BufReader::new(stderr)
            .read_to_string(&mut log)
            .await
            .unwrap();
        log
    });
    // The bootstrap admin's credentials are printed once, on stdout.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (id, secret) = bootstrap_credentials(&mut stdout).await;

    // The listener is bound before the credentials are printed. A first request shows the
    // connection is being served; then the second one's head and half its body, and SIGTERM
    // while its handler waits for the rest.
    let mut in_flight = TcpStream::connect(&addr).await.unwrap();
    let probe = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    in_flight.write_all(probe.as_bytes()).await.unwrap();
    let (status, _) = bounded("/healthz", read_response(&mut in_flight)).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body = b"grant_type=client_credentials";
    let admin = TestClient {
        id: id.clone(),
        secret,
    };
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        admin.basic(),
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    terminate(pid);
    let signalled = Instant::now();

    // The listener closes at once: a new connection is refused. A connection whose handshake
    // races the close is reset instead (the kernel drops the listener's queue); either way
    // nothing new is served.
    eventually(
        "new connections are refused",
        async || match TcpStream::connect(&addr).await {
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                    ),
                    "{e}"
                );
                Some(())
            }
            Ok(_) => None,
        },
    )
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process waits for the request in flight"
    );

    // The rest of the body, a second after the signal: the request is answered in full.
    tokio::time::sleep_until(signalled + Duration::from_secs(1)).await;
    in_flight.write_all(&body[10..]).await.unwrap();
    let (status, json) = bounded("the response", read_response(&mut in_flight)).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{json}");
    let token: Value = serde_json::from_str(&json).unwrap();
    assert!(
        token["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{token}"
    );
    // Answered, the connection is closed rather than kept alive.
    let mut rest = Vec::new();
    let read = bounded("the close", in_flight.read_to_end(&mut rest)).await;
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");

    // The process exits 0 soon after and says it stopped.
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the process exits after the response")
        .unwrap();
    let log = log.await.unwrap();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("were cut off"), "{log}");
    assert!(!log.contains("were lost"), "{log}");
    drop(stdout);

    // Nothing written was lost: the token answered during the shutdown is in the audit trail.
    // And the pool was closed: SQLite removes its write-ahead log when the last connection closes.
    assert!(
        !dir.path().join("castellan.db-wal").exists(),
        "the write-ahead log is left: the pool was not closed"
    );
    let db = format!("sqlite://{}/castellan.db", dir.path().display());
    let store = Store::open(&db, 1).await.unwrap();
    assert_eq!(tokens_issued(&store, &id).await, 1);
    store.close().await;
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: its status line and its body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head.lines().next().unwrap().to_owned();
    let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
    (status, body)
}
