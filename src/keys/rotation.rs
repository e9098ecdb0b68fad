//! Signing-key rotation: `next` → `active` → `retired` → removed, safe on any number of nodes.
//!
//! Every step is a conditional update in one transaction, so nodes racing to perform the same
//! step agree on one outcome, and a node killed mid-step leaves the previous, valid key set.

use std::sync::Arc;

use super::{Error, KeyRing};
use crate::audit::{Audit, AuditEvent, EventKind, Outcome};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::signing_key::KeyBits;
use crate::crypto::{CryptoError, MasterKey, SigningKey};
use crate::store::keys::{KeyState, StoredKey, Successor};
use crate::store::{self, Store};

/// The timing rules, all in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub period: i64,
    pub publish_ahead: i64,
    /// How long a retired key stays published: the longest token lifetime plus clock skew.
    pub retention: i64,
    pub bits: KeyBits,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            period: config.key_rotation_period,
            publish_ahead: config.key_publish_ahead,
            retention: config.max_token_ttl + config.clock_skew,
            bits: config.signing_key_bits,
        }
    }
}

/// What a rotation step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Published { kid: String, activate_after: i64 },
    Activated { kid: String, retired: String },
    Removed { kid: String },
}

impl Event {
    fn describe(&self) -> String {
        match self {
            Self::Published { kid, .. } => format!("published {kid}"),
            Self::Activated { kid, retired } => format!("activated {kid}, retired {retired}"),
            Self::Removed { kid } => format!("removed {kid}"),
        }
    }
}

/// Runs the schedule: one `tick` does whatever step is due at `now`, and nothing otherwise.
pub struct Rotator {
    store: Store,
    ring: Arc<KeyRing>,
    policy: Policy,
    clock: Clock,
    audit: Audit,
}

impl Rotator {
    pub fn new(
        store: Store,
        ring: Arc<KeyRing>,
        policy: Policy,
        clock: Clock,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            ring,
            policy,
            clock,
            audit,
        }
    }

    /// Performs due steps and records each in the audit trail, then reloads this node's key
    /// ring (cheap: known keys are reused).
    pub async fn tick(&self) -> Result<Vec<Event>, Error> {
        let events = tick(&self.store, self.ring.master(), &self.policy, &self.clock).await?;
        for event in &events {
            tracing::info!(?event, "signing key rotation");
            self.audit.record(
                AuditEvent::new(EventKind::KeyRotated, Outcome::Success)
                    .actor("scheduler")
                    .detail(event.describe()),
            );
        }
        self.ring.refresh(&self.store).await?;
        Ok(events)
    }
}

/// One pass of the schedule at the clock's current time.
pub async fn tick(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
) -> Result<Vec<Event>, Error> {
    let now = clock.now();
    let mut events: Vec<Event> = store
        .remove_expired_keys(now)
        .await?
        .into_iter()
        .map(|kid| Event::Removed { kid })
        .collect();
    let keys = store.list_keys().await?;
    let Some(active) = keys.iter().find(|k| k.state == KeyState::Active) else {
        return Err(Error::NoActiveKey);
    };
    let next = keys.iter().find(|k| k.state == KeyState::Next);
    let due = active.activated_at.unwrap_or(active.created_at) + policy.period;
    match next {
        None if now >= due - policy.publish_ahead => {
            let generated = generate(policy.bits).await?;
            // Published when it reaches the store, not when this tick began: generation can be slow.
            let now = clock.now();
            let activate_after = due.max(now + policy.publish_ahead);
            let key = seal(master, &generated, now, Some(activate_after))?;
            match store.insert_next_key(&key).await {
                Ok(()) => events.push(Event::Published {
                    kid: key.kid,
                    activate_after,
                }),
                // Another node published a successor first.
                Err(store::Error::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(next) if now >= ready_at(next, policy) => {
            let retired = now + policy.retention;
            let done = store
                .replace_active(&active.kid, Successor::Next(&next.kid), now, retired)
                .await?;
            // Not done: another node performed this step first.
            events.extend(done.then(|| Event::Activated {
                kid: next.kid.clone(),
                retired: active.kid.clone(),
            }));
        }
        _ => {}
    }
    Ok(events)
}

/// A `next` key never signs before it has been published for `publish_ahead`.
fn ready_at(next: &StoredKey, policy: &Policy) -> i64 {
    let earliest = next.created_at + policy.publish_ahead;
    next.activate_after.map_or(earliest, |at| at.max(earliest))
}

/// `castellan keys rotate`: a successor is published now and activated after the publish-ahead window.
pub async fn rotate_soon(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
) -> Result<Event, Error> {
    let now = clock.now();
    let keys = store.list_keys().await?;
    if let Some(next) = keys.iter().find(|k| k.state == KeyState::Next) {
        let at = (next.created_at + policy.publish_ahead).max(now);
        let at = next.activate_after.map_or(at, |current| current.min(at));
        store.set_activate_after(&next.kid, at).await?;
        return Ok(Event::Published {
            kid: next.kid.clone(),
            activate_after: at,
        });
    }
    let generated = generate(policy.bits).await?;
    let now = clock.now();
    let activate_after = now + policy.publish_ahead;
    let key = seal(master, &generated, now, Some(activate_after))?;
    store.insert_next_key(&key).await?;
    Ok(Event::Published {
        kid: key.kid,
        activate_after,
    })
}

/// `castellan keys rotate --now`: the successor signs at once; the old key stays published.
///
/// A published `next` key is preferred, since validators may already hold it.
pub async fn rotate_now(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    now: i64,
) -> Result<Event, Error> {
    let keys = store.list_keys().await?;
    let active = keys
        .iter()
        .find(|k| k.state == KeyState::Active)
        .ok_or(Error::NoActiveKey)?;
    let fresh;
    let (successor, kid) = match keys.iter().find(|k| k.state == KeyState::Next) {
        Some(next) => (Successor::Next(&next.kid), next.kid.clone()),
        None => {
            fresh = new_key(master, policy.bits, now, None).await?;
            (Successor::New(&fresh), fresh.kid.clone())
        }
    };
    if !store
        .replace_active(&active.kid, successor, now, now + policy.retention)
        .await?
    {
        return Err(
            store::Error::Conflict("the key set changed meanwhile; try again".into()).into(),
        );
    }
    Ok(Event::Activated {
        kid,
        retired: active.kid.clone(),
    })
}

/// `castellan keys revoke KID`: the key leaves the JWKS at once; if it was active, a successor
/// (the published `next` key, or a new one) takes over in the same transaction.
pub async fn revoke(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    kid: &str,
    now: i64,
) -> Result<KeyState, Error> {
    let keys = store.list_keys().await?;
    let target = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| store::Error::NotFound(format!("no signing key with kid {kid}")))?;
    let fresh;
    let successor = if target.state != KeyState::Active {
        None
    } else if let Some(next) = keys.iter().find(|k| k.state == KeyState::Next) {
        Some(Successor::Next(&next.kid))
    } else {
        fresh = new_key(master, policy.bits, now, None).await?;
        Some(Successor::New(&fresh))
    };
    Ok(store.revoke_key(kid, successor, now).await?)
}

/// `castellan keys import FILE`: an operator's RSA key becomes the `next` key.
pub async fn import(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    der: &[u8],
    now: i64,
) -> Result<Event, Error> {
    let key = SigningKey::from_der(der)?;
    let activate_after = now + policy.publish_ahead;
    let stored = seal(master, &key, now, Some(activate_after))?;
    store.insert_next_key(&stored).await.map_err(|e| match e {
        store::Error::Conflict(_) => store::Error::Conflict(
            "a next key is already published: wait for it to become active, or revoke it first"
                .into(),
        ),
        other => other,
    })?;
    Ok(Event::Published {
        kid: stored.kid,
        activate_after,
    })
}

/// Generates a key off the async workers (RSA generation takes tens of milliseconds or more).
async fn generate(bits: KeyBits) -> Result<SigningKey, Error> {
    Ok(
        tokio::task::spawn_blocking(move || SigningKey::generate(bits))
            .await
            .map_err(|e| CryptoError(format!("key generation task failed: {e}")))??,
    )
}

/// A new key, sealed under the key-encryption key, ready to store.
pub(super) async fn new_key(
    master: &MasterKey,
    bits: KeyBits,
    now: i64,
    activate_after: Option<i64>,
) -> Result<StoredKey, Error> {
    seal(master, &generate(bits).await?, now, activate_after)
}

fn seal(
    master: &MasterKey,
    key: &SigningKey,
    now: i64,
    activate_after: Option<i64>,
) -> Result<StoredKey, Error> {
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        state: if activate_after.is_some() {
            KeyState::Next
        } else {
            KeyState::Active
        },
        bits: i64::try_from(key.bits()).unwrap_or(2048),
        sealed_private_key: master.seal(key.kid(), &key.to_pkcs8()?)?,
        created_at: now,
        activated_at: None,
        retired_at: None,
        activate_after,
        remove_after: None,
    })
}
