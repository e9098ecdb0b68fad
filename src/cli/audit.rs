//! `castellan audit ...`

use clap::Subcommand;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CliError, output, usage};
use crate::clock::Clock;
use crate::protocol::TenantSlug;
use crate::store::Store;
use crate::store::audit::AuditRow;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the newest security events, oldest first (UTC; unix seconds with --json).
    Tail {
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// Only events since this long ago (`30s`, `15m`, `2h`, `7d`) or since an RFC 3339 time.
        #[arg(long, value_name = "DURATION|TIME")]
        since: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: AuditCommand, store: &Store, clock: &Clock) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Tail {
            tenant,
            since,
            limit,
            json,
        } => {
            let tenant = tenant.map(|t| usage(TenantSlug::parse(&t))).transpose()?;
            let since = since
                .map(|s| parse_since(&s, clock.now()))
                .transpose()
                .map_err(CliError::Usage)?;
            let rows = store
                .audit_tail(tenant.as_ref().map(TenantSlug::as_str), since, limit)
                .await?;
            if json {
                return output::json(&rows);
            }
            for row in &rows {
                println!("{}", line(row));
            }
            Ok(())
        }
    }
}

/// `--since`: a duration back from `now`, or an RFC 3339 time; unix seconds.
fn parse_since(text: &str, now: i64) -> Result<i64, String> {
    let unit = match text.chars().last() {
        Some('s') => Some(1),
        Some('m') => Some(60),
        Some('h') => Some(3600),
        Some('d') => Some(86_400),
        Some('w') => Some(7 * 86_400),
        _ => None,
    };
    let number = unit.and_then(|unit| {
        let digits = &text[..text.len() - 1];
        let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| digits.parse::<i64>().ok()?.checked_mul(unit))
    });
    match number {
        Some(Some(seconds)) => Ok(now.saturating_sub(seconds)),
        Some(None) => Err(format!("--since {text:?} is too far back")),
        None => OffsetDateTime::parse(text, &Rfc3339)
            .map(OffsetDateTime::unix_timestamp)
            .map_err(|_| {
                format!(
                    "--since {text:?}: expected a duration such as 15m, 2h or 7d, or an RFC 3339 time such as 2025-01-31T12:00:00Z"
                )
            }),
    }
}

/// Time, event, outcome, tenant, actor, client, ip, then `xN` for a batch of N, then the detail.
fn line(row: &AuditRow) -> String {
    let time = OffsetDateTime::from_unix_timestamp(row.at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| row.at.to_string());
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut fields = vec![
        time,
        row.event.clone(),
        row.outcome.clone(),
        or_dash(&row.tenant),
        or_dash(&row.actor),
        or_dash(&row.client_id),
        or_dash(&row.ip),
    ];
    let detail = match (row.count, &row.detail) {
        (1, Some(detail)) => detail.clone(),
        (1, None) => "-".into(),
        (n, Some(detail)) => format!("x{n} {detail}"),
        (n, None) => format!("x{n}"),
    };
    fields.push(detail);
    fields.join("\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn since_takes_durations_back_from_now() {
        assert_eq!(parse_since("30s", NOW), Ok(NOW - 30));
        assert_eq!(parse_since("15m", NOW), Ok(NOW - 900));
        assert_eq!(parse_since("2h", NOW), Ok(NOW - 7200));
        assert_eq!(parse_since("7d", NOW), Ok(NOW - 7 * 86_400));
        assert_eq!(parse_since("1w", NOW), Ok(NOW - 7 * 86_400));
    }

    #[test]
    fn since_takes_rfc3339_times() {
        assert_eq!(parse_since("2025-01-31T12:00:00Z", NOW), Ok(1_738_324_800));
        assert_eq!(
            parse_since("2025-01-31T13:00:00+01:00", NOW),
            Ok(1_738_324_800)
        );
    }

    #[test]
    fn since_refuses_anything_else_clearly() {
        for bad in [
            "",
            "m",
            "-5m",
            "5 m",
            "5x",
            "yesterday",
            "2025-01-31",
            "99999999999999999999d",
        ] {
            let err = parse_since(bad, NOW).unwrap_err();
            assert!(err.contains("--since"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_line_shows_every_field_and_counts_above_one() {
        let mut row = AuditRow {
            at: 1_738_324_800,
            event: "token.issued".into(),
            outcome: "success".into(),
            tenant: Some("default".into()),
            actor: Some("svc".into()),
            client_id: Some("svc".into()),
            ip: None,
            detail: Some("grant client_credentials".into()),
            count: 3,
        };
        assert_eq!(
            line(&row),
            "2025-01-31T12:00:00Z\ttoken.issued\tsuccess\tdefault\tsvc\tsvc\t-\tx3 grant client_credentials"
        );
        row.count = 1;
        row.detail = None;
        assert!(line(&row).ends_with("\t-\t-"), "{}", line(&row));
    }
}
