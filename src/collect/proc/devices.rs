//! Which network interfaces and block devices get charts, and what disks are called.
//!
//! The rules are netdata 1.37's defaults:
//!
//! * interfaces: all but those matching `lo fireqos* *-ifb fwpr* fwbr* fwln*`
//!   (netdata's `disable by default interfaces matching`);
//! * block devices: physical disks and virtual ones (device-mapper, md, …), but not partitions
//!   (`performance metrics for partitions = no`) and not `loop*` or `ram*` (`exclude disks`).
//!   A device is a partition when `/sys/dev/block/MAJOR:MINOR/partition` exists. When `/sys` is
//!   not readable the type is unknown and, as in netdata, the device is included;
//! * a disk's chart name is its device-mapper name (`/dev/mapper/*`) or its filesystem label
//!   (`/dev/disk/by-label/*`) when a symlink there points at the device, else the kernel name;
//!   its family is where it is mounted (`/proc/self/mountinfo`), else its name.
//!
//! In both cases a chart is only created once the device has moved data (netdata's `auto`):
//! an interface or disk that has never carried a byte gets no chart.
//!
//! Paths are looked up under the configured root, like the `/proc` files. This module knows
//! nothing about charts or the store.

use std::path::Path;

use super::parse::Mount;

/// Whether netdata leaves this interface out by default.
pub fn iface_excluded(name: &str) -> bool {
    name == "lo"
        || name.starts_with("fireqos")
        || name.ends_with("-ifb")
        || name.starts_with("fwpr")
        || name.starts_with("fwbr")
        || name.starts_with("fwln")
}

/// What kind of block device a `/proc/diskstats` row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskKind {
    /// A whole disk (`/sys/block/NAME` exists).
    Physical,
    /// A partition of a disk.
    Partition,
    /// A device built on others: device-mapper, md, …
    Virtual,
    /// `/sys` said nothing about it.
    Unknown,
}

/// Classify a block device the way netdata does, from `/sys` under `root`.
pub fn disk_kind(root: &Path, name: &str, major: u32, minor: u32) -> DiskKind {
    let dev = root.join(format!("sys/dev/block/{major}:{minor}"));
    if dev.join("partition").exists() {
        return DiskKind::Partition;
    }
    if root.join("sys/devices/virtual/block").join(name).exists() {
        return DiskKind::Virtual;
    }
    if let Ok(mut slaves) = std::fs::read_dir(dev.join("slaves")) {
        if slaves.next().is_some() {
            return DiskKind::Virtual;
        }
    }
    if root.join("sys/block").join(name).exists() {
        return DiskKind::Physical;
    }
    DiskKind::Unknown
}

/// Whether a block device gets a chart: not a partition, not `loop*`, not `ram*`.
pub fn disk_included(name: &str, kind: DiskKind) -> bool {
    kind != DiskKind::Partition && !name.starts_with("loop") && !name.starts_with("ram")
}

/// The friendly name of a block device: the first entry (in name order) of `/dev/mapper`, then
/// of `/dev/disk/by-label`, that is a symlink to it; else its kernel name.
pub fn disk_name(root: &Path, device: &str) -> String {
    for dir in ["dev/mapper", "dev/disk/by-label"] {
        if let Some(name) = symlink_to(&root.join(dir), device) {
            return name;
        }
    }
    device.to_string()
}

fn symlink_to(dir: &Path, device: &str) -> Option<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir).ok()?.filter_map(Result::ok).collect();
    names.sort_by_key(|e| e.file_name());
    names.into_iter().find_map(|e| {
        let target = std::fs::read_link(e.path()).ok()?;
        (target.file_name()? == device).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// Where a device is mounted: the first mount of `major:minor` whose source is the device
/// itself (`/dev/sdb` for `sdb`), as netdata matches them.
pub fn mount_point(mounts: &[Mount], major: u32, minor: u32, device: &str) -> Option<String> {
    mounts
        .iter()
        .find(|m| m.major == major && m.minor == minor && m.source.rsplit('/').next() == Some(device))
        .map(|m| m.mount_point.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn netdata_default_interface_exclusions() {
        let excluded: Vec<&str> =
            ["lo", "eth0", "fireqos0", "eth0-ifb", "fwpr1", "fwbr2", "fwln3", "ifb0", "veth1@if2", "lo0"]
                .into_iter()
                .filter(|n| iface_excluded(n))
                .collect();
        assert_eq!(excluded, ["lo", "fireqos0", "eth0-ifb", "fwpr1", "fwbr2", "fwln3"]);
    }

    #[test]
    fn disks_are_classified_from_sys() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("sys/block/sda")).unwrap();
        fs::create_dir_all(r.join("sys/dev/block/8:1")).unwrap();
        fs::write(r.join("sys/dev/block/8:1/partition"), "1\n").unwrap();
        fs::create_dir_all(r.join("sys/block/dm-0")).unwrap();
        fs::create_dir_all(r.join("sys/devices/virtual/block/dm-0")).unwrap();
        fs::create_dir_all(r.join("sys/block/md0")).unwrap();
        fs::create_dir_all(r.join("sys/dev/block/9:0/slaves/sda")).unwrap();
        assert_eq!(disk_kind(r, "sda", 8, 0), DiskKind::Physical);
        assert_eq!(disk_kind(r, "sda1", 8, 1), DiskKind::Partition);
        assert_eq!(disk_kind(r, "dm-0", 253, 0), DiskKind::Virtual);
        assert_eq!(disk_kind(r, "md0", 9, 0), DiskKind::Virtual);
        assert_eq!(disk_kind(r, "vdz", 254, 9), DiskKind::Unknown);
    }

    #[test]
    fn partitions_loop_and_ram_devices_are_left_out() {
        assert!(disk_included("sda", DiskKind::Physical));
        assert!(disk_included("dm-0", DiskKind::Virtual));
        assert!(disk_included("vdz", DiskKind::Unknown));
        assert!(!disk_included("sda1", DiskKind::Partition));
        assert!(!disk_included("loop0", DiskKind::Physical));
        assert!(!disk_included("ram0", DiskKind::Physical));
    }

    #[test]
    fn disks_are_named_by_mapper_then_label() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("dev/mapper")).unwrap();
        fs::create_dir_all(r.join("dev/disk/by-label")).unwrap();
        std::os::unix::fs::symlink("../dm-0", r.join("dev/mapper/vg0-root")).unwrap();
        std::os::unix::fs::symlink("../../vdb", r.join("dev/disk/by-label/data")).unwrap();
        std::os::unix::fs::symlink("../../dm-0", r.join("dev/disk/by-label/rootfs")).unwrap();
        fs::write(r.join("dev/mapper/control"), "").unwrap();
        assert_eq!(disk_name(r, "dm-0"), "vg0-root");
        assert_eq!(disk_name(r, "vdb"), "data");
        assert_eq!(disk_name(r, "sda"), "sda");
        assert_eq!(disk_name(&r.join("missing"), "sda"), "sda");
    }

    #[test]
    fn mount_point_needs_the_device_itself_as_source() {
        let m = |major, minor, mp: &str, src: &str| Mount {
            major,
            minor,
            mount_point: mp.into(),
            source: src.into(),
        };
        let mounts = [
            m(254, 0, "/", "/dev/vda"),
            m(253, 0, "/home", "/dev/mapper/vg0-home"),
            m(254, 16, "/data", "/dev/vdb"),
        ];
        assert_eq!(mount_point(&mounts, 254, 0, "vda").as_deref(), Some("/"));
        assert_eq!(mount_point(&mounts, 254, 16, "vdb").as_deref(), Some("/data"));
        assert_eq!(mount_point(&mounts, 253, 0, "dm-0"), None);
        assert_eq!(mount_point(&mounts, 8, 0, "sda"), None);
    }
}
