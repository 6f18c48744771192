//! Capability names to bit numbers (`capabilities(7)`), and the five
//! `process.capabilities` sets to the masks of [`sprout_protocol::Caps`].
//!
//! Names follow the OCI runtime spec (`CAP_` + the kernel's name, e.g.
//! `CAP_NET_BIND_SERVICE`). In a config or an `exec` process only that
//! exact spelling counts, as in runc ([`bit_of_exact`]); an image plan's
//! `--cap-add` also takes lower case and a missing prefix ([`bit_of`]). A
//! name unknown to sprout in a config or an
//! `exec` process is dropped with a warning ([`drop_unknown`]), and so is a
//! capability sprout knows but the running kernel does not (number above
//! `/proc/sys/kernel/cap_last_cap`), as runc does ("ignoring unknown or
//! unavailable capabilities"); an image plan's `--cap-add` refuses an
//! unknown name ([`mask_of`]).

use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use sprout_protocol::Caps;

use crate::error::{Result, warn};

/// Capability names indexed by bit number, from `<linux/capability.h>`
/// (0 = `CAP_CHOWN` ... 40 = `CAP_CHECKPOINT_RESTORE`, Linux 5.9).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bit number of a capability name (`"CAP_KILL"` -> 5). Accepts lower
/// case and a missing `CAP_` prefix; `None` for an unknown name.
pub fn bit_of(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let mut bare = upper.as_str();
    while let Some(rest) = bare.strip_prefix("CAP_") {
        bare = rest;
    }
    NAMES.iter().position(|n| &n[4..] == bare).map(|i| i as u32)
}

/// The bit number of a capability named exactly as the OCI runtime spec
/// and runc spell it: `CAP_` and the kernel's name in upper case
/// (`"CAP_KILL"` -> 5). `None` for anything else, `"kill"` or `"KILL"`
/// included: runc ignores those as unknown, and so must a config or an
/// `exec --cap` here, or sprout would grant what runc does not.
pub fn bit_of_exact(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// The names of the bits set in `mask`, lowest first; bits without a name
/// show as `CAP_<n>`.
pub fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            NAMES
                .get(b)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("CAP_{b}"))
        })
        .collect()
}

/// Reads `/proc/sys/kernel/cap_last_cap` (the highest capability number the
/// running kernel knows). Falls back to the last one sprout knows (40) if
/// the file cannot be read.
pub fn read_cap_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// The mask of a list of capability names for the set `field` (e.g.
/// `process.capabilities.bounding`).
///
/// Errors: an unknown name (`process.capabilities.bounding: unknown
/// capability "CAP_FOO"`). Names above `cap_last_cap` are dropped with a
/// warning on stderr.
pub fn mask_of<'a>(
    field: &str,
    names: impl IntoIterator<Item = &'a str>,
    cap_last_cap: u32,
) -> Result<u64> {
    let mut mask = 0u64;
    let mut unavailable = Vec::new();
    for name in names {
        let Some(bit) = bit_of(name) else {
            crate::bail!("{field}: unknown capability \"{name}\"");
        };
        if bit > cap_last_cap {
            unavailable.push(name.to_string());
            continue;
        }
        mask |= 1u64 << bit;
    }
    if !unavailable.is_empty() {
        unavailable.sort();
        warn(format!(
            "{field}: ignoring capabilities the kernel does not know (cap_last_cap {cap_last_cap}): {}",
            unavailable.join(", ")
        ));
    }
    Ok(mask)
}

/// Names of an oci-spec capability set, `CAP_`-prefixed, sorted (the set is
/// a `HashSet`, so its order is arbitrary).
fn spec_names(set: &Capabilities) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(|c| format!("CAP_{c}")).collect();
    v.sort();
    v
}

/// The five masks of `process.capabilities` (absent sets are empty, as in
/// runc). Errors as [`mask_of`].
pub fn resolve(caps: Option<&LinuxCapabilities>, cap_last_cap: u32) -> Result<Caps> {
    let Some(c) = caps else {
        return Ok(Caps::default());
    };
    let set = |name: &str, s: &Option<Capabilities>| -> Result<u64> {
        match s {
            None => Ok(0),
            Some(s) => {
                let names = spec_names(s);
                mask_of(
                    &format!("process.capabilities.{name}"),
                    names.iter().map(String::as_str),
                    cap_last_cap,
                )
            }
        }
    };
    let mut caps = Caps {
        bounding: set("bounding", c.bounding())?,
        effective: set("effective", c.effective())?,
        permitted: set("permitted", c.permitted())?,
        inheritable: set("inheritable", c.inheritable())?,
        ambient: set("ambient", c.ambient())?,
    };
    caps.ambient = ambient_allowed(&caps);
    Ok(caps)
}

/// The ambient mask the kernel can take: `PR_CAP_AMBIENT_RAISE` needs the
/// capability in both permitted and inheritable (capabilities(7)). runc
/// ignores a failed raise silently (its capability library drops the
/// error; `runc spec` configs list ambient capabilities without
/// inheritable ones, so a warning would come with every such run, on the
/// container's stderr); we decide it here, ahead of time, and name the
/// dropped ones with `--debug`.
fn ambient_allowed(c: &Caps) -> u64 {
    let ok = c.ambient & c.permitted & c.inheritable;
    let dropped = c.ambient & !ok;
    if dropped != 0 {
        crate::error::debug(format!(
            "process.capabilities.ambient: ignoring {} (an ambient capability must also be permitted and inheritable)",
            names(dropped).join(", ")
        ));
    }
    ok
}

/// Drops the capability names sprout does not know (see [`bit_of_exact`])
/// from a raw JSON config's `process.capabilities` lists before oci-spec
/// parses it, and warns once with every dropped name (`process.capabilities: ignoring
/// unknown capabilities: CAP_BAR, CAP_FOO`), as runc does ("ignoring
/// unknown or unavailable capabilities"): a config written for a newer
/// kernel or runtime still runs. Entries that are not strings are left for
/// the typed parse to refuse. Returns whether anything was dropped.
pub fn drop_unknown(config: &mut serde_json::Value) -> bool {
    let Some(caps) = config
        .pointer_mut("/process/capabilities")
        .and_then(|v| v.as_object_mut())
    else {
        return false;
    };
    let mut dropped = Vec::new();
    for set in [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ] {
        let Some(list) = caps.get_mut(set).and_then(|v| v.as_array_mut()) else {
            continue;
        };
        list.retain(|v| match v.as_str() {
            Some(name) if bit_of_exact(name).is_none() => {
                dropped.push(name.to_string());
                false
            }
            _ => true,
        });
    }
    if dropped.is_empty() {
        return false;
    }
    dropped.sort();
    dropped.dedup();
    // Quoted (Rust's escapes): a name cannot start a line of its own.
    let shown: Vec<String> = dropped.iter().map(|n| format!("{n:?}")).collect();
    warn(format!(
        "process.capabilities: ignoring unknown capabilities: {}",
        shown.join(", ")
    ));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambient_needs_permitted_and_inheritable() {
        let c = Caps {
            bounding: 0x421,
            effective: 0x21,
            permitted: 0x421,
            inheritable: 0x400,
            ambient: 0x421,
        };
        assert_eq!(ambient_allowed(&c), 0x400);
        let none = Caps {
            ambient: 0x20,
            ..Default::default()
        };
        assert_eq!(ambient_allowed(&none), 0);
    }
    use oci_spec::runtime::Capability;

    #[test]
    fn bits_match_the_kernel_header() {
        assert_eq!(bit_of("CAP_CHOWN"), Some(0));
        assert_eq!(bit_of("CAP_KILL"), Some(5));
        assert_eq!(bit_of("CAP_NET_BIND_SERVICE"), Some(10));
        assert_eq!(bit_of("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(bit_of("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(bit_of("CAP_AUDIT_WRITE"), Some(29));
        assert_eq!(bit_of("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(bit_of("net_raw"), Some(13));
        assert_eq!(bit_of("CAP_FOO"), None);
        assert_eq!(bit_of(""), None);
    }

    #[test]
    fn every_oci_spec_capability_has_a_bit() {
        let all = [
            Capability::AuditControl,
            Capability::AuditRead,
            Capability::AuditWrite,
            Capability::BlockSuspend,
            Capability::Bpf,
            Capability::CheckpointRestore,
            Capability::Chown,
            Capability::DacOverride,
            Capability::DacReadSearch,
            Capability::Fowner,
            Capability::Fsetid,
            Capability::IpcLock,
            Capability::IpcOwner,
            Capability::Kill,
            Capability::Lease,
            Capability::LinuxImmutable,
            Capability::MacAdmin,
            Capability::MacOverride,
            Capability::Mknod,
            Capability::NetAdmin,
            Capability::NetBindService,
            Capability::NetBroadcast,
            Capability::NetRaw,
            Capability::Perfmon,
            Capability::Setgid,
            Capability::Setfcap,
            Capability::Setpcap,
            Capability::Setuid,
            Capability::SysAdmin,
            Capability::SysBoot,
            Capability::SysChroot,
            Capability::SysModule,
            Capability::SysNice,
            Capability::SysPacct,
            Capability::SysPtrace,
            Capability::SysRawio,
            Capability::SysResource,
            Capability::SysTime,
            Capability::SysTtyConfig,
            Capability::Syslog,
            Capability::WakeAlarm,
        ];
        let mut mask = 0u64;
        for c in all {
            let bit = bit_of(&format!("CAP_{c}")).unwrap_or_else(|| panic!("{c}"));
            mask |= 1 << bit;
        }
        assert_eq!(mask, (1 << 41) - 1);
    }

    #[test]
    fn masks_and_names() {
        let m = mask_of(
            "x",
            ["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"],
            40,
        )
        .unwrap();
        assert_eq!(m, (1 << 5) | (1 << 10) | (1 << 29));
        assert_eq!(
            names(m),
            ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
        );
        assert_eq!(names(1 << 63), ["CAP_63"]);
    }

    #[test]
    fn unknown_name_is_an_error_naming_the_set() {
        let e = mask_of("process.capabilities.bounding", ["CAP_KILL", "CAP_FOO"], 40).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.capabilities.bounding: unknown capability \"CAP_FOO\""
        );
    }

    #[test]
    fn caps_above_cap_last_cap_are_dropped() {
        let m = mask_of("x", ["CAP_BPF", "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"], 38).unwrap();
        assert_eq!(m, 1);
    }

    #[test]
    fn unknown_names_are_dropped() {
        let mut v = serde_json::json!({"process": {"capabilities": {
            "ambient": ["CAP_KILL", "CAP_NOPE"], "bounding": ["CAP_NOPE", "kill", "SYS_ADMIN", "CAP_CHOWN", 7]}}});
        assert!(drop_unknown(&mut v));
        assert_eq!(
            v,
            serde_json::json!({"process": {"capabilities": {
                "ambient": ["CAP_KILL"], "bounding": ["CAP_CHOWN", 7]}}})
        );
        assert_eq!(bit_of_exact("CAP_KILL"), Some(5));
        assert_eq!(bit_of_exact("cap_kill"), None);
        assert_eq!(bit_of_exact("KILL"), None);
        let mut ok = serde_json::json!({"process": {"capabilities": {"bounding": ["CAP_KILL"]}}});
        assert!(!drop_unknown(&mut ok));
        assert!(!drop_unknown(&mut serde_json::json!({"process": {}})));
    }
}
