//! API key authentication: hash the presented key, look the hash up, cache the answer briefly.
//!
//! A warm instance answers a repeated key from memory, so a warm request costs one DynamoDB call
//! (the update). A revoked key therefore keeps working on an instance that cached it for at most
//! `POSITIVE_TTL`; an unknown key is re-checked after `NEGATIVE_TTL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
            cache: KeyCache {
                entries: Mutex::new(HashMap::new()),
                positive_ttl,
                negative_ttl,
                capacity,
            },
        }
    }

    /// How many key answers the cache holds now.
    pub fn cached_entries(&self) -> usize {
        self.cache.entries.lock().map_or(0, |e| e.len())
    }

    /// The caller for the `X-API-KEY` value(s) of a request. Missing, unknown, revoked or
    /// ambiguous (several different values) keys are refused.
    pub async fn authenticate(&self, store: &Store, keys: &[&[u8]]) -> Result<Caller, ApiError> {
        let hash = key_hash(presented_key(keys)?);
        let organization = match self.cache.get(&hash) {
            Some(cached) => cached,
            None => {
                let found = store
                    .api_key_organization(&hash)
                    .await?
                    .filter(|org| usable_organization(org));
                self.cache.put(hash, found.clone());
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

struct KeyCache {
    entries: Mutex<HashMap<String, (Option<String>, Instant)>>,
    positive_ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
}

impl KeyCache {
    /// `Some(answer)` for a fresh entry, where the answer is the organization or `None` (rejected).
    fn get(&self, hash: &str) -> Option<Option<String>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(org, _)| org.clone())
    }

    fn put(&self, hash: String, organization: Option<String>) {
        let ttl = if organization.is_some() {
            self.positive_ttl
        } else {
            self.negative_ttl
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, expires)| *expires > now);
            // Still full of live entries (a flood of distinct keys): start over rather than grow.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(hash, (organization, now + ttl));
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

    #[test]
    fn only_organization_ids_that_keep_the_rules_are_usable() {
        assert!(usable_organization("acme"));
        assert!(!usable_organization("acme#x"));
        assert!(!usable_organization(""));
    }
}
