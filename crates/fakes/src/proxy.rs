//! A minimal HTTP CONNECT proxy that sends every tunnel to one address, whatever host the client
//! names. A process given `HTTPS_PROXY` then reaches a fake under its real-looking host name
//! (`vault.localhost`) without that name resolving on the machine. Tunnels only: no plain HTTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running proxy and the `host:port` of every tunnel it opened.
pub struct ConnectProxy {
    pub address: SocketAddr,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// Tunnels every CONNECT to `target`.
    pub async fn start(target: SocketAddr) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("bound address");
        let tunnels: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = tunnels.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = tunnel(client, target, &log).await;
                });
            }
        });
        ConnectProxy { address, tunnels }
    }

    /// `http://127.0.0.1:<port>`, for `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn tunnel(
    mut client: TcpStream,
    target: SocketAddr,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    // The request head ends with an empty line; a CONNECT has no body.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 8192 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(authority)) = (words.next(), words.next()) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").await?;
        return Ok(());
    };
    log.lock().unwrap_or_else(|p| p.into_inner()).push(authority.to_owned());

    let mut server = TcpStream::connect(target).await?;
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
