//! A TCP proxy in front of PostgreSQL that a test can cut, as if the server had stopped (live
//! connections dropped, new ones refused), and restore on the same port. The machine's
//! PostgreSQL, shared with the tests running alongside, is never touched.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    addr: SocketAddr,
    upstream: String,
    cut: watch::Sender<bool>,
    accept: Mutex<Option<JoinHandle<()>>>,
    forwards: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    /// A proxy to the server of `database_url`, and the URL of the same database through it.
    pub async fn in_front_of(database_url: &str) -> (Self, String) {
        let (prefix, upstream, path) = around_host(database_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            cut: watch::channel(false).0,
            accept: Mutex::new(None),
            forwards: Arc::default(),
        };
        proxy.serve(listener);
        let proxied = format!("{prefix}{}{path}", proxy.addr);
        (proxy, proxied)
    }

    fn serve(&self, listener: TcpListener) {
        let (mut cut, upstream) = (self.cut.subscribe(), self.upstream.clone());
        let forwards = Arc::clone(&self.forwards);
        let task = tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    // Returning drops the listener: connecting is refused from then on.
                    _ = cut.wait_for(|cut| *cut) => return,
                };
                let (upstream, cut) = (upstream.clone(), cut.clone());
                forwards
                    .lock()
                    .unwrap()
                    .spawn(forward(inbound, upstream, cut));
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Returns once the port is closed and every forwarded connection is dropped.
    pub async fn cut(&self) {
        self.cut.send_replace(true);
        let accept = self.accept.lock().unwrap().take();
        if let Some(accept) = accept {
            accept.await.unwrap();
        }
        let mut forwards = std::mem::take(&mut *self.forwards.lock().unwrap());
        while forwards.join_next().await.is_some() {}
    }

    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.cut.send_replace(false);
        self.serve(listener);
    }
}

async fn forward(mut inbound: TcpStream, upstream: String, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}

/// Splits a database URL around its `host:port`: (`scheme://user@`, `host:port`, `/name?...`).
fn around_host(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let has_port = host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']'));
    let host = if has_port {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (format!("{scheme}://{user}"), host, path.to_owned())
}
