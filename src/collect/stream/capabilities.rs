//! Stream capabilities: what a child offers, what this parent implements, and the handshake
//! reply that settles on what both do.
//!
//! One job: netdata's capability negotiation as bits and bytes; pure (no I/O, no clock).
//!
//! # How netdata negotiates
//! The child's request carries `ver=N`. Children before netdata 1.37 send a protocol number
//! (1 to 5, each adding host labels, claiming, chart labels and lz4 compression in turn); 1.37
//! children send a bit mask ([`Capabilities::VCAPS`] and the rest; 16376 by default, 15352
//! with `enable compression = no`). Both are read as netdata reads them
//! ([`Capabilities::from_version`]). The parent answers with one of netdata's prompts:
//! `…with the version=N` (the common bits) to a child that negotiates bits, the host-labels
//! prompt to an older child that knows it, and the version 1 prompt otherwise. The child keeps
//! what the answer names, so the answer never names a bit the child did not offer nor one this
//! parent does not implement ([`Capabilities::IMPLEMENTED`]).
//!
//! The protocol numbers 3 to 5 all include claiming, which rrdpipe does not implement, so an
//! older child that offers only numbers gets the host-labels prompt (no compression).

use std::fmt;
use std::ops::{BitAnd, BitOr};

/// netdata's prompt accepting a child at protocol version 1.
pub const REPLY_V1: &[u8] = b"Hit me baby, push them over...";
/// netdata's prompt accepting a child at version 2: version 1 plus host labels.
pub const REPLY_V2: &[u8] = b"Hit me baby, push them over and bring the host labels...";
/// netdata's prompt naming a version or capability mask; the number follows without a space.
pub const REPLY_VN_PREFIX: &str = "Hit me baby, push them over with the version=";

/// A set of netdata stream capabilities (`STREAM_CAP_*`), as the bits of `ver`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u32);

impl Capabilities {
    /// The oldest protocol: plugins.d lines only.
    pub const V1: Capabilities = Capabilities(1 << 3);
    /// Version 2: host labels.
    pub const V2: Capabilities = Capabilities(1 << 4);
    /// Numbered versions 3 to 5 are understood.
    pub const VN: Capabilities = Capabilities(1 << 5);
    /// Capabilities are negotiated as bits.
    pub const VCAPS: Capabilities = Capabilities(1 << 6);
    /// Host labels (`LABEL`, `OVERWRITE labels`).
    pub const HLABELS: Capabilities = Capabilities(1 << 7);
    /// Claiming (`CLAIMED_ID`).
    pub const CLAIM: Capabilities = Capabilities(1 << 8);
    /// Chart labels (`CLABEL`, `CLABEL_COMMIT`).
    pub const CLABELS: Capabilities = Capabilities(1 << 9);
    /// lz4 compression of the stream (see [`super::compression`]).
    pub const COMPRESSION: Capabilities = Capabilities(1 << 10);
    /// Functions (`FUNCTION`).
    pub const FUNCTIONS: Capabilities = Capabilities(1 << 11);
    /// Replication (`REPLAY_*`, `CHART_DEFINITION_END`).
    pub const REPLICATION: Capabilities = Capabilities(1 << 12);
    /// Binary data in the stream.
    pub const BINARY: Capabilities = Capabilities(1 << 13);

    /// What rrdpipe implements, so may accept. Implementing another capability is adding its
    /// bit here.
    pub const IMPLEMENTED: Capabilities = Capabilities(
        Self::V1.0
            | Self::V2.0
            | Self::VN.0
            | Self::VCAPS.0
            | Self::HLABELS.0
            | Self::CLABELS.0
            | Self::COMPRESSION.0
            | Self::REPLICATION.0,
    );

    /// Every capability by its netdata name, in bit order.
    const NAMES: [(Capabilities, &'static str); 11] = [
        (Self::V1, "V1"),
        (Self::V2, "V2"),
        (Self::VN, "VN"),
        (Self::VCAPS, "VCAPS"),
        (Self::HLABELS, "HLABELS"),
        (Self::CLAIM, "CLAIM"),
        (Self::CLABELS, "CLABELS"),
        (Self::COMPRESSION, "COMPRESSION"),
        (Self::FUNCTIONS, "FUNCTIONS"),
        (Self::REPLICATION, "REPLICATION"),
        (Self::BINARY, "BINARY"),
    ];

    /// Every bit netdata 1.37 knows.
    const KNOWN: Capabilities = Capabilities(0x3ff8);

    /// The set of these bits (unknown bits are dropped).
    pub const fn from_bits(bits: u32) -> Capabilities {
        Capabilities(bits & Self::KNOWN.0)
    }

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` without the bits of `other`.
    pub const fn without(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & !other.0)
    }

    /// What a child's `ver=N` (or a parent's `version=N`) means, as netdata reads it: a number
    /// up to 1 is version 1, 2 is host labels, 3 to 5 add claiming, chart labels and
    /// compression in turn, and anything larger is the bit mask itself. Only the newest way
    /// of negotiating is kept: with VCAPS, V1, V2 and VN are dropped; with VN, V1 and V2.
    /// `None` (no `ver` in the request) is version 1.
    pub fn from_version(version: Option<u64>) -> Capabilities {
        let numbered = Self::VN | Self::HLABELS | Self::CLAIM;
        let caps = match version.unwrap_or(0) {
            0 | 1 => Self::V1,
            2 => Self::V2 | Self::HLABELS,
            3 => numbered,
            4 => numbered | Self::CLABELS,
            5 => numbered | Self::CLABELS | Self::COMPRESSION,
            n => Capabilities::from_bits(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        if caps.contains(Self::VCAPS) {
            caps.without(Self::V1 | Self::V2 | Self::VN)
        } else if caps.contains(Self::VN) {
            caps.without(Self::V1 | Self::V2)
        } else if caps.contains(Self::V2) {
            caps.without(Self::V1)
        } else {
            caps
        }
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 | rhs.0)
    }
}

impl BitAnd for Capabilities {
    type Output = Capabilities;
    fn bitand(self, rhs: Capabilities) -> Capabilities {
        Capabilities(self.0 & rhs.0)
    }
}

/// netdata's names joined by `|` (`VCAPS|HLABELS|CLABELS|COMPRESSION`); `none` for no bit.
impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (cap, name) in Capabilities::NAMES {
            if self.contains(cap) {
                f.write_str(if first { "" } else { "|" })?;
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The outcome of a handshake: what the child will use, and the reply that tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// What both sides use from now on.
    pub capabilities: Capabilities,
    /// The exact bytes to answer.
    pub reply: Vec<u8>,
}

/// Settle on what a child that offered `offered` (as read by [`Capabilities::from_version`])
/// and this parent, allowing `allowed` (at most [`Capabilities::IMPLEMENTED`]), both do.
pub fn negotiate(offered: Capabilities, allowed: Capabilities) -> Negotiated {
    let common = offered & allowed & Capabilities::IMPLEMENTED;
    if common.contains(Capabilities::VCAPS) {
        let reply = format!("{REPLY_VN_PREFIX}{}", common.bits()).into_bytes();
        return Negotiated { capabilities: common, reply };
    }
    // A numbered version would imply claiming: an older child gets host labels at most.
    let labels = Capabilities::V2 | Capabilities::HLABELS;
    let knows_v2 = common.contains(Capabilities::V2) || common.contains(Capabilities::VN);
    if knows_v2 && allowed.contains(labels) && common.contains(Capabilities::HLABELS) {
        return Negotiated { capabilities: labels, reply: REPLY_V2.to_vec() };
    }
    Negotiated { capabilities: Capabilities::V1, reply: REPLY_V1.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(ver: Option<u64>) -> (String, String) {
        let n = negotiate(Capabilities::from_version(ver), Capabilities::IMPLEMENTED);
        (String::from_utf8(n.reply).unwrap(), n.capabilities.to_string())
    }

    #[test]
    fn a_default_netdata_137_child_gets_labels_compression_and_replication() {
        // 16376: V1 V2 VN VCAPS HLABELS CLAIM CLABELS COMPRESSION FUNCTIONS REPLICATION BINARY.
        assert_eq!(
            Capabilities::from_version(Some(16376)).to_string(),
            "VCAPS|HLABELS|CLAIM|CLABELS|COMPRESSION|FUNCTIONS|REPLICATION|BINARY"
        );
        assert_eq!(
            answer(Some(16376)),
            (
                "Hit me baby, push them over with the version=5824".to_string(),
                "VCAPS|HLABELS|CLABELS|COMPRESSION|REPLICATION".to_string()
            )
        );
        assert_eq!(64 + 128 + 512 + 1024 + 4096, 5824);
    }

    #[test]
    fn a_child_without_compression_is_not_answered_compression() {
        assert_eq!(
            answer(Some(15352)),
            (
                "Hit me baby, push them over with the version=4800".to_string(),
                "VCAPS|HLABELS|CLABELS|REPLICATION".to_string()
            )
        );
    }

    #[test]
    fn compression_turned_off_here_is_not_answered() {
        let allowed = Capabilities::IMPLEMENTED.without(Capabilities::COMPRESSION);
        let n = negotiate(Capabilities::from_version(Some(16376)), allowed);
        assert_eq!(n.reply, b"Hit me baby, push them over with the version=4800");
    }

    #[test]
    fn children_that_offer_nothing_more_get_version_1() {
        for ver in [None, Some(0), Some(1)] {
            assert_eq!(answer(ver), (String::from_utf8(REPLY_V1.to_vec()).unwrap(), "V1".to_string()));
        }
    }

    #[test]
    fn numbered_versions_get_host_labels_only_since_they_imply_claiming() {
        for ver in [2, 3, 4, 5] {
            assert_eq!(
                answer(Some(ver)),
                (String::from_utf8(REPLY_V2.to_vec()).unwrap(), "V2|HLABELS".to_string()),
                "ver={ver}"
            );
        }
        assert_eq!(Capabilities::from_version(Some(5)).to_string(), "VN|HLABELS|CLAIM|CLABELS|COMPRESSION");
        assert_eq!(Capabilities::from_version(Some(2)).to_string(), "V2|HLABELS");
    }

    #[test]
    fn unknown_bits_and_huge_numbers_are_dropped() {
        // Bits below V1 and above BINARY are not capabilities.
        assert_eq!(Capabilities::from_version(Some(0x7 | 0x4000 | 64)).bits(), 64);
        assert_eq!(Capabilities::from_version(Some(u64::MAX)), Capabilities::from_bits(0x3fc0));
        assert_eq!(answer(Some(64)).0, "Hit me baby, push them over with the version=64");
    }

    #[test]
    fn a_reply_never_names_a_bit_the_child_did_not_offer() {
        for ver in 0..16384u64 {
            let offered = Capabilities::from_version(Some(ver));
            let n = negotiate(offered, Capabilities::IMPLEMENTED);
            let named = match n.reply.strip_prefix(REPLY_VN_PREFIX.as_bytes()) {
                Some(num) => std::str::from_utf8(num).unwrap().parse::<u32>().unwrap(),
                None => n.capabilities.bits(),
            };
            // What the child will read the reply as: itself, or the prompt's version.
            let read = Capabilities::from_version(Some(named as u64));
            let extra = read.without(offered | Capabilities::V1 | Capabilities::V2);
            assert_eq!(
                extra,
                Capabilities::default(),
                "ver={ver}: reply {:?}",
                String::from_utf8_lossy(&n.reply)
            );
            assert!(Capabilities::IMPLEMENTED.contains(read), "ver={ver}");
        }
    }
}
