//! Settings read once at start-up: table names from the environment, and the DynamoDB client.

use std::time::Duration;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::region::ProvideRegion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::env_config::EnvConfigValue;
use aws_sdk_dynamodb::config::{SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_types::os_shim_internal::Env;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

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

/// The function's DynamoDB client settings, from what Lambda gives every function: the region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`) and the SDK's standard endpoint variables (`AWS_ENDPOINT_URL_DYNAMODB` /
/// `AWS_ENDPOINT_URL`), with explicit timeouts and bounded retries. The rest of the SDK's default
/// chain (profile files, SSO, web identity through STS, ECS, IMDS) is never used on Lambda, and
/// leaving it out keeps it out of the function's binary (docs/performance.md). `main` adds the
/// metrics interceptor and builds the client.
pub async fn dynamodb_config() -> aws_sdk_dynamodb::config::Builder {
    let lambda = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new().region().await)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .service_config(EnvironmentEndpoints)
        .http_client(http_client());
    aws_sdk_dynamodb::config::Builder::from(&with_settings(lambda, timeout_config()))
}

/// The operator tool's client: the SDK's whole default chain (an operator's profile, SSO, …), and
/// patient. Table creation can take seconds, and a retried `CreateTable` whose first attempt did
/// succeed would misreport what happened.
pub async fn admin_client() -> aws_sdk_dynamodb::Client {
    // The chain's own providers (STS, ECS, IMDS) reach the network through the same client.
    let chain = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&with_settings(chain.into_builder(), admin_timeout_config()))
}

pub fn admin_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

/// The settings both clients share beside their HTTP client, which each caller sets once.
fn with_settings(config: aws_types::sdk_config::Builder, timeouts: TimeoutConfig) -> SdkConfig {
    config
        .timeout_config(timeouts)
        .retry_config(retry_config())
        // The attempt and operation timeouts already bound every call; the stall detector's
        // wrapper around every response body only costs CPU (see docs/performance.md).
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build()
}

/// The SDK's own lookup of an endpoint override (`AWS_ENDPOINT_URL_<SERVICE>`, then
/// `AWS_ENDPOINT_URL`), from the environment alone: a function has no profile files.
#[derive(Debug)]
struct EnvironmentEndpoints;

impl LoadServiceConfig for EnvironmentEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        EnvConfigValue::new()
            .env(key.env())
            .service_id(key.service_id())
            .load(&Env::real(), None)
            .map(|(value, _)| value.into_owned())
    }
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
