//! `logs-admin migrate`: an old-layout table (partition key `reference_id`) copied into the
//! current one (`log_key`), with its counts, a rerun, a run beside live updates, and a run
//! interrupted half-way and resumed.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::json;
use update_log_by_ref::auth::key_hash;
use update_log_by_ref::config::Tables;
use update_log_by_ref::edge::App;
use update_log_by_ref::model::{log_key, Item};
use update_log_by_ref::store::Store;

use crate::admin_cli::Admin;
use crate::proxy::{Fault, FaultProxy};
use crate::support::{client_for, endpoint, patient_client, unique, CallCounter, Event, Source};

const GOOD_LOGS: usize = 3000;
const ORGS: [&str; 3] = ["acme", "globex", "initech"];

/// An old-layout table with `GOOD_LOGS` logs across three organizations (versions absent or
/// 1–4, fields of every type) and three that cannot be copied. Returns its name and the logs.
async fn old_table() -> (String, Vec<Item>) {
    let name = unique("old-logs");
    let store = Store::new(
        patient_client(),
        Tables {
            logs: name.clone(),
            api_keys: unique("unused"),
        },
    );
    store
        .create_table(&name, "reference_id")
        .await
        .expect("old table");
    let s = |v: &str| AttributeValue::S(v.into());
    let mut logs: Vec<Item> = (0..GOOD_LOGS)
        .map(|i| {
            let mut item = HashMap::from([
                ("reference_id".to_owned(), s(&format!("ref-{i}"))),
                ("organization_id".to_owned(), s(ORGS[i % ORGS.len()])),
                ("id".to_owned(), s(&format!("data_{i}"))),
                ("output".to_owned(), s(&format!("output {i}"))),
                ("duration".to_owned(), AttributeValue::N(format!("{i}.5"))),
                (
                    "inputs".to_owned(),
                    AttributeValue::M(HashMap::from([(
                        "n".into(),
                        AttributeValue::N(i.to_string()),
                    )])),
                ),
                ("save".to_owned(), AttributeValue::Bool(i % 2 == 0)),
            ]);
            if i % 5 != 0 {
                item.insert("version".into(), AttributeValue::N((i % 5).to_string()));
            }
            item
        })
        .collect();
    let bad = [
        HashMap::from([("reference_id".to_owned(), s("no-owner"))]),
        HashMap::from([
            ("reference_id".to_owned(), s("hash-owner")),
            ("organization_id".to_owned(), s("bad#org")),
        ]),
        HashMap::from([
            ("reference_id".to_owned(), s("empty-owner")),
            ("organization_id".to_owned(), s("")),
        ]),
    ];
    let client = patient_client();
    for chunk in logs.iter().chain(&bad).collect::<Vec<_>>().chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some((*item).clone()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut pending = HashMap::from([(name.clone(), writes)]);
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .expect("seed the old table");
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, w| !w.is_empty());
        }
    }
    logs.sort_by_key(|item| item["reference_id"].as_s().unwrap().clone());
    (name, logs)
}

/// A fresh current-layout logs table, and logs-admin on it.
fn new_tables(admin_endpoint: &str) -> Admin {
    let mut admin = Admin::new(Tables {
        logs: unique("new-logs"),
        api_keys: unique("new-keys"),
    });
    admin.ok(&["create-tables"], None);
    admin.endpoint = admin_endpoint.to_owned();
    admin
}

/// Every item of `table`, by log_key.
async fn items(table: &str) -> HashMap<String, Item> {
    let client = patient_client();
    let mut all = HashMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items.unwrap_or_default() {
            all.insert(item["log_key"].as_s().unwrap().clone(), item);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return all;
        }
    }
}

/// Each old log is in the new table: the same attributes plus its `log_key`.
async fn assert_copied(table: &str, old: &[Item]) {
    let new = items(table).await;
    assert_eq!(new.len(), old.len(), "exactly the copyable logs");
    for item in old {
        let key = log_key(
            item["organization_id"].as_s().unwrap(),
            item["reference_id"].as_s().unwrap(),
        );
        let mut want = item.clone();
        want.insert("log_key".into(), AttributeValue::S(key.clone()));
        assert_eq!(new.get(&key), Some(&want), "{key}");
    }
}

fn migrate(admin: &Admin, old: &str) -> (bool, String, String) {
    let out = admin.run(&["migrate", "--from", old], None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn migrate_copies_counts_reruns_and_never_overwrites_a_newer_log() {
    let (old, logs) = old_table().await;
    let admin = new_tables(endpoint());

    let (ok, counts, stderr) = migrate(&admin, &old);
    assert!(!ok, "three logs could not be copied: exit non-zero");
    assert_eq!(
        counts,
        format!("copied {GOOD_LOGS}, skipped 0, failed 3"),
        "{stderr}"
    );
    for why in ["no organization_id", "\"hash-owner\"", "\"empty-owner\""] {
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    assert_copied(&admin.tables.logs, &logs).await;

    // A rerun copies nothing again.
    let (_, counts, _) = migrate(&admin, &old);
    assert_eq!(counts, format!("copied 0, skipped {GOOD_LOGS}, failed 3"));

    // Live traffic on the new table, and a late write on the old one: a rerun keeps the newer
    // log of each and copies only the old table's newer one.
    let app = App::new(Store::new(
        client_for(endpoint(), &CallCounter::default()),
        admin.tables.clone(),
    ));
    let key = "migrate-live-key";
    app.store
        .put_api_key(&key_hash(key.as_bytes()), "acme", "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    let Ok(resp) = app
        .handle(
            Event::patch(Source::HttpV2)
                .reference("ref-3")
                .key(key)
                .json(json!({"output": "live"}))
                .request(),
        )
        .await;
    assert_eq!(resp.status(), 200, "ref-3 is acme's");
    let live = items(&admin.tables.logs).await["acme#ref-3"].clone();
    patient_client()
        .update_item()
        .table_name(&old)
        .key("reference_id", AttributeValue::S("ref-6".into()))
        .update_expression("SET #o = :o, #v = :v")
        .expression_attribute_names("#o", "output")
        .expression_attribute_names("#v", "version")
        .expression_attribute_values(":o", AttributeValue::S("late".into()))
        .expression_attribute_values(":v", AttributeValue::N("9".into()))
        .send()
        .await
        .unwrap();
    patient_client()
        .update_item()
        .table_name(&old)
        .key("reference_id", AttributeValue::S("ref-3".into()))
        .update_expression("SET #o = :o")
        .expression_attribute_names("#o", "output")
        .expression_attribute_values(":o", AttributeValue::S("stale".into()))
        .send()
        .await
        .unwrap();
    let (_, counts, _) = migrate(&admin, &old);
    assert_eq!(
        counts,
        format!("copied 1, skipped {}, failed 3", GOOD_LOGS - 1)
    );
    let now = items(&admin.tables.logs).await;
    assert_eq!(now["acme#ref-3"], live, "the live update survives");
    assert_eq!(now["acme#ref-6"]["output"].as_s().unwrap(), "late");
}

// Multi-threaded: the proxy must keep serving while this thread waits for logs-admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_where_it_stopped() {
    let (old, logs) = old_table().await;
    let proxy = FaultProxy::start(endpoint()).await;
    let admin = new_tables(&proxy.url);
    let mut child = admin
        .command(&["migrate", "--from", &old])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start migrate");
    // Let a few hundred writes through, then stall DynamoDB and kill the tool mid-run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.requests() < 400 {
        assert!(Instant::now() < deadline, "migrate made no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    proxy.set(Fault::Stall);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running when interrupted"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let done = items(&admin.tables.logs).await.len();
    assert!(
        done > 0 && done < GOOD_LOGS,
        "interrupted half-way: {done} copied"
    );
    proxy.set(Fault::Pass);
    let (_, counts, stderr) = migrate(&admin, &old);
    assert_eq!(
        counts,
        format!("copied {}, skipped {done}, failed 3", GOOD_LOGS - done),
        "{stderr}"
    );
    assert_copied(&admin.tables.logs, &logs).await;
}
