//! File descriptors: the process's limit, raised at start, and the share of it the listener may
//! hold, so that connecting clients can never take the last descriptors from exporters,
//! plugins and collectors.
//!
//! One job: numbers about descriptors. [`raise_nofile_limit`] is called once at agent start;
//! [`connection_budget`] says how many descriptors the listener may hold for connections.

use std::io;

use tracing::{info, warn};

/// Descriptors kept free for everything but the listener's connections: exporters' sockets and
/// spool files, plugins' pipes, the files the proc collector reads.
pub const RESERVED_FDS: usize = 64;

/// The soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limit() -> io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid rlimit to write to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// The most descriptors the kernel lets one process have (`/proc/sys/fs/nr_open`), the ceiling
/// of an unlimited hard limit.
fn nr_open() -> libc::rlim_t {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// Raise the soft `RLIMIT_NOFILE` as far as the hard limit allows, and log what came of it.
/// Returns the soft limit in force afterwards.
pub fn raise_nofile_limit() -> Option<libc::rlim_t> {
    let (soft, hard) = match nofile_limit() {
        Ok(l) => l,
        Err(e) => {
            warn!("cannot read the open file limit: {e}");
            return None;
        }
    };
    let target = if hard == libc::RLIM_INFINITY { nr_open() } else { hard };
    if soft >= target {
        return Some(soft);
    }
    let r = libc::rlimit { rlim_cur: target, rlim_max: hard };
    // SAFETY: `r` is a valid rlimit; raising the soft limit up to the hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        let e = io::Error::last_os_error();
        warn!("cannot raise the open file limit from {soft} to {target}: {e}; it stays {soft}");
        return Some(soft);
    }
    info!("raised the open file limit from {soft} to {target} (the hard limit)");
    Some(target)
}

/// Descriptors open in this process now (`None` when `/proc/self/fd` cannot be read).
pub fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// How many descriptors the listener may hold for connections, under a soft limit of `limit`
/// with `open` already open: all but those open and [`RESERVED_FDS`]; under a limit too low for
/// that, half of what is left.
pub fn connection_budget(limit: libc::rlim_t, open: usize) -> usize {
    let left = usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(open);
    if left >= 2 * RESERVED_FDS {
        left - RESERVED_FDS
    } else {
        left / 2
    }
}

/// Whether an `accept` error means the process or the system is out of descriptors or memory
/// for sockets (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): retrying at once cannot succeed.
pub fn is_out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_the_reserve_and_what_is_open() {
        assert_eq!(connection_budget(1024, 20), 1024 - 20 - RESERVED_FDS);
        assert_eq!(connection_budget(20 + 2 * RESERVED_FDS as libc::rlim_t, 20), RESERVED_FDS);
        assert_eq!(connection_budget(50, 20), 15, "a low limit is shared half and half");
        assert_eq!(connection_budget(10, 20), 0);
        assert_eq!(connection_budget(libc::rlim_t::MAX, 0), usize::MAX - RESERVED_FDS);
    }

    #[test]
    fn out_of_descriptors_is_recognised() {
        assert!(is_out_of_resources(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(is_out_of_resources(&io::Error::from_raw_os_error(libc::ENFILE)));
        assert!(!is_out_of_resources(&io::Error::from_raw_os_error(libc::ECONNABORTED)));
        assert!(!is_out_of_resources(&io::Error::from(io::ErrorKind::WouldBlock)));
    }

    #[test]
    fn the_limit_is_readable_and_open_descriptors_countable() {
        let (soft, hard) = nofile_limit().unwrap();
        assert!(soft <= hard && soft > 0);
        assert!(open_fds().unwrap() >= 3);
    }
}
