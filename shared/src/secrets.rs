//! The cursor key of the two functions that sign cursors (`list-items`, `list-orders`), read
//! once, at their cold start (`http::cold_start`, for an endpoint whose `USES_CURSORS` is true).
//!
//! In AWS the stack generates the key (`CursorSecret` in template.yaml: Secrets Manager's
//! `GenerateSecretString`, 64 characters) and passes only its ARN, `CURSOR_SECRET_ARN`; the
//! function reads its value with `GetSecretValue`, through the same HTTP/TLS stack, retries and
//! timeouts as its DynamoDB client, and with region, credentials and endpoint from Lambda's
//! environment (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`). So the key is
//! in no template, parameter or stack description. Locally `CURSOR_SECRET` is the key itself
//! (scripts/env.sh sets one). With neither, the function refuses to start: a known key would let
//! anyone forge a cursor.
//!
//! Only these two functions link the Secrets Manager client: the call below sits behind the
//! associated constant `Endpoint::USES_CURSORS`, and the compiler drops it from every other
//! binary.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Config};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;

use crate::config::Vars;
use crate::store::{https_client, retry_config, timeout_config, AwsEnv};

/// The shortest key accepted.
pub const MIN_SECRET_BYTES: usize = 16;

/// The cursor key: the secret `CURSOR_SECRET_ARN` names, read through the Secrets Manager API
/// (what the template passes), else `CURSOR_SECRET` itself (local development); or why the
/// function must not start. Boxed: a function that never calls it keeps only a pointer-sized
/// slot for it in its start-up future, and none of the SDK's code.
#[allow(clippy::type_complexity)]
pub fn cursor_secret<'a>(
    vars: Vars<'a>,
) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
    Box::pin(async move {
        let given = |name: &str| vars(name).filter(|v| !v.trim().is_empty());
        let secret = match (given("CURSOR_SECRET_ARN"), given("CURSOR_SECRET")) {
            (Some(arn), _) => read_secret(&client_config(vars), &arn).await?,
            (None, Some(local)) => local.into_bytes(),
            (None, None) => {
                return Err(
                    "neither CURSOR_SECRET_ARN (the stack's generated secret) nor \
                            CURSOR_SECRET (local development) is set: no key to sign cursors with"
                        .to_owned(),
                )
            }
        };
        match secret.len() >= MIN_SECRET_BYTES {
            true => Ok(secret),
            false => Err(format!(
                "the cursor key is shorter than {MIN_SECRET_BYTES} bytes"
            )),
        }
    })
}

/// The Secrets Manager client's settings: the DynamoDB client's HTTP stack, retries and
/// timeouts; region, credentials and endpoint from `vars` (`AWS_ENDPOINT_URL_SECRETS_MANAGER`,
/// else `AWS_ENDPOINT_URL`).
pub fn client_config(vars: Vars<'_>) -> Config {
    let from = AwsEnv::read(vars, "AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let mut config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(region) = from.region {
        config = config.region(region);
    }
    if let Some(credentials) = from.credentials {
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = from.endpoint {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The value of the secret `arn` (its string, else its binary), read once. The error names the
/// secret and the cause, never a value.
pub async fn read_secret(config: &Config, arn: &str) -> Result<Vec<u8>, String> {
    let client = Client::from_conf(config.clone());
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("CURSOR_SECRET_ARN {arn}: {}", DisplayErrorContext(&e)))?;
    match (out.secret_string, out.secret_binary) {
        (Some(text), _) if !text.is_empty() => Ok(text.into_bytes()),
        (_, Some(bytes)) if !bytes.as_ref().is_empty() => Ok(bytes.into_inner()),
        _ => Err(format!("CURSOR_SECRET_ARN {arn}: the secret has no value")),
    }
}
