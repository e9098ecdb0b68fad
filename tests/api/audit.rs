//! The audit trail: events recorded through `castellan::audit` and read by `castellan audit tail`.

use castellan::audit::{self, Audit, AuditEvent, EventKind, Outcome};
use castellan::protocol::GrantType;
use castellan::store::audit::AuditRow;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(
    recorded_events_are_read_back_by_audit_tail,
    concurrent_token_issuance_is_counted_exactly,
    since_takes_a_duration_or_a_time,
    retention_purges_only_expired_events,
);

const DAY: i64 = 86_400;

fn row(at: i64, event: &str, tenant: &str, detail: &str) -> AuditRow {
    AuditRow {
        at,
        event: event.into(),
        outcome: "success".into(),
        tenant: Some(tenant.into()),
        actor: Some("cli".into()),
        client_id: None,
        ip: None,
        detail: Some(detail.into()),
        count: 1,
    }
}

/// The `detail` of each event `audit tail` prints with these arguments, oldest first.
async fn tail_details(db: &TestDb, args: &[&str]) -> Vec<String> {
    let mut all = vec!["audit", "tail", "--json"];
    all.extend_from_slice(args);
    let rows = db.cli(&all).await.json();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn recorded_events_are_read_back_by_audit_tail(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (recorder, _writer) = Audit::spawn(db.store.clone(), db.clock.clone());
    recorder.record(
        AuditEvent::new(EventKind::SigninSuccess, Outcome::Success)
            .tenant("default")
            .actor("0193a0b4-user")
            .client("web")
            .ip("192.0.2.7"),
    );
    recorder.record(
        AuditEvent::new(EventKind::SigninFailure, Outcome::Failure)
            .tenant("acme")
            .ip("198.51.100.9")
            .detail("bad password"),
    );
    for _ in 0..3 {
        recorder.record_token_issued(Some("default"), "svc", GrantType::ClientCredentials);
    }
    recorder.flush().await.unwrap();

    let rows = db.cli(&["audit", "tail", "--json"]).await.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let now = db.clock.now();
    assert!(
        rows.iter()
            .all(|r| (now - 5..=now).contains(&r["at"].as_i64().unwrap()))
    );
    let without_time: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("at");
            r
        })
        .collect();
    assert_eq!(
        without_time,
        vec![
            json!({"event": "signin.success", "outcome": "success", "tenant": "default",
                   "actor": "0193a0b4-user", "client_id": "web", "ip": "192.0.2.7",
                   "detail": null, "count": 1}),
            json!({"event": "signin.failure", "outcome": "failure", "tenant": "acme",
                   "actor": null, "client_id": null, "ip": "198.51.100.9",
                   "detail": "bad password", "count": 1}),
            json!({"event": "token.issued", "outcome": "success", "tenant": "default",
                   "actor": "svc", "client_id": "svc", "ip": null,
                   "detail": "grant client_credentials", "count": 3}),
        ]
    );

    let acme = db
        .cli(&["audit", "tail", "--tenant", "acme", "--json"])
        .await
        .json();
    assert_eq!(acme.as_array().unwrap().len(), 1);
    assert_eq!(acme[0]["event"], "signin.failure");

    let newest = db
        .cli(&["audit", "tail", "--limit", "2", "--json"])
        .await
        .json();
    let events: Vec<&str> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["signin.failure", "token.issued"],
        "newest, oldest first"
    );

    let text = db.cli(&["audit", "tail"]).await;
    let lines: Vec<&str> = text.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    let fields: Vec<&str> = lines[2].split('\t').collect();
    assert!(
        fields[0].ends_with('Z'),
        "an RFC 3339 UTC time: {}",
        lines[2]
    );
    assert_eq!(
        fields[1..],
        [
            "token.issued",
            "success",
            "default",
            "svc",
            "svc",
            "-",
            "x3 grant client_credentials"
        ]
    );
    assert!(lines[1].contains("\tsignin.failure\tfailure\tacme\t-\t-\t198.51.100.9\tbad password"));

    let bad = db.cli(&["audit", "tail", "--tenant", "Not A Slug"]).await;
    assert!(
        !bad.success && bad.stderr.contains("tenant slug"),
        "{bad:?}"
    );
    assert_eq!(recorder.dropped(), 0);
}

async fn concurrent_token_issuance_is_counted_exactly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (recorder, writer) = Audit::spawn(db.store.clone(), db.clock.clone());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let recorder = recorder.clone();
            tokio::spawn(async move {
                let client = if i % 2 == 0 { "even" } else { "odd" };
                for n in 0..250 {
                    recorder.record_token_issued(
                        Some("default"),
                        client,
                        GrantType::ClientCredentials,
                    );
                    if n % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // The last handle going stores what is left and ends the writer.
    drop(recorder);
    writer.await.unwrap();

    let rows = db
        .store
        .audit_tail(Some("default"), None, 1000)
        .await
        .unwrap();
    let total = |client: &str| -> i64 {
        rows.iter()
            .filter(|r| r.client_id.as_deref() == Some(client))
            .map(|r| r.count)
            .sum()
    };
    assert_eq!((total("even"), total("odd")), (1000, 1000), "{rows:?}");
    assert!(rows.iter().all(|r| r.event == "token.issued"));
}

async fn since_takes_a_duration_or_a_time(backend: Backend) {
    let db = TestDb::new(backend).await;
    let now = db.clock.now();
    db.store
        .insert_audit(&[
            row(now - 3 * DAY, "user.created", "default", "three days ago"),
            row(now - 7200, "user.changed", "acme", "two hours ago"),
            row(now - 60, "user.deleted", "default", "a minute ago"),
        ])
        .await
        .unwrap();

    assert_eq!(tail_details(&db, &[]).await.len(), 3);
    assert_eq!(
        tail_details(&db, &["--since", "1d"]).await,
        ["two hours ago", "a minute ago"]
    );
    assert_eq!(
        tail_details(&db, &["--since", "90m"]).await,
        ["a minute ago"]
    );
    assert_eq!(
        tail_details(&db, &["--since", "1d", "--tenant", "acme"]).await,
        ["two hours ago"]
    );
    let four_days_ago = time::OffsetDateTime::from_unix_timestamp(now - 4 * DAY)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        tail_details(&db, &["--since", &four_days_ago]).await.len(),
        3
    );

    let bad = db.cli(&["audit", "tail", "--since", "yesterday"]).await;
    assert!(!bad.success, "{bad:?}");
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}

async fn retention_purges_only_expired_events(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Purged as of ten days from now, so that a retention job purging as of now (a server's)
    // would have nothing to do with these rows.
    let now = db.clock.now() + 10 * DAY;
    db.store
        .insert_audit(&[
            row(now - 91 * DAY, "client.created", "default", "expired"),
            row(now - 89 * DAY, "client.changed", "default", "kept"),
            row(now, "client.deleted", "default", "new"),
        ])
        .await
        .unwrap();

    let purged = audit::purge_expired(&db.store, 90 * DAY, now)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(tail_details(&db, &[]).await, ["kept", "new"]);
    assert_eq!(
        audit::purge_expired(&db.store, 90 * DAY, now)
            .await
            .unwrap(),
        0
    );
}
