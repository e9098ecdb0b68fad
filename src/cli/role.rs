//! `castellan role ...`

use clap::Subcommand;

use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::protocol::TenantSlug;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role in a tenant, with the permissions it grants.
    Create {
        #[arg(long)]
        tenant: String,
        name: String,
        #[arg(long = "permission", value_name = "P")]
        permissions: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List roles.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: RoleCommand, store: &Store, clock: &Clock) -> Result<(), CliError> {
    match cmd {
        RoleCommand::Create {
            tenant,
            name,
            permissions,
            json,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            let role = store
                .create_role(&tenant, &name, &permissions, clock.now())
                .await?;
            if json {
                output::json(&role)
            } else {
                println!(
                    "created role {} in tenant {} (permissions: {})",
                    role.name,
                    role.tenant,
                    if role.permissions.is_empty() {
                        "none".into()
                    } else {
                        role.permissions.join(" ")
                    }
                );
                Ok(())
            }
        }
        RoleCommand::List { tenant, json } => {
            let tenant = tenant.map(|t| usage(TenantSlug::parse(&t))).transpose()?;
            let roles = store.list_roles(tenant.as_ref()).await?;
            if json {
                return output::json(&roles);
            }
            for r in roles {
                println!("{}\t{}\t{}", r.tenant, r.name, r.permissions.join(" "));
            }
            Ok(())
        }
    }
}
