//! This agent's machine GUID, kept where netdata keeps its own, so that a child can never
//! stream this agent back into itself and a drop-in replacement keeps the machine's identity.
//!
//! One job: read the GUID from `[registry] netdata unique id file` (netdata 1.37's
//! `/var/lib/netdata/registry/netdata.public.unique.id`), or make one and write it there. A new
//! GUID is a random UUID version 4 from the kernel's `getrandom(2)` (through `libc`, which is
//! already a dependency: sixteen random bytes need no crate of their own).

use std::io;
use std::path::Path;

use tracing::{info, warn};

use super::request::is_uuid;

/// A random UUID version 4 (RFC 4122 variant), lowercase.
pub fn random_uuid() -> io::Result<String> {
    let mut b = [0u8; 16];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: the pointer and length describe the unfilled rest of `b`.
        let n = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += n as usize;
    }
    Ok(format_uuid(b))
}

/// Format 16 bytes as a version 4 UUID (the version and variant bits are set).
fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The GUID stored in `file`, `None` when the file does not exist or holds no UUID (the error
/// says which).
fn read_guid(file: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let guid = text.trim();
            if is_uuid(guid) {
                Ok(Some(guid.to_ascii_lowercase()))
            } else {
                Err(format!("{} does not hold a UUID", file.display()))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    }
}

/// This agent's machine GUID: the one in `file`, or a new one written there (its directory is
/// created). When it cannot be written, the new GUID is used for this run only and a warning
/// says what to fix.
pub fn load_or_create(file: &Path) -> String {
    let unreadable = match read_guid(file) {
        Ok(Some(guid)) => return guid,
        Ok(None) => None,
        Err(e) => Some(e),
    };
    let guid = match random_uuid() {
        Ok(g) => g,
        Err(e) => {
            warn!("cannot make a machine GUID: getrandom failed: {e}; this agent cannot recognise itself streamed back");
            return String::new();
        }
    };
    let written =
        file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(file, &guid));
    match (written, unreadable) {
        (Ok(()), None) => info!("machine GUID {guid} created in {}", file.display()),
        (Ok(()), Some(why)) => warn!("{why}; replaced it with a new machine GUID {guid}"),
        (Err(e), why) => warn!(
            "cannot write the machine GUID to {}: {e}{}; using {guid} for this run only (a child \
             streaming this agent back is recognised only while it runs); fix the permissions or \
             set [registry] netdata unique id file",
            file.display(),
            why.map(|w| format!(" ({w})")).unwrap_or_default()
        ),
    }
    guid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let a = random_uuid().unwrap();
        let b = random_uuid().unwrap();
        assert!(is_uuid(&a) && a != b, "{a} {b}");
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_eq!(format_uuid([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    #[test]
    fn a_guid_is_created_once_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry/netdata.public.unique.id");
        let first = load_or_create(&file);
        assert!(is_uuid(&first));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
        assert_eq!(load_or_create(&file), first);
    }

    #[test]
    fn netdatas_own_file_is_read_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("netdata.public.unique.id");
        std::fs::write(&file, "7022436A-E979-11F1-B6A4-02FC00000001\n").unwrap();
        assert_eq!(load_or_create(&file), "7022436a-e979-11f1-b6a4-02fc00000001");
    }

    #[test]
    fn garbage_is_replaced_and_an_unwritable_place_still_gives_a_guid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("id");
        std::fs::write(&file, "not a uuid").unwrap();
        let guid = load_or_create(&file);
        assert!(is_uuid(&guid));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), guid);
        // A path under a regular file can never be created.
        let blocked = file.join("sub/id");
        let a = load_or_create(&blocked);
        let b = load_or_create(&blocked);
        assert!(is_uuid(&a) && is_uuid(&b) && a != b, "a fresh one each run");
    }
}
