//! `castellan user ...`

use std::io::{IsTerminal, Read};

use clap::Subcommand;

use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::crypto::password::{self, MAX_PASSWORD_BYTES};
use crate::protocol::TenantSlug;
use crate::store::Store;
use crate::store::users::{NewUser, ProfileUpdate, UserRecord};

/// NIST SP 800-63B's floor for chosen passwords.
const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input, never from the command line.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// The address is known to be the user's (the `email_verified` claim).
        #[arg(long, requires = "email")]
        email_verified: bool,
        /// Display name (the `name` claim).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password from standard input (required); at a terminal, it is asked for
        /// twice without echo.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's profile claims; a new email address is unverified unless
    /// `--email-verified true` says otherwise.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["email", "no_email", "email_verified", "name", "given_name", "family_name"])))]
    Update {
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(long, conflicts_with = "no_email")]
        email: Option<String>,
        #[arg(long)]
        no_email: bool,
        #[arg(long, value_name = "true|false")]
        email_verified: Option<bool>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's password, read from standard input.
    SetPassword {
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Refuse the user every sign-in from now on.
    Disable {
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Allow a disabled user again.
    Enable {
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Delete the user.
    Delete {
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Give the user a role of their tenant.
    AddRole {
        #[arg(long)]
        tenant: String,
        username: String,
        role: String,
    },
    /// Take a role away from the user.
    RemoveRole {
        #[arg(long)]
        tenant: String,
        username: String,
        role: String,
    },
}

pub async fn run(cmd: UserCommand, store: &Store, clock: &Clock) -> Result<(), CliError> {
    match cmd {
        UserCommand::Create {
            tenant,
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            roles,
            password_stdin: _,
            json,
        } => {
            let new = NewUser {
                tenant: usage(TenantSlug::parse(&tenant))?,
                username,
                email,
                email_verified,
                name,
                given_name,
                family_name,
                roles,
            };
            let hash = hash_from_stdin().await?;
            let user = store.create_user(&new, &hash, clock.now()).await?;
            if json {
                return output::json(&user);
            }
            println!("created user {} in tenant {}", user.username, user.tenant);
            Ok(())
        }
        UserCommand::Update {
            tenant,
            username,
            email,
            no_email,
            email_verified,
            name,
            given_name,
            family_name,
            json,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            let change = ProfileUpdate {
                email: if no_email {
                    Some(None)
                } else {
                    email.map(Some)
                },
                email_verified,
                name: name.map(Some),
                given_name: given_name.map(Some),
                family_name: family_name.map(Some),
            };
            let user = store
                .update_user_profile(&tenant, &username, &change, clock.now())
                .await?;
            if json {
                return output::json(&user);
            }
            println!("updated user {username} in tenant {tenant}");
            Ok(())
        }
        UserCommand::List { tenant, json } => {
            let tenant = tenant.map(|t| usage(TenantSlug::parse(&t))).transpose()?;
            let users = store.list_users(tenant.as_ref()).await?;
            if json {
                return output::json(&users);
            }
            for u in &users {
                print_row(u);
            }
            Ok(())
        }
        UserCommand::SetPassword {
            tenant, username, ..
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.find_user(&tenant, &username).await?;
            let hash = hash_from_stdin().await?;
            store
                .set_user_password(&tenant, &username, &hash, clock.now())
                .await?;
            println!("set the password of {username} in tenant {tenant}");
            Ok(())
        }
        UserCommand::Disable { tenant, username } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.disable_user(&tenant, &username, clock.now()).await?;
            println!("disabled user {username} in tenant {tenant}");
            Ok(())
        }
        UserCommand::Enable { tenant, username } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.enable_user(&tenant, &username, clock.now()).await?;
            println!("enabled user {username} in tenant {tenant}");
            Ok(())
        }
        UserCommand::Delete { tenant, username } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.delete_user(&tenant, &username).await?;
            println!("deleted user {username} from tenant {tenant}");
            Ok(())
        }
        UserCommand::AddRole {
            tenant,
            username,
            role,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.add_user_role(&tenant, &username, &role).await?;
            println!("gave role {role} to {username} in tenant {tenant}");
            Ok(())
        }
        UserCommand::RemoveRole {
            tenant,
            username,
            role,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.remove_user_role(&tenant, &username, &role).await?;
            println!("took role {role} from {username} in tenant {tenant}");
            Ok(())
        }
    }
}

fn print_row(u: &UserRecord) {
    let status = if u.disabled_at.is_some() {
        "disabled"
    } else {
        "enabled"
    };
    println!(
        "{}\t{}\t{}\t{}\t{}",
        u.tenant,
        u.username,
        u.email.as_deref().unwrap_or("-"),
        status,
        u.roles.join(" ")
    );
}

/// Reads the password (one trailing newline dropped) and hashes it off the async workers.
/// At a terminal it is asked for twice, without echo, so it is neither shown nor mistyped.
async fn hash_from_stdin() -> Result<String, CliError> {
    let password = if std::io::stdin().is_terminal() {
        prompt_twice()?
    } else {
        read_piped()?
    };
    check_and_hash(password).await
}

fn prompt_twice() -> Result<String, CliError> {
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| CliError::Usage(format!("cannot read the password at the terminal: {e}")))
    };
    let first = read("Password: ")?;
    let again = read("Repeat the password: ")?;
    if first != again {
        return Err(CliError::Usage(
            "the two passwords differ; nothing was changed".into(),
        ));
    }
    Ok(first)
}

fn read_piped() -> Result<String, CliError> {
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_end(&mut raw)
        .map_err(|e| {
            CliError::Usage(format!("cannot read the password from standard input: {e}"))
        })?;
    let text = String::from_utf8(raw)
        .map_err(|_| CliError::Usage("the password is not valid UTF-8".into()))?;
    Ok(text
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&text)
        .to_owned())
}

async fn check_and_hash(password: String) -> Result<String, CliError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CliError::Usage(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CliError::Usage(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    tokio::task::spawn_blocking(move || password::hash_blocking(&password))
        .await
        .map_err(|e| CliError::Usage(format!("hashing failed: {e}")))?
        .map_err(|e| CliError::Usage(e.to_string()))
}
