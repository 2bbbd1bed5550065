//! Who may stream: API keys, machine GUIDs and peer addresses, decided from the configuration.
//!
//! One job: answer "may this request from this address stream here?" with a [`Refusal`] that
//! says why not, which reply the child gets, and what to change. It is pure: no sockets, no
//! clock, no store; who is already connected is [`super::registry`]'s business.

use std::fmt;
use std::net::IpAddr;

use super::replication;
use super::request::{
    RequestError, StreamRequest, REPLY_ALREADY_STREAMING, REPLY_NOT_PERMITTED, REPLY_SAME_LOCALHOST,
};
use crate::config::{KeyReplication, Stream, StreamKeyType};
use crate::logs::Escaped;
use crate::pattern::SimplePattern;

/// Why a child was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request was not understood.
    BadRequest(RequestError),
    /// No section is named after the API key.
    UnknownKey(String),
    /// The API key's section has `enabled = no` (the default).
    KeyDisabled(String),
    /// The key names a `type = machine` section, not an API key.
    NotAnApiKey(String),
    /// The API key's `allow from` does not match the peer.
    KeyNotFromHere {
        /// The key.
        key: String,
        /// The key's `allow from`.
        allow_from: String,
    },
    /// The child's machine GUID section has `enabled = no`.
    MachineDisabled,
    /// The machine GUID section's `allow from` does not match the peer.
    MachineNotFromHere {
        /// The section's `allow from`.
        allow_from: String,
    },
    /// The child is this agent (same machine GUID).
    SameLocalhost,
    /// The child's hostname is this agent's own (its series would mix with the local host's).
    LocalHostname(String),
    /// A connected child of another machine GUID has this hostname.
    HostnameTaken {
        /// The hostname.
        hostname: String,
        /// The machine GUID of the child that has it.
        by: String,
    },
    /// The machine GUID has a live connection already.
    AlreadyStreaming,
    /// `[stream] max children` children are connected.
    TooManyChildren(usize),
    /// A plain (unencrypted) request on a port that takes TLS only (`^SSL=force`).
    TlsRequired,
}

impl Refusal {
    /// Whether the refusal is about credentials or a malformed request: what a client guessing
    /// keys gets, and what [`super::throttle`] counts against its address.
    pub fn is_access_failure(&self) -> bool {
        matches!(
            self,
            Refusal::BadRequest(_)
                | Refusal::UnknownKey(_)
                | Refusal::KeyDisabled(_)
                | Refusal::NotAnApiKey(_)
                | Refusal::KeyNotFromHere { .. }
                | Refusal::MachineDisabled
                | Refusal::MachineNotFromHere { .. }
        )
    }

    /// A short name of the kind of refusal, for log summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "requests not understood",
            Refusal::UnknownKey(_) | Refusal::KeyDisabled(_) | Refusal::NotAnApiKey(_) => "wrong API keys",
            Refusal::KeyNotFromHere { .. } | Refusal::MachineNotFromHere { .. } => {
                "keys not allowed from this address"
            }
            Refusal::MachineDisabled => "disabled machine GUIDs",
            Refusal::SameLocalhost => "this agent's own machine GUID",
            Refusal::LocalHostname(_) => "this agent's own hostname",
            Refusal::HostnameTaken { .. } => "hostnames of connected children",
            Refusal::AlreadyStreaming => "machine GUIDs already streaming",
            Refusal::TooManyChildren(_) => "too many children",
            Refusal::TlsRequired => "plain streams on a TLS-only port",
        }
    }

    /// The exact bytes the child is answered with.
    pub fn reply(&self) -> &'static [u8] {
        match self {
            Refusal::SameLocalhost => REPLY_SAME_LOCALHOST,
            Refusal::AlreadyStreaming => REPLY_ALREADY_STREAMING,
            _ => REPLY_NOT_PERMITTED,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadRequest(e) => write!(f, "{e}"),
            Refusal::UnknownKey(k) => {
                write!(
                    f,
                    "API key {k} is not configured; add a [{k}] section with type = api and enabled = yes"
                )
            }
            Refusal::KeyDisabled(k) => {
                write!(f, "API key {k} is not enabled; set enabled = yes in its [{k}] section")
            }
            Refusal::NotAnApiKey(k) => {
                write!(f, "{k} is configured as a machine GUID (type = machine), not as an API key")
            }
            Refusal::KeyNotFromHere { key, allow_from } => {
                write!(f, "API key {key} is not allowed from this address (allow from = {allow_from})")
            }
            Refusal::MachineDisabled => {
                f.write_str("its machine GUID section has enabled = no; set enabled = yes to accept it")
            }
            Refusal::MachineNotFromHere { allow_from } => {
                write!(f, "its machine GUID is not allowed from this address (allow from = {allow_from})")
            }
            Refusal::SameLocalhost => f.write_str("it is this agent itself (same machine GUID)"),
            Refusal::LocalHostname(h) => write!(
                f,
                "its hostname '{}' is this agent's own, so its series would be exported under the \
                 same names as the local ones; give the child another [global] hostname",
                Escaped::str(h)
            ),
            Refusal::HostnameTaken { hostname, by } => write!(
                f,
                "the connected child of machine guid {by} is named '{}' too, so their series would be \
                 exported under the same names; give one of them another [global] hostname",
                Escaped::str(hostname)
            ),
            Refusal::AlreadyStreaming => f.write_str(
                "this machine GUID is already streaming here (two children with the same GUID, \
                 or a reconnect before the old connection was noticed gone)",
            ),
            Refusal::TooManyChildren(max) => {
                write!(f, "{max} children are connected, the maximum; raise [stream] max children")
            }
            Refusal::TlsRequired => f.write_str(
                "it connected without TLS to a port that takes TLS only ([web] bind to ...^SSL=force); end the \
                 child's stream.conf destination with :SSL (destination = HOST:PORT:SSL)",
            ),
        }
    }
}

/// One UUID-named section, ready to match.
#[derive(Clone, Debug)]
struct Rule {
    uuid: String,
    key_type: StreamKeyType,
    enabled: bool,
    allow_from_text: String,
    allow_from: SimplePattern,
    compression: bool,
    replication: KeyReplication,
}

/// The access rules of the configuration.
#[derive(Clone, Debug)]
pub struct Access {
    rules: Vec<Rule>,
    local_guid: String,
    local_hostnames: Vec<String>,
}

impl Access {
    /// Rules from the `[UUID]` sections of `stream`; `local_guid` is this agent's machine GUID
    /// (empty when it has none), `local_hostnames` the names the local host is exported under.
    pub fn new(stream: &Stream, local_guid: &str, local_hostnames: &[String]) -> Access {
        let rules = stream
            .keys
            .iter()
            .map(|k| Rule {
                uuid: k.uuid.to_ascii_lowercase(),
                key_type: k.key_type,
                enabled: k.enabled,
                allow_from_text: k.allow_from.clone(),
                allow_from: SimplePattern::new(&k.allow_from),
                compression: k.enable_compression,
                replication: k.replication,
            })
            .collect();
        Access {
            rules,
            local_guid: local_guid.to_ascii_lowercase(),
            local_hostnames: local_hostnames.to_vec(),
        }
    }

    fn rule(&self, uuid: &str) -> Option<&Rule> {
        let uuid = uuid.to_ascii_lowercase();
        self.rules.iter().find(|r| r.uuid == uuid)
    }

    /// Whether the sections of `req`'s API key and machine GUID let it compress: neither says
    /// `enable compression = no`.
    pub fn compression(&self, req: &StreamRequest) -> bool {
        let key = self.rule(&req.key).is_none_or(|r| r.compression);
        let machine = self
            .rule(&req.machine_guid)
            .filter(|r| r.key_type == StreamKeyType::Machine)
            .is_none_or(|r| r.compression);
        key && machine
    }

    /// What `req`'s child is asked to replay: `db` (`[db]`), overridden by what its API key's
    /// section sets, then by what its machine GUID's section sets (netdata 1.37's order).
    pub fn replication(&self, req: &StreamRequest, db: replication::Settings) -> replication::Settings {
        let key = self.rule(&req.key).map(|r| r.replication);
        let machine = self
            .rule(&req.machine_guid)
            .filter(|r| r.key_type == StreamKeyType::Machine)
            .map(|r| r.replication);
        [key, machine].into_iter().flatten().fold(db, |s, r| replication::Settings {
            enabled: r.enabled.unwrap_or(s.enabled),
            seconds: r.seconds.unwrap_or(s.seconds),
            step: r.step.unwrap_or(s.step),
        })
    }

    /// Whether `req`, from `peer`, may stream here. Keys and GUIDs compare without regard to
    /// case; an IPv4 peer seen through a dual-stack socket is matched as IPv4.
    pub fn check(&self, req: &StreamRequest, peer: IpAddr) -> Result<(), Refusal> {
        let key = &req.key;
        match self.rule(key) {
            None => return Err(Refusal::UnknownKey(key.clone())),
            Some(r) if r.key_type != StreamKeyType::Api => return Err(Refusal::NotAnApiKey(key.clone())),
            Some(r) if !r.enabled => return Err(Refusal::KeyDisabled(key.clone())),
            Some(r) if !r.allow_from.matches_address(peer) => {
                return Err(Refusal::KeyNotFromHere {
                    key: key.clone(),
                    allow_from: r.allow_from_text.clone(),
                })
            }
            Some(_) => {}
        }
        if !self.local_guid.is_empty() && req.machine_guid.eq_ignore_ascii_case(&self.local_guid) {
            return Err(Refusal::SameLocalhost);
        }
        match self.rule(&req.machine_guid) {
            Some(r) if r.key_type == StreamKeyType::Machine && !r.enabled => {
                return Err(Refusal::MachineDisabled)
            }
            Some(r) if r.key_type == StreamKeyType::Machine && !r.allow_from.matches_address(peer) => {
                return Err(Refusal::MachineNotFromHere { allow_from: r.allow_from_text.clone() })
            }
            _ => {}
        }
        if self.local_hostnames.contains(&req.hostname) {
            return Err(Refusal::LocalHostname(req.hostname.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StreamKey;

    const KEY: &str = "11111111-2222-3333-4444-555555555555";
    const GUID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn key(uuid: &str, key_type: StreamKeyType, enabled: bool, allow_from: &str) -> StreamKey {
        StreamKey {
            uuid: uuid.into(),
            key_type,
            enabled,
            allow_from: allow_from.into(),
            enable_compression: true,
            replication: Default::default(),
            file: "stream.conf".into(),
            line: 1,
        }
    }

    fn access(keys: Vec<StreamKey>, local: &str) -> Access {
        Access::new(&Stream { keys, ..Stream::default() }, local, &["PARENT".to_string()])
    }

    fn req(key: &str, guid: &str) -> StreamRequest {
        StreamRequest {
            key: key.into(),
            hostname: "child".into(),
            machine_guid: guid.into(),
            update_every: 1,
            ..StreamRequest::default()
        }
    }

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    #[test]
    fn an_enabled_api_key_is_accepted_in_any_case() {
        let a = access(vec![key(KEY, StreamKeyType::Api, true, "*")], "");
        assert_eq!(a.check(&req(KEY, GUID), HERE), Ok(()));
        assert_eq!(a.check(&req(&KEY.to_uppercase(), GUID), HERE), Ok(()));
    }

    #[test]
    fn wrong_disabled_or_misused_keys_are_refused_as_not_permitted() {
        let other = "99999999-2222-3333-4444-555555555555";
        let a = access(
            vec![key(KEY, StreamKeyType::Api, false, "*"), key(other, StreamKeyType::Machine, true, "*")],
            "",
        );
        let unknown = "00000000-0000-0000-0000-000000000000";
        let cases = [
            (unknown, Refusal::UnknownKey(unknown.into())),
            (KEY, Refusal::KeyDisabled(KEY.into())),
            (other, Refusal::NotAnApiKey(other.into())),
        ];
        for (k, expected) in cases {
            let r = a.check(&req(k, GUID), HERE).unwrap_err();
            assert_eq!(r, expected);
            assert_eq!(r.reply(), b"You are not permitted to access this. Check the logs for more info.");
        }
        assert_eq!(
            Refusal::UnknownKey(unknown.into()).to_string(),
            "API key 00000000-0000-0000-0000-000000000000 is not configured; add a \
             [00000000-0000-0000-0000-000000000000] section with type = api and enabled = yes"
        );
    }

    #[test]
    fn allow_from_matches_the_peer_address() {
        let a = access(vec![key(KEY, StreamKeyType::Api, true, "10.* !*")], "");
        assert_eq!(a.check(&req(KEY, GUID), HERE), Ok(()));
        let far = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(
            a.check(&req(KEY, GUID), far),
            Err(Refusal::KeyNotFromHere { key: KEY.into(), allow_from: "10.* !*".into() })
        );
    }

    #[test]
    fn machine_sections_can_shut_out_one_child() {
        let a = access(
            vec![key(KEY, StreamKeyType::Api, true, "*"), key(GUID, StreamKeyType::Machine, false, "*")],
            "",
        );
        assert_eq!(a.check(&req(KEY, GUID), HERE), Err(Refusal::MachineDisabled));
        let a = access(
            vec![key(KEY, StreamKeyType::Api, true, "*"), key(GUID, StreamKeyType::Machine, true, "127.*")],
            "",
        );
        assert_eq!(
            a.check(&req(KEY, GUID), HERE),
            Err(Refusal::MachineNotFromHere { allow_from: "127.*".into() })
        );
        // A machine section never makes an unknown key acceptable.
        let a = access(vec![key(GUID, StreamKeyType::Machine, true, "*")], "");
        assert_eq!(a.check(&req(KEY, GUID), HERE), Err(Refusal::UnknownKey(KEY.into())));
    }

    #[test]
    fn an_ipv4_peer_on_a_dual_stack_socket_is_matched_as_ipv4() {
        let a = access(vec![key(KEY, StreamKeyType::Api, true, "!127.0.0.1 !::1 *")], "");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(matches!(a.check(&req(KEY, GUID), mapped), Err(Refusal::KeyNotFromHere { .. })));
        assert_eq!(a.check(&req(KEY, GUID), "::ffff:10.0.0.7".parse().unwrap()), Ok(()));
        let a = access(
            vec![
                key(KEY, StreamKeyType::Api, true, "*"),
                key(GUID, StreamKeyType::Machine, true, "!127.* *"),
            ],
            "",
        );
        assert_eq!(
            a.check(&req(KEY, GUID), mapped),
            Err(Refusal::MachineNotFromHere { allow_from: "!127.* *".into() })
        );
    }

    /// netdata 1.37's order: `[db]`, then what the API key's section sets, then what the
    /// machine GUID's section sets; a key left unset falls through.
    #[test]
    fn replication_keys_of_the_key_then_the_machine_section_override_db() {
        let db = replication::Settings { enabled: true, seconds: 86_400, step: 600 };
        let with = |k: StreamKey, enabled, seconds, step| StreamKey {
            replication: KeyReplication { enabled, seconds, step },
            ..k
        };
        let plain = access(vec![key(KEY, StreamKeyType::Api, true, "*")], "");
        assert_eq!(plain.replication(&req(KEY, GUID), db), db);
        let a = access(
            vec![
                with(key(KEY, StreamKeyType::Api, true, "*"), Some(false), Some(3600), None),
                with(key(GUID, StreamKeyType::Machine, true, "*"), Some(true), None, Some(60)),
            ],
            "",
        );
        let want = replication::Settings { enabled: true, seconds: 3600, step: 60 };
        assert_eq!(a.replication(&req(KEY, GUID), db), want);
        let other = "aaaaaaaa-bbbb-cccc-dddd-000000000000";
        let want = replication::Settings { enabled: false, seconds: 3600, step: 600 };
        assert_eq!(a.replication(&req(KEY, other), db), want, "another machine gets the key's");
    }

    #[test]
    fn a_no_in_the_key_or_machine_section_keeps_a_child_from_compressing() {
        let off = |k: StreamKey| StreamKey { enable_compression: false, ..k };
        let on = access(vec![key(KEY, StreamKeyType::Api, true, "*")], "");
        assert!(on.compression(&req(KEY, GUID)));
        let by_key = access(vec![off(key(KEY, StreamKeyType::Api, true, "*"))], "");
        assert!(!by_key.compression(&req(KEY, GUID)));
        let by_machine = access(
            vec![key(KEY, StreamKeyType::Api, true, "*"), off(key(GUID, StreamKeyType::Machine, true, "*"))],
            "",
        );
        assert!(!by_machine.compression(&req(KEY, GUID)));
        assert!(by_machine.compression(&req(KEY, "aaaaaaaa-bbbb-cccc-dddd-000000000000")), "another machine");
    }

    #[test]
    fn a_child_named_like_this_agent_is_refused() {
        let a = access(vec![key(KEY, StreamKeyType::Api, true, "*")], "");
        let mut r = req(KEY, GUID);
        r.hostname = "PARENT".into();
        let why = a.check(&r, HERE).unwrap_err();
        assert_eq!(why, Refusal::LocalHostname("PARENT".into()));
        assert_eq!(why.reply(), b"You are not permitted to access this. Check the logs for more info.");
        assert!(!why.is_access_failure(), "a misnamed child is not guessing keys");
        r.hostname = "parent".into();
        assert_eq!(a.check(&r, HERE), Ok(()), "exported names are case-sensitive");
        let shown = Refusal::LocalHostname("a\nb".into()).to_string();
        assert!(shown.starts_with("its hostname 'a\\nb' is this agent's own"), "{shown}");
    }

    #[test]
    fn a_child_with_our_own_guid_is_told_so() {
        let a = access(vec![key(KEY, StreamKeyType::Api, true, "*")], &GUID.to_uppercase());
        let r = a.check(&req(KEY, GUID), HERE).unwrap_err();
        assert_eq!(r, Refusal::SameLocalhost);
        assert_eq!(r.reply(), b"Don't hit me baby, you are trying to stream my localhost back");
        assert_eq!(Refusal::AlreadyStreaming.reply(), b"This GUID is already streaming to this server");
        assert_eq!(
            Refusal::TooManyChildren(3).reply(),
            b"You are not permitted to access this. Check the logs for more info."
        );
    }
}
