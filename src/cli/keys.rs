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
use crate::protocol::SigningAlg;
use crate::store::Store;
use crate::store::keys::KeyState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their algorithm, state and dates (UTC; unix seconds with --json).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rotate early: publish a successor now; it signs once the publish-ahead window has passed.
    /// Without --alg, every enabled algorithm rotates.
    Rotate {
        /// Make the successor active at once (validators refetch the JWKS on the unknown kid).
        #[arg(long)]
        now: bool,
        /// Only this algorithm's key (RS256, PS256, ES256 or EdDSA).
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        alg: Option<SigningAlg>,
    },
    /// Withdraw a compromised key from the JWKS at once; tokens it signed stop validating.
    Revoke { kid: String },
    /// Import a private key (PEM) as the next key of its algorithm: RSA (PKCS#8 or PKCS#1, at
    /// least 2048 bits) for RS256, EC P-256 (PKCS#8 or SEC 1) for ES256, Ed25519 (PKCS#8) for EdDSA.
    Import {
        file: PathBuf,
        /// For an RSA key: RS256 (the default) or PS256.
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        alg: Option<SigningAlg>,
    },
}

/// `--alg` and `--signing-alg` values.
pub fn parse_alg(name: &str) -> Result<SigningAlg, String> {
    SigningAlg::parse(name).ok_or_else(|| {
        format!(
            "{name:?} is not a signing algorithm (one of {})",
            SigningAlg::names()
        )
    })
}

#[derive(Serialize)]
struct KeyView {
    kid: String,
    alg: SigningAlg,
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
        KeysCommand::Rotate { now, alg } => {
            let master = master_key(config, store).await?;
            let algs = match alg {
                Some(alg) => vec![alg],
                None => policy.algs.clone(),
            };
            for alg in algs {
                rotate(store, &master, &policy, clock, alg, now).await?;
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
        KeysCommand::Import { file, alg } => {
            let master = master_key(config, store).await?;
            let pem = std::fs::read(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let rsa_alg = match alg {
                None | Some(SigningAlg::RS256) => SigningAlg::RS256,
                Some(SigningAlg::PS256) => SigningAlg::PS256,
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "--alg {other}: the algorithm of an EC or Ed25519 key follows from the key; \
                         --alg chooses only between RS256 and PS256 for an RSA key"
                    )));
                }
            };
            let key = SigningKey::from_pem(&pem, rsa_alg)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            if alg.is_some_and(|alg| alg != key.alg()) {
                return Err(CliError::Usage(format!(
                    "{}: a {} key, not one for --alg {}",
                    file.display(),
                    key.alg(),
                    alg.map_or("", SigningAlg::as_str)
                )));
            }
            let event = rotation::import(store, &master, &policy, &key, clock.now())
                .await
                .map_err(keys_error)?;
            if let Event::Published {
                kid,
                activate_after,
            } = event
            {
                println!(
                    "imported {} key {kid} as the next key; it becomes active at {activate_after}",
                    key.alg()
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
                    alg: k.alg,
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
                "{:<43}  {:<5}  {:<7}  {:>4}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                "KID",
                "ALG",
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
                    "{:<43}  {:<5}  {:<7}  {:>4}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
                    k.kid,
                    k.alg.as_str(),
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

/// One algorithm's `keys rotate [--now]`, said in a line or two.
async fn rotate(
    store: &Store,
    master: &MasterKey,
    policy: &Policy,
    clock: &Clock,
    alg: SigningAlg,
    now: bool,
) -> Result<(), CliError> {
    let event = if now {
        rotation::rotate_now(store, master, policy, clock.now(), alg).await
    } else {
        rotation::rotate_soon(store, master, policy, clock, alg).await
    }
    .map_err(keys_error)?;
    match event {
        Event::Published {
            kid,
            activate_after,
        } => println!(
            "published {alg} key {kid}; it becomes active at {activate_after} (in {} s), once every cached JWKS has seen it",
            activate_after - clock.now()
        ),
        Event::Activated { kid, retired } => {
            println!(
                "{alg} key {kid} is active now; {retired} is retired and stays published until its tokens expire."
            );
            println!(
                "Validators whose cached JWKS predates {kid} will meet it as an unknown kid and must refetch the JWKS; \
                 those that do not refetch on an unknown kid reject new tokens until their cache expires."
            );
        }
        Event::Started { kid, .. } => println!(
            "{alg} key {kid} is active now, the first of its algorithm; validators whose cached JWKS predates it must refetch the JWKS."
        ),
        Event::Removed { .. } => {}
    }
    Ok(())
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
