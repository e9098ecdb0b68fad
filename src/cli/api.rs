//! `castellan api ...`

use clap::Subcommand;

use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::protocol::{ApiIdentifier, Scope};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API (resource server) and the scopes it defines.
    Create {
        /// Absolute URI; tokens for this API carry it as `aud`.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List APIs and their scopes.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ApiCommand, store: &Store, clock: &Clock) -> Result<(), CliError> {
    match cmd {
        ApiCommand::Create {
            identifier,
            name,
            scopes,
            json,
        } => {
            let identifier = usage(ApiIdentifier::parse(&identifier))?;
            let scopes = scopes
                .iter()
                .map(|s| usage(Scope::parse(s)))
                .collect::<Result<Vec<_>, _>>()?;
            let name = name.unwrap_or_else(|| identifier.to_string());
            let api = store
                .create_api(&identifier, &name, &scopes, clock.now())
                .await?;
            if json {
                output::json(&api)
            } else {
                println!(
                    "created API {} (scopes: {})",
                    api.identifier,
                    api.scopes.join(" ")
                );
                Ok(())
            }
        }
        ApiCommand::List { json } => {
            let apis = store.list_apis().await?;
            if json {
                return output::json(&apis);
            }
            for a in apis {
                println!("{}\t{}\t{}", a.identifier, a.name, a.scopes.join(" "));
            }
            Ok(())
        }
    }
}
