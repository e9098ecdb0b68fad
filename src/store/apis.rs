//! APIs (resource servers): their identifier is the `aud` of tokens issued for them.

use super::error::ResultExt;
use super::{Error, Result, Store, commit_change, new_id};
use crate::protocol::{ApiIdentifier, Scope};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Api {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
}

impl Store {
    pub async fn create_api(
        &self,
        identifier: &ApiIdentifier,
        name: &str,
        scopes: &[Scope],
        now: i64,
    ) -> Result<Api> {
        let mut tx = self.begin_write().await?;
        let id = new_id(now)?;
        sqlx::query("INSERT INTO apis (id, identifier, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(identifier.as_str())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)
            .on_conflict(|| format!("an API with identifier {identifier} already exists"))?;
        let mut names: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        names.sort();
        names.dedup();
        for scope in &names {
            sqlx::query("INSERT INTO api_scopes (api_id, scope) VALUES ($1, $2)")
                .bind(&id)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
        }
        commit_change(tx).await?;
        Ok(Api {
            id,
            identifier: identifier.to_string(),
            name: name.to_owned(),
            scopes: names,
        })
    }

    pub async fn list_apis(&self) -> Result<Vec<Api>> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT a.id, a.identifier, a.name, s.scope FROM apis a \
             LEFT JOIN api_scopes s ON s.api_id = a.id ORDER BY a.identifier, s.scope",
        )
        .fetch_all(self.pool())
        .await?;
        let mut apis: Vec<Api> = Vec::new();
        for (id, identifier, name, scope) in rows {
            if apis.last().is_none_or(|a| a.id != id) {
                apis.push(Api {
                    id,
                    identifier,
                    name,
                    scopes: Vec::new(),
                });
            }
            if let (Some(api), Some(s)) = (apis.last_mut(), scope) {
                api.scopes.push(s);
            }
        }
        Ok(apis)
    }
}
