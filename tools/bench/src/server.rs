//! A tiny HTTP/1.1 server (hyper) for the two endpoints the tool serves itself: the counting
//! proxy in front of DynamoDB Local and the Lambda Runtime API of the cold-start runs.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub type Reply = Response<Full<Bytes>>;

/// A running server; dropping it stops it and every connection it holds.
pub struct Server {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.abort_all();
        }
    }
}

/// Serves `handler` on 127.0.0.1 at a free port. The handler gets the request head and the
/// whole body.
pub async fn serve<H, Fut>(handler: H) -> Server
where
    H: Fn(http::request::Parts, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free local port");
    let addr = listener.local_addr().expect("a bound address");
    let tasks = Arc::new(Mutex::new(JoinSet::new()));
    let accept_tasks = tasks.clone();
    let accept = async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    Ok::<_, Infallible>(handler(parts, body).await)
                }
            });
            let connection = async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            };
            if let Ok(mut set) = accept_tasks.lock() {
                set.spawn(connection);
            }
        }
    };
    tasks.lock().expect("not poisoned").spawn(accept);
    Server { addr, tasks }
}

/// A response with a body and a status.
pub fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .expect("a valid response")
}
