//! A lean HTTP/1.1 client over hyper's connection API: one request at a time per keep-alive
//! connection, no pool, no redirects, so the client costs little next to the server.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Result;

/// One kind of request, sent over and over.
pub struct Target {
    pub method: Method,
    pub path: &'static str,
    pub host: HeaderValue,
    pub authorization: Option<HeaderValue>,
    pub form: Option<&'static str>,
}

impl Target {
    pub fn get(addr: SocketAddr, path: &'static str) -> Result<Self> {
        Ok(Self {
            method: Method::GET,
            path,
            host: HeaderValue::from_str(&addr.to_string())?,
            authorization: None,
            form: None,
        })
    }

    pub fn request(&self) -> Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(header::HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            builder = builder.header(header::AUTHORIZATION, authorization.clone());
        }
        let body = match self.form {
            Some(form) => {
                builder = builder.header(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Full::new(Bytes::from_static(form.as_bytes()))
            }
            None => Full::default(),
        };
        Ok(builder.body(body)?)
    }
}

/// A single request on a fresh connection.
pub async fn fetch(addr: SocketAddr, target: &Target) -> Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    send(&mut sender, target.request()?).await
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; request errors surface in `send`.
        let _ = connection.await;
    });
    Ok(sender)
}

pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// [`send`], keeping the response headers.
pub async fn send_keeping_headers(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes)> {
    sender.ready().await?;
    let (parts, body) = sender.send_request(request).await?.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((parts.status, parts.headers, body))
}
