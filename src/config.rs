//! Settings read once at start-up: table names from the environment, and the DynamoDB client.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

/// Table names, from `LOGS_TABLE_NAME` and `API_KEYS_TABLE_NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub logs: String,
    pub api_keys: String,
}

impl Tables {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            logs: var("LOGS_TABLE_NAME", "logs"),
            api_keys: var("API_KEYS_TABLE_NAME", "api_keys"),
        }
    }
}

/// The SDK has no operation or attempt timeout by default. These bound one request's DynamoDB time
/// to about 2.5 s (well inside the function's 10 s timeout), leaving room to answer 503 in time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
pub const MAX_ATTEMPTS: u32 = 3;

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_millis(250))
}

/// The function's DynamoDB client settings from the SDK's standard chain (`AWS_REGION`,
/// credentials, `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`), with explicit timeouts and
/// bounded retries. `main` adds the metrics interceptor and builds the client.
pub async fn dynamodb_config() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(&shared_config(timeout_config()).await)
}

/// The operator tool's client: same chain, but patient. Table creation can take seconds, and
/// a retried `CreateTable` whose first attempt did succeed would misreport what happened.
pub async fn admin_client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&shared_config(admin_timeout_config()).await)
}

pub fn admin_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

async fn shared_config(timeouts: TimeoutConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts)
        .retry_config(retry_config())
        // The attempt and operation timeouts already bound every call; the stall detector's
        // wrapper around every response body only costs CPU (see docs/performance.md).
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await
}

/// The roots of Amazon Trust Services (Amazon Root CA 1–4, Starfield Services Root CA G2), which
/// every AWS endpoint's certificate chains to.
const AMAZON_TRUST_SERVICES: &str = include_str!("amazon-trust-services.pem");

/// The SDK's HTTPS client, built to start fast: rustls on `ring`, trusting Amazon's five roots
/// instead of reading and parsing the system's whole bundle (~150 certificates) at start-up.
/// With an HTTPS endpoint override (`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`), which may
/// be served by anyone, the system's roots are trusted as usual.
pub fn http_client() -> SharedHttpClient {
    let trust_store = if https_endpoint_override() {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES.as_bytes())
    };
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("a trust store without extra server names always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https()
}

fn https_endpoint_override() -> bool {
    ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .any(|url| url.trim().to_ascii_lowercase().starts_with("https:"))
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    /// The embedded trust store parses: five certificates, none malformed.
    #[test]
    fn amazon_roots_parse() {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(super::AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
    }
}
