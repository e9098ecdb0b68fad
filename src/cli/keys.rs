//! `castellan keys ...`

use clap::Subcommand;
use serde::Serialize;

use std::path::PathBuf;

use super::{CliError, output};
use crate::clock::Clock;
use crate::config::{Config, MasterKeySource};
use crate::crypto::{MasterKey, SigningKey};
use crate::keys::rotation::{self, Event, Policy};
use crate::keys::{self, KeyRing};
use crate::store::Store;
use crate::store::keys::KeyState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state and dates (UTC; unix seconds with --json).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rotate early: publish a successor now; it signs once the publish-ahead window has passed.
    Rotate {
        /// Make the successor active at once (validators refetch the JWKS on the unknown kid).
        #[arg(long)]
        now: bool,
    },
    /// Withdraw a compromised key from the JWKS at once; tokens it signed stop validating.
    Revoke { kid: String },
    /// Import an RSA private key (PEM, PKCS#8 or PKCS#1, at least 2048 bits) as the next key.
    Import { file: PathBuf },
}

#[derive(Serialize)]
struct KeyView {
    kid: String,
    state: KeyState,
    bits: i64,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    activate_after: Option<i64>,
    remove_after: Option<i64>,
}

pub async fn run(
    cmd: KeysCommand,
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<(), CliError> {
    let policy = Policy::from_config(config);
    match cmd {
        KeysCommand::Rotate { now: false } => {
            let master = master_key(config, store).await?;
            let event = rotation::rotate_soon(store, &master, &policy, clock)
                .await
                .map_err(keys_error)?;
            if let Event::Published {
                kid,
                activate_after,
            } = event
            {
                println!(
                    "published key {kid}; it becomes active at {activate_after} (in {} s), once every cached JWKS has seen it",
                    activate_after - clock.now()
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { now: true } => {
            let master = master_key(config, store).await?;
            let event = rotation::rotate_now(store, &master, &policy, clock.now())
                .await
                .map_err(keys_error)?;
            if let Event::Activated { kid, retired } = event {
                println!(
                    "key {kid} is active now; {retired} is retired and stays published until its tokens expire."
                );
                println!(
                    "Validators whose cached JWKS predates {kid} will meet it as an unknown kid and must refetch the JWKS; \
                     those that do not refetch on an unknown kid reject new tokens until their cache expires."
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { kid } => {
            let master = master_key(config, store).await?;
            let was = rotation::revoke(store, &master, &policy, &kid, clock.now())
                .await
                .map_err(keys_error)?;
            println!(
                "revoked key {kid} (was {}); it has left the JWKS and tokens it signed no longer validate.",
                was.as_str()
            );
            if was == KeyState::Active {
                println!(
                    "A successor is active now; validators will refetch the JWKS on its unknown kid."
                );
            }
            Ok(())
        }
        KeysCommand::Import { file } => {
            let master = master_key(config, store).await?;
            let pem = std::fs::read(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let der = SigningKey::from_pem(&pem)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
                .to_pkcs8()
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let event = rotation::import(store, &master, &policy, &der, clock.now())
                .await
                .map_err(keys_error)?;
            if let Event::Published {
                kid,
                activate_after,
            } = event
            {
                println!(
                    "imported key {kid} as the next key; it becomes active at {activate_after}"
                );
            }
            Ok(())
        }
        KeysCommand::List { json } => {
            let keys: Vec<KeyView> = store
                .list_keys()
                .await?
                .into_iter()
                .map(|k| KeyView {
                    kid: k.kid,
                    state: k.state,
                    bits: k.bits,
                    created_at: k.created_at,
                    activated_at: k.activated_at,
                    retired_at: k.retired_at,
                    activate_after: k.activate_after,
                    remove_after: k.remove_after,
                })
                .collect();
            if json {
                return output::json(&keys);
            }
            println!(
                "{:<43}  {:<7}  {:>4}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                "KID",
                "STATE",
                "BITS",
                "CREATED",
                "ACTIVATED",
                "RETIRED",
                "ACTIVATES AFTER",
                "REMOVED AFTER"
            );
            for k in keys {
                println!(
                    "{:<43}  {:<7}  {:>4}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                    k.kid,
                    k.state.as_str(),
                    k.bits,
                    date(Some(k.created_at)),
                    date(k.activated_at),
                    date(k.retired_at),
                    date(k.activate_after),
                    date(k.remove_after)
                );
            }
            Ok(())
        }
    }
}

/// The key-encryption key, proven to open every stored key before anything is sealed with it.
async fn master_key(config: &Config, store: &Store) -> Result<MasterKey, CliError> {
    let master = match &config.master_key {
        MasterKeySource::Inline(b64) => MasterKey::from_base64(b64),
        MasterKeySource::File(path) => MasterKey::load(path),
    }
    .map_err(|e| CliError::Usage(format!("key-encryption key: {e}")))?;
    KeyRing::verify_master(store, &master)
        .await
        .map_err(keys_error)?;
    Ok(master)
}

fn keys_error(e: keys::Error) -> CliError {
    match e {
        keys::Error::Store(e) => CliError::Store(e),
        other => CliError::Usage(other.to_string()),
    }
}

/// RFC 3339 in UTC, or `-`.
fn date(t: Option<i64>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}
