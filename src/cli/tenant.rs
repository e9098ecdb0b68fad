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
    /// Rename a tenant (its slug never changes).
    Update {
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Delete a tenant; refused while it has clients, users, roles or APIs.
    Delete { slug: String },
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
        TenantCommand::Update { slug, name } => {
            let slug = usage(TenantSlug::parse(&slug))?;
            store.rename_tenant(&slug, &name).await?;
            println!("renamed tenant {slug} to {name}");
            Ok(())
        }
        TenantCommand::Delete { slug } => {
            let slug = usage(TenantSlug::parse(&slug))?;
            store.delete_tenant(&slug).await?;
            println!("deleted tenant {slug}");
            Ok(())
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
