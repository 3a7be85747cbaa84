//! Exactly-once updates. Every update stores a token naming the request that made it, and its
//! condition refuses a token the log already carries, so a retried `UpdateItem` (the SDK's, or
//! the client's with the same `Idempotency-Key`) is recognised instead of applied twice.
//!
//! The log remembers its latest request (`request_token`, `request_digest`). An update with
//! `If-Match` naming one version also leaves a fingerprint in the slot of the version it makes
//! (`rr0` … `rr31`, version mod 32), so its landing is still recognised after up to 31 later
//! versions: a retry after concurrent writers is a replay, not a false 412.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::model::{Change, LogUpdate, Precondition, RequestMark};

/// Idempotency keys: 1 to 255 printable ASCII characters.
pub const MAX_KEY_CHARS: usize = 255;
/// Slots of the version ring.
pub const RING_SLOTS: u64 = 32;

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
        Self {
            mark: RequestMark {
                token,
                digest: hex_prefix(&canonical_form(update), 16),
            },
        }
    }

    pub fn mark(&self) -> &RequestMark {
        &self.mark
    }

    /// What the version ring holds for this request: token and digest in 6 bytes of hash (small,
    /// as every slot adds to the item's size and write cost), so a same-key request with another
    /// body does not match.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.mark.token, &self.mark.digest)
    }

    /// Whether a stored digest is this request's (whose update is `update`), in any form this
    /// build knows. The earlier form is computed only when the current one does not match.
    fn is_own_digest(&self, digest: &str, update: &LogUpdate) -> bool {
        digest == self.mark.digest || digest == digest_v0(update)
    }

    /// Whether a ring entry is this request's fingerprint, in any form this build knows.
    fn is_own_fingerprint(&self, entry: &str, update: &LogUpdate) -> bool {
        entry == self.fingerprint() || entry == fingerprint(&self.mark.token, &digest_v0(update))
    }
}

fn fingerprint(token: &str, digest: &str) -> String {
    hex_prefix(format!("{token}:{digest}").as_bytes(), 6)
}

/// The first line of the canonical form, naming its version. The digest is what tells a retry
/// from a reused key, across deploys too: a new form gets a new version, and
/// `after_failed_condition` must then also accept the digests of the forms before it.
const CANONICAL_FORM_V1: &str = "update-log-by-ref request v1\n";

/// What a request asks, spelled one way only: the version line, then one line per field it sets
/// or clears, in a fixed order (`output`, `error`, `duration`); a field it leaves alone has no
/// line. Strings carry their length in bytes, so no content can pass for another field; numbers
/// are the shortest exponent form that reads back as the same `f64` (`1.5e0`).
pub fn canonical_form(update: &LogUpdate) -> Vec<u8> {
    fn line<T>(form: &mut Vec<u8>, name: &str, change: &Change<T>, value: impl Fn(&T) -> Vec<u8>) {
        match change {
            Change::Keep => return,
            Change::Clear => form.extend_from_slice(format!("{name} clear").as_bytes()),
            Change::Set(v) => {
                form.extend_from_slice(format!("{name} set ").as_bytes());
                form.extend_from_slice(&value(v));
            }
        }
        form.push(b'\n');
    }
    let text = |s: &String| [format!("{}:", s.len()).as_bytes(), s.as_bytes()].concat();
    let mut form = CANONICAL_FORM_V1.as_bytes().to_vec();
    line(&mut form, "output", &update.output, text);
    line(&mut form, "error", &update.error, text);
    line(&mut form, "duration", &update.duration, |d| {
        format!("{d:e}").into_bytes()
    });
    form
}

/// The form before v1: the JSON that serde wrote of the validated update, every field tagged
/// (`{"output":"Keep","error":"Clear","duration":{"Set":1.5}}`). Logs that earlier builds updated
/// carry its digests; they stay recognised, so a retry across the deploy is still a replay.
fn form_v0(update: &LogUpdate) -> Vec<u8> {
    fn tagged<T>(change: &Change<T>, value: impl Fn(&T) -> Value) -> String {
        match change {
            Change::Keep => "\"Keep\"".into(),
            Change::Clear => "\"Clear\"".into(),
            Change::Set(v) => format!("{{\"Set\":{}}}", value(v)),
        }
    }
    let text = |s: &String| Value::from(s.as_str());
    format!(
        "{{\"output\":{},\"error\":{},\"duration\":{}}}",
        tagged(&update.output, text),
        tagged(&update.error, text),
        tagged(&update.duration, |d| Value::from(*d)),
    )
    .into_bytes()
}

fn digest_v0(update: &LogUpdate) -> String {
    hex_prefix(&form_v0(update), 16)
}

/// The ring attribute of the request that made `version`.
pub fn ring_attribute(version: u64) -> String {
    format!("rr{}", version % RING_SLOTS)
}

/// The ring attribute an update writes: only an `If-Match` naming one version knows the version
/// it makes.
pub fn ring_slot(precondition: &Precondition) -> Option<String> {
    match precondition {
        Precondition::OneOf(versions) => match versions.as_slice() {
            [expected] => Some(ring_attribute(expected.wrapping_add(1))),
            _ => None,
        },
        _ => None,
    }
}

/// What the log held when it refused an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusing<'a> {
    /// Whether it had expired: gone to its callers, though DynamoDB deletes it only eventually.
    pub expired: bool,
    /// The request that made its current version (none if a whole-item writer made it).
    pub last_request: Option<&'a RequestMark>,
    /// Its entry in the ring slot of the request's precondition (`ring_slot`), if any.
    pub ring_entry: Option<&'a str>,
}

/// What a failed update condition means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No log has this reference id (for this organization), or it has expired.
    NotFound,
    /// An earlier attempt of this very request landed: answer as if this one had.
    Replay,
    /// The request's `Idempotency-Key` made the current version with another body.
    KeyReused,
    /// The log is not at a version `If-Match` names, and this request did not make it so.
    PreconditionFailed,
}

/// The decision after DynamoDB refused an update's condition, from the log it returned (`None`:
/// there was none), for the request of this token and update. Its latest request settles it
/// first; a slot of the ring can only prove a landing that other writers have since covered.
pub fn after_failed_condition(
    log: Option<Refusing<'_>>,
    request: &RequestToken,
    update: &LogUpdate,
    precondition: &Precondition,
) -> Verdict {
    // An expired log is not shown, neither by a replay nor by a 412's ETag.
    let Some(log) = log.filter(|log| !log.expired) else {
        return Verdict::NotFound;
    };
    match log.last_request {
        Some(last)
            if last.token == request.mark.token && request.is_own_digest(&last.digest, update) =>
        {
            Verdict::Replay
        }
        Some(last) if last.token == request.mark.token => Verdict::KeyReused,
        _ if ring_slot(precondition).is_some()
            && log
                .ring_entry
                .is_some_and(|entry| request.is_own_fingerprint(entry, update)) =>
        {
            Verdict::Replay
        }
        _ => Verdict::PreconditionFailed,
    }
}

fn hex_prefix(data: &[u8], bytes: usize) -> String {
    hex::encode(&Sha256::digest(data)[..bytes])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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

    /// A retry after a deploy must meet the digest its first attempt stored: a change here is a
    /// new canonical form version, never an edit of this one.
    #[test]
    fn a_known_request_keeps_its_canonical_form_and_digest() {
        let request = LogUpdate {
            output: Change::Set("héllo\nerror clear".into()),
            error: Change::Clear,
            duration: Change::Set(1.5),
        };
        assert_eq!(
            String::from_utf8(canonical_form(&request)).unwrap(),
            "update-log-by-ref request v1\noutput set 18:héllo\nerror clear\nerror clear\nduration set 1.5e0\n"
        );
        let token = RequestToken::for_key("retry-1", &request);
        assert_eq!(digest_v0(&request), "70ba655c542b3031edf3726c616a271b");
        assert!(token.is_own_fingerprint("df16f9cdad9a", &request));
        assert_eq!(token.mark().token, "k3998fbdb8d844aa01d03de09b39b7b08");
        assert_eq!(token.mark().digest, "f830625780ee0b19f45edb655b0c9ff9");
        assert_eq!(token.fingerprint(), "042ed78ea550");
        assert_eq!(
            String::from_utf8(canonical_form(&LogUpdate::default())).unwrap(),
            "update-log-by-ref request v1\n"
        );
    }

    fn change<T: std::fmt::Debug + Clone>(
        set: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Change<T>> {
        prop_oneof![
            Just(Change::Keep),
            Just(Change::Clear),
            set.prop_map(Change::Set)
        ]
    }

    fn log_update() -> impl Strategy<Value = LogUpdate> {
        (
            change(any::<String>()),
            change(any::<String>()),
            change(0.0..1e125f64),
        )
            .prop_map(|(output, error, duration)| LogUpdate {
                output,
                error,
                duration,
            })
    }

    /// The update types whose serde JSON the v0 form was, as they were declared.
    #[derive(serde::Serialize)]
    enum V0Change<T> {
        Keep,
        Clear,
        Set(T),
    }

    #[derive(serde::Serialize)]
    struct V0LogUpdate {
        output: V0Change<String>,
        error: V0Change<String>,
        duration: V0Change<f64>,
    }

    fn v0<T: Clone>(change: &Change<T>) -> V0Change<T> {
        match change {
            Change::Keep => V0Change::Keep,
            Change::Clear => V0Change::Clear,
            Change::Set(v) => V0Change::Set(v.clone()),
        }
    }

    #[test]
    fn a_request_recognises_its_digest_and_fingerprint_of_either_form() {
        let request = RequestToken::for_key("k", &update("x"));
        let stored_v0 = RequestMark {
            token: request.mark().token.clone(),
            digest: digest_v0(&update("x")),
        };
        let log = refusing(Some(&stored_v0), None);
        assert_eq!(
            after_failed_condition(log, &request, &update("x"), &Precondition::None),
            Verdict::Replay
        );
        let entry = fingerprint(&request.mark().token, &digest_v0(&update("x")));
        let later = RequestToken::for_key("later", &update("z"));
        let log = refusing(Some(later.mark()), Some(&entry));
        assert_eq!(
            after_failed_condition(log, &request, &update("x"), &Precondition::OneOf(vec![1])),
            Verdict::Replay
        );
        let other_body = RequestToken::for_key("k", &update("y"));
        let stored_v0 = RequestMark {
            token: other_body.mark().token.clone(),
            digest: digest_v0(&update("y")),
        };
        let log = refusing(Some(&stored_v0), None);
        assert_eq!(
            after_failed_condition(log, &request, &update("x"), &Precondition::None),
            Verdict::KeyReused
        );
    }

    proptest! {
        /// The v0 form is byte for byte what serde wrote of the update types it came from.
        #[test]
        fn the_v0_form_is_what_earlier_builds_wrote(u in log_update()) {
            let old = V0LogUpdate {
                output: v0(&u.output),
                error: v0(&u.error),
                duration: v0(&u.duration),
            };
            prop_assert_eq!(form_v0(&u), serde_json::to_vec(&old).unwrap());
        }

        /// Two requests share a digest only if they ask the same.
        #[test]
        fn different_requests_have_different_canonical_forms(a in log_update(), b in log_update()) {
            prop_assert_eq!(a == b, canonical_form(&a) == canonical_form(&b));
        }

        /// A string cannot pass for the lines after it.
        #[test]
        fn a_string_holding_a_form_is_not_that_form(s in ".*") {
            let smuggled = LogUpdate { output: Change::Set(format!("{s}\nerror clear")), ..LogUpdate::default() };
            let two = LogUpdate { output: Change::Set(s), error: Change::Clear, ..LogUpdate::default() };
            prop_assert_ne!(canonical_form(&smuggled), canonical_form(&two));
        }
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
    fn the_ring_wraps_every_thirty_two_versions() {
        assert_eq!(ring_attribute(3), "rr3");
        assert_eq!(ring_attribute(35), "rr3");
    }

    #[test]
    fn only_an_if_match_of_one_version_has_a_ring_slot_the_version_it_makes() {
        assert_eq!(
            ring_slot(&Precondition::OneOf(vec![4])).as_deref(),
            Some("rr5")
        );
        assert_eq!(
            ring_slot(&Precondition::OneOf(vec![31])).as_deref(),
            Some("rr0")
        );
        assert_eq!(
            ring_slot(&Precondition::OneOf(vec![u64::MAX])).as_deref(),
            Some("rr0")
        );
        for none in [
            Precondition::None,
            Precondition::Exists,
            Precondition::OneOf(vec![]),
            Precondition::OneOf(vec![1, 2]),
        ] {
            assert_eq!(ring_slot(&none), None, "{none:?}");
        }
    }

    fn refusing<'a>(last: Option<&'a RequestMark>, ring: Option<&'a str>) -> Option<Refusing<'a>> {
        Some(Refusing {
            expired: false,
            last_request: last,
            ring_entry: ring,
        })
    }

    #[test]
    fn no_log_is_not_found() {
        let request = RequestToken::for_key("k", &update("x"));
        for precondition in [Precondition::None, Precondition::OneOf(vec![1])] {
            assert_eq!(
                after_failed_condition(None, &request, &update("x"), &precondition),
                Verdict::NotFound
            );
        }
    }

    #[test]
    fn an_expired_log_is_not_found_whatever_it_holds() {
        let request = RequestToken::for_key("k", &update("x"));
        let other = RequestToken::for_key("k", &update("y"));
        let fingerprint = request.fingerprint();
        for (last, ring) in [
            (Some(request.mark()), None),
            (Some(other.mark()), None),
            (None, Some(fingerprint.as_str())),
            (None, None),
        ] {
            let log = Some(Refusing {
                expired: true,
                last_request: last,
                ring_entry: ring,
            });
            assert_eq!(
                after_failed_condition(log, &request, &update("x"), &Precondition::OneOf(vec![3])),
                Verdict::NotFound
            );
        }
    }

    #[test]
    fn the_same_request_as_the_latest_is_a_replay_whatever_the_precondition() {
        let request = RequestToken::for_key("k", &update("x"));
        for precondition in [
            Precondition::None,
            Precondition::Exists,
            Precondition::OneOf(vec![]),
            Precondition::OneOf(vec![7]),
        ] {
            let log = refusing(Some(request.mark()), None);
            assert_eq!(
                after_failed_condition(log, &request, &update("x"), &precondition),
                Verdict::Replay,
                "{precondition:?}"
            );
        }
    }

    #[test]
    fn the_same_key_with_another_body_is_key_reused_even_where_the_ring_matches() {
        let request = RequestToken::for_key("k", &update("x"));
        let earlier = RequestToken::for_key("k", &update("y"));
        let fingerprint = request.fingerprint();
        for ring in [None, Some(fingerprint.as_str())] {
            let log = refusing(Some(earlier.mark()), ring);
            assert_eq!(
                after_failed_condition(log, &request, &update("x"), &Precondition::OneOf(vec![3])),
                Verdict::KeyReused
            );
        }
    }

    #[test]
    fn a_landing_covered_by_later_writers_is_a_replay_when_the_ring_holds_it() {
        let request = RequestToken::for_key("k", &update("x"));
        let later = RequestToken::for_key("other", &update("z"));
        let fingerprint = request.fingerprint();
        let log = refusing(Some(later.mark()), Some(&fingerprint));
        assert_eq!(
            after_failed_condition(log, &request, &update("x"), &Precondition::OneOf(vec![3])),
            Verdict::Replay
        );
        // A whole-item writer came after: no latest request, the ring still tells.
        let log = refusing(None, Some(&fingerprint));
        assert_eq!(
            after_failed_condition(log, &request, &update("x"), &Precondition::OneOf(vec![3])),
            Verdict::Replay
        );
    }

    #[test]
    fn otherwise_the_precondition_failed() {
        let request = RequestToken::for_key("k", &update("x"));
        let later = RequestToken::for_key("other", &update("z"));
        let same_key_other_body = RequestToken::for_key("k", &update("y")).fingerprint();
        let own = request.fingerprint();
        let cases = [
            // The slot holds another request's fingerprint, or the same key's with another body.
            (
                Some(later.mark()),
                Some(later.fingerprint()),
                Precondition::OneOf(vec![3]),
            ),
            (
                Some(later.mark()),
                Some(same_key_other_body),
                Precondition::OneOf(vec![3]),
            ),
            (Some(later.mark()), None, Precondition::OneOf(vec![3])),
            (None, None, Precondition::OneOf(vec![3])),
            // Without one expected version the ring proves nothing, whatever it holds.
            (
                Some(later.mark()),
                Some(own.clone()),
                Precondition::OneOf(vec![2, 3]),
            ),
            (
                Some(later.mark()),
                Some(own.clone()),
                Precondition::OneOf(vec![]),
            ),
            (Some(later.mark()), Some(own), Precondition::Exists),
        ];
        for (last, ring, precondition) in cases {
            let log = refusing(last, ring.as_deref());
            assert_eq!(
                after_failed_condition(log, &request, &update("x"), &precondition),
                Verdict::PreconditionFailed,
                "{last:?} {ring:?} {precondition:?}"
            );
        }
    }
}
