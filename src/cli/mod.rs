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
mod trust;
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
    /// Run the server (creating the database and key file on first start).
    Serve(ServeArgs),
    /// Create the database, its key-encryption key file and first signing key, then stop.
    /// Like the first `serve`; every other command needs a database that exists.
    Init(ServeArgs),
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
    /// Manage trusts: external issuers of workload tokens (Kubernetes, SPIFFE, CI).
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Inspect, rotate, revoke and import signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Read the audit trail of security events.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Write a consistent copy of the SQLite database to a new FILE, while the server runs.
    /// The key-encryption key is not in it: keep a copy of that file apart from the backup.
    Backup {
        /// The new file (an existing one is never overwritten).
        file: PathBuf,
    },
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

/// For an unknown `--option` that names a setting (or a usual alias of one, such as `--port`
/// for `listen`), how to set it: settings come from the file or the environment, not options.
pub fn setting_hint(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.trim_start_matches('-');
    let flag = flag.split('=').next().unwrap_or(flag).replace('-', "_");
    let setting = match flag.as_str() {
        "port" | "host" | "bind" | "address" | "addr" => "listen",
        "database" | "db" => "database_url",
        "master_key_path" | "key_file" => "master_key_file",
        name => crate::config::Config::setting_names()
            .into_iter()
            .find(|s| *s == name)?,
    };
    let example = match setting {
        "listen" => "127.0.0.1:9000".to_owned(),
        "database_url" => "sqlite://data/castellan.db".to_owned(),
        _ => "VALUE".to_owned(),
    };
    Some(format!(
        "{arg} is not an option: it is the `{setting}` setting. Set it in the environment \
         ({var}={example}) or in the --config file ({setting} = \"{example}\").",
        var = crate::config::names::variable(setting),
    ))
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
    let store = Store::open_existing(&config.database_url, 2).await?;
    let clock = Clock::System;
    let mut change = changes::event(&command);
    let result = match command {
        Command::Serve(_) | Command::Init(_) | Command::Healthcheck(_) => Err(CliError::Usage(
            "serve, init and healthcheck are not management commands".into(),
        )),
        Command::Tenant(cmd) => tenant::run(cmd, &store, &clock).await,
        Command::Role(cmd) => role::run(cmd, &store, &clock).await,
        Command::Api(cmd) => api::run(cmd, &store, config, &clock).await,
        Command::User(cmd) => user::run(cmd, &store, &clock).await,
        Command::Client(cmd) => {
            let sub = matches.subcommand_matches("client");
            client::run(cmd, sub, &store, config, &clock)
                .await
                .map(|created| {
                    if let Some(id) = created {
                        change = change.take().map(|e| e.client(id.as_str()));
                    }
                })
        }
        Command::Keys(cmd) => keys::run(cmd, &store, config, &clock).await,
        Command::Audit(cmd) => audit::run(cmd, &store, &clock).await,
        Command::Trust(cmd) => trust::run(cmd, &store, config, clock.now()).await,
        Command::Backup { file } => backup(&store, config, &file).await,
    };
    if let (Ok(()), Some(event)) = (&result, change)
        && let Err(e) = store.insert_audit(&[event.into_row(clock.now())]).await
    {
        eprintln!("warning: the change was made but not recorded in the audit trail: {e}");
    }
    store.close().await;
    result
}

async fn backup(store: &Store, config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    store.backup_into(file).await?;
    println!(
        "backed up the database to {}",
        store::absolute(file).display()
    );
    match &config.master_key {
        crate::config::MasterKeySource::File(key) => println!(
            "the key-encryption key is not in the backup: keep a copy of {} apart from it; a restore needs both",
            store::absolute(key).display()
        ),
        crate::config::MasterKeySource::Inline(_) => println!(
            "the key-encryption key (CASTELLAN_MASTER_KEY) is not in the backup: keep it apart from it; a restore needs both"
        ),
    }
    Ok(())
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
