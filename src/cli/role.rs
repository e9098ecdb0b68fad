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
    /// Change a role: its permissions (the whole set) or its name. Holders' next tokens show it.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["permissions", "no_permissions", "rename"])))]
    Update {
        #[arg(long)]
        tenant: String,
        name: String,
        /// The permissions the role grants from now on; repeat for several.
        #[arg(
            long = "permission",
            value_name = "P",
            conflicts_with = "no_permissions"
        )]
        permissions: Vec<String>,
        /// The role grants no permission any more.
        #[arg(long)]
        no_permissions: bool,
        #[arg(long, value_name = "NEW_NAME")]
        rename: Option<String>,
    },
    /// Delete a role; refused while a user or client holds it.
    Delete {
        #[arg(long)]
        tenant: String,
        name: String,
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
        RoleCommand::Update {
            tenant,
            name,
            permissions,
            no_permissions,
            rename,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            if !permissions.is_empty() || no_permissions {
                let set = store
                    .set_role_permissions(&tenant, &name, &permissions)
                    .await?;
                println!(
                    "role {name} in tenant {tenant} grants: {}",
                    if set.is_empty() {
                        "nothing".into()
                    } else {
                        set.join(" ")
                    }
                );
            }
            if let Some(to) = rename {
                store.rename_role(&tenant, &name, &to).await?;
                println!("renamed role {name} in tenant {tenant} to {to}");
            }
            Ok(())
        }
        RoleCommand::Delete { tenant, name } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.delete_role(&tenant, &name).await?;
            println!("deleted role {name} in tenant {tenant}");
            Ok(())
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
