//! Live children: at most one connection per machine GUID, at most `max children` in all.
//!
//! One job: admit or refuse a connection by machine GUID (and hostname: two machines under one
//! name would be exported as one) and count who is connected and who was refused. An [`Admission`] is the connection's ticket; dropping it frees the GUID. Time is
//! passed in (wall-clock milliseconds, the clock lines are timed by), so tests drive it.
//!
//! # A child that reconnects before its old connection is noticed gone
//! A child whose network dropped reconnects while the old connection still looks open. The old
//! connection is replaced when it has been silent for its stale time (30 s, or three of the
//! child's intervals if longer): it is told to stop and its socket is shut down, which wakes its
//! thread. A connection that is still sending keeps its place and the newcomer is refused as
//! already streaming, as netdata does.

use std::collections::HashMap;
use std::net::{Shutdown as SocketShutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use super::access::Refusal;

/// The least silence after which a live connection may be replaced by a new one of the same
/// machine GUID.
pub const STALE_AFTER_MS: u64 = 30_000;

/// One live connection, shared between its thread and the registry.
#[derive(Debug)]
pub struct Live {
    id: u64,
    hostname: String,
    last_seen_ms: AtomicU64,
    stale_after_ms: u64,
    stop: AtomicBool,
    /// A handle on the connection's socket, to wake its thread when it is replaced.
    waker: Option<TcpStream>,
}

impl Live {
    /// Note that data arrived at `now_ms`.
    #[inline]
    pub fn touch(&self, now_ms: u64) {
        self.last_seen_ms.store(now_ms, Relaxed);
    }

    /// Whether a newer connection of the same machine replaced this one.
    #[inline]
    pub fn replaced(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Milliseconds since data last arrived.
    pub fn silent_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_seen_ms.load(Relaxed))
    }
}

/// The ticket of an admitted connection; dropping it frees its machine GUID.
#[derive(Debug)]
pub struct Admission {
    registry: Arc<Registry>,
    guid: String,
    live: Arc<Live>,
    replaced_one: bool,
}

impl Admission {
    /// The connection's shared state.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Whether admitting it replaced a silent connection of the same machine.
    pub fn replaced_one(&self) -> bool {
        self.replaced_one
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut live = self.registry.live.lock();
        if live.get(&self.guid).is_some_and(|l| l.id == self.live.id) {
            live.remove(&self.guid);
        }
    }
}

/// Who is connected; see the module docs.
#[derive(Debug)]
pub struct Registry {
    live: Mutex<HashMap<String, Arc<Live>>>,
    max_children: usize,
    next_id: AtomicU64,
    refused: AtomicU64,
}

impl Registry {
    /// A registry admitting at most `max_children` connections at once.
    pub fn new(max_children: usize) -> Arc<Registry> {
        Arc::new(Registry {
            live: Mutex::new(HashMap::new()),
            max_children,
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
        })
    }

    /// Admit a connection of machine `guid` (any case) named `hostname` at `now_ms`, whose child
    /// collects every `update_every` seconds. `waker` is a handle on its socket, used to wake its
    /// thread if a newer connection replaces it. A child named like a connected child of another
    /// machine is refused.
    pub fn admit(
        self: &Arc<Self>,
        guid: &str,
        hostname: &str,
        update_every: u32,
        now_ms: u64,
        waker: Option<TcpStream>,
    ) -> Result<Admission, Refusal> {
        let guid = guid.to_ascii_lowercase();
        let mut live = self.live.lock();
        let mut replaced_one = false;
        if let Some((other, _)) = live.iter().find(|(g, l)| **g != guid && l.hostname == hostname) {
            return Err(Refusal::HostnameTaken { hostname: hostname.to_string(), by: other.clone() });
        }
        if let Some(old) = live.get(&guid) {
            if old.silent_ms(now_ms) < old.stale_after_ms {
                return Err(Refusal::AlreadyStreaming);
            }
            old.stop.store(true, Relaxed);
            if let Some(s) = &old.waker {
                let _ = s.shutdown(SocketShutdown::Both);
            }
            replaced_one = true;
        } else if live.len() >= self.max_children {
            return Err(Refusal::TooManyChildren(self.max_children));
        }
        let entry = Arc::new(Live {
            id: self.next_id.fetch_add(1, Relaxed),
            hostname: hostname.to_string(),
            last_seen_ms: AtomicU64::new(now_ms),
            stale_after_ms: STALE_AFTER_MS.max(3_000 * update_every as u64),
            stop: AtomicBool::new(false),
            waker,
        });
        live.insert(guid.clone(), entry.clone());
        Ok(Admission { registry: self.clone(), guid, live: entry, replaced_one })
    }

    /// Connections admitted and not yet dropped.
    pub fn connected(&self) -> usize {
        self.live.lock().len()
    }

    /// Count one refused connection.
    pub fn note_refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000001";
    const G2: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000002";
    const G3: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000003";

    #[test]
    fn a_second_live_connection_of_a_guid_is_refused_until_the_first_ends() {
        let r = Registry::new(10);
        let first = r.admit(G1, "h1", 1, 0, None).unwrap();
        assert_eq!(r.admit(G1, "h1", 1, 1_000, None).unwrap_err(), Refusal::AlreadyStreaming);
        assert_eq!(r.admit(&G1.to_uppercase(), "h1", 1, 1_000, None).unwrap_err(), Refusal::AlreadyStreaming);
        assert_eq!(r.connected(), 1);
        drop(first);
        assert_eq!(r.connected(), 0);
        let again = r.admit(G1, "h1", 1, 2_000, None).unwrap();
        assert!(!again.replaced_one());
    }

    #[test]
    fn children_past_the_maximum_are_refused() {
        let r = Registry::new(2);
        let _a = r.admit(G1, "h1", 1, 0, None).unwrap();
        let b = r.admit(G2, "h2", 1, 0, None).unwrap();
        assert_eq!(r.admit(G3, "h3", 1, 0, None).unwrap_err(), Refusal::TooManyChildren(2));
        drop(b);
        assert!(r.admit(G3, "h3", 1, 0, None).is_ok());
    }

    #[test]
    fn a_silent_connection_is_replaced_and_its_ticket_no_longer_frees_the_guid() {
        let r = Registry::new(1);
        let old = r.admit(G1, "h1", 1, 0, None).unwrap();
        old.live().touch(5_000);
        // 29.999 s of silence: still live.
        assert_eq!(r.admit(G1, "h1", 1, 34_999, None).unwrap_err(), Refusal::AlreadyStreaming);
        // 30 s: replaced, even at the maximum of children (the count does not grow).
        let new = r.admit(G1, "h1", 1, 35_000, None).unwrap();
        assert!(new.replaced_one());
        assert!(old.live().replaced() && !new.live().replaced());
        drop(old);
        assert_eq!(r.connected(), 1, "the old ticket must not free the new connection's GUID");
        assert_eq!(r.admit(G1, "h1", 1, 36_000, None).unwrap_err(), Refusal::AlreadyStreaming);
    }

    #[test]
    fn slow_children_get_three_intervals_before_they_count_as_stale() {
        let r = Registry::new(5);
        let _old = r.admit(G1, "h1", 60, 0, None).unwrap();
        assert_eq!(r.admit(G1, "h1", 60, 179_999, None).unwrap_err(), Refusal::AlreadyStreaming);
        assert!(r.admit(G1, "h1", 60, 180_000, None).is_ok());
    }

    #[test]
    fn replacing_shuts_the_old_socket_down() {
        use std::io::Read;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut server_side, _) = l.accept().unwrap();
        let r = Registry::new(5);
        let _old = r.admit(G1, "h1", 1, 0, Some(server_side.try_clone().unwrap())).unwrap();
        let _new = r.admit(G1, "h1", 1, STALE_AFTER_MS, None).unwrap();
        // Reading the shut-down socket returns end of stream at once instead of blocking.
        server_side.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(server_side.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn a_second_machine_under_a_connected_childs_hostname_is_refused() {
        let r = Registry::new(10);
        let first = r.admit(G1, "web", 1, 0, None).unwrap();
        assert_eq!(
            r.admit(G2, "web", 1, 0, None).unwrap_err(),
            Refusal::HostnameTaken { hostname: "web".into(), by: G1.into() }
        );
        // The same machine under the same name is the usual reconnect, not a clash.
        assert_eq!(r.admit(G1, "web", 1, 1_000, None).unwrap_err(), Refusal::AlreadyStreaming);
        drop(first);
        assert!(r.admit(G2, "web", 1, 2_000, None).is_ok(), "the name is free once the first left");
    }

    #[test]
    fn refusals_are_counted() {
        let r = Registry::new(1);
        r.note_refused();
        r.note_refused();
        assert_eq!(r.refused(), 2);
    }
}
