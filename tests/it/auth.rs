//! 401s, key lookup, the key cache and revocation.

use std::time::Duration;

use serde_json::json;
use update_log_by_ref::auth::{key_hash, Authenticator, CACHE_CAPACITY};
use update_log_by_ref::edge::App;

use crate::proxy::FaultProxy;
use crate::support::{capture_logs, endpoint, sample_log, Env, Event, Source, SOURCES};

#[tokio::test]
async fn missing_unknown_and_revoked_keys_get_401_before_anything_else() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    let revoked = env.api_key("acme").await;
    env.store
        .revoke_api_key(&key_hash(revoked.as_bytes()), "2026-01-02T00:00:00Z")
        .await
        .unwrap();
    env.put_log("acme", sample_log("a")).await;
    let before = env.stored("acme", "a").await.unwrap();
    for source in SOURCES {
        let cases: [(Option<&str>, &str); 5] = [
            (None, "missing"),
            (Some(""), "empty"),
            (Some("hl_not-a-key"), "unknown"),
            (Some(&revoked), "revoked"),
            (
                Some(&key_hash(key.as_bytes())),
                "the hash instead of the key",
            ),
        ];
        for (presented, what) in cases {
            // A bad body and no reference_id: auth must still be what answers.
            let mut event = Event::patch(source).body("{not json");
            if let Some(k) = presented {
                event = event.key(k);
            }
            let (status, body, _) = env.send(event.request()).await;
            assert_eq!(status, 401, "{what}: {body}");
            assert!(body["detail"].is_string(), "{what}: {body}");
            // Valid request otherwise: still 401, nothing changes.
            let mut event = Event::patch(source)
                .reference("a")
                .json(json!({"output": "x"}));
            if let Some(k) = presented {
                event = event.key(k);
            }
            assert_eq!(env.send(event.request()).await.0, 401, "{what}");
        }
    }
    assert_eq!(env.stored("acme", "a").await.unwrap(), before);
}

#[tokio::test]
async fn header_name_is_case_insensitive() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("case")).await;
    for source in SOURCES {
        for name in ["X-API-KEY", "x-api-key", "X-Api-Key"] {
            let event = Event::patch(source).reference("case").header(name, &key);
            let (status, body, _) = env.send(event.request()).await;
            assert_eq!(status, 200, "{name}: {body}");
        }
    }
}

#[tokio::test]
async fn two_different_keys_in_one_request_are_refused_where_both_arrive() {
    let env = Env::new().await;
    let acme = env.api_key("acme").await;
    let globex = env.api_key("globex").await;
    env.put_log("acme", sample_log("two")).await;
    let before = env.stored("acme", "two").await.unwrap();
    let event = Event::patch(Source::HttpV2)
        .reference("two")
        .key(&globex)
        .key(&acme);
    assert_eq!(env.send(event.request()).await.0, 401);
    assert_eq!(env.stored("acme", "two").await.unwrap(), before);
    // A REST API hands Lambda only the last value (lambda_http prefers `headers` over
    // `multiValueHeaders`): that key alone decides.
    let event = Event::patch(Source::RestV1)
        .reference("two")
        .key(&globex)
        .key(&acme);
    assert_eq!(env.send(event.request()).await.0, 200);
    let event = Event::patch(Source::RestV1)
        .reference("two")
        .key(&acme)
        .key(&globex);
    assert_eq!(env.send(event.request()).await.0, 404);
}

#[tokio::test]
async fn warm_requests_cost_one_dynamodb_call() {
    let env = Env::new().await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("warm")).await;
    let request = || {
        Event::patch(SOURCES[1])
            .reference("warm")
            .key(&key)
            .json(json!({"output": "x"}))
            .request()
    };
    let start = env.calls.get();
    assert_eq!(env.send(request()).await.0, 200);
    assert_eq!(env.calls.get() - start, 2, "cold: key lookup + update");
    for i in 1..=5 {
        assert_eq!(env.send(request()).await.0, 200);
        assert_eq!(
            env.calls.get() - start,
            2 + i,
            "warm request {i} costs one call"
        );
    }
    // Unknown keys are cached too, so a flood of one bad key does not hammer the table.
    let bad = || {
        Event::patch(SOURCES[1])
            .reference("warm")
            .key("hl_bad")
            .request()
    };
    let start = env.calls.get();
    assert_eq!(env.send(bad()).await.0, 401);
    assert_eq!(env.send(bad()).await.0, 401);
    assert_eq!(env.calls.get() - start, 1);
}

#[tokio::test]
async fn revocation_bites_once_the_cache_entry_expires() {
    let ttl = Duration::from_secs(2);
    let env = Env::with_app(|store| App {
        store,
        auth: Authenticator::new(ttl, ttl, 16),
    })
    .await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("rev")).await;
    let request = || {
        Event::patch(SOURCES[0])
            .reference("rev")
            .key(&key)
            .request()
    };
    assert_eq!(env.send(request()).await.0, 200);
    env.store
        .revoke_api_key(&key_hash(key.as_bytes()), "2026-01-02T00:00:00Z")
        .await
        .unwrap();
    // Within the TTL the cached answer stands (this is the documented revocation delay)...
    assert_eq!(env.send(request()).await.0, 200);
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    // ...after it, the key is refused.
    assert_eq!(env.send(request()).await.0, 401);
}

#[tokio::test]
async fn the_cache_stays_within_its_capacity() {
    let env = Env::with_app(|store| App {
        store,
        auth: Authenticator::new(Duration::from_secs(60), Duration::from_secs(60), 4),
    })
    .await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("cap")).await;
    for i in 0..10 {
        let bad = format!("hl_bad_{i}");
        let event = Event::patch(SOURCES[0]).reference("cap").key(&bad);
        assert_eq!(env.send(event.request()).await.0, 401);
    }
    assert!(env.app.auth.cached_entries() <= 4);
    let event = Event::patch(SOURCES[0]).reference("cap").key(&key);
    assert_eq!(env.send(event.request()).await.0, 200);
}

/// The key cache's eviction: a flood of distinct unknown keys (each a DynamoDB lookup of its
/// own) interleaved with requests of a cached valid key never costs the valid key a lookup. The
/// unknown keys' answers stay fresh throughout (however slow the machine), so the whole flood
/// competes with the valid key for the cache's room.
#[tokio::test]
async fn a_flood_of_unknown_keys_costs_a_cached_key_no_lookup() {
    let proxy = FaultProxy::start(endpoint()).await;
    let ttl = Duration::from_secs(3600);
    let env = Env::via_patient_with_app(&proxy.url, |store| App {
        store,
        auth: Authenticator::new(ttl, ttl, CACHE_CAPACITY),
    })
    .await;
    let key = env.api_key("acme").await;
    env.put_log("acme", sample_log("flood")).await;
    let valid = || {
        Event::patch(Source::HttpV2)
            .reference("flood")
            .key(&key)
            .request()
    };
    proxy.watch(&key_hash(key.as_bytes()));
    assert_eq!(env.send(valid()).await.0, 200);
    assert_eq!(proxy.watched(), 1, "the first request looks the key up");
    let start = proxy.requests();
    for i in 0..3000 {
        let unknown = format!("hl_unknown_{i}");
        let event = Event::patch(Source::HttpV2)
            .reference("flood")
            .key(&unknown);
        assert_eq!(env.send(event.request()).await.0, 401);
        if i % 50 == 49 {
            assert_eq!(env.send(valid()).await.0, 200);
        }
    }
    assert_eq!(proxy.watched(), 1, "the valid key was looked up again");
    // Each unknown key was looked up once, each valid request made one update.
    assert_eq!(proxy.requests() - start, 3000 + 60);
}

/// A key whose stored organization id breaks the rules (a `#` would let its log keys collide
/// with another organization's) is refused, and the operator is told why.
#[tokio::test]
async fn a_key_of_an_invalid_organization_id_is_refused() {
    let env = Env::new().await;
    let victim = env.api_key("acme").await;
    env.put_log("acme", sample_log("x#y")).await;
    let before = env.stored("acme", "x#y").await.unwrap();
    // "acme#x" + "#" + "y" would address acme's "x#y".
    let forged = "forged-key-of-acme#x";
    env.store
        .put_api_key(
            &key_hash(forged.as_bytes()),
            "acme#x",
            "2026-01-01T00:00:00Z",
        )
        .await
        .unwrap();
    let (resp, logs) = capture_logs(
        env.send(
            Event::patch(Source::HttpV2)
                .reference("y")
                .key(forged)
                .json(json!({"output": "forged"}))
                .request(),
        ),
    )
    .await;
    assert_eq!(resp.0, 401, "{}", resp.1);
    assert!(logs.contains("organization id is invalid"), "{logs}");
    assert!(!logs.contains(forged), "{logs}");
    assert_eq!(env.stored("acme", "x#y").await.unwrap(), before);
    // The acme key itself still works on it.
    let (status, _, _) = env
        .send(
            Event::patch(Source::HttpV2)
                .reference("x#y")
                .key(&victim)
                .request(),
        )
        .await;
    assert_eq!(status, 200);
}
