//! What still refers to a tenant, role, API or scope: a delete is refused while anything does,
//! and the refusal says what, so the operator knows what to change first.

use sqlx::{Any, Transaction};

use super::{Error, Result};

/// Counts rows of `sql` (one bind, the row id), naming them `what` in the refusal.
struct Check {
    sql: &'static str,
    what: &'static str,
}

async fn count(tx: &mut Transaction<'_, Any>, sql: &'static str, row: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(row).fetch_one(&mut **tx).await?;
    Ok(n)
}

/// `Err(Conflict)` naming every kind of row that still refers to `thing`, with their counts.
async fn refuse_if_referenced(
    tx: &mut Transaction<'_, Any>,
    thing: &str,
    row: &str,
    checks: &[Check],
    advice: &str,
) -> Result<()> {
    let mut found = Vec::new();
    for check in checks {
        let n = count(tx, check.sql, row).await?;
        if n > 0 {
            found.push(format!("{n} {}", check.what));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "{thing} is still referenced by {}; {advice}",
        found.join(", ")
    )))
}

pub(crate) async fn tenant_unreferenced(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    row: &str,
) -> Result<()> {
    let checks = [
        Check {
            sql: "SELECT COUNT(*) FROM clients WHERE tenant_id = $1",
            what: "client(s)",
        },
        Check {
            sql: "SELECT COUNT(*) FROM users WHERE tenant_id = $1",
            what: "user(s)",
        },
        Check {
            sql: "SELECT COUNT(*) FROM roles WHERE tenant_id = $1",
            what: "role(s)",
        },
        Check {
            sql: "SELECT COUNT(*) FROM apis WHERE tenant_id = $1",
            what: "API(s) it owns",
        },
    ];
    refuse_if_referenced(
        tx,
        &format!("tenant {slug}"),
        row,
        &checks,
        &format!(
            "delete or move them first (see `castellan client list --tenant {slug}`, `user list --tenant {slug}`, `role list --tenant {slug}`, `api list --tenant {slug}`)"
        ),
    )
    .await
}

pub(crate) async fn role_unreferenced(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    row: &str,
) -> Result<()> {
    let checks = [
        Check {
            sql: "SELECT COUNT(*) FROM user_roles WHERE role_id = $1",
            what: "user(s) holding it",
        },
        Check {
            sql: "SELECT COUNT(*) FROM client_roles WHERE role_id = $1",
            what: "client(s) holding it",
        },
    ];
    refuse_if_referenced(
        tx,
        &format!("role {name:?}"),
        row,
        &checks,
        "take it away first (`castellan user remove-role`, `castellan client update ID --role …` or `--no-roles`)",
    )
    .await
}

pub(crate) async fn api_unreferenced(
    tx: &mut Transaction<'_, Any>,
    identifier: &str,
    row: &str,
) -> Result<()> {
    let checks = [
        Check {
            sql: "SELECT COUNT(*) FROM client_apis WHERE api_id = $1",
            what: "client(s) granted it",
        },
        Check {
            sql: "SELECT COUNT(*) FROM api_resource_servers WHERE api_id = $1",
            what: "resource server client(s)",
        },
    ];
    refuse_if_referenced(
        tx,
        &format!("API {identifier}"),
        row,
        &checks,
        "withdraw it first (`client update ID --remove-api` / `--not-resource-server-for`)",
    )
    .await
}

/// A scope an API would stop defining must not be granted to any client.
pub(crate) async fn scope_unreferenced(
    tx: &mut Transaction<'_, Any>,
    api_row: &str,
    scope: &str,
) -> Result<()> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM client_api_scopes WHERE api_id = $1 AND scope = $2")
            .bind(api_row)
            .bind(scope)
            .fetch_one(&mut **tx)
            .await?;
    if n > 0 {
        return Err(Error::Conflict(format!(
            "scope {scope:?} is still granted to {n} client(s); withdraw it first (`client update ID --api URI --scope …`)"
        )));
    }
    Ok(())
}
