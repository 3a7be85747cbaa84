//! `logs-admin` end to end, as an operator runs it, against DynamoDB Local.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use update_log_by_ref::config::Tables;
use update_log_by_ref::edge::App;
use update_log_by_ref::store::Store;

use crate::support::{client_for, endpoint, unique, CallCounter, Event, SOURCES};

struct Admin {
    tables: Tables,
}

impl Admin {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logs-admin"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("LOGS_TABLE_NAME", &self.tables.logs)
            .env("API_KEYS_TABLE_NAME", &self.tables.api_keys)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run logs-admin");
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "logs-admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "logs-admin {args:?} should fail");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("logs-admin:") || stderr.contains("error"),
            "{stderr}"
        );
        stderr
    }
}

#[tokio::test]
async fn operator_workflow() {
    let admin = Admin {
        tables: Tables {
            logs: unique("admin-logs"),
            api_keys: unique("admin-keys"),
        },
    };
    let out = admin.ok(&["create-tables"], None);
    assert!(
        out.contains(&format!("created table {}", admin.tables.logs)),
        "{out}"
    );
    let out = admin.ok(&["create-tables"], None);
    assert!(out.contains("already exists"), "{out}");

    let key = admin
        .ok(&["create-api-key", "--organization", "acme"], None)
        .trim()
        .to_owned();
    assert!(key.starts_with("hl_") && key.len() > 40, "{key}");
    let other_key = admin
        .ok(&["create-api-key", "--organization", "globex"], None)
        .trim()
        .to_owned();

    let log = json!({"reference_id": "cli-1", "inputs": {"q": 1}, "output": null});
    let printed: Value = serde_json::from_str(&admin.ok(
        &["put-log", "--organization", "acme", "-"],
        Some(&log.to_string()),
    ))
    .unwrap();
    assert!(printed["id"].as_str().unwrap().starts_with("data_"));
    assert_eq!(printed["observability_status"], "completed");
    assert!(printed["created_at"].is_string() && printed["updated_at"].is_string());

    // The function serves what the tool wrote, with the key the tool made.
    let store = Store::new(
        client_for(endpoint(), &CallCounter::default()),
        admin.tables.clone(),
    );
    let app = App::new(store);
    let event = Event::patch(SOURCES[0])
        .reference("cli-1")
        .key(&key)
        .json(json!({"output": "done"}));
    let Ok(resp) = app.handle(event.request()).await;
    assert_eq!(resp.status(), 200);

    let get_acme = ["get-log", "--organization", "acme", "cli-1"];
    let got: Value = serde_json::from_str(&admin.ok(&get_acme, None)).unwrap();
    assert_eq!(got["output"], "done");
    assert_eq!(got["id"], printed["id"]);
    let stderr = String::from_utf8(admin.run(&get_acme, None).stderr).unwrap();
    assert!(
        stderr.contains("organization_id: acme") && stderr.contains("version: 1"),
        "{stderr}"
    );

    // Another organization's log with the same reference id is its own, and leaves acme's be.
    admin.ok(
        &["put-log", "--organization", "globex"],
        Some(&json!({"reference_id": "cli-1", "output": "globex's"}).to_string()),
    );
    let globex: Value =
        serde_json::from_str(&admin.ok(&["get-log", "--organization", "globex", "cli-1"], None))
            .unwrap();
    assert_eq!(globex["output"], "globex's");
    let acme: Value = serde_json::from_str(&admin.ok(&get_acme, None)).unwrap();
    assert_eq!(acme, got);
    // Invalid input is refused with a clear message.
    let err = admin.fails(
        &["put-log", "--organization", "acme"],
        Some("{\"reference_id\": \"x\", \"tokens\": \"many\"}"),
    );
    assert!(err.contains("not a valid Log"), "{err}");
    admin.fails(
        &["put-log", "--organization", "acme"],
        Some("{\"output\": \"no reference\"}"),
    );
    admin.fails(
        &["put-log", "--organization", "acme", "/no/such/file.json"],
        None,
    );
    admin.fails(&["get-log", "--organization", "acme", "no-such-ref"], None);
    admin.fails(&["get-log", "--organization", "initech", "cli-1"], None);

    admin.ok(&["revoke-api-key", &key], None);
    admin.fails(&["revoke-api-key", "hl_never_issued"], None);
    let fresh = App::new(Store::new(
        client_for(endpoint(), &CallCounter::default()),
        admin.tables.clone(),
    ));
    let Ok(resp) = fresh
        .handle(
            Event::patch(SOURCES[1])
                .reference("cli-1")
                .key(&key)
                .request(),
        )
        .await;
    assert_eq!(resp.status(), 401, "revoked key is refused");
    let Ok(resp) = fresh
        .handle(
            Event::patch(SOURCES[1])
                .reference("cli-1")
                .key(&other_key)
                .json(json!({"output": "globex again"}))
                .request(),
        )
        .await;
    assert_eq!(resp.status(), 200, "globex updates its own cli-1");
    let acme_after: Value = serde_json::from_str(&admin.ok(&get_acme, None)).unwrap();
    assert_eq!(acme_after, got, "acme's cli-1 is untouched");
}

/// Organization ids are 1 to 64 bytes of `A-Z a-z 0-9 _ . : -`, wherever the tool takes one.
#[tokio::test]
async fn organization_ids_outside_the_rules_are_refused_everywhere() {
    let admin = Admin {
        tables: Tables {
            logs: unique("org-logs"),
            api_keys: unique("org-keys"),
        },
    };
    admin.ok(&["create-tables"], None);
    let longest = "o".repeat(64);
    for good in ["acme", "A-z_0.9:x", longest.as_str()] {
        admin.ok(&["create-api-key", "--organization", good], None);
        admin.ok(
            &["put-log", "--organization", good],
            Some(r#"{"reference_id": "r"}"#),
        );
        admin.ok(&["get-log", "--organization", good, "r"], None);
    }
    let too_long = "o".repeat(65);
    for bad in ["", "a#b", "acme ", "café", "a/b", too_long.as_str()] {
        for args in [
            vec!["create-api-key", "--organization", bad],
            vec!["put-log", "--organization", bad],
            vec!["get-log", "--organization", bad, "r"],
        ] {
            let err = admin.fails(&args, Some(r#"{"reference_id": "r"}"#));
            assert!(err.contains("organization id"), "{args:?}: {err}");
        }
    }
}
