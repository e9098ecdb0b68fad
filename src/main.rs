//! The `castellan` binary: configuration, logging and the chosen command; nothing else.

use std::process::ExitCode;

use std::path::PathBuf;

use castellan::app::{App, Installation, shutdown_signal};
use castellan::cli::{self, Cli, Command};
use castellan::clock::Clock;
use castellan::config::Config;
use castellan::config::MasterKeySource;
use castellan::crypto::GeneratedSecret;
use castellan::store::{self, clients::ClientRecord};
use castellan::telemetry;
use clap::{CommandFactory, FromArgMatches};

#[tokio::main]
async fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            // `serve --port 9000`: say which setting does it rather than only "unexpected".
            if let Some(hint) = cli::setting_hint(&e) {
                let _ = e.print();
                eprintln!("\n{hint}");
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let read_by_cli = cli::environment_variables();
    let read_by_cli: Vec<&str> = read_by_cli.iter().map(String::as_str).collect();
    let mut config = match Config::load(cli.config.as_deref(), &read_by_cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("castellan: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            if let Some(path) = args.bootstrap_secret_file {
                config.bootstrap_secret_file = Some(path);
            }
            serve(&config).await
        }
        Command::Init(args) => {
            if let Some(path) = args.bootstrap_secret_file {
                config.bootstrap_secret_file = Some(path);
            }
            init(&config).await
        }
        Command::Healthcheck(args) => cli::healthcheck(args, &config)
            .await
            .map_err(|e| castellan::error_chain::report(&e)),
        command => cli::run(command, &matches, &config)
            .await
            .map_err(|e| castellan::error_chain::report(&e)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("castellan: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates (or opens and migrates) the database, its key file and first keys, then stops.
async fn init(config: &Config) -> Result<(), String> {
    let installation = Installation::open(config, &Clock::System)
        .await
        .map_err(|e| castellan::error_chain::report(&e))?;
    println!("{}", locations(config));
    print_bootstrap(&installation.bootstrap, &installation.bootstrap_file);
    installation.store.close().await;
    Ok(())
}

async fn serve(config: &Config) -> Result<(), String> {
    telemetry::init(config.log_format);
    let app = App::build(config)
        .await
        .map_err(|e| castellan::error_chain::report(&e))?;
    tracing::info!("{}", locations(config));
    print_bootstrap(&app.bootstrap, &app.bootstrap_file);
    tracing::info!(addr = %app.local_addr(), issuer = %app.issuer(), "castellan listening");
    if let Some(addr) = app.metrics_addr() {
        tracing::info!(%addr, "metrics served apart, at /metrics");
    }
    app.run_until_stopped(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("castellan stopped");
    Ok(())
}

/// Which database and key file this process uses, as absolute paths: the two files to back up.
fn locations(config: &Config) -> String {
    let key = match &config.master_key {
        MasterKeySource::File(path) => store::absolute(path).display().to_string(),
        MasterKeySource::Inline(_) => "CASTELLAN_MASTER_KEY (inline)".to_owned(),
    };
    format!(
        "database: {}; key-encryption key: {key}",
        store::describe(&config.database_url)
    )
}

fn print_bootstrap(bootstrap: &Option<(ClientRecord, GeneratedSecret)>, file: &Option<PathBuf>) {
    match (bootstrap, file) {
        (Some((client, _)), Some(path)) => println!(
            "Bootstrap admin client {} created (scope castellan:admin); its secret is in {} (mode 0600).",
            client.client_id,
            path.display()
        ),
        // Printed once, to the operator's terminal, never to the log.
        (Some((client, secret)), None) => {
            println!(
                "Bootstrap admin client created (scope castellan:admin). Save the secret now; it is not shown again."
            );
            println!("  client_id:     {}", client.client_id);
            println!("  client_secret: {}", secret.secret());
        }
        (None, _) => {}
    }
}
