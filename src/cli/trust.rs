//! `castellan trust ...`: external issuers of workload tokens a tenant accepts.

use clap::{ArgGroup, Subcommand};

use super::{CliError, output, usage};
use crate::config::Config;
use crate::crypto::client_assertion::ClientKey;
use crate::issuer::federation::parse_conditions;
use crate::jwks_fetch::{FetchPolicy, JwksFetcher};
use crate::protocol::TenantSlug;
use crate::store::Store;
use crate::store::trusts::{Trust, TrustKeys};

/// Kubernetes' default projected service-account token lifetime.
const DEFAULT_MAX_LIFETIME: i64 = 3600;

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust an external issuer's tokens for the tenant's clients linked to one of its subjects.
    #[command(group(ArgGroup::new("keys").required(true).args(["jwks_file", "jwks_uri", "discovery"])))]
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// The tokens' `iss` (a SPIFFE trust domain `spiffe://…` with --spiffe).
        #[arg(long)]
        issuer: String,
        /// The issuer's public keys as a JWKS file (a Kubernetes cluster's, uploaded).
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<std::path::PathBuf>,
        /// Fetch the keys from this URL (https, never from a private address unless
        /// jwks_fetch_allowed_networks says so).
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// Find the keys through the issuer's OpenID discovery document.
        #[arg(long)]
        discovery: bool,
        /// The audience the tokens must carry (default: Castellan's issuer identifier).
        #[arg(long)]
        audience: Option<String>,
        /// The longest token life accepted, seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_LIFETIME)]
        max_lifetime: i64,
        /// Tokens may be presented many times (Kubernetes projected tokens, JWT-SVIDs);
        /// otherwise each `jti` is accepted once.
        #[arg(long)]
        reusable_jti: bool,
        /// A SPIFFE trust domain: JWT-SVIDs sent as `…:jwt-spiffe`, matched by their `sub`.
        #[arg(long)]
        spiffe: bool,
        /// A claim every token must carry with this value; repeat for several.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List trusts.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a trust; refused while a client is linked to it.
    Delete {
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

pub async fn run(
    cmd: TrustCommand,
    store: &Store,
    config: &Config,
    now: i64,
) -> Result<(), CliError> {
    match cmd {
        TrustCommand::Create {
            tenant,
            name,
            issuer,
            jwks_file,
            jwks_uri,
            discovery,
            audience,
            max_lifetime,
            reusable_jti,
            spiffe,
            claims,
            json,
        } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            check_name(&name)?;
            check_issuer(&issuer, spiffe)?;
            if !(10..=86_400).contains(&max_lifetime) {
                return Err(CliError::Usage(
                    "--max-lifetime must be from 10 to 86400 seconds".into(),
                ));
            }
            let keys = match (jwks_file, jwks_uri, discovery) {
                (Some(file), _, _) => {
                    let text = std::fs::read_to_string(&file).map_err(|e| {
                        CliError::Usage(format!("cannot read {}: {e}", file.display()))
                    })?;
                    let keys = ClientKey::parse_set(&text)
                        .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
                    // Stored as a JWKS document, also when the file held a single JWK.
                    let jwks: Vec<serde_json::Value> =
                        keys.into_iter().map(|(_, jwk)| jwk).collect();
                    TrustKeys::Jwks(serde_json::json!({ "keys": jwks }).to_string())
                }
                (None, Some(uri), _) => {
                    JwksFetcher::new(FetchPolicy::from_config(config))
                        .check_url(&uri)
                        .await
                        .map_err(|e| CliError::Usage(e.to_string()))?;
                    TrustKeys::JwksUri(uri)
                }
                (None, None, true) => {
                    if spiffe {
                        return Err(CliError::Usage(
                            "a SPIFFE trust domain has no discovery document: give --jwks-file or --jwks-uri".into(),
                        ));
                    }
                    JwksFetcher::new(FetchPolicy::from_config(config))
                        .check_url(&JwksFetcher::discovery_url(&issuer))
                        .await
                        .map_err(|e| CliError::Usage(e.to_string()))?;
                    TrustKeys::Discovery
                }
                (None, None, false) => unreachable_keys()?,
            };
            let trust = Trust {
                tenant: tenant.to_string(),
                name,
                issuer,
                keys,
                audience,
                max_lifetime,
                reusable_jti,
                spiffe,
                claims: parse_conditions(&claims).map_err(CliError::Usage)?,
            };
            let trust = store.create_trust(&trust, now).await?;
            if json {
                return output::json(&trust);
            }
            println!("created trust {} in tenant {}", trust.name, trust.tenant);
            Ok(())
        }
        TrustCommand::List { tenant, json } => {
            let tenant = tenant.map(|t| usage(TenantSlug::parse(&t))).transpose()?;
            let trusts = store.list_trusts(tenant.as_ref()).await?;
            if json {
                return output::json(&trusts);
            }
            for t in trusts {
                println!("{}\t{}\t{}", t.tenant, t.name, t.issuer);
            }
            Ok(())
        }
        TrustCommand::Delete { tenant, name } => {
            let tenant = usage(TenantSlug::parse(&tenant))?;
            store.delete_trust(&tenant, &name).await?;
            println!("deleted trust {name} in tenant {tenant}");
            Ok(())
        }
    }
}

/// clap's group makes one of the three required; this is the message if it ever is not.
fn unreachable_keys() -> Result<TrustKeys, CliError> {
    Err(CliError::Usage(
        "give the trust's keys: --jwks-file, --jwks-uri or --discovery".into(),
    ))
}

fn check_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then_some(()).ok_or_else(|| {
        CliError::Usage("a trust name is 1 to 100 letters, digits, '-', '_' or '.'".into())
    })
}

fn check_issuer(issuer: &str, spiffe: bool) -> Result<(), CliError> {
    // A SPIFFE trust domain: lower-case letters, digits, '.', '-' and '_', nothing else.
    let ok = if spiffe {
        issuer.strip_prefix("spiffe://").is_some_and(|d| {
            !d.is_empty()
                && d.len() <= 255
                && d.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
                })
        })
    } else {
        (issuer.starts_with("https://") || issuer.starts_with("http://"))
            && issuer.len() <= 2048
            && !issuer.contains(char::is_whitespace)
    };
    ok.then_some(()).ok_or_else(|| {
        CliError::Usage(if spiffe {
            "a SPIFFE trust's --issuer is its trust domain, spiffe://DOMAIN".into()
        } else {
            "--issuer must be the tokens' iss, an http(s) URL".into()
        })
    })
}
