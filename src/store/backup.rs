//! An online copy of the SQLite database: consistent while the server keeps writing.

use std::path::Path;

use super::{Backend, Error, Result, Store};

impl Store {
    /// Writes a consistent copy of the whole database to `to`, a new file of mode 0600.
    ///
    /// Copying `castellan.db` alone misses what is still in its write-ahead log; `VACUUM INTO`
    /// reads one snapshot through SQLite itself, so a running server need not stop.
    pub async fn backup_into(&self, to: &Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(Error::Invalid(
                "backup copies the SQLite database; back up PostgreSQL with pg_dump (see README, Backup and restore)".into(),
            ));
        }
        let target = super::absolute(to);
        let text = target
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("{} is not a UTF-8 path", target.display())))?
            .to_owned();
        // An empty file of our own making: VACUUM INTO fills it, keeping its mode, and
        // create_new refuses to overwrite an earlier backup.
        crate::private_file::create_new(&target).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Conflict(format!(
                "{} already exists; backup never overwrites a file",
                target.display()
            )),
            _ => Error::Invalid(format!("cannot create {}: {e}", target.display())),
        })?;
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(&self.pool)
            .await;
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&target);
            return Err(Error::unavailable_from(
                format!("cannot write the backup to {}", target.display()),
                e,
            ));
        }
        Ok(())
    }
}
