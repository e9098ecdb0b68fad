//! The audit trail's table: batched inserts, the newest events for `castellan audit tail`, retention.

use sqlx::FromRow;

use super::{Result, Store};

/// One stored security event. Every text is short and free of secrets; `count` > 1 stands for
/// that many identical events (batched token issuance).
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct AuditRow {
    /// UTC unix seconds.
    pub at: i64,
    /// What happened, e.g. `signin.failure` (see `audit::EventKind`).
    pub event: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The tenant's slug.
    pub tenant: Option<String>,
    /// Who acted: a user id, a client id, or `cli`.
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
    pub count: i64,
}

const COLUMNS: &str = "at, event, outcome, tenant, actor, client_id, ip, detail, count";
/// Rows per INSERT statement: 9 parameters each stays far below either backend's limit.
const ROWS_PER_STATEMENT: usize = 64;

impl Store {
    /// Stores the rows in one transaction: all of them or, on an error, none.
    pub async fn insert_audit(&self, rows: &[AuditRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = insert_sql(chunk.len());
            // Built from fixed text and placeholders only; not cached, as its length varies.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for row in chunk {
                query = query
                    .bind(row.at)
                    .bind(row.event.as_str())
                    .bind(row.outcome.as_str())
                    .bind(row.tenant.as_deref())
                    .bind(row.actor.as_deref())
                    .bind(row.client_id.as_deref())
                    .bind(row.ip.as_deref())
                    .bind(row.detail.as_deref())
                    .bind(row.count);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` events at or after `since`, of one tenant or all; oldest first, like `tail`.
    pub async fn audit_tail(
        &self,
        tenant: Option<&str>,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>> {
        const ALL: &str = "SELECT at, event, outcome, tenant, actor, client_id, ip, detail, count \
            FROM audit_events ORDER BY at DESC, id DESC LIMIT $1";
        const SINCE: &str = "SELECT at, event, outcome, tenant, actor, client_id, ip, detail, count \
            FROM audit_events WHERE at >= $2 ORDER BY at DESC, id DESC LIMIT $1";
        const TENANT: &str = "SELECT at, event, outcome, tenant, actor, client_id, ip, detail, count \
            FROM audit_events WHERE tenant = $2 ORDER BY at DESC, id DESC LIMIT $1";
        const TENANT_SINCE: &str = "SELECT at, event, outcome, tenant, actor, client_id, ip, detail, count \
            FROM audit_events WHERE tenant = $2 AND at >= $3 ORDER BY at DESC, id DESC LIMIT $1";
        let limit = limit.max(0);
        let query = match (tenant, since) {
            (None, None) => sqlx::query_as(ALL).bind(limit),
            (None, Some(since)) => sqlx::query_as(SINCE).bind(limit).bind(since),
            (Some(tenant), None) => sqlx::query_as(TENANT).bind(limit).bind(tenant),
            (Some(tenant), Some(since)) => sqlx::query_as(TENANT_SINCE)
                .bind(limit)
                .bind(tenant)
                .bind(since),
        };
        let mut rows: Vec<AuditRow> = query.fetch_all(self.pool()).await?;
        rows.reverse();
        Ok(rows)
    }

    /// Deletes the events older than `before` (unix seconds); returns how many went.
    pub async fn purge_audit(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

/// `INSERT ... VALUES ($1, ..., $9), ($10, ...)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let first = r * 9 + 1;
        let placeholders: Vec<String> = (first..first + 9).map(|n| format!("${n}")).collect();
        sql.push('(');
        sql.push_str(&placeholders.join(", "));
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn insert_sql_numbers_every_placeholder() {
        assert_eq!(
            super::insert_sql(2),
            "INSERT INTO audit_events (at, event, outcome, tenant, actor, client_id, ip, detail, count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9), ($10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
    }
}
