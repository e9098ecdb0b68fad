//! The client directory: clients read through a cache, emptied whenever the store's generation moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::protocol::ClientId;
use crate::store::clients::ClientRecord;
use crate::store::{self, Store};

/// Cached lookups, unknown ids included, so a flood of made-up ids does not reach the database.
pub struct ClientDirectory {
    store: Store,
    cache: Cache<ClientId, Option<Arc<ClientRecord>>>,
    /// Bumped on every invalidation; a lookup that raced one does not cache its result.
    epoch: AtomicU64,
}

impl ClientDirectory {
    pub fn new(store: Store) -> Self {
        let cache = Cache::builder()
            .max_capacity(50_000)
            // A safety net only: changes arrive through `invalidate` within about a second.
            .time_to_live(Duration::from_secs(60))
            .build();
        Self {
            store,
            cache,
            epoch: AtomicU64::new(0),
        }
    }

    pub async fn get(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<Arc<ClientRecord>>, store::Error> {
        if let Some(hit) = self.cache.get(client_id) {
            return Ok(hit);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let found = self.store.find_client(client_id).await?.map(Arc::new);
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert(client_id.clone(), found.clone());
        }
        Ok(found)
    }

    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }
}
