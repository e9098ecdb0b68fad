//! The recorder's unit tests: queueing, counting, dropping, writing, retrying.
#![allow(clippy::disallowed_methods)]
use super::writer::backoff;
use super::*;
use tokio::time::Instant;

async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}/audit.db", dir.path().display());
    Store::open(&url, 2).await.unwrap()
}

fn signin_failure() -> AuditEvent {
    AuditEvent::new(EventKind::SigninFailure, Outcome::Failure)
        .tenant("default")
        .ip("192.0.2.7")
        .detail("bad password")
}

#[test]
fn event_names_are_distinct_and_dotted() {
    let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert!(names.iter().all(|n| n.contains('.')));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EventKind::ALL.len());
}

#[test]
fn fields_are_cut_and_stripped_of_control_characters() {
    let row = AuditEvent::new(EventKind::ClientChanged, Outcome::Success)
        .actor("ev\nil\u{1b}[31m")
        .detail("x".repeat(500))
        .into_row(7);
    assert_eq!(row.actor.as_deref(), Some("evil[31m"));
    assert_eq!(row.detail.map(|d| d.chars().count()), Some(MAX_FIELD_CHARS));
    assert_eq!(
        (row.at, row.event.as_str(), row.outcome.as_str(), row.count),
        (7, "client.changed", "success", 1)
    );
}

#[test]
fn issuance_is_counted_per_client_and_grant_until_taken() {
    let shared = Shared::new();
    for _ in 0..3 {
        shared.count_issued(Some("default"), "svc-a", GrantType::ClientCredentials);
    }
    shared.count_issued(Some("default"), "svc-a", GrantType::RefreshToken);
    shared.count_issued(Some("acme"), "svc-b", GrantType::ClientCredentials);
    shared.count_issued(Some("acme"), "svc-b", GrantType::ClientCredentials);

    let rows = shared.take_issued(100);
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.at,
                r.tenant.as_deref(),
                r.client_id.as_deref(),
                r.detail.as_deref(),
                r.count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                100,
                Some("default"),
                Some("svc-a"),
                Some("grant client_credentials"),
                3
            ),
            (
                100,
                Some("default"),
                Some("svc-a"),
                Some("grant refresh_token"),
                1
            ),
            (
                100,
                Some("acme"),
                Some("svc-b"),
                Some("grant client_credentials"),
                2
            ),
        ]
    );
    assert!(rows.iter().all(|r| r.event == "token.issued"));
    assert!(shared.take_issued(101).is_empty(), "counters start again");
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let (tx, _rx) = mpsc::channel(2);
    let audit = Audit {
        tx: Some(tx),
        shared: Arc::new(Shared::new()),
        clock: Clock::fixed(1),
    };
    for _ in 0..5 {
        audit.record(signin_failure());
    }
    assert_eq!(audit.dropped(), 3);
}

#[test]
fn a_disabled_recorder_discards_everything() {
    let audit = Audit::disabled();
    audit.record(signin_failure());
    audit.record_token_issued(None, "svc", GrantType::ClientCredentials);
    assert_eq!(audit.dropped(), 0);
    assert!(audit.shared.take_issued(0).is_empty());
}

#[test]
fn backoff_doubles_up_to_a_ceiling() {
    assert_eq!(backoff(1), Duration::from_millis(200));
    assert_eq!(backoff(2), Duration::from_millis(400));
    assert_eq!(backoff(4), Duration::from_millis(1600));
    assert_eq!(backoff(50), MAX_BACKOFF);
}

#[tokio::test]
async fn events_and_counts_are_stored_on_flush_and_when_the_last_handle_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (audit, writer) = Audit::spawn(store.clone(), Clock::fixed(1_000));
    audit.record(signin_failure());
    for _ in 0..3 {
        audit.record_token_issued(Some("default"), "svc", GrantType::ClientCredentials);
    }
    audit.flush().await.unwrap();
    let rows = store.audit_tail(None, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], signin_failure().into_row(1_000));
    assert_eq!((rows[1].event.as_str(), rows[1].count), ("token.issued", 3));

    audit.record(signin_failure().detail("after the flush"));
    drop(audit);
    writer.await.unwrap();
    let rows = store.audit_tail(None, None, 10).await.unwrap();
    assert_eq!(rows[2].detail.as_deref(), Some("after the flush"));
}

#[tokio::test]
async fn a_failing_database_keeps_the_batch_and_the_writer_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let (audit, _writer) = Audit::spawn(store.clone(), Clock::fixed(1_000));
    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(store.pool())
        .await
        .unwrap();
    for _ in 0..3 {
        audit.record(signin_failure());
    }
    audit.record_token_issued(Some("default"), "svc", GrantType::ClientCredentials);
    assert!(audit.flush().await.is_err(), "the table is gone");
    audit.record(signin_failure().detail("during the outage"));

    sqlx::query("ALTER TABLE audit_events_away RENAME TO audit_events")
        .execute(store.pool())
        .await
        .unwrap();
    // No flush: the writer's own retry stores the kept batch.
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = store.audit_tail(None, None, 10).await.unwrap();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.count).sum::<i64>(), 5);
    assert_eq!(rows[4].detail.as_deref(), Some("during the outage"));
    assert_eq!(audit.dropped(), 0);
}
