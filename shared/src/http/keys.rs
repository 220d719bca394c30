//! Idempotency keys at the edge: reading them, replaying what they answered, and the loop of a
//! keyed write (read with the key's receipt, write with the key's record, again if what was
//! read changed meanwhile). The rules of keys: `domain::idempotency`.

use std::time::{Duration, Instant};

use lambda_http::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::versions::with_etag;
use super::{json_text, HandlerResult};
use crate::domain::{Fingerprint, IdempotencyKey, Receipt};
use crate::ApiError;

/// How long a write keeps reading again what it changes, when that keeps changing between the
/// read and the write (each try after a short jittered pause: every such conflict means another
/// write went through, so trying again soon wastes little), before answering
/// `409 request_in_progress`: well inside the request's deadline, so that contention is
/// answered as contention (retry), never as a timeout.
const TRYING: Duration = Duration::from_secs(6);

/// The `Idempotency-Key` header, if sent: 1 to 255 printable ASCII characters.
pub fn key_header(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(header) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let refuse = |why| ApiError::invalid("Idempotency-Key", why);
    let text = header
        .to_str()
        .map_err(|_| refuse("must be printable ASCII".to_owned()))?;
    IdempotencyKey::parse(text).map(Some).map_err(refuse)
}

/// The first answer again, byte for byte, with `Idempotent-Replayed: true`; or `422` when the
/// key is bound to another request.
pub fn replay(receipt: &Receipt, request: &Fingerprint) -> HandlerResult {
    if !receipt.answers(request) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let mut response: Response<Body> = json_text(receipt.status, receipt.body.clone())?;
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    match receipt.version {
        Some(version) => with_etag(response, version),
        None => Ok(response),
    }
}

/// What one attempt of a keyed write came to.
pub enum Attempt {
    /// Answered (written with the key's record, or refused: a refusal binds nothing).
    Answer(HandlerResult),
    /// The key already answered (before the read, or meanwhile).
    Replay(Receipt),
    /// What was read changed before the write: read again.
    Again,
}

/// Runs `attempt` until it answers, replaying a taken key; after [`TRYING`] of changes in a row,
/// `409 request_in_progress` (retry: nothing was written, and the key still binds nothing).
pub async fn exactly_once<F, Fut>(request: &Fingerprint, mut attempt: F) -> HandlerResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Attempt, ApiError>>,
{
    let started = Instant::now();
    for round in 0.. {
        if round > 0 && started.elapsed() >= TRYING {
            break;
        }
        if round > 0 {
            let ceiling = (5u64 << round.min(5)).min(100);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling))).await;
        }
        match attempt().await? {
            Attempt::Answer(answer) => return answer,
            Attempt::Replay(receipt) => return replay(&receipt, request),
            Attempt::Again => {}
        }
    }
    Err(ApiError::RequestInProgress)
}

/// Whose admin keys: the IAM principal that signed the request (`local-admin` for an unsigned
/// one, which `require_iam` lets through only locally).
pub fn admin_principal(req: &Request) -> String {
    let iam = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.iam.clone())
        }
        _ => None,
    };
    iam.and_then(|iam| iam.user_arn.or(iam.caller_id))
        .unwrap_or_else(|| "local-admin".to_owned())
}
