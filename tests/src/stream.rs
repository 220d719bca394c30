//! The local stand-in for Lambda's event source mapping of a DynamoDB stream (template.yaml's
//! `PublishOrderEventsStream`): it reads the orders table's real stream in DynamoDB Local
//! (`DynamoDBStreams_20120810` `ListStreams`, `DescribeStream`, `GetShardIterator`,
//! `GetRecords`, at the DynamoDB endpoint), hands batches of its records, in the event Lambda
//! sends (`{"Records": [...]}`, each record with its `eventSourceARN`), to a function, and acts
//! on the answer as Lambda does:
//!
//! - every record answered, or none failed: the shard's checkpoint moves past the batch;
//! - a partial batch response: the checkpoint moves up to the first failed record, and the batch
//!   is delivered again from it;
//! - the invocation failed as a whole: the batch is delivered again, halved
//!   (`BisectBatchOnFunctionError`);
//! - after [`MAX_RETRIES`] retries of the same record, the batch's place in the stream (shard,
//!   first and last sequence numbers) goes to the dead-letter file, as Lambda sends it to the
//!   queue, and the shard moves on.
//!
//! Shards are read parent first, [`BATCH_SIZE`] records at most a batch, one batch of a shard at a
//! time, from `TRIM_HORIZON` or the shard's checkpoint. Checkpoints are kept in memory or in a
//! file (`make dev`: a restart goes on where the last run stopped, and a batch put but not yet
//! checkpointed when the process was killed is delivered again). `MaximumRecordAgeInSeconds` is
//! not emulated: local records are young.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use publish_order_events::PublishOrderEvents;
use serde_json::{json, Value};
use shared::stream::{StreamEvent, DEFAULT_BUDGET};
use tokio::sync::watch;

/// The prefix of every DynamoDB Streams `X-Amz-Target`.
pub const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";
/// The most records a batch holds (template.yaml: `BatchSize`).
pub const BATCH_SIZE: usize = 100;
/// Retries of a failing record before its batch goes to the dead-letter file
/// (template.yaml: `MaximumRetryAttempts`).
pub const MAX_RETRIES: u32 = 10;
/// How often an idle shard is read (Lambda reads a shard about four times a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the stream's shards are listed again.
const DESCRIBE_INTERVAL: Duration = Duration::from_secs(5);

/// What the mapping invokes: Lambda's stream event in, the function's answer out (`Err`: the
/// invocation failed as a whole, as a crash or a timeout would).
pub trait Invoke: Send + Sync {
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, String>> + Send;
}

/// The publisher, called in this process as Lambda would call it: the event and the answer
/// through JSON.
pub struct InProcess(pub PublishOrderEvents);

impl Invoke for InProcess {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let event: StreamEvent = serde_json::from_value(event).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + DEFAULT_BUDGET;
        let answer = self.0.publish_batch(&event, deadline).await;
        serde_json::to_value(answer).map_err(|e| e.to_string())
    }
}

/// Where each shard's last processed record is kept: in memory, or in a JSON file.
#[derive(Debug, Default)]
pub struct Checkpoints {
    file: Option<PathBuf>,
    /// `"{stream arn} {shard id}"` -> sequence number.
    map: Mutex<BTreeMap<String, String>>,
}

impl Checkpoints {
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Kept in `file` (read now if it exists, written at every checkpoint).
    pub fn in_file(file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let map = serde_json::from_str(&text).unwrap_or_default();
        Self {
            file: Some(file),
            map: Mutex::new(map),
        }
    }

    fn key(stream: &str, shard: &str) -> String {
        format!("{stream} {shard}")
    }

    fn get(&self, stream: &str, shard: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&Self::key(stream, shard)).cloned()
    }

    fn set(&self, stream: &str, shard: &str, sequence_number: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(Self::key(stream, shard), sequence_number.to_owned());
        if let Some(file) = &self.file {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            let text = serde_json::to_string_pretty(&*map).expect("checkpoints serialize");
            let temporary = file.with_extension("tmp");
            std::fs::write(&temporary, text)
                .and_then(|()| std::fs::rename(&temporary, file))
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
}

/// What the mapping did so far.
#[derive(Clone, Debug, Default)]
pub struct MappingLog {
    /// Each invocation's records, by sequence number.
    pub batches: Vec<Vec<String>>,
    /// What the function answered each time (`Err`: the invocation failed).
    pub answers: Vec<Result<Value, String>>,
    /// The batches given up on, as the dead-letter queue would get them.
    pub dead_letters: Vec<Value>,
}

/// The faults of the mapping itself.
#[derive(Debug, Default)]
struct Faults {
    /// The next this many successful invocations end the mapping before their checkpoint is
    /// written, as if its process were killed right then.
    die_before_checkpoint: u32,
}

/// Why a mapping's run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Stopped,
    /// A fault killed it between an invocation and its checkpoint.
    Killed,
}

/// The mapping of one table's stream to one function.
pub struct StreamMapping<F> {
    endpoint: String,
    table: String,
    function: F,
    http: reqwest::Client,
    checkpoints: Arc<Checkpoints>,
    dead_letter_file: Option<PathBuf>,
    max_retries: u32,
    poll_interval: Duration,
    log: Mutex<MappingLog>,
    faults: Mutex<Faults>,
}

#[derive(Debug)]
struct Shard {
    id: String,
    parent: Option<String>,
    iterator: Option<String>,
    /// Read to its end (a closed shard).
    done: bool,
    /// Deliveries of the same first record so far.
    attempts: u32,
    /// The most records the next batch may hold (halved after a failed invocation).
    limit: usize,
}

#[derive(Debug, Default)]
struct Cursor {
    stream: Option<String>,
    shards: Vec<Shard>,
    described: Option<Instant>,
}

/// A step that found records, or none.
enum Pass {
    Delivered,
    Idle,
    Killed,
}

impl<F: Invoke> StreamMapping<F> {
    /// The stream of `table` at `endpoint` (DynamoDB Local, or a proxy in front of it) to
    /// `function`, checkpoints in memory, no dead-letter file.
    pub fn new(endpoint: &str, table: &str, function: F) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            table: table.to_owned(),
            function,
            http: reqwest::Client::new(),
            checkpoints: Arc::new(Checkpoints::in_memory()),
            dead_letter_file: None,
            max_retries: MAX_RETRIES,
            poll_interval: POLL_INTERVAL,
            log: Mutex::new(MappingLog::default()),
            faults: Mutex::new(Faults::default()),
        }
    }

    pub fn with_checkpoints(mut self, checkpoints: Arc<Checkpoints>) -> Self {
        self.checkpoints = checkpoints;
        self
    }

    /// Given-up batches are appended to `file`, one JSON line each.
    pub fn with_dead_letter_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.dead_letter_file = Some(file.into());
        self
    }

    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The next `n` successful invocations end the run before their checkpoint is written.
    pub fn die_before_checkpoint(&self, n: u32) {
        self.faults.lock().unwrap().die_before_checkpoint = n;
    }

    pub fn log(&self) -> MappingLog {
        self.log.lock().unwrap().clone()
    }

    /// Reads and delivers until `stop` turns true (or a fault kills it).
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Ended {
        let mut cursor = Cursor::default();
        loop {
            if *stop.borrow() {
                return Ended::Stopped;
            }
            let pass = self.pass(&mut cursor).await;
            let pause = match pass {
                Ok(Pass::Killed) => return Ended::Killed,
                Ok(Pass::Delivered) => continue,
                Ok(Pass::Idle) => self.poll_interval,
                Err(reason) => {
                    eprintln!("stream of {}: {reason}", self.table);
                    cursor = Cursor::default();
                    self.poll_interval * 4
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return Ended::Stopped,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Delivers everything in the stream now, then returns (the first pass that finds nothing).
    pub async fn drain(&self) -> Result<(), String> {
        let mut cursor = Cursor::default();
        let started = Instant::now();
        loop {
            match self.pass(&mut cursor).await? {
                Pass::Idle => return Ok(()),
                Pass::Killed => return Err("killed by a fault".to_owned()),
                Pass::Delivered if started.elapsed() > Duration::from_secs(60) => {
                    return Err("the stream did not run dry within 60 s".to_owned())
                }
                Pass::Delivered => {}
            }
        }
    }

    async fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "x-amz-target",
                format!("{STREAMS_TARGET_PREFIX}{operation}"),
            )
            // DynamoDB Local wants a signed request and checks no signature.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{operation}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{operation}: {e}: {text}"))
    }

    /// One look at every shard: a batch delivered from each that has records.
    async fn pass(&self, cursor: &mut Cursor) -> Result<Pass, String> {
        let stream = match &cursor.stream {
            Some(stream) => stream.clone(),
            None => {
                let listed = self
                    .call("ListStreams", json!({ "TableName": self.table }))
                    .await?;
                let streams = listed["Streams"].as_array().cloned().unwrap_or_default();
                // The newest: a table's stream turned off and on again is a new stream.
                let newest = streams.iter().filter_map(|s| s["StreamArn"].as_str()).max();
                let Some(stream) = newest else {
                    return Ok(Pass::Idle);
                };
                cursor.stream = Some(stream.to_owned());
                stream.to_owned()
            }
        };
        if cursor
            .described
            .is_none_or(|at| at.elapsed() >= DESCRIBE_INTERVAL)
        {
            self.describe(&stream, cursor).await?;
        }
        let mut delivered = false;
        for i in 0..cursor.shards.len() {
            let shard = &cursor.shards[i];
            let parent_open = shard
                .parent
                .as_ref()
                .is_some_and(|parent| cursor.shards.iter().any(|s| &s.id == parent && !s.done));
            if shard.done || parent_open {
                continue;
            }
            match self.step(&stream, &mut cursor.shards[i]).await? {
                Pass::Delivered => delivered = true,
                Pass::Killed => return Ok(Pass::Killed),
                Pass::Idle => {}
            }
        }
        Ok(if delivered {
            Pass::Delivered
        } else {
            Pass::Idle
        })
    }

    async fn describe(&self, stream: &str, cursor: &mut Cursor) -> Result<(), String> {
        let mut start: Option<String> = None;
        loop {
            let mut request = json!({ "StreamArn": stream });
            if let Some(start) = &start {
                request["ExclusiveStartShardId"] = json!(start);
            }
            let described = self.call("DescribeStream", request).await?;
            let description = &described["StreamDescription"];
            for shard in description["Shards"].as_array().into_iter().flatten() {
                let id = shard["ShardId"].as_str().unwrap_or_default().to_owned();
                if cursor.shards.iter().any(|s| s.id == id) {
                    continue;
                }
                cursor.shards.push(Shard {
                    id,
                    parent: shard["ParentShardId"].as_str().map(str::to_owned),
                    iterator: None,
                    done: false,
                    attempts: 0,
                    limit: BATCH_SIZE,
                });
            }
            match description["LastEvaluatedShardId"].as_str() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        cursor.described = Some(Instant::now());
        Ok(())
    }

    async fn iterator(
        &self,
        stream: &str,
        shard: &str,
        at: Position<'_>,
    ) -> Result<String, String> {
        let mut request = json!({ "StreamArn": stream, "ShardId": shard });
        match at {
            Position::TrimHorizon => request["ShardIteratorType"] = json!("TRIM_HORIZON"),
            Position::After(sequence_number) => {
                request["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                request["SequenceNumber"] = json!(sequence_number);
            }
            Position::At(sequence_number) => {
                request["ShardIteratorType"] = json!("AT_SEQUENCE_NUMBER");
                request["SequenceNumber"] = json!(sequence_number);
            }
        }
        let answer = self.call("GetShardIterator", request).await?;
        let iterator = answer["ShardIterator"].as_str();
        iterator
            .map(str::to_owned)
            .ok_or_else(|| format!("GetShardIterator gave no iterator: {answer}"))
    }

    /// One batch of one shard, if it has records.
    async fn step(&self, stream: &str, shard: &mut Shard) -> Result<Pass, String> {
        let iterator = match shard.iterator.take() {
            Some(iterator) => iterator,
            None => {
                let at = match self.checkpoints.get(stream, &shard.id) {
                    Some(ref last) => {
                        self.iterator(stream, &shard.id, Position::After(last))
                            .await?
                    }
                    None => {
                        self.iterator(stream, &shard.id, Position::TrimHorizon)
                            .await?
                    }
                };
                at
            }
        };
        let request = json!({ "ShardIterator": iterator, "Limit": shard.limit });
        let answer = match self.call("GetRecords", request).await {
            Ok(answer) => answer,
            // An iterator taken on an empty shard points before its first record once that is
            // written (DynamoDB Local numbers records across tables): a fresh one, next time.
            Err(reason) if reason.contains("TrimmedDataAccessException") => return Ok(Pass::Idle),
            Err(reason) => return Err(reason),
        };
        let next = answer["NextShardIterator"].as_str().map(str::to_owned);
        let mut records = answer["Records"].as_array().cloned().unwrap_or_default();
        if records.is_empty() {
            shard.done = next.is_none();
            shard.iterator = next;
            return Ok(Pass::Idle);
        }
        for record in &mut records {
            record["eventSourceARN"] = json!(stream);
        }
        let sequence = |r: &Value| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let numbers: Vec<String> = records.iter().map(sequence).collect();
        let answer = self.function.invoke(json!({ "Records": records })).await;
        {
            let mut log = self.log.lock().unwrap();
            log.batches.push(numbers.clone());
            log.answers.push(answer.clone());
        }
        // The first failed record: Lambda retries from the lowest sequence number named, and
        // from the start of the batch when a name is not one of its records.
        let failed_at = match &answer {
            Err(_) => Some(0),
            Ok(response) => {
                let named = response["batchItemFailures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ids: Vec<&str> = named
                    .iter()
                    .map(|f| f["itemIdentifier"].as_str().unwrap_or(""))
                    .collect();
                match ids.is_empty() {
                    true => None,
                    false => Some(
                        ids.iter()
                            .map(|id| numbers.iter().position(|n| n == id).unwrap_or(0))
                            .min()
                            .unwrap_or(0),
                    ),
                }
            }
        };
        let Some(failed) = failed_at else {
            let killed = {
                let mut faults = self.faults.lock().unwrap();
                let die = faults.die_before_checkpoint > 0;
                faults.die_before_checkpoint = faults.die_before_checkpoint.saturating_sub(1);
                die
            };
            if killed {
                return Ok(Pass::Killed);
            }
            self.checkpoints
                .set(stream, &shard.id, numbers.last().expect("a record"));
            shard.iterator = next;
            shard.done = shard.iterator.is_none();
            (shard.attempts, shard.limit) = (0, BATCH_SIZE);
            return Ok(Pass::Delivered);
        };
        if failed > 0 {
            // What comes before the failed record is done: a new first record, a new count.
            self.checkpoints
                .set(stream, &shard.id, &numbers[failed - 1]);
            shard.attempts = 0;
        }
        shard.attempts += 1;
        if shard.attempts > self.max_retries {
            self.dead_letter(stream, &shard.id, &records[failed..], shard.attempts);
            self.checkpoints
                .set(stream, &shard.id, numbers.last().expect("a record"));
            shard.iterator = next;
            shard.done = shard.iterator.is_none();
            (shard.attempts, shard.limit) = (0, BATCH_SIZE);
            return Ok(Pass::Delivered);
        }
        shard.limit = match answer {
            // Bisected: the first half of what failed, on its own.
            Err(_) => records.len().div_ceil(2).max(1),
            Ok(_) => BATCH_SIZE,
        };
        let from = Position::At(&numbers[failed]);
        shard.iterator = Some(self.iterator(stream, &shard.id, from).await?);
        Ok(Pass::Delivered)
    }

    /// What Lambda sends the on-failure destination of a stream mapping: where the records are.
    fn dead_letter(&self, stream: &str, shard: &str, records: &[Value], attempts: u32) {
        let sequence = |r: &Value| r["dynamodb"]["SequenceNumber"].clone();
        let arrival = |r: &Value| {
            let at = r["dynamodb"]["ApproximateCreationDateTime"]
                .as_f64()
                .unwrap_or_default();
            json!(shared::domain::rfc3339(at as i64))
        };
        let (first, last) = (&records[0], &records[records.len() - 1]);
        let letter = json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": "publish-order-events",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": null },
            "version": "1.0",
            "timestamp": shared::domain::now_rfc3339(),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": sequence(first),
                "endSequenceNumber": sequence(last),
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": records.len(),
                "streamArn": stream,
            },
        });
        if let Some(file) = &self.dead_letter_file {
            use std::io::Write as _;
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            writeln!(out, "{letter}").unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        eprintln!("stream of {}: gave up on a batch: {letter}", self.table);
        self.log.lock().unwrap().dead_letters.push(letter);
    }
}

enum Position<'a> {
    TrimHorizon,
    After(&'a str),
    At(&'a str),
}
