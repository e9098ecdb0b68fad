//! `castellan client ...`

use clap::{ArgMatches, Subcommand};
use serde::Serialize;

use super::api::enabled;
use super::keys::parse_alg;
use super::{CliError, output, usage};
use crate::admin;
use crate::clock::Clock;
use crate::config::{Config, MAX_TOKEN_TTL, MIN_TOKEN_TTL};
use crate::crypto::client_assertion::ClientKey;
use crate::issuer::federation::parse_conditions;
use crate::jwks_fetch::{FetchPolicy, JwksFetcher};
use crate::protocol::{
    ApiIdentifier, ClientId, GrantType, RedirectUri, Scope, SigningAlg, TenantSlug,
};
use crate::store::Store;
use crate::store::clients::{ClientJwk, ClientRecord, ClientUpdate, NewClient};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and a generated secret, once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// What the sign-in pages call the client (default: its name).
        #[arg(long = "display-name", value_name = "NAME")]
        display_name: Option<String>,
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
        /// PKCE for sign-ins: `required` (the default) or, for a confidential client whose
        /// library cannot send it, `optional`. A public client always needs it.
        #[arg(long, value_parser = ["required", "optional"], default_value = "required")]
        pkce: String,
        /// How the client authenticates: `client_secret` (a generated secret, Basic or post)
        /// or `private_key_jwt` (RFC 7523 assertions signed with a key of --jwks-file).
        #[arg(long, value_parser = ["client_secret", "private_key_jwt"], default_value = "client_secret")]
        auth: String,
        /// The client's public keys (a JWKS or one JWK), for --auth private_key_jwt.
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
        jwks_file: Option<std::path::PathBuf>,
        /// Or where the client publishes its keys (https; fetched, cached, never from a
        /// private address), for --auth private_key_jwt.
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// What its ID tokens are signed with (id_token_signed_response_alg): an enabled
        /// algorithm, RS256 by default. Until that algorithm's key is active, they are RS256.
        #[arg(long, value_name = "ALG", value_parser = parse_alg)]
        id_token_signing_alg: Option<SigningAlg>,
        #[arg(long)]
        json: bool,
    },
    /// Add or remove a private_key_jwt client's public keys (rotate with overlap: add the new
    /// key, switch the client to it, then remove the old one).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Accept an external subject of a trust (a workload identity) as this client.
    Link {
        id: String,
        #[arg(long)]
        trust: String,
        /// The subject its tokens carry: `system:serviceaccount:NS:NAME`, `spiffe://…`, a CI `sub`.
        #[arg(long)]
        subject: String,
        /// A further claim the tokens must carry (a CI token's repository, say); repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop accepting a trust's subject as this client.
    Unlink {
        id: String,
        #[arg(long)]
        trust: String,
    },
    /// List clients.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a client. A list option given replaces the whole list; what is not given stays.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// The grants the client has from now on (repeat for several).
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// An API whose scopes become exactly the `--scope`s that follow it (granted if new).
        #[arg(long = "api", value_name = "URI")]
        apis: Vec<String>,
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        /// Withdraw an API from the client.
        #[arg(long = "remove-api", value_name = "URI")]
        remove_apis: Vec<String>,
        /// The client's roles from now on (repeat for several).
        #[arg(long = "role", value_name = "ROLE", conflicts_with = "no_roles")]
        roles: Vec<String>,
        /// Take every role away.
        #[arg(long)]
        no_roles: bool,
        /// The redirect URIs from now on (repeat for several).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// The post-logout redirect URIs from now on (repeat for several).
        #[arg(
            long = "post-logout-redirect-uri",
            value_name = "URI",
            conflicts_with = "no_post_logout_redirect_uris"
        )]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        no_post_logout_redirect_uris: bool,
        /// `required` asks users for consent; `skip` makes it a first-party client.
        #[arg(long, value_parser = ["required", "skip"])]
        consent: Option<String>,
        /// Access-token lifetime for this client, in seconds.
        #[arg(
            long = "token-ttl",
            value_name = "SECONDS",
            conflicts_with = "default_token_ttl"
        )]
        token_ttl: Option<i64>,
        /// Back to the server's default access-token lifetime.
        #[arg(long)]
        default_token_ttl: bool,
        /// `optional` lets a confidential client sign users in without PKCE.
        #[arg(long, value_parser = ["required", "optional"])]
        pkce: Option<String>,
        /// What the sign-in pages call the client; "" shows its name again.
        #[arg(long = "display-name", value_name = "NAME")]
        display_name: Option<String>,
        /// Make the client resource server of an API (it may introspect its tokens of its tenant).
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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add the keys of a JWKS (or one JWK) file.
    Add {
        id: String,
        #[arg(long, value_name = "FILE")]
        jwks_file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove one key; the client's last key cannot be removed.
    Remove {
        id: String,
        kid: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct ClientView<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    tenant: &'a str,
    name: &'a str,
    display_name: Option<&'a str>,
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
    pkce_required: bool,
    token_endpoint_auth_method: &'static str,
    keys: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    trust_links: Vec<LinkView<'a>>,
    id_token_signed_response_alg: SigningAlg,
}

#[derive(Serialize)]
struct LinkView<'a> {
    trust: &'a str,
    issuer: &'a str,
    subject: &'a str,
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
        display_name: c.display_name.as_deref(),
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
        pkce_required: c.pkce_required,
        token_endpoint_auth_method: match (c.public, c.private_key_jwt) {
            (true, _) => "none",
            (false, true) => "private_key_jwt",
            (false, false) => "client_secret_basic",
        },
        keys: c.keys.iter().map(|k| k.kid.as_str()).collect(),
        jwks_uri: c.jwks_uri.as_deref(),
        trust_links: c
            .links
            .iter()
            .map(|l| LinkView {
                trust: &l.trust.name,
                issuer: &l.trust.issuer,
                subject: &l.subject,
            })
            .collect(),
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
    if let Some(shown) = v.display_name {
        rows.push(("display_name", shown.to_owned()));
    }
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
    if !v.keys.is_empty() {
        rows.push((
            "auth",
            format!("private_key_jwt, keys {}", v.keys.join(" ")),
        ));
    }
    for link in &v.trust_links {
        rows.push((
            "trust_link",
            format!("{} ({}): {}", link.trust, link.issuer, link.subject),
        ));
    }
    if !v.pkce_required {
        rows.push((
            "pkce",
            "optional (the nonce protects OpenID sign-ins)".into(),
        ));
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
) -> Result<Option<ClientId>, CliError> {
    let ClientCommand::Create { .. } = cmd else {
        return change(cmd, matches, store, config, clock)
            .await
            .map(|()| None);
    };
    create(cmd, matches, store, config, clock).await
}

/// Registers a client; its id goes into the audit row beside its name.
async fn create(
    cmd: ClientCommand,
    matches: Option<&ArgMatches>,
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<Option<ClientId>, CliError> {
    match cmd {
        ClientCommand::Create {
            tenant,
            name,
            display_name,
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
            pkce,
            auth,
            jwks_file,
            jwks_uri,
            id_token_signing_alg,
            json,
        } => {
            if let Some(alg) = id_token_signing_alg {
                enabled(config, alg)?;
            }
            let create = matches.and_then(|m| m.subcommand_matches("create"));
            let keyed = auth == "private_key_jwt";
            if !keyed && (jwks_file.is_some() || jwks_uri.is_some()) {
                return Err(CliError::Usage(
                    "--jwks-file and --jwks-uri are for --auth private_key_jwt".into(),
                ));
            }
            let keys = match (keyed, jwks_file, &jwks_uri) {
                (true, Some(file), _) => Some(read_keys(&file)?),
                (true, None, None) => {
                    return Err(CliError::Usage(
                        "--auth private_key_jwt needs the client's public keys: --jwks-file FILE or --jwks-uri URL".into(),
                    ));
                }
                _ => None,
            };
            if let Some(uri) = &jwks_uri {
                JwksFetcher::new(FetchPolicy::from_config(config))
                    .check_url(uri)
                    .await
                    .map_err(|e| CliError::Usage(e.to_string()))?;
            }
            let new = NewClient {
                tenant: usage(TenantSlug::parse(&tenant))?,
                name,
                display_name,
                grant_types: grants
                    .iter()
                    .map(|g| usage(GrantType::parse(g)))
                    .collect::<Result<_, _>>()?,
                apis: pair_scopes_with_apis(create, &apis, &scopes)?,
                resource_server_for: api_ids(&resource_server_for)?,
                roles,
                token_ttl: token_ttl.map(check_ttl).transpose()?,
                redirect_uris: redirect_uri_list(&redirect_uris)?,
                post_logout_redirect_uris: redirect_uri_list(&post_logout_redirect_uris)?,
                public,
                skip_consent,
                pkce_required: pkce == "required",
                keys,
                jwks_uri,
                id_token_signing_alg: id_token_signing_alg.filter(|a| *a != SigningAlg::RS256),
            };
            let (record, secret) = admin::create_client(store, clock, &new).await?;
            print(&record, secret.as_ref().map(|s| s.secret()), json)?;
            Ok(Some(record.client_id))
        }
        _ => Ok(None),
    }
}

async fn change(
    cmd: ClientCommand,
    matches: Option<&ArgMatches>,
    store: &Store,
    config: &Config,
    clock: &Clock,
) -> Result<(), CliError> {
    match cmd {
        ClientCommand::Create { .. } => Ok(()),
        ClientCommand::Link {
            id,
            trust,
            subject,
            claims,
            json,
        } => {
            let id = client_id(&id)?;
            let claims = parse_conditions(&claims).map_err(CliError::Usage)?;
            let record = store.link_client(&id, &trust, &subject, &claims).await?;
            print(&record, None, json)
        }
        ClientCommand::Unlink { id, trust } => {
            let id = client_id(&id)?;
            store.unlink_client(&id, &trust).await?;
            println!("client {id} no longer accepts trust {trust}");
            Ok(())
        }
        ClientCommand::Keys(KeysCommand::Add {
            id,
            jwks_file,
            json,
        }) => {
            let id = client_id(&id)?;
            let keys = read_keys(&jwks_file)?;
            let record = store.add_client_keys(&id, &keys, clock.now()).await?;
            print(&record, None, json)
        }
        ClientCommand::Keys(KeysCommand::Remove { id, kid, json }) => {
            let id = client_id(&id)?;
            let record = store.remove_client_key(&id, &kid).await?;
            print(&record, None, json)
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
            name,
            grants,
            apis,
            scopes,
            remove_apis,
            roles,
            no_roles,
            redirect_uris,
            post_logout_redirect_uris,
            no_post_logout_redirect_uris,
            consent,
            token_ttl,
            default_token_ttl,
            pkce,
            display_name,
            resource_server_for,
            not_resource_server_for,
            id_token_signing_alg,
            json,
        } => {
            let id = client_id(&id)?;
            let update = matches.and_then(|m| m.subcommand_matches("update"));
            let change = ClientUpdate {
                name,
                grant_types: some_if_given(grants)
                    .map(|g| g.iter().map(|g| usage(GrantType::parse(g))).collect())
                    .transpose()?,
                set_apis: pair_scopes_with_apis(update, &apis, &scopes)?,
                remove_apis: api_ids(&remove_apis)?,
                roles: if no_roles {
                    Some(Vec::new())
                } else {
                    some_if_given(roles)
                },
                redirect_uris: some_if_given(redirect_uris)
                    .map(|u| redirect_uri_list(&u))
                    .transpose()?,
                post_logout_redirect_uris: if no_post_logout_redirect_uris {
                    Some(Vec::new())
                } else {
                    some_if_given(post_logout_redirect_uris)
                        .map(|u| redirect_uri_list(&u))
                        .transpose()?
                },
                skip_consent: consent.map(|c| c == "skip"),
                token_ttl: match (token_ttl, default_token_ttl) {
                    (Some(ttl), _) => Some(Some(check_ttl(ttl)?)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                pkce_required: pkce.map(|p| p == "required"),
            };
            let servers = (
                api_ids(&resource_server_for)?,
                api_ids(&not_resource_server_for)?,
            );
            let changes_settings = change.name.is_some()
                || change.grant_types.is_some()
                || !change.set_apis.is_empty()
                || !change.remove_apis.is_empty()
                || change.roles.is_some()
                || change.redirect_uris.is_some()
                || change.post_logout_redirect_uris.is_some()
                || change.skip_consent.is_some()
                || change.token_ttl.is_some()
                || change.pkce_required.is_some();
            if !changes_settings
                && display_name.is_none()
                && id_token_signing_alg.is_none()
                && servers.0.is_empty()
                && servers.1.is_empty()
            {
                return Err(CliError::Usage(
                    "nothing to change: give at least one option (see `castellan client update --help`)".into(),
                ));
            }
            if changes_settings {
                store
                    .update_client_settings(&id, &change, clock.now())
                    .await?;
            }
            if let Some(shown) = &display_name {
                store
                    .set_client_display_name(&id, Some(shown), clock.now())
                    .await?;
            }
            if let Some(alg) = id_token_signing_alg {
                enabled(config, alg)?;
                let chosen = Some(alg).filter(|a| *a != SigningAlg::RS256);
                store
                    .set_client_id_token_alg(&id, chosen, clock.now())
                    .await?;
            }
            let mut record = store
                .find_client(&id)
                .await?
                .ok_or_else(|| CliError::Usage(format!("client {id} does not exist")))?;
            if !servers.0.is_empty() || !servers.1.is_empty() {
                record = store
                    .update_resource_servers(&id, &servers.0, &servers.1, clock.now())
                    .await?;
            }
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

/// The public keys of a JWKS (or single JWK) file, each checked as assertions will use it.
fn read_keys(file: &std::path::Path) -> Result<Vec<ClientJwk>, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let keys = ClientKey::parse_set(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    Ok(keys
        .into_iter()
        .map(|(key, jwk)| ClientJwk {
            kid: key.kid,
            jwk: jwk.to_string(),
        })
        .collect())
}

fn some_if_given(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

fn redirect_uri_list(list: &[String]) -> Result<Vec<RedirectUri>, CliError> {
    list.iter().map(|u| usage(RedirectUri::parse(u))).collect()
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
