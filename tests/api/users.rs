//! `castellan user ...`: accounts for browser sign-in, with argon2id password hashes.

use sqlx::Connection;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(
    users_are_created_listed_and_changed_without_exposing_hashes,
    bad_user_input_is_refused_clearly,
);

async fn password_hash(db: &TestDb, username: &str) -> String {
    let mut conn = sqlx::AnyConnection::connect(&db.database_url)
        .await
        .unwrap();
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    hash
}

async fn users_are_created_listed_and_changed_without_exposing_hashes(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.create_role("default", "editor", &["docs.write"]).await;
    db.create_role("default", "viewer", &["docs.read"]).await;
    let out = db
        .cli_with_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--username",
                "ada",
                "--email",
                "ada@example.com",
                "--name",
                "Ada Lovelace",
                "--role",
                "editor",
                "--password-stdin",
                "--json",
            ],
            b"analytical engine\n",
        )
        .await;
    let user = out.json();
    assert_eq!(user["username"], "ada");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["roles"], serde_json::json!(["editor"]));
    assert!(
        !out.stdout.contains("argon2"),
        "no hash in output: {}",
        out.stdout
    );

    let hash = password_hash(&db, "ada").await;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(
        castellan::crypto::password::verify_blocking("analytical engine", &hash),
        "newline stripped"
    );

    let listed = db
        .cli(&["user", "list", "--tenant", "default", "--json"])
        .await;
    assert_eq!(listed.json()[0]["username"], "ada");
    assert!(!listed.stdout.contains("argon2"));

    db.cli_with_stdin(
        &[
            "user",
            "set-password",
            "--tenant",
            "default",
            "ada",
            "--password-stdin",
        ],
        b"difference engine",
    )
    .await
    .ok();
    let new_hash = password_hash(&db, "ada").await;
    assert!(castellan::crypto::password::verify_blocking(
        "difference engine",
        &new_hash
    ));
    assert!(!castellan::crypto::password::verify_blocking(
        "analytical engine",
        &new_hash
    ));

    db.cli(&["user", "add-role", "--tenant", "default", "ada", "viewer"])
        .await
        .ok();
    db.cli(&[
        "user",
        "remove-role",
        "--tenant",
        "default",
        "ada",
        "editor",
    ])
    .await
    .ok();
    db.cli(&["user", "disable", "--tenant", "default", "ada"])
        .await
        .ok();
    let user = &db.cli(&["user", "list", "--json"]).await.json()[0];
    assert_eq!(user["roles"], serde_json::json!(["viewer"]));
    assert!(user["disabled_at"].is_i64());
    db.cli(&["user", "enable", "--tenant", "default", "ada"])
        .await
        .ok();
    assert!(db.cli(&["user", "list", "--json"]).await.json()[0]["disabled_at"].is_null());

    db.cli(&["user", "delete", "--tenant", "default", "ada"])
        .await
        .ok();
    assert_eq!(
        db.cli(&["user", "list", "--json"]).await.json(),
        serde_json::json!([])
    );
}

async fn bad_user_input_is_refused_clearly(backend: Backend) {
    let db = TestDb::new(backend).await;
    let create = |username: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "user",
            "create",
            "--tenant",
            "default",
            "--username",
            username,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        args
    };
    db.cli_with_stdin(&create("grace", &[]), b"a good password")
        .await
        .ok();
    for (args, input, expected) in [
        (
            create("grace", &[]),
            &b"another password"[..],
            "already exists",
        ),
        (create("short", &[]), b"1234567", "at least 8 characters"),
        (
            create("has space", &[]),
            b"a good password",
            "without spaces",
        ),
        (
            create("mail", &["--email", "not-an-address"]),
            b"a good password",
            "not an email address",
        ),
        (
            create("roles", &["--role", "nope"]),
            b"a good password",
            "role \"nope\" does not exist",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "nowhere",
                "--username",
                "x",
                "--password-stdin",
            ],
            b"a good password",
            "tenant \"nowhere\" does not exist",
        ),
        (create("huge", &[]), &[b'x'; 2000][..], "at most 1024 bytes"),
        (create("latin1", &[]), b"caf\xe9 au lait", "not valid UTF-8"),
        (
            vec![
                "user",
                "set-password",
                "--tenant",
                "default",
                "nobody",
                "--password-stdin",
            ],
            b"a good password",
            "does not exist",
        ),
    ] {
        let out = db.cli_with_stdin(&args, input).await;
        assert!(!out.success, "{args:?} succeeded: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{args:?}: expected {expected:?} in {out:?}"
        );
    }
    let out = db
        .cli(&[
            "user",
            "create",
            "--tenant",
            "default",
            "--username",
            "nopw",
        ])
        .await;
    assert!(
        !out.success && out.stderr.contains("--password-stdin"),
        "{out:?}"
    );
    assert_eq!(
        db.cli(&["user", "list", "--json"])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
