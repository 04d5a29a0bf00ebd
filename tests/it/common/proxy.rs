//! A TCP proxy the test controls, in front of the shared PostgreSQL cluster: a database outage
//! for one app without stopping the cluster other tests use. [`Proxy::cut`] drops every
//! forwarded connection and refuses new ones (accepted and closed at once, as a stopped
//! server's port answers); [`Proxy::resume`] forwards again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, rx) = watch::channel(true);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !*rx.borrow() {
                    continue; // dropped: closed at once
                }
                let mut state = rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Cut, or the proxy dropped: both sockets close here.
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            accepting,
        }
    }

    /// The outage: every connection through the proxy closes, new ones are refused.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// The database is back.
    pub fn resume(&self) {
        self.up.send_replace(true);
    }

    /// The `host:port` of `url` (`postgres://user:password@host:port/db?...`): what the
    /// proxy forwards to.
    pub fn upstream_of(url: &str) -> String {
        let (at, end) = authority(url);
        url[at..end].to_string()
    }

    /// `url` pointing at the proxy instead.
    pub fn url_through(&self, url: &str) -> String {
        let (at, end) = authority(url);
        format!("{}{}{}", &url[..at], self.addr, &url[end..])
    }
}

/// Where the `host:port` of a `scheme://user:password@host:port/...` URL starts and ends.
fn authority(url: &str) -> (usize, usize) {
    let at = url.find('@').expect("a URL with user@host") + 1;
    let end = url[at..].find('/').map_or(url.len(), |i| at + i);
    (at, end)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.up.send_replace(false);
    }
}
