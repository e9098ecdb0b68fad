//! Signing-key rotation, per algorithm: `next` → `active` → `retired` → removed, safe on any number of nodes.
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
use crate::protocol::SigningAlg;
use crate::store::keys::{KeyState, StoredKey, Successor};
use crate::store::{self, Store};

/// The timing rules, all in seconds, and the algorithms that sign.
#[derive(Debug, Clone)]
pub struct Policy {
    pub period: i64,
    pub publish_ahead: i64,
    /// How long a retired key stays published: the longest token lifetime plus clock skew.
    pub retention: i64,
    pub bits: KeyBits,
    /// Enabled algorithms, RS256 first; each has its own `next → active → retired` lifecycle.
    pub algs: Vec<SigningAlg>,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            period: config.key_rotation_period,
            publish_ahead: config.key_publish_ahead,
            retention: config.max_token_ttl + config.clock_skew,
            bits: config.signing_key_bits,
            algs: config.signing_algs.clone(),
        }
    }

    pub fn enabled(&self, alg: SigningAlg) -> bool {
        self.algs.contains(&alg)
    }

    /// An error unless `alg` is enabled here.
    pub fn require(&self, alg: SigningAlg) -> Result<(), Error> {
        if self.enabled(alg) {
            return Ok(());
        }
        Err(store::Error::Invalid(format!(
            "{alg} is not enabled: add it to signing_algs (CASTELLAN_SIGNING_ALGS) first"
        ))
        .into())
    }
}

/// What a rotation step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Published {
        kid: String,
        activate_after: i64,
    },
    Activated {
        kid: String,
        retired: String,
    },
    /// The first key of an algorithm enabled on an existing deployment began signing.
    Started {
        kid: String,
        alg: SigningAlg,
    },
    Removed {
        kid: String,
    },
}

impl Event {
    fn describe(&self) -> String {
        match self {
            Self::Published { kid, .. } => format!("published {kid}"),
            Self::Activated { kid, retired } => format!("activated {kid}, retired {retired}"),
            Self::Started { kid, alg } => format!("activated {kid}, the first {alg} key"),
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

/// One pass of the schedule at the clock's current time: expired keys leave, then each enabled
/// algorithm takes its due step. Keys of an algorithm no longer enabled are left as they are.
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
    for &alg in &policy.algs {
        let of_alg: Vec<&StoredKey> = keys.iter().filter(|k| k.alg == alg).collect();
        events.extend(step(store, master, policy, clock, alg, &of_alg).await?);
    }
    Ok(events)
}

/// The step due for one algorithm's keys, if any.
async fn step(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
    alg: SigningAlg,
    keys: &[&StoredKey],
) -> Result<Option<Event>, Error> {
    let now = clock.now();
    let active = keys.iter().find(|k| k.state == KeyState::Active);
    let next = keys.iter().find(|k| k.state == KeyState::Next);
    match (active, next) {
        // An algorithm enabled on an existing deployment: its first key is published ahead too.
        (None, None) => {
            publish(
                store,
                master,
                policy,
                clock,
                alg,
                now + policy.publish_ahead,
            )
            .await
        }
        (None, Some(next)) if now >= ready_at(next, policy) => {
            let done = store.activate_first(&next.kid, now).await?;
            Ok(done.then(|| Event::Started {
                kid: next.kid.clone(),
                alg,
            }))
        }
        (Some(active), None) => {
            let due = active.activated_at.unwrap_or(active.created_at) + policy.period;
            if now < due - policy.publish_ahead {
                return Ok(None);
            }
            publish(store, master, policy, clock, alg, due).await
        }
        (Some(active), Some(next)) if now >= ready_at(next, policy) => {
            let retired = now + policy.retention;
            let done = store
                .replace_active(&active.kid, Successor::Next(&next.kid), now, retired)
                .await?;
            // Not done: another node performed this step first.
            Ok(done.then(|| Event::Activated {
                kid: next.kid.clone(),
                retired: active.kid.clone(),
            }))
        }
        _ => Ok(None),
    }
}

/// Publishes a new `next` key of `alg` that signs from `due` on, or after the publish-ahead
/// window if that is later; nothing if another node published one first.
async fn publish(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
    alg: SigningAlg,
    due: i64,
) -> Result<Option<Event>, Error> {
    let generated = generate(alg, policy.bits).await?;
    // Published when it reaches the store, not when this tick began: generation can be slow.
    let now = clock.now();
    let activate_after = due.max(now + policy.publish_ahead);
    let key = seal(master, &generated, now, Some(activate_after))?;
    match store.insert_next_key(&key).await {
        Ok(()) => Ok(Some(Event::Published {
            kid: key.kid,
            activate_after,
        })),
        Err(store::Error::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A `next` key never signs before it has been published for `publish_ahead`.
fn ready_at(next: &StoredKey, policy: &Policy) -> i64 {
    let earliest = next.created_at + policy.publish_ahead;
    next.activate_after.map_or(earliest, |at| at.max(earliest))
}

/// `castellan keys rotate [--alg A]`: a successor of `alg` is published now and activated after
/// the publish-ahead window.
pub async fn rotate_soon(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
    alg: SigningAlg,
) -> Result<Event, Error> {
    policy.require(alg)?;
    let now = clock.now();
    let keys = store.list_keys().await?;
    if let Some(next) = keys
        .iter()
        .find(|k| k.alg == alg && k.state == KeyState::Next)
    {
        let at = (next.created_at + policy.publish_ahead).max(now);
        let at = next.activate_after.map_or(at, |current| current.min(at));
        store.set_activate_after(&next.kid, at).await?;
        return Ok(Event::Published {
            kid: next.kid.clone(),
            activate_after: at,
        });
    }
    let generated = generate(alg, policy.bits).await?;
    let now = clock.now();
    let activate_after = now + policy.publish_ahead;
    let key = seal(master, &generated, now, Some(activate_after))?;
    store.insert_next_key(&key).await?;
    Ok(Event::Published {
        kid: key.kid,
        activate_after,
    })
}

/// `castellan keys rotate [--alg A] --now`: the successor signs at once; the old key stays
/// published. A published `next` key is preferred, since validators may already hold it.
pub async fn rotate_now(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    now: i64,
    alg: SigningAlg,
) -> Result<Event, Error> {
    policy.require(alg)?;
    let keys = store.list_keys().await?;
    let of_alg = |state| keys.iter().find(|k| k.alg == alg && k.state == state);
    let changed = || store::Error::Conflict("the key set changed meanwhile; try again".into());
    let Some(active) = of_alg(KeyState::Active) else {
        // The algorithm's first key: the published one, or a new one.
        if let Some(next) = of_alg(KeyState::Next) {
            if !store.activate_first(&next.kid, now).await? {
                return Err(changed().into());
            }
            return Ok(Event::Started {
                kid: next.kid.clone(),
                alg,
            });
        }
        let key = new_key(master, alg, policy.bits, now, None).await?;
        store.insert_active_keys(std::slice::from_ref(&key)).await?;
        return Ok(Event::Started { kid: key.kid, alg });
    };
    let fresh;
    let (successor, kid) = match of_alg(KeyState::Next) {
        Some(next) => (Successor::Next(&next.kid), next.kid.clone()),
        None => {
            fresh = new_key(master, alg, policy.bits, now, None).await?;
            (Successor::New(&fresh), fresh.kid.clone())
        }
    };
    if !store
        .replace_active(&active.kid, successor, now, now + policy.retention)
        .await?
    {
        return Err(changed().into());
    }
    Ok(Event::Activated {
        kid,
        retired: active.kid.clone(),
    })
}

/// `castellan keys revoke KID`: the key leaves the JWKS at once; if it was active, a successor
/// of its algorithm (the published `next` key, or a new one) takes over in the same
/// transaction. An algorithm no longer enabled gets no successor: its APIs and clients are
/// signed RS256 already.
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
    let alg = target.alg;
    let fresh;
    let successor =
        if target.state != KeyState::Active || (alg != SigningAlg::RS256 && !policy.enabled(alg)) {
            None
        } else if let Some(next) = keys
            .iter()
            .find(|k| k.alg == alg && k.state == KeyState::Next)
        {
            Some(Successor::Next(&next.kid))
        } else {
            fresh = new_key(master, alg, policy.bits, now, None).await?;
            Some(Successor::New(&fresh))
        };
    Ok(store.revoke_key(kid, successor, now).await?)
}

/// `castellan keys import FILE`: an operator's key becomes the `next` key of its algorithm.
pub async fn import(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    key: &SigningKey,
    now: i64,
) -> Result<Event, Error> {
    policy.require(key.alg())?;
    let activate_after = now + policy.publish_ahead;
    let stored = seal(master, key, now, Some(activate_after))?;
    store.insert_next_key(&stored).await.map_err(|e| match e {
        store::Error::Conflict(_) => store::Error::Conflict(format!(
            "a next {} key is already published (or this key is already stored): wait for it \
             to become active, or revoke it first",
            key.alg()
        )),
        other => other,
    })?;
    Ok(Event::Published {
        kid: stored.kid,
        activate_after,
    })
}

/// Generates a key off the async workers (RSA generation takes tens of milliseconds or more).
async fn generate(alg: SigningAlg, bits: KeyBits) -> Result<SigningKey, Error> {
    Ok(
        tokio::task::spawn_blocking(move || SigningKey::generate(alg, bits))
            .await
            .map_err(|e| CryptoError(format!("key generation task failed: {e}")))??,
    )
}

/// A new key, sealed under the key-encryption key, ready to store.
pub(super) async fn new_key(
    master: &MasterKey,
    alg: SigningAlg,
    bits: KeyBits,
    now: i64,
    activate_after: Option<i64>,
) -> Result<StoredKey, Error> {
    seal(master, &generate(alg, bits).await?, now, activate_after)
}

fn seal(
    master: &MasterKey,
    key: &SigningKey,
    now: i64,
    activate_after: Option<i64>,
) -> Result<StoredKey, Error> {
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        alg: key.alg(),
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
