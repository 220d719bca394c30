//! A stand-in for Secrets Manager's `GetSecretValue`, the one call the functions make of it (the
//! cursor key's read at cold start, `shared::secrets`): an HTTP server on `127.0.0.1` that
//! answers the awsJson 1.1 protocol as the service does (`POST /`, `x-amz-target:
//! secretsmanager.GetSecretValue`, `{"SecretId": ...}`), so that the SDK client the functions
//! build runs unchanged and only its last hop is local. It keeps every request it was sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// One request as the stand-in got it.
#[derive(Clone, Debug)]
pub struct SecretRequest {
    /// `x-amz-target`.
    pub target: String,
    /// Whether it carried a SigV4 `authorization` header.
    pub signed: bool,
    pub body: Value,
}

/// The stand-in; it stops when dropped.
pub struct SecretsManagerStub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SecretRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SecretsManagerStub {
    /// Serves `secrets` (ARN -> string value); any other id is `ResourceNotFoundException`.
    pub async fn start(secrets: &[(&str, &str)]) -> Self {
        let secrets: Arc<HashMap<String, String>> = Arc::new(
            secrets
                .iter()
                .map(|(arn, value)| ((*arn).to_owned(), (*value).to_owned()))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (secrets, log) = (secrets.clone(), log.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        answer(req, secrets.clone(), log.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<SecretRequest> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for SecretsManagerStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    secrets: Arc<HashMap<String, String>>,
    seen: Arc<Mutex<Vec<SecretRequest>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (target, signed) = (header("x-amz-target"), !header("authorization").is_empty());
    let body = req.into_body().collect().await?.to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(SecretRequest {
            target: target.clone(),
            signed,
            body: body.clone(),
        });
    let id = body["SecretId"].as_str().unwrap_or_default();
    let (status, answer) = match (target.as_str(), secrets.get(id)) {
        ("secretsmanager.GetSecretValue", Some(value)) => (
            200,
            json!({
                "ARN": id,
                "Name": id.rsplit(':').next().unwrap_or(id),
                "SecretString": value,
                "VersionId": "00000000-0000-4000-8000-000000000001",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            }),
        ),
        ("secretsmanager.GetSecretValue", None) => (
            400,
            json!({
                "__type": "ResourceNotFoundException",
                "Message": "Secrets Manager can't find the specified secret.",
            }),
        ),
        _ => (
            400,
            json!({"__type": "UnknownOperationException", "Message": target}),
        ),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(answer.to_string())))
        .expect("a response");
    Ok(response)
}
