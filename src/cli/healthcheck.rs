//! `castellan healthcheck`: asks the running server whether it is ready, so a container's
//! HEALTHCHECK needs no HTTP client in the image.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::CliError;

/// The whole probe: connect, ask, read the status.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// Address to ask; by default the configured listen address (loopback when it is a wildcard).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,
    /// Path to ask: `/readyz` (database and signing key) or `/healthz` (the process answers).
    #[arg(long, default_value = "/readyz")]
    pub path: String,
}

/// Succeeds only on a `200` from the server within the timeout.
pub async fn run(args: HealthcheckArgs, listen: SocketAddr) -> Result<(), CliError> {
    let addr = args.addr.unwrap_or_else(|| reachable(listen));
    if !args.path.starts_with('/') {
        return Err(CliError::Usage("--path must start with /".into()));
    }
    let status = tokio::time::timeout(TIMEOUT, probe(addr, &args.path))
        .await
        .map_err(|_| unhealthy(addr, &args.path, "no answer within 3 s"))?
        .map_err(|e| unhealthy(addr, &args.path, &e))?;
    if status == StatusCode::OK {
        println!("ok: {addr}{} answered {status}", args.path);
        Ok(())
    } else {
        Err(unhealthy(addr, &args.path, &format!("answered {status}")))
    }
}

/// A wildcard listen address is reached through the loopback of its family.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

async fn probe(addr: SocketAddr, path: &str) -> Result<StatusCode, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}

fn unhealthy(addr: SocketAddr, path: &str, why: &str) -> CliError {
    CliError::Unhealthy(format!("unhealthy: {addr}{path}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_reached_through_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(reachable(v4), "127.0.0.1:8080".parse().unwrap());
        let v6: SocketAddr = "[::]:9000".parse().unwrap();
        assert_eq!(reachable(v6), "[::1]:9000".parse().unwrap());
        let set: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        assert_eq!(reachable(set), set);
    }
}
