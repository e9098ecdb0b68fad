//! The management command line: `serve` and the commands that act on the configured database.

mod api;
mod audit;
mod changes;
mod client;
mod healthcheck;
mod keys;
mod output;
mod role;
mod tenant;
mod user;

use std::path::PathBuf;

use clap::{ArgMatches, Parser, Subcommand};

pub use healthcheck::HealthcheckArgs;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::{self, Store};

#[derive(Debug, Parser)]
#[command(
    name = "castellan",
    version,
    about = "OAuth 2.0 / OpenID Connect identity provider and token issuer"
)]
pub struct Cli {
    /// TOML configuration file (also CASTELLAN_CONFIG); CASTELLAN_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Ask the running server whether it is ready; exits non-zero if not (container health checks).
    Healthcheck(HealthcheckArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Manage roles (named sets of permissions inside a tenant).
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Manage APIs (resource servers; the identifier becomes the token's `aud`).
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// Manage users (people who sign in through the browser).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Inspect, rotate, revoke and import signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Read the audit trail of security events.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// On first start, write the bootstrap admin client's id and secret to this new file
    /// (mode 0600; an existing file is never overwritten) instead of standard output.
    /// Overrides `bootstrap_secret_file` (CASTELLAN_BOOTSTRAP_SECRET_FILE).
    #[arg(long, value_name = "PATH")]
    pub bootstrap_secret_file: Option<PathBuf>,
}

/// The variables clap itself reads (`env = …` on any argument of any command): the
/// configuration must not refuse them as unknown.
pub fn environment_variables() -> Vec<String> {
    env_names(&<Cli as clap::CommandFactory>::command())
}

fn env_names(command: &clap::Command) -> Vec<String> {
    let own = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned());
    let nested = command.get_subcommands().flat_map(env_names);
    own.chain(nested).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unhealthy(String),
}

/// Runs `healthcheck`, which talks to the server over HTTP and never opens the database.
pub async fn healthcheck(args: HealthcheckArgs, config: &Config) -> Result<(), CliError> {
    healthcheck::run(args, config.listen).await
}

/// Runs a management command (everything but `serve`) against the configured database.
pub async fn run(command: Command, matches: &ArgMatches, config: &Config) -> Result<(), CliError> {
    let store = Store::open(&config.database_url, 2).await?;
    let clock = Clock::System;
    let change = changes::event(&command);
    let result = match command {
        Command::Serve(_) | Command::Healthcheck(_) => Err(CliError::Usage(
            "serve and healthcheck are not management commands".into(),
        )),
        Command::Tenant(cmd) => tenant::run(cmd, &store, &clock).await,
        Command::Role(cmd) => role::run(cmd, &store, &clock).await,
        Command::Api(cmd) => api::run(cmd, &store, config, &clock).await,
        Command::User(cmd) => user::run(cmd, &store, &clock).await,
        Command::Client(cmd) => {
            let sub = matches.subcommand_matches("client");
            client::run(cmd, sub, &store, config, &clock).await
        }
        Command::Keys(cmd) => keys::run(cmd, &store, config, &clock).await,
        Command::Audit(cmd) => audit::run(cmd, &store, &clock).await,
    };
    if let (Ok(()), Some(event)) = (&result, change)
        && let Err(e) = store.insert_audit(&[event.into_row(clock.now())]).await
    {
        eprintln!("warning: the change was made but not recorded in the audit trail: {e}");
    }
    store.close().await;
    result
}

fn usage<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, CliError> {
    r.map_err(|e| CliError::Usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn environment_variables_of_nested_arguments_are_found() {
        let command = clap::Command::new("x")
            .arg(clap::Arg::new("a").long("a").env("CASTELLAN_A"))
            .subcommand(
                clap::Command::new("y").arg(clap::Arg::new("z").long("z").env("CASTELLAN_Z")),
            );
        assert_eq!(super::env_names(&command), ["CASTELLAN_A", "CASTELLAN_Z"]);
    }
}
