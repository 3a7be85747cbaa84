//! Concurrent writers on one log, through several handler instances: versions stay exact and
//! `If-Match` lets exactly one writer per version win.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};
use update_log_by_ref::edge::App;
use update_log_by_ref::store::Store;

use crate::support::{client_for, endpoint, sample_log, CallCounter, Env, Event, Source};

const INSTANCES: usize = 6;
const ROUNDS: usize = 10;
const CONTENDERS: usize = 8;
const MIXED_WRITERS: usize = 48;

/// One writer's outcome: who, what it asked for, status, the version in its ETag, the body.
struct Outcome {
    writer: String,
    if_match: Option<u64>,
    status: u16,
    version: u64,
    body: Value,
}

async fn run_concurrently(
    instances: &[Arc<App>],
    key: &str,
    writers: Vec<(String, Option<u64>)>,
) -> Vec<Outcome> {
    let tasks: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, (writer, if_match))| {
            let app = instances[i % instances.len()].clone();
            let source = if i % 2 == 0 {
                Source::HttpV2
            } else {
                Source::RestV1
            };
            let mut event = Event::patch(source)
                .reference("race")
                .key(key)
                .json(json!({ "output": writer, "duration": i as f64 }));
            if let Some(v) = if_match {
                event = event.header("If-Match", &format!("\"{v}\""));
            }
            let req = event.request();
            tokio::spawn(async move {
                let Ok(resp) = app.handle(req).await;
                let etag = resp
                    .headers()
                    .get("etag")
                    .expect("every 200 and 412 has an ETag");
                Outcome {
                    writer,
                    if_match,
                    status: resp.status().as_u16(),
                    version: etag.to_str().unwrap().trim_matches('"').parse().unwrap(),
                    body: serde_json::from_slice(resp.body().as_ref()).unwrap(),
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("no panic"));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_keep_versions_exact() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("race")).await;
    let before = env.stored("acme", "race").await.unwrap();
    let instances: Vec<Arc<App>> = (0..INSTANCES)
        .map(|_| {
            let client = client_for(endpoint(), &CallCounter::default());
            Arc::new(App::new(Store::new(client, env.store.tables().clone())))
        })
        .collect();

    let mut all = Vec::new();
    // Rounds of If-Match writers all holding the current version: exactly one wins each round.
    for round in 0..ROUNDS {
        let current = env.stored("acme", "race").await.unwrap().version;
        let writers = (0..CONTENDERS)
            .map(|c| (format!("round-{round}-{c}"), Some(current)))
            .collect();
        let outcomes = run_concurrently(&instances, &key, writers).await;
        let winners: Vec<_> = outcomes.iter().filter(|o| o.status == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one If-Match winner"
        );
        for o in &outcomes {
            assert_eq!(
                o.version,
                current + 1,
                "round {round}: 200 and 412 both show the new version"
            );
        }
        all.extend(outcomes);
    }
    // Then a free-for-all: plain writers mixed with If-Match writers on versions that may be gone.
    let base = env.stored("acme", "race").await.unwrap().version;
    let writers = (0..MIXED_WRITERS)
        .map(|i| {
            (
                format!("mixed-{i}"),
                (i % 3 == 0).then(|| base + (i / 3 % 8) as u64),
            )
        })
        .collect();
    all.extend(run_concurrently(&instances, &key, writers).await);

    let mut versions = BTreeSet::new();
    let mut if_match_wins = BTreeSet::new();
    let mut last: Option<&Outcome> = None;
    for o in &all {
        match o.status {
            200 => {
                assert!(
                    versions.insert(o.version),
                    "version {} given twice",
                    o.version
                );
                assert_eq!(
                    o.body["output"],
                    o.writer.as_str(),
                    "a 200 shows its own write"
                );
                if let Some(expected) = o.if_match {
                    assert_eq!(
                        o.version,
                        expected + 1,
                        "{} won on its own version",
                        o.writer
                    );
                    assert!(
                        if_match_wins.insert(expected),
                        "two If-Match winners on {expected}"
                    );
                }
                if last.is_none_or(|l| o.version > l.version) {
                    last = Some(o);
                }
            }
            412 => {
                let expected = o.if_match.expect("only If-Match writers get 412");
                assert_ne!(o.version, expected, "a 412 names a different version");
            }
            other => panic!("{}: status {other}: {}", o.writer, o.body),
        }
    }
    let successes = versions.len() as u64;
    assert_eq!(
        versions,
        (1..=successes).collect::<BTreeSet<_>>(),
        "versions are 1..=n"
    );

    let after = env.stored("acme", "race").await.unwrap();
    assert_eq!(
        after.version, successes,
        "version counts the successful updates"
    );
    let last = last.expect("some writer won");
    assert_eq!(
        after.log.output.as_deref(),
        last.body["output"].as_str(),
        "final state is the last write"
    );
    assert_eq!(after.log.duration, last.body["duration"].as_f64());
    let mut untouched = before.log.clone();
    untouched.output = after.log.output.clone();
    untouched.duration = after.log.duration;
    untouched.updated_at = after.log.updated_at.clone();
    assert_eq!(after.log, untouched, "no field written by nobody changed");
    eprintln!(
        "race: {} requests on {INSTANCES} instances: {successes} x 200 ({} If-Match winners), {} x 412, final version {}",
        all.len(),
        if_match_wins.len(),
        all.len() as u64 - successes,
        after.version
    );
}
