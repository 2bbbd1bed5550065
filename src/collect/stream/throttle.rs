//! Clients that keep failing: a per-address allowance of refused requests.
//!
//! One job: decide, from the clock passed in, whether an address may try again. It does no I/O
//! and logs nothing itself; how often a refusal is logged is [`crate::logs::Episodes`]' job.
//!
//! # The allowance
//! Each address ([`AddressKey`]: an IPv4 address or an IPv6 /64) may be refused
//! [`FAILURE_BURST`] times in a row; then it gets one more try per second
//! ([`FAILURES_PER_SECOND`]), and connections beyond that are closed unread. A client guessing
//! API keys is thus held to one guess a second, and an address that stops failing is whole again
//! ten seconds later, so a child fixed after a wrong key gets in at its next retry.

use std::collections::HashMap;
use std::time::Instant;

use super::gate::AddressKey;

/// Refusals an address may have before it is held to [`FAILURES_PER_SECOND`].
pub const FAILURE_BURST: f64 = 10.0;
/// Tries a second for an address that used up its burst.
pub const FAILURES_PER_SECOND: f64 = 1.0;
/// Addresses remembered at most; an address that comes back whole is
/// forgotten first.
const MAX_TRACKED: usize = 4096;

/// One address's allowance.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-address allowance of refusals; see the module docs.
#[derive(Debug)]
pub struct Throttle {
    buckets: HashMap<AddressKey, Bucket>,
    burst: f64,
    per_second: f64,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(FAILURE_BURST, FAILURES_PER_SECOND)
    }
}

impl Throttle {
    /// An allowance of `burst` refusals, refilled at `per_second`.
    pub fn new(burst: f64, per_second: f64) -> Throttle {
        Throttle { buckets: HashMap::new(), burst: burst.max(1.0), per_second: per_second.max(0.001) }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + gained).min(self.burst);
        b.at = now;
    }

    /// Whether a request from `key` may be looked at now.
    pub fn allows(&mut self, key: AddressKey, now: Instant) -> bool {
        let mut b = match self.buckets.get(&key) {
            Some(b) => *b,
            None => return true,
        };
        self.refill(&mut b, now);
        self.buckets.insert(key, b);
        b.tokens >= 1.0
    }

    /// Count one refusal of `key`. Returns true when it used up the allowance: from now on the
    /// address is held to the refill rate.
    pub fn fail(&mut self, key: AddressKey, now: Instant) -> bool {
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_TRACKED {
            self.forget_recovered(now);
            if self.buckets.len() >= MAX_TRACKED {
                // Keep the addresses that fail the most: drop the one closest to whole.
                if let Some(k) =
                    self.buckets.iter().max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens)).map(|e| *e.0)
                {
                    self.buckets.remove(&k);
                }
            }
        }
        let mut b = self.buckets.get(&key).copied().unwrap_or(Bucket { tokens: self.burst, at: now });
        self.refill(&mut b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        self.buckets.insert(key, b);
        b.tokens < 1.0
    }

    /// Forget the addresses whose allowance is whole again.
    pub fn forget_recovered(&mut self, now: Instant) {
        let (burst, rate) = (self.burst, self.per_second);
        self.buckets
            .retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
    }

    /// Addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(s: &str) -> AddressKey {
        AddressKey::of(s.parse().unwrap())
    }

    #[test]
    fn an_address_is_held_to_one_try_a_second_after_its_burst() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let a = key("192.0.2.1");
        for i in 0..9 {
            assert!(t.allows(a, t0));
            assert!(!t.fail(a, t0), "refusal {i} is within the burst");
        }
        assert!(t.allows(a, t0));
        assert!(t.fail(a, t0), "the 10th refusal uses up the allowance");
        assert!(!t.allows(a, t0));
        assert!(!t.allows(a, t0 + Duration::from_millis(900)));
        // Another address is not affected, nor the same one through a dual-stack socket.
        assert!(t.allows(key("192.0.2.2"), t0));
        assert!(!t.allows(key("::ffff:192.0.2.1"), t0));
        assert!(t.allows(a, t0 + Duration::from_secs(1)));
        assert!(t.fail(a, t0 + Duration::from_secs(1)));
        // 1000 attempts in the next second: only the one the refill allows gets looked at.
        let looked = (0..1000)
            .filter(|i| {
                let now = t0 + Duration::from_secs(1) + Duration::from_millis(*i);
                t.allows(a, now) && t.fail(a, now)
            })
            .count();
        assert_eq!(looked, 1);
    }

    #[test]
    fn an_address_that_stops_failing_is_forgotten_when_whole() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let a = key("2001:db8::1");
        for _ in 0..10 {
            t.fail(a, t0);
        }
        assert!(!t.allows(key("2001:db8::2"), t0), "the /64 is one address");
        t.forget_recovered(t0 + Duration::from_secs(9));
        assert_eq!(t.tracked(), 1);
        t.forget_recovered(t0 + Duration::from_secs(10));
        assert_eq!(t.tracked(), 0);
        assert!(t.allows(a, t0 + Duration::from_secs(10)));
    }
}
