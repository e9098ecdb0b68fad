//! `castellan keys ...`

use clap::Subcommand;
use serde::Serialize;

use super::{CliError, output};
use crate::store::Store;
use crate::store::keys::KeyState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state and dates (UTC unix seconds).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct KeyView {
    kid: String,
    state: KeyState,
    bits: i64,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

pub async fn run(cmd: KeysCommand, store: &Store) -> Result<(), CliError> {
    match cmd {
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
                })
                .collect();
            if json {
                return output::json(&keys);
            }
            println!(
                "{:<44}  {:<8}  {:>5}  {:>11}  {:>11}  {:>11}",
                "KID", "STATE", "BITS", "CREATED", "ACTIVATED", "RETIRED"
            );
            let show = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
            for k in keys {
                println!(
                    "{:<44}  {:<8}  {:>5}  {:>11}  {:>11}  {:>11}",
                    k.kid,
                    k.state.as_str(),
                    k.bits,
                    k.created_at,
                    show(k.activated_at),
                    show(k.retired_at)
                );
            }
            Ok(())
        }
    }
}
