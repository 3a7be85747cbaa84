//! API key authentication: hash the presented key, look the hash up, cache the answer briefly.
//!
//! A warm instance answers a repeated key from memory, so a warm request costs one DynamoDB call
//! (the update). A revoked key therefore keeps working on an instance that cached it for at most
//! `POSITIVE_TTL`; an unknown key is re-checked after `NEGATIVE_TTL`.

use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, UnitWeighter};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::organization_id_problem;
use crate::store::Store;

pub const POSITIVE_TTL: Duration = Duration::from_secs(60);
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);
pub const CACHE_CAPACITY: usize = 1024;

/// Lowercase hex SHA-256 of a raw key: the `key_hash` stored in the API keys table.
pub fn key_hash(raw_key: &[u8]) -> String {
    hex::encode(Sha256::digest(raw_key))
}

/// The caller, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub organization_id: String,
}

pub struct Authenticator {
    cache: KeyCache,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new(POSITIVE_TTL, NEGATIVE_TTL, CACHE_CAPACITY)
    }
}

impl Authenticator {
    pub fn new(positive_ttl: Duration, negative_ttl: Duration, capacity: usize) -> Self {
        Self {
            cache: KeyCache::new(positive_ttl, negative_ttl, capacity),
        }
    }

    /// How many key answers the cache holds now (expired ones included, until replaced or evicted).
    pub fn cached_entries(&self) -> usize {
        self.cache.entries.len()
    }

    /// The caller for the `X-API-KEY` value(s) of a request. Missing, unknown, revoked or
    /// ambiguous (several different values) keys are refused.
    pub async fn authenticate(&self, store: &Store, keys: &[&[u8]]) -> Result<Caller, ApiError> {
        let hash = key_hash(presented_key(keys)?);
        let organization = match self.cache.get(&hash, Instant::now()) {
            Some(cached) => cached,
            None => {
                let found = store
                    .api_key_organization(&hash)
                    .await?
                    .filter(|org| usable_organization(org));
                self.cache.put(hash, found.clone(), Instant::now());
                found
            }
        };
        organization
            .map(|organization_id| Caller { organization_id })
            .ok_or(ApiError::InvalidApiKey)
    }
}

/// The one key of a request's `X-API-KEY` values: none or only blanks is a missing key, several
/// different ones an invalid key (which of them would be a guess).
pub fn presented_key<'k>(keys: &[&'k [u8]]) -> Result<&'k [u8], ApiError> {
    let raw = match keys {
        [] => return Err(ApiError::MissingApiKey),
        [first, rest @ ..] if rest.iter().all(|k| k == first) => *first,
        _ => return Err(ApiError::InvalidApiKey),
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MissingApiKey);
    }
    Ok(raw)
}

/// An organization id outside the rules cannot address its logs safely (a `#` would make its
/// keys collide with another organization's): its keys are refused, and an operator is told.
fn usable_organization(organization_id: &str) -> bool {
    match organization_id_problem(organization_id) {
        None => true,
        Some(problem) => {
            tracing::error!(%problem, "API key refused: its stored organization id is invalid");
            false
        }
    }
}

/// Key answers by key hash, each with its own expiry. Bounded by `capacity` entries; quick_cache's
/// eviction (CLOCK-Pro) admits a new key as cold and keeps a key that is asked for again as hot, so
/// a flood of distinct unknown keys churns the cold entries and leaves the keys in use alone.
struct KeyCache {
    entries: Cache<String, Answer>,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

/// The organization of a key, or `None` (refused), until `expires`.
#[derive(Debug, Clone)]
struct Answer {
    organization: Option<String>,
    expires: Instant,
}

impl KeyCache {
    fn new(positive_ttl: Duration, negative_ttl: Duration, capacity: usize) -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            // One invocation at a time: one shard holds the whole capacity.
            .shards(1)
            .build()
            .expect("capacity and one shard are valid options");
        Self {
            entries: Cache::with_options(
                options,
                UnitWeighter,
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            ),
            positive_ttl,
            negative_ttl,
        }
    }

    /// `Some(answer)` for an entry fresh at `now`, where the answer is the organization or `None`
    /// (refused). An expired entry stays until `put` replaces it, in place.
    fn get(&self, hash: &str, now: Instant) -> Option<Option<String>> {
        self.entries
            .get(hash)
            .filter(|answer| answer.expires > now)
            .map(|answer| answer.organization)
    }

    fn put(&self, hash: String, organization: Option<String>, now: Instant) {
        let ttl = if organization.is_some() {
            self.positive_ttl
        } else {
            self.negative_ttl
        };
        let expires = now + ttl;
        self.entries.insert(
            hash,
            Answer {
                organization,
                expires,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The storage contract: `key_hash` is the lowercase hex SHA-256 of the raw key.
    #[test]
    fn key_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            key_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn one_key_however_often_it_is_sent_and_nothing_else() {
        assert_eq!(presented_key(&[b"k"]).unwrap(), b"k");
        assert_eq!(presented_key(&[b"k", b"k", b"k"]).unwrap(), b"k");
        assert_eq!(presented_key(&[b" k "]).unwrap(), b" k ");
        let blank: &[u8] = b" \t";
        for missing in [&[][..], &[&b""[..]], &[blank], &[blank, blank]] {
            assert!(
                matches!(presented_key(missing), Err(ApiError::MissingApiKey)),
                "{missing:?}"
            );
        }
        let (a, b, empty): (&[u8], &[u8], &[u8]) = (b"a", b"b", b"");
        for ambiguous in [&[a, b][..], &[a, a, b], &[a, empty]] {
            assert!(
                matches!(presented_key(ambiguous), Err(ApiError::InvalidApiKey)),
                "{ambiguous:?}"
            );
        }
    }

    fn cache(capacity: usize) -> KeyCache {
        KeyCache::new(Duration::from_secs(60), Duration::from_secs(5), capacity)
    }

    #[test]
    fn accepted_keys_are_cached_for_the_positive_ttl_refused_ones_for_the_negative() {
        let cache = cache(16);
        let now = Instant::now();
        cache.put("good".into(), Some("acme".into()), now);
        cache.put("bad".into(), None, now);
        assert_eq!(cache.get("good", now), Some(Some("acme".into())));
        assert_eq!(cache.get("bad", now), Some(None));
        assert_eq!(cache.get("unseen", now), None);
        let later = now + Duration::from_secs(5);
        assert_eq!(cache.get("bad", later), None);
        assert_eq!(cache.get("good", later), Some(Some("acme".into())));
        let expired = now + Duration::from_secs(60);
        assert_eq!(cache.get("good", expired), None);
        // A fresh answer replaces the expired one: a revoked key is refused from then on.
        cache.put("good".into(), None, expired);
        assert_eq!(cache.get("good", expired), Some(None));
        assert_eq!(cache.entries.len(), 2);
    }

    #[test]
    fn the_cache_keeps_to_its_capacity() {
        let cache = cache(8);
        let now = Instant::now();
        for i in 0..100 {
            cache.put(format!("k{i}"), None, now);
            assert!(cache.entries.len() <= 8);
        }
    }

    /// A flood of distinct unknown keys, each asked for once, between requests of a key in use:
    /// the key in use is never pushed out.
    #[test]
    fn a_flood_of_unknown_keys_leaves_the_key_in_use_cached() {
        let cache = cache(CACHE_CAPACITY);
        let now = Instant::now();
        cache.put("valid".into(), Some("acme".into()), now);
        for i in 0..10 * CACHE_CAPACITY {
            if cache.get(&format!("unknown-{i}"), now).is_none() {
                cache.put(format!("unknown-{i}"), None, now);
            }
            if i % 50 == 0 {
                assert_eq!(
                    cache.get("valid", now),
                    Some(Some("acme".into())),
                    "after {i}"
                );
            }
        }
        // A key that arrives while the flood is on: its first fetch and at most one more.
        let mut fetched = 0;
        for i in 0..10 * CACHE_CAPACITY {
            cache.put(format!("later-{i}"), None, now);
            if i % 50 == 0 && cache.get("second", now).is_none() {
                fetched += 1;
                cache.put("second".into(), Some("acme".into()), now);
            }
        }
        assert!(fetched <= 2, "fetched {fetched} times");
    }

    #[test]
    fn only_organization_ids_that_keep_the_rules_are_usable() {
        assert!(usable_organization("acme"));
        assert!(!usable_organization("acme#x"));
        assert!(!usable_organization(""));
    }
}
