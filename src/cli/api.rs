//! `castellan api ...`

use clap::{ArgGroup, Subcommand};

use super::keys::parse_alg;
use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::config::Config;
use crate::protocol::{ApiIdentifier, Scope, SigningAlg, TenantSlug};
use crate::store::Store;
use crate::store::apis::{Api, Tenancy, TenancyChange};

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API (resource server) and the scopes it defines. Without --tenant or
    /// --share-with it serves every tenant.
    Create {
        /// Absolute URI; tokens for this API carry it as `aud`.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// The tenant that owns the API: it serves that tenant (and --share-with ones) only.
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// A tenant the API serves, besides its owner; repeat for several.
        #[arg(long = "share-with", value_name = "SLUG")]
        share_with: Vec<String>,
        /// What its access tokens are signed with: an enabled algorithm (signing_algs), RS256
        /// by default. Until that algorithm's key is active, they are signed RS256.
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        signing_alg: Option<SigningAlg>,
        #[arg(long)]
        json: bool,
    },
    /// Change an API: its name, its scopes, which tenants it serves, its tokens' signing
    /// algorithm. Running servers apply it within seconds; a scope still granted to a client is
    /// not withdrawn.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["name", "add_scopes", "remove_scopes", "tenant", "share_with", "unshare", "all_tenants", "signing_alg"])))]
    Update {
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        /// A scope the API defines from now on; repeat for several.
        #[arg(long = "add-scope", value_name = "S")]
        add_scopes: Vec<String>,
        /// A scope it no longer defines (refused while a client is granted it).
        #[arg(long = "remove-scope", value_name = "S")]
        remove_scopes: Vec<String>,
        /// A new owner (the previous one keeps access only if shared with).
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long = "share-with", value_name = "SLUG")]
        share_with: Vec<String>,
        /// A tenant the API no longer serves, owner or not.
        #[arg(long, value_name = "SLUG")]
        unshare: Vec<String>,
        /// Serve every tenant again, with no owner.
        #[arg(long, conflicts_with_all = ["tenant", "share_with", "unshare"])]
        all_tenants: bool,
        /// A new signing algorithm for its access tokens (an enabled one).
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        signing_alg: Option<SigningAlg>,
        #[arg(long)]
        json: bool,
    },
    /// Delete an API; refused while a client is granted it or is its resource server.
    Delete { identifier: String },
    /// List APIs, their scopes, the tenants they serve and their resource servers.
    List {
        /// Only the APIs that serve this tenant, and only its resource servers.
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(
    cmd: ApiCommand,
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<(), CliError> {
    match cmd {
        ApiCommand::Create {
            identifier,
            name,
            scopes,
            tenant,
            share_with,
            signing_alg,
            json,
        } => {
            if let Some(alg) = signing_alg {
                enabled(config, alg)?;
            }
            let identifier = usage(ApiIdentifier::parse(&identifier))?;
            let scopes = scope_list(&scopes)?;
            let name = name.unwrap_or_else(|| identifier.to_string());
            let tenancy = match (tenant, share_with.is_empty()) {
                (None, true) => Tenancy::All,
                (owner, _) => Tenancy::Only {
                    owner: owner.as_deref().map(slug).transpose()?,
                    shared_with: slugs(&share_with)?,
                },
            };
            let api = store
                .create_api_signed(
                    &identifier,
                    &name,
                    &scopes,
                    &tenancy,
                    signing_alg.filter(|a| *a != SigningAlg::RS256),
                    clock.now(),
                )
                .await?;
            print(&api, "created", json)
        }
        ApiCommand::Update {
            identifier,
            name,
            add_scopes,
            remove_scopes,
            tenant,
            share_with,
            unshare,
            all_tenants,
            signing_alg,
            json,
        } => {
            let identifier = usage(ApiIdentifier::parse(&identifier))?;
            if let Some(alg) = signing_alg {
                enabled(config, alg)?;
            }
            let (add, remove) = (scope_list(&add_scopes)?, scope_list(&remove_scopes)?);
            if name.is_some() || !add.is_empty() || !remove.is_empty() {
                store
                    .update_api(&identifier, name.as_deref(), &add, &remove)
                    .await?;
            }
            let change = TenancyChange {
                owner: tenant.as_deref().map(slug).transpose()?,
                share_with: slugs(&share_with)?,
                unshare: slugs(&unshare)?,
                all_tenants,
            };
            let tenancy_changes = change.owner.is_some()
                || !change.share_with.is_empty()
                || !change.unshare.is_empty()
                || change.all_tenants;
            let mut api = None;
            if tenancy_changes {
                api = Some(store.update_api_tenancy(&identifier, &change).await?);
            }
            if let Some(alg) = signing_alg {
                let chosen = Some(alg).filter(|a| *a != SigningAlg::RS256);
                api = Some(store.set_api_signing_alg(&identifier, chosen).await?);
            }
            let api = match api {
                Some(api) => api,
                None => store
                    .list_apis()
                    .await?
                    .into_iter()
                    .find(|a| a.identifier == identifier.as_str())
                    .ok_or_else(|| CliError::Usage(format!("API {identifier} does not exist")))?,
            };
            print(&api, "updated", json)
        }
        ApiCommand::Delete { identifier } => {
            let identifier = usage(ApiIdentifier::parse(&identifier))?;
            if identifier.as_str() == crate::admin::ADMIN_API {
                return Err(CliError::Usage(format!(
                    "{identifier} is Castellan's own admin API and cannot be deleted"
                )));
            }
            store.delete_api(&identifier).await?;
            println!("deleted API {identifier}");
            Ok(())
        }
        ApiCommand::List { tenant, json } => {
            let mut apis = store.list_apis().await?;
            if let Some(tenant) = tenant.as_deref().map(slug).transpose()? {
                apis.retain(|a| a.serves(tenant.as_str()));
                for a in &mut apis {
                    a.resource_servers.retain(|r| r.tenant == tenant.as_str());
                }
            }
            if json {
                return output::json(&apis);
            }
            for a in apis {
                println!(
                    "{}\t{}\t{}\t{}",
                    a.identifier,
                    a.name,
                    a.scopes.join(" "),
                    tenants(&a)
                );
            }
            Ok(())
        }
    }
}

fn print(api: &Api, what: &str, json: bool) -> Result<(), CliError> {
    if json {
        return output::json(api);
    }
    println!("{what} API {}", api.identifier);
    let servers: Vec<String> = api
        .resource_servers
        .iter()
        .map(|r| format!("{} ({})", r.client_id, r.tenant))
        .collect();
    output::fields(&[
        ("scopes", api.scopes.join(" ")),
        ("tenants", tenants(api)),
        ("resource_servers", servers.join(", ")),
        (
            "signing_alg",
            api.access_token_signing_alg
                .unwrap_or(SigningAlg::RS256)
                .to_string(),
        ),
    ]);
    Ok(())
}

/// `--signing-alg` names an algorithm enabled in this configuration.
pub(super) fn enabled(config: &Config, alg: SigningAlg) -> Result<(), CliError> {
    if config.signing_algs.contains(&alg) {
        return Ok(());
    }
    let on: Vec<&str> = config.signing_algs.iter().map(|a| a.as_str()).collect();
    Err(CliError::Usage(format!(
        "--signing-alg {alg}: {alg} is not enabled (signing_algs is {}); add it to signing_algs \
         (CASTELLAN_SIGNING_ALGS) on every node first",
        on.join(", ")
    )))
}

/// The boundary in words: `all tenants`, `acme (owner), beta`, or `no tenant`.
fn tenants(api: &Api) -> String {
    if api.all_tenants {
        return "all tenants".into();
    }
    let mut names: Vec<String> = api.tenant.iter().map(|t| format!("{t} (owner)")).collect();
    names.extend(api.shared_with.iter().cloned());
    if names.is_empty() {
        "no tenant".into()
    } else {
        names.join(", ")
    }
}

fn scope_list(list: &[String]) -> Result<Vec<Scope>, CliError> {
    list.iter().map(|s| usage(Scope::parse(s))).collect()
}

fn slug(s: &str) -> Result<TenantSlug, CliError> {
    usage(TenantSlug::parse(s))
}

fn slugs(list: &[String]) -> Result<Vec<TenantSlug>, CliError> {
    list.iter().map(|s| slug(s)).collect()
}
