//! Exactly-once updates. Every update stores a token naming the request that made it, and its
//! condition refuses a token the log already carries, so a retried `UpdateItem` (the SDK's, or
//! the client's with the same `Idempotency-Key`) is recognised instead of applied twice.
//!
//! The log remembers its latest request (`request_token`, `request_digest`). An update with
//! `If-Match` naming one version also leaves a fingerprint in the slot of the version it makes
//! (`rr0` … `rr15`, version mod 16), so its landing is still recognised after up to 15 later
//! versions: a retry after a concurrent writer is a replay, not a false 412.

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::model::{LogUpdate, RequestMark};

/// Idempotency keys: 1 to 255 printable ASCII characters.
pub const MAX_KEY_CHARS: usize = 255;
/// Slots of the version ring.
pub const RING_SLOTS: u64 = 16;

/// The token and digest one request stores with its update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestToken {
    mark: RequestMark,
}

impl RequestToken {
    /// For `Idempotency-Key: key`: the same key gives the same token, so a client's retry is
    /// recognised. Tokens are hashes: keys are the client's text and stay out of the table.
    pub fn for_key(key: &str, update: &LogUpdate) -> Self {
        Self::with_token(format!("k{}", hex_prefix(key.as_bytes(), 16)), update)
    }

    /// For a request without a key: unique, so only the SDK's own retries share it.
    pub fn random(update: &LogUpdate) -> Result<Self, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Internal(format!("no randomness for a request token: {e}")))?;
        Ok(Self::with_token(format!("r{}", hex::encode(bytes)), update))
    }

    fn with_token(token: String, update: &LogUpdate) -> Self {
        // Serializing the validated update cannot fail; its JSON is canonical (fields in order).
        let json = serde_json::to_vec(update).unwrap_or_default();
        Self {
            mark: RequestMark {
                token,
                digest: hex_prefix(&json, 16),
            },
        }
    }

    pub fn mark(&self) -> &RequestMark {
        &self.mark
    }

    /// What the version ring holds for this request: token and digest in 8 bytes of hash, so a
    /// same-key request with another body never matches.
    pub fn fingerprint(&self) -> String {
        let both = format!("{}:{}", self.mark.token, self.mark.digest);
        hex_prefix(both.as_bytes(), 8)
    }
}

/// The ring attribute of the request that made `version`.
pub fn ring_attribute(version: u64) -> String {
    format!("rr{}", version % RING_SLOTS)
}

fn hex_prefix(data: &[u8], bytes: usize) -> String {
    hex::encode(&Sha256::digest(data)[..bytes])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Change;

    fn update(output: &str) -> LogUpdate {
        LogUpdate {
            output: Change::Set(output.into()),
            ..LogUpdate::default()
        }
    }

    #[test]
    fn a_key_gives_one_token_and_the_body_its_digest() {
        let a = RequestToken::for_key("k-1", &update("x"));
        assert_eq!(a, RequestToken::for_key("k-1", &update("x")));
        let other_body = RequestToken::for_key("k-1", &update("y"));
        assert_eq!(a.mark().token, other_body.mark().token);
        assert_ne!(a.mark().digest, other_body.mark().digest);
        assert_ne!(a.fingerprint(), other_body.fingerprint());
        assert_ne!(
            a.mark().token,
            RequestToken::for_key("k-2", &update("x")).mark().token
        );
    }

    #[test]
    fn random_tokens_differ_and_never_look_like_key_tokens() {
        let (a, b) = (
            RequestToken::random(&update("x")).unwrap(),
            RequestToken::random(&update("x")).unwrap(),
        );
        assert_ne!(a.mark().token, b.mark().token);
        assert!(a.mark().token.starts_with('r'));
        assert!(RequestToken::for_key("r", &update("x"))
            .mark()
            .token
            .starts_with('k'));
    }

    #[test]
    fn the_ring_wraps_every_sixteen_versions() {
        assert_eq!(ring_attribute(3), "rr3");
        assert_eq!(ring_attribute(19), "rr3");
    }
}
