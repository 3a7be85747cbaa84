//! `logs-admin`: the operator's tool for the tables behind update-log-by-ref.
//! Uses the same table and endpoint settings as the function (`LOGS_TABLE_NAME`, `AWS_*`).

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use update_log_by_ref::auth::key_hash;
use update_log_by_ref::config::{admin_client, Tables};
use update_log_by_ref::model::{
    organization_id_problem, reference_id_problem, timestamp_now, Log, ObservabilityStatus,
};
use update_log_by_ref::store::{AdminError, Store, TableStatus};

#[derive(Parser)]
#[command(version, about = "Operate the tables behind update-log-by-ref")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the logs and API keys tables (idempotent).
    CreateTables,
    /// Create an API key for an organization; prints the raw key once (only its hash is stored).
    CreateApiKey {
        #[arg(long)]
        organization: String,
        /// Register this raw key instead of a random one (fixtures and local development).
        #[arg(long)]
        key: Option<String>,
    },
    /// Revoke an API key (give the raw key).
    RevokeApiKey { key: String },
    /// Write a log from LogResponse-shaped JSON (a file, or `-`/nothing for stdin).
    /// `id`, `created_at`, `updated_at` and `observability_status` are filled when absent.
    /// A log it replaces is gone whole; the new one continues its version sequence, so the old
    /// log's ETags never match it. Its version goes to stderr.
    PutLog {
        #[arg(long)]
        organization: String,
        /// When the log expires, in epoch seconds: DynamoDB's TTL deletes it some time after,
        /// and the function refuses to update it (404) from that second on.
        #[arg(long)]
        expires_at: Option<u64>,
        file: Option<String>,
    },
    /// Print a log as the API would return it; owner and version go to stderr.
    GetLog {
        #[arg(long)]
        organization: String,
        reference_id: String,
    },
    /// Copy every log of an old-layout logs table (partition key `reference_id`) into the logs
    /// table (partition key `log_key`). Safe to rerun: a log already there at the same or a
    /// higher version is skipped. Exits non-zero if any log could not be copied.
    Migrate {
        /// The old-layout table.
        #[arg(long)]
        from: String,
        /// Parallel Scan segments.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=1000))]
        segments: i32,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = Store::new(admin_client().await, Tables::from_env());
    match run(&store, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("logs-admin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(store: &Store, command: Command) -> Result<(), String> {
    let failed = |e: AdminError| e.to_string();
    match command {
        Command::CreateTables => {
            for status in store.create_tables().await.map_err(|e| e.to_string())? {
                match status {
                    TableStatus::Created(t) => println!("created table {t}"),
                    TableStatus::AlreadyExists(t) => println!("table {t} already exists"),
                }
            }
        }
        Command::CreateApiKey { organization, key } => {
            check_organization(&organization)?;
            let key = match key {
                Some(key) if key.trim().is_empty() => return Err("--key must not be empty".into()),
                Some(key) => key,
                None => new_api_key()?,
            };
            store
                .put_api_key(&key_hash(key.as_bytes()), &organization, &timestamp_now())
                .await
                .map_err(failed)?;
            eprintln!("API key for organization {organization:?} (shown once, store it now):");
            println!("{key}");
        }
        Command::RevokeApiKey { key } => {
            store
                .revoke_api_key(&key_hash(key.trim().as_bytes()), &timestamp_now())
                .await
                .map_err(failed)?;
            println!("revoked; instances that cached it refuse it within 60 s");
        }
        Command::PutLog {
            organization,
            expires_at,
            file,
        } => {
            check_organization(&organization)?;
            let log = fill_new_log(read_log(file.as_deref())?)?;
            let version = store
                .put_log(&organization, &log, expires_at)
                .await
                .map_err(failed)?;
            eprintln!("version: {version}");
            println!("{}", to_json(&log.with_spec_defaults()));
        }
        Command::GetLog {
            organization,
            reference_id,
        } => {
            check_organization(&organization)?;
            let stored = store
                .get_log(&organization, &reference_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no log with reference_id {reference_id:?}"))?;
            let expiry = stored
                .expires_at
                .map_or(String::new(), |at| format!("  expires_at: {at}"));
            eprintln!(
                "organization_id: {}  version: {}{expiry}",
                stored.organization_id.as_deref().unwrap_or("<none>"),
                stored.version
            );
            println!("{}", to_json(&stored.log.with_spec_defaults()));
        }
        Command::Migrate { from, segments } => {
            if from == store.tables().logs {
                return Err("--from must name the old table, not the logs table".into());
            }
            let report = store
                .migrate_from(&from, segments)
                .await
                .map_err(|e| e.to_string())?;
            for failure in &report.failures {
                eprintln!("not copied: {failure}");
            }
            println!(
                "copied {}, skipped {}, failed {}",
                report.copied,
                report.skipped,
                report.failures.len()
            );
            if !report.failures.is_empty() {
                return Err(format!("{} logs were not copied", report.failures.len()));
            }
        }
    }
    Ok(())
}

fn check_organization(organization: &str) -> Result<(), String> {
    match organization_id_problem(organization) {
        Some(problem) => Err(format!("--organization {organization:?}: {problem}")),
        None => Ok(()),
    }
}

fn read_log(file: Option<&str>) -> Result<Log, String> {
    let text = match file {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            text
        }
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
    };
    serde_json::from_str(&text).map_err(|e| format!("not a valid Log: {e}"))
}

fn fill_new_log(mut log: Log) -> Result<Log, String> {
    let Some(reference_id) = log.reference_id.as_deref() else {
        return Err("the log needs a reference_id".into());
    };
    if let Some((_, problem)) = reference_id_problem(reference_id) {
        return Err(format!("reference_id: {problem}"));
    }
    let now = timestamp_now();
    if log.id.is_none() {
        log.id = Some(format!("data_{}", random_hex(12)?));
    }
    log.created_at.get_or_insert_with(|| now.clone());
    log.updated_at.get_or_insert(now);
    log.observability_status
        .get_or_insert(ObservabilityStatus::Completed);
    Ok(log)
}

/// 32 random bytes, hex: a key nobody can guess, with a prefix that makes a leaked one findable.
fn new_api_key() -> Result<String, String> {
    Ok(format!("hl_{}", random_hex(32)?))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn to_json(log: &Log) -> String {
    serde_json::to_string_pretty(log).unwrap_or_default()
}
