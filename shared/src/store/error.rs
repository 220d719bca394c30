//! Storage failures, sorted into "try again later" and "a bug".

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached, was throttled, failed, or the transaction kept
    /// conflicting: nothing was written, and the same request may succeed later.
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else: a request DynamoDB refused, or an item that does not map.
    #[error("unexpected DynamoDB failure")]
    Unexpected(#[source] Cause),
}

/// DynamoDB error codes that mean "not now" rather than "never".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

impl StoreError {
    pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transient = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(ctx) => {
                ctx.raw().status().is_server_error()
                    || err.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
            }
            _ => false,
        };
        if transient {
            Self::Unavailable(Box::new(err))
        } else {
            Self::Unexpected(Box::new(err))
        }
    }

    pub(crate) fn mapping(err: serde_dynamo::Error) -> Self {
        Self::Unexpected(Box::new(err))
    }
}
