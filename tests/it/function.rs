//! The real `update-log-by-ref` binary as Lambda runs it: a child process polling a loopback
//! Runtime API, with Lambda's environment, talking to DynamoDB Local through `dynamodb_url`.
//! Everything it writes (stdout and stderr) is kept, line by line.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use update_log_by_ref::auth::key_hash;

use crate::proxy::FaultProxy;
use crate::runtime_api::RuntimeApi;
use crate::support::{endpoint, sample_log, Env};

/// What a test of the real binary starts from: a fault proxy in front of DynamoDB Local, fresh
/// tables behind it with a key of organization `acme` and its log `reference_id`, and a Runtime API.
pub struct Setup {
    pub proxy: FaultProxy,
    pub env: Env,
    pub key: String,
    pub api: RuntimeApi,
}

impl Setup {
    pub async fn new(reference_id: &str) -> Self {
        let proxy = FaultProxy::start(endpoint()).await;
        let env = Env::via(&proxy.url).await;
        let key = env.api_key("acme").await;
        env.put_log("acme", sample_log(reference_id)).await;
        let api = RuntimeApi::start().await.expect("runtime API");
        Self {
            proxy,
            env,
            key,
            api,
        }
    }
}

pub struct Function {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Function {
    /// Starts the binary for `api`, on `env`'s tables, with `extra` environment variables.
    pub fn start(api: &RuntimeApi, env: &Env, dynamodb_url: &str, extra: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_update-log-by-ref"))
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "update-log-by-ref")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url)
            .env("LOGS_TABLE_NAME", &env.store.tables().logs)
            .env("API_KEYS_TABLE_NAME", &env.store.tables().api_keys)
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the function");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Whether the process is still running (it has not exited, by itself or aborted).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process and returns every line it wrote.
    pub async fn stop(mut self) -> Vec<String> {
        self.child.start_kill().expect("stop the function");
        let _ = self.child.wait().await;
        // The readers drain what was left in the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

/// Whether a line is an Embedded Metric Format document rather than a log line.
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.get("_aws").is_some())
}

/// Fails if `text` holds any of `keys`, raw or as the hash the keys table stores, or of `others`.
pub fn assert_holds_none(text: &str, keys: &[&str], others: &[&str]) {
    let hashes: Vec<String> = keys.iter().map(|k| key_hash(k.as_bytes())).collect();
    let secrets = keys
        .iter()
        .copied()
        .chain(hashes.iter().map(String::as_str));
    for secret in secrets.chain(others.iter().copied()) {
        assert!(!text.contains(secret), "{secret:?} found in:\n{text}");
    }
}
