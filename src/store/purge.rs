//! Deletes rows nobody can use any more, so tables follow live traffic rather than history: a
//! signed-in user who mints codes, sessions and refresh tokens in a loop cannot grow the
//! database without bound.

use super::{Result, Store};

/// Rows are kept this long past the end of their use, for clock skew between nodes and for
/// requests that read a row just before it expired.
pub const PURGE_MARGIN: i64 = 300;

/// Rows deleted per statement, so a large purge never holds SQLite's write lock for long.
const BATCH: u32 = 1000;

/// A table whose rows die; `dead` holds for a row past use when `$1` is the cutoff.
struct Expiring {
    table: &'static str,
    key: &'static str,
    dead: &'static str,
    /// Its rows carry a grant `family`, which keeps the family's revocation alive.
    in_family: bool,
}

/// One line per table.
const EXPIRING: &[Expiring] = &[
    // Used codes too are kept until they expire, so a replay within their life still revokes
    // what they issued; after that a replay is refused as expired anyway.
    Expiring {
        table: "authorization_codes",
        key: "code_hash",
        dead: "expires_at < $1",
        in_family: true,
    },
    // `idle_expires_at` never exceeds `expires_at`; past it, used or not, a token grants nothing.
    Expiring {
        table: "refresh_tokens",
        key: "token_hash",
        dead: "idle_expires_at < $1",
        in_family: true,
    },
    Expiring {
        table: "sessions",
        key: "id_hash",
        dead: "expires_at < $1 OR ended_at < $1",
        in_family: false,
    },
    // Kept while a revocation of its grant could still matter.
    Expiring {
        table: "grant_access_tokens",
        key: "jti",
        dead: "expires_at < $1",
        in_family: true,
    },
    // Past its expiry (and the skew allowed for) an assertion is refused anyway.
    Expiring {
        table: "client_assertion_jtis",
        key: "assertion",
        dead: "expires_at < $1",
        in_family: false,
    },
    // Past its token's expiry a revocation says nothing any more.
    Expiring {
        table: "revoked_tokens",
        key: "jti",
        dead: "expires_at < $1",
        in_family: false,
    },
];

/// How many rows each table lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeCounts(pub Vec<(&'static str, u64)>);

impl PurgeCounts {
    pub fn of(&self, table: &str) -> u64 {
        self.0
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Deletes every row dead for more than [`PURGE_MARGIN`] at `now`, then the revocations of
    /// families that have no row left to revoke.
    pub async fn purge_expired(&self, now: i64) -> Result<PurgeCounts> {
        let cutoff = now - PURGE_MARGIN;
        let mut counts = vec![];
        for t in EXPIRING {
            let deleted = self.delete_dead(t.table, t.key, t.dead, cutoff).await?;
            counts.push((t.table, deleted));
        }
        let orphaned = std::iter::once("revoked_at < $1".to_owned())
            .chain(EXPIRING.iter().filter(|t| t.in_family).map(|t| {
                format!(
                    "NOT EXISTS (SELECT 1 FROM {} m WHERE m.family = revoked_families.family)",
                    t.table
                )
            }))
            .collect::<Vec<_>>()
            .join(" AND ");
        let deleted = self
            .delete_dead("revoked_families", "family", &orphaned, cutoff)
            .await?;
        counts.push(("revoked_families", deleted));
        Ok(PurgeCounts(counts))
    }

    /// Deletes the rows of `table` for which `dead` holds, a batch at a time.
    async fn delete_dead(&self, table: &str, key: &str, dead: &str, cutoff: i64) -> Result<u64> {
        // Only the constants above reach this text; the cutoff is bound.
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {dead} LIMIT {BATCH})"
        );
        let mut total = 0;
        loop {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(cutoff)
                .execute(self.pool())
                .await?;
            total += done.rows_affected();
            if done.rows_affected() < u64::from(BATCH) {
                return Ok(total);
            }
        }
    }
}
