//! `castellan client ...`

use clap::{ArgMatches, Subcommand};
use serde::Serialize;

use super::api::enabled;
use super::keys::parse_alg;
use super::{CliError, output, usage};
use crate::admin;
use crate::clock::Clock;
use crate::config::{Config, MAX_TOKEN_TTL, MIN_TOKEN_TTL};
use crate::protocol::{
    ApiIdentifier, ClientId, GrantType, RedirectUri, Scope, SigningAlg, TenantSlug,
};
use crate::store::Store;
use crate::store::clients::{ClientRecord, NewClient};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and a generated secret, once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// An API the client may call; the `--scope`s that follow it are granted for it.
        #[arg(long = "api", value_name = "URI")]
        apis: Vec<String>,
        /// A scope granted for the `--api` before it.
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// An API whose tokens of this client's tenant it may introspect; repeat for several.
        #[arg(long = "resource-server-for", value_name = "URI")]
        resource_server_for: Vec<String>,
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Access-token lifetime for this client, in seconds.
        #[arg(long = "token-ttl", value_name = "SECONDS")]
        token_ttl: Option<i64>,
        /// Where sign-in responses may be sent (matched exactly); for authorization_code.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where the browser may be sent after logout.
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// No secret: a browser or native app that must use PKCE.
        #[arg(long)]
        public: bool,
        /// A first-party client: its users are not asked for consent.
        #[arg(long)]
        skip_consent: bool,
        /// What its ID tokens are signed with (id_token_signed_response_alg): an enabled
        /// algorithm, RS256 by default. Until that algorithm's key is active, they are RS256.
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        id_token_signing_alg: Option<SigningAlg>,
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make the client resource server of APIs (it may introspect their tokens of its tenant),
    /// or change the algorithm of its ID tokens.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["resource_server_for", "not_resource_server_for", "id_token_signing_alg"])))]
    Update {
        id: String,
        #[arg(long = "resource-server-for", value_name = "URI")]
        resource_server_for: Vec<String>,
        #[arg(long = "not-resource-server-for", value_name = "URI")]
        not_resource_server_for: Vec<String>,
        /// A new algorithm for its ID tokens (an enabled one).
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        id_token_signing_alg: Option<SigningAlg>,
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the client's secret; the old one stops working within seconds.
    RotateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse the client every token from now on.
    Disable { id: String },
    /// Allow a disabled client again.
    Enable { id: String },
    /// Delete the client.
    Delete { id: String },
}

#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    tenant: &'a str,
    name: &'a str,
    grant_types: Vec<&'static str>,
    apis: Vec<ApiGrantView<'a>>,
    resource_server_for: Vec<&'a str>,
    /// Granted or registered, but the API no longer serves the client's tenant.
    dormant_apis: &'a [String],
    roles: &'a [String],
    permissions: &'a [String],
    token_ttl: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
    redirect_uris: &'a [RedirectUri],
    post_logout_redirect_uris: &'a [RedirectUri],
    public: bool,
    skip_consent: bool,
    id_token_signed_response_alg: SigningAlg,
}

#[derive(Serialize)]
struct ApiGrantView<'a> {
    api: &'a str,
    scopes: Vec<&'a str>,
}

fn view<'a>(c: &'a ClientRecord, secret: Option<&'a str>) -> ClientView<'a> {
    ClientView {
        client_id: c.client_id.as_str(),
        client_secret: secret,
        tenant: c.tenant.as_str(),
        name: &c.name,
        grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
        apis: c
            .apis
            .iter()
            .map(|(api, scopes)| ApiGrantView {
                api,
                scopes: scopes.iter().map(Scope::as_str).collect(),
            })
            .collect(),
        resource_server_for: c.resource_server_for.iter().map(String::as_str).collect(),
        dormant_apis: &c.dormant_apis,
        roles: &c.roles,
        permissions: &c.permissions,
        token_ttl: c.token_ttl,
        disabled_at: c.disabled_at,
        created_at: c.created_at,
        redirect_uris: &c.redirect_uris,
        post_logout_redirect_uris: &c.post_logout_redirect_uris,
        public: c.public,
        skip_consent: c.skip_consent,
        id_token_signed_response_alg: c.id_token_signing_alg.unwrap_or(SigningAlg::RS256),
    }
}

fn print(c: &ClientRecord, secret: Option<&str>, json: bool) -> Result<(), CliError> {
    let v = view(c, secret);
    if json {
        return output::json(&v);
    }
    let mut rows = vec![("client_id", v.client_id.to_owned())];
    if let Some(s) = secret {
        rows.push(("client_secret", format!("{s}   (shown once: store it now)")));
    }
    rows.push(("tenant", v.tenant.to_owned()));
    rows.push(("name", v.name.to_owned()));
    rows.push(("grants", v.grant_types.join(" ")));
    for api in &v.apis {
        rows.push(("api", format!("{} [{}]", api.api, api.scopes.join(" "))));
    }
    for api in &v.resource_server_for {
        rows.push(("resource_server_for", (*api).to_owned()));
    }
    for api in v.dormant_apis {
        rows.push((
            "dormant_api",
            format!("{api} (does not serve tenant {}: gives nothing)", v.tenant),
        ));
    }
    for uri in v.redirect_uris {
        rows.push(("redirect_uri", uri.to_string()));
    }
    for uri in v.post_logout_redirect_uris {
        rows.push(("post_logout_redirect_uri", uri.to_string()));
    }
    if v.public {
        rows.push(("type", "public (no secret; PKCE required)".into()));
    }
    if v.skip_consent {
        rows.push(("consent", "skipped (first-party)".into()));
    }
    if c.grant_types.contains(&GrantType::AuthorizationCode) {
        rows.push(("id_token_alg", v.id_token_signed_response_alg.to_string()));
    }
    rows.push(("roles", v.roles.join(" ")));
    rows.push(("permissions", v.permissions.join(" ")));
    rows.push((
        "token_ttl",
        v.token_ttl.map_or("default".into(), |t| format!("{t}s")),
    ));
    rows.push((
        "status",
        if v.disabled_at.is_some() {
            "disabled".into()
        } else {
            "enabled".into()
        },
    ));
    output::fields(&rows);
    Ok(())
}

pub async fn run(
    cmd: ClientCommand,
    matches: Option<&ArgMatches>,
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Create {
            tenant,
            name,
            grants,
            apis,
            scopes,
            resource_server_for,
            roles,
            token_ttl,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            skip_consent,
            id_token_signing_alg,
            json,
        } => {
            if let Some(alg) = id_token_signing_alg {
                enabled(config, alg)?;
            }
            let create = matches.and_then(|m| m.subcommand_matches("create"));
            let new = NewClient {
                tenant: usage(TenantSlug::parse(&tenant))?,
                name,
                grant_types: grants
                    .iter()
                    .map(|g| usage(GrantType::parse(g)))
                    .collect::<Result<_, _>>()?,
                apis: pair_scopes_with_apis(create, &apis, &scopes)?,
                resource_server_for: api_ids(&resource_server_for)?,
                roles,
                token_ttl: token_ttl.map(check_ttl).transpose()?,
                redirect_uris: redirect_uris
                    .iter()
                    .map(|u| usage(RedirectUri::parse(u)))
                    .collect::<Result<_, _>>()?,
                post_logout_redirect_uris: post_logout_redirect_uris
                    .iter()
                    .map(|u| usage(RedirectUri::parse(u)))
                    .collect::<Result<_, _>>()?,
                public,
                skip_consent,
                id_token_signing_alg: id_token_signing_alg.filter(|a| *a != SigningAlg::RS256),
            };
            let (record, secret) = admin::create_client(store, clock, &new).await?;
            print(&record, secret.as_ref().map(|s| s.secret()), json)
        }
        ClientCommand::List { tenant, json } => {
            let tenant = tenant.map(|t| usage(TenantSlug::parse(&t))).transpose()?;
            let clients = store.list_clients(tenant.as_ref()).await?;
            if json {
                let views: Vec<_> = clients.iter().map(|c| view(c, None)).collect();
                return output::json(&views);
            }
            for c in &clients {
                let status = if c.disabled_at.is_some() {
                    "disabled"
                } else {
                    "enabled"
                };
                println!("{}\t{}\t{}\t{}", c.client_id, c.tenant, status, c.name);
            }
            Ok(())
        }
        ClientCommand::Update {
            id,
            resource_server_for,
            not_resource_server_for,
            id_token_signing_alg,
            json,
        } => {
            let id = client_id(&id)?;
            if let Some(alg) = id_token_signing_alg {
                enabled(config, alg)?;
                let chosen = Some(alg).filter(|a| *a != SigningAlg::RS256);
                store
                    .set_client_id_token_alg(&id, chosen, clock.now())
                    .await?;
            }
            let record = if resource_server_for.is_empty() && not_resource_server_for.is_empty() {
                store
                    .find_client(&id)
                    .await?
                    .ok_or_else(|| CliError::Usage(format!("client {id} does not exist")))?
            } else {
                store
                    .update_resource_servers(
                        &id,
                        &api_ids(&resource_server_for)?,
                        &api_ids(&not_resource_server_for)?,
                        clock.now(),
                    )
                    .await?
            };
            print(&record, None, json)
        }
        ClientCommand::Show { id, json } => {
            let id = client_id(&id)?;
            let Some(record) = store.find_client(&id).await? else {
                return Err(CliError::Usage(format!("client {id} does not exist")));
            };
            print(&record, None, json)
        }
        ClientCommand::RotateSecret { id, json } => {
            let id = client_id(&id)?;
            let secret = admin::rotate_secret(store, clock, &id).await?;
            if json {
                return output::json(
                    &serde_json::json!({ "client_id": id, "client_secret": secret.secret() }),
                );
            }
            output::fields(&[
                ("client_id", id.to_string()),
                (
                    "client_secret",
                    format!("{}   (shown once: store it now)", secret.secret()),
                ),
            ]);
            Ok(())
        }
        ClientCommand::Disable { id } => {
            let id = client_id(&id)?;
            store.disable_client(&id, clock.now()).await?;
            println!("disabled client {id}");
            Ok(())
        }
        ClientCommand::Enable { id } => {
            let id = client_id(&id)?;
            store.enable_client(&id, clock.now()).await?;
            println!("enabled client {id}");
            Ok(())
        }
        ClientCommand::Delete { id } => {
            let id = client_id(&id)?;
            store.delete_client(&id).await?;
            println!("deleted client {id}");
            Ok(())
        }
    }
}

fn client_id(s: &str) -> Result<ClientId, CliError> {
    usage(ClientId::parse(s))
}

fn api_ids(list: &[String]) -> Result<Vec<ApiIdentifier>, CliError> {
    list.iter()
        .map(|a| usage(ApiIdentifier::parse(a)))
        .collect()
}

fn check_ttl(ttl: i64) -> Result<i64, CliError> {
    if (MIN_TOKEN_TTL..=MAX_TOKEN_TTL).contains(&ttl) {
        Ok(ttl)
    } else {
        Err(CliError::Usage(format!(
            "--token-ttl must be from {MIN_TOKEN_TTL} to {MAX_TOKEN_TTL} seconds"
        )))
    }
}

/// Each `--scope` belongs to the nearest `--api` before it on the command line.
fn pair_scopes_with_apis(
    matches: Option<&ArgMatches>,
    apis: &[String],
    scopes: &[String],
) -> Result<Vec<(ApiIdentifier, Vec<Scope>)>, CliError> {
    let indices = |id: &str| -> Vec<usize> {
        matches
            .and_then(|m| m.indices_of(id))
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    let api_at = indices("apis");
    let scope_at = indices("scopes");
    let mut out: Vec<(ApiIdentifier, Vec<Scope>)> = apis
        .iter()
        .map(|a| usage(ApiIdentifier::parse(a)).map(|id| (id, Vec::new())))
        .collect::<Result<_, _>>()?;
    for (scope, at) in scopes.iter().zip(scope_at) {
        let owner = api_at.iter().rposition(|&a| a < at).ok_or_else(|| {
            CliError::Usage(format!(
                "--scope {scope} must follow the --api it is granted for"
            ))
        })?;
        let scope = usage(Scope::parse(scope))?;
        if let Some((_, list)) = out.get_mut(owner) {
            list.push(scope);
        }
    }
    Ok(out)
}
