//! `castellan tenant ...`

use clap::Subcommand;

use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::protocol::TenantSlug;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; its slug is the tokens' `tenant_id` and never changes.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: TenantCommand, store: &Store, clock: &Clock) -> Result<(), CliError> {
    match cmd {
        TenantCommand::Create { slug, name, json } => {
            let slug = usage(TenantSlug::parse(&slug))?;
            let name = name.unwrap_or_else(|| slug.to_string());
            let tenant = store.create_tenant(&slug, &name, clock.now()).await?;
            if json {
                output::json(&tenant)
            } else {
                println!("created tenant {} ({})", tenant.slug, tenant.name);
                Ok(())
            }
        }
        TenantCommand::List { json } => {
            let tenants = store.list_tenants().await?;
            if json {
                return output::json(&tenants);
            }
            for t in tenants {
                println!("{}\t{}", t.slug, t.name);
            }
            Ok(())
        }
    }
}
