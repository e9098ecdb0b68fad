//! What Castellan keeps on disk is its owner's alone: the SQLite folder and file, the
//! key-encryption key, the bootstrap secret.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use castellan::store::Store;

use crate::support::{Backend, TestApp};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_sqlite_folder_and_files_are_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state/data");
    let db = data.join("castellan.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), 2)
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&db), 0o600);
    let wal = data.join("castellan.db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(
        mode(&wal),
        0o600,
        "SQLite gives its WAL file the database's mode"
    );
    store.close().await;
}

#[tokio::test]
async fn a_key_file_others_may_read_stops_the_server_and_the_cli() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = app.master_key_path();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fix = format!("chmod 600 {}", key.display());
    let before = app.cli(&["keys", "list", "--json"]).await.json();
    for args in [&["serve"][..], &["keys", "rotate"][..]] {
        let out = app
            .cli_with_env(args, &[("CASTELLAN_LISTEN", "127.0.0.1:0")])
            .await;
        assert!(!out.success, "{args:?}: {out:?}");
        assert!(out.stderr.contains(&fix), "{args:?}: {out:?}");
    }
    assert_eq!(
        app.cli(&["keys", "list", "--json"]).await.json(),
        before,
        "nothing rotated"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    app.cli(&["keys", "rotate"]).await.ok();
}
