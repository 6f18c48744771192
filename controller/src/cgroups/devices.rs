//! Exact cgroup v1 device rules.
//!
//! libcgroups' v1 `apply` always appends its own allow-list (null, zero,
//! full, tty, random, urandom, console, ptmx, pts, tun, and mknod of any
//! device) after the caller's rules. To end up with exactly the rules the
//! caller asked for, this module models the kernel's device cgroup state
//! (security/device_cgroup.c): a default behaviour (allow all / deny all)
//! plus a list of exceptions keyed by (type, major, minor), each with
//! r/w/m access bits. We compute the wanted state from the state before
//! the apply plus the caller's rules, read the state after libcgroups ran,
//! and write only the differences. When the default behaviour does not
//! change, no "a" reset is written, so a running container never sees a
//! moment where all devices are denied (runc's devices emulator avoids the
//! same flash for the same reason).
//!
//! Limitation of the kernel interface: in allow-all mode `devices.list`
//! shows only `a *:* rwm` and hides the deny exceptions, so in that mode we
//! can only re-assert the exceptions derived from the caller's rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

/// Access bit: read.
const READ: u8 = 1;
/// Access bit: write.
const WRITE: u8 = 2;
/// Access bit: mknod.
const MKNOD: u8 = 4;
const ALL_ACCESS: u8 = READ | WRITE | MKNOD;

/// The key of a kernel device exception: type ('b' or 'c'), major, minor;
/// `None` stands for the `*` wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct DevKey {
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

/// One rule as the kernel understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DevRule {
    /// `a`: reset the default behaviour and drop every exception.
    All { allow: bool },
    /// A `b`/`c` rule with access bits.
    Dev {
        allow: bool,
        key: DevKey,
        access: u8,
    },
}

/// The kernel's state of one devices cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(super) struct DevState {
    /// Default behaviour: true = allow all (exceptions deny),
    /// false = deny all (exceptions allow).
    pub allow_all: bool,
    pub exceptions: BTreeMap<DevKey, u8>,
}

/// Which file a write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DevFile {
    Allow,
    Deny,
}

impl DevFile {
    pub(super) fn name(self) -> &'static str {
        match self {
            DevFile::Allow => "devices.allow",
            DevFile::Deny => "devices.deny",
        }
    }
}

fn access_string(bits: u8) -> String {
    let mut s = String::new();
    if bits & READ != 0 {
        s.push('r');
    }
    if bits & WRITE != 0 {
        s.push('w');
    }
    if bits & MKNOD != 0 {
        s.push('m');
    }
    s
}

fn num_string(n: Option<u32>) -> String {
    n.map_or_else(|| "*".to_string(), |n| n.to_string())
}

/// Format an exception the way `devices.allow`/`devices.deny` accept it.
pub(super) fn rule_line(key: &DevKey, bits: u8) -> String {
    format!(
        "{} {}:{} {}",
        key.typ,
        num_string(key.major),
        num_string(key.minor),
        access_string(bits)
    )
}

/// Convert OCI `linux.resources.devices` into kernel rules, rejecting what
/// the v1 devices controller cannot express. Errors name the entry, e.g.
/// `linux.resources.devices[2].access: invalid character 'x' (only r, w, m)`.
pub(super) fn rules_from_oci(devs: &[LinuxDeviceCgroup]) -> Result<Vec<DevRule>, CgroupError> {
    let mut out = Vec::with_capacity(devs.len());
    for (i, d) in devs.iter().enumerate() {
        let field = |f: &str| format!("linux.resources.devices[{i}].{f}");
        let mut access = 0u8;
        let acc = d.access().as_deref().unwrap_or("");
        for ch in acc.chars() {
            access |= match ch {
                'r' => READ,
                'w' => WRITE,
                'm' => MKNOD,
                _ => {
                    return Err(CgroupError::invalid(
                        field("access"),
                        format!("invalid character {ch:?} in {acc:?} (only r, w, m)"),
                    ));
                }
            };
        }
        if access == 0 {
            // OCI leaves "access" optional; runc treats a missing value as "rwm".
            access = ALL_ACCESS;
        }
        let num = |v: Option<i64>, name: &str| -> Result<Option<u32>, CgroupError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
                Some(n) => Err(CgroupError::invalid(
                    field(name),
                    format!("{n} is not a device number (use -1 or omit it for any)"),
                )),
            }
        };
        let typ = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => {
                out.push(DevRule::All { allow: d.allow() });
                continue;
            }
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(CgroupError::invalid(
                    field("type"),
                    "\"p\" (fifo) rules cannot be expressed by the devices cgroup".to_string(),
                ));
            }
        };
        let key = DevKey {
            typ,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
        };
        out.push(DevRule::Dev {
            allow: d.allow(),
            key,
            access,
        });
    }
    Ok(out)
}

impl DevState {
    /// Parse the contents of `devices.list`.
    pub(super) fn parse_list(text: &str) -> Result<DevState, String> {
        let mut st = DevState::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let bad = || format!("unexpected devices.list line {line:?}");
            let mut parts = line.split_whitespace();
            let (Some(t), Some(mm), Some(acc), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            if t == "a" {
                // Only shown in allow-all mode, and then it is the only line.
                st.allow_all = true;
                st.exceptions.clear();
                continue;
            }
            let typ = match t {
                "b" => 'b',
                "c" => 'c',
                _ => return Err(bad()),
            };
            let (maj, min) = mm.split_once(':').ok_or_else(bad)?;
            let parse = |s: &str| -> Result<Option<u32>, String> {
                if s == "*" {
                    Ok(None)
                } else {
                    s.parse().map(Some).map_err(|_| bad())
                }
            };
            let key = DevKey {
                typ,
                major: parse(maj)?,
                minor: parse(min)?,
            };
            let mut bits = 0;
            for ch in acc.chars() {
                bits |= match ch {
                    'r' => READ,
                    'w' => WRITE,
                    'm' => MKNOD,
                    _ => return Err(bad()),
                };
            }
            *st.exceptions.entry(key).or_default() |= bits;
        }
        Ok(st)
    }

    /// Apply one rule with the kernel's semantics.
    pub(super) fn apply(&mut self, rule: &DevRule) {
        match *rule {
            DevRule::All { allow } => {
                self.allow_all = allow;
                self.exceptions.clear();
            }
            DevRule::Dev { allow, key, access } => {
                // An exception adds to the list when the rule goes against
                // the default behaviour, and is trimmed when it agrees.
                if allow != self.allow_all {
                    *self.exceptions.entry(key).or_default() |= access;
                } else if let Some(bits) = self.exceptions.get_mut(&key) {
                    *bits &= !access;
                    if *bits == 0 {
                        self.exceptions.remove(&key);
                    }
                }
            }
        }
    }

    /// Render as `devices.list` would show it (for error messages).
    pub(super) fn describe(&self) -> String {
        if self.allow_all {
            let mut s = "a *:* rwm".to_string();
            for (k, b) in &self.exceptions {
                let _ = write!(s, ", deny {}", rule_line(k, *b));
            }
            return s;
        }
        let v: Vec<String> = self
            .exceptions
            .iter()
            .map(|(k, b)| rule_line(k, *b))
            .collect();
        if v.is_empty() {
            "(deny all)".to_string()
        } else {
            v.join(", ")
        }
    }
}

/// Whether `rules`, applied from deny-all, ever take access away from a
/// device that a wildcard exception of the other kind covers (say `deny b
/// 8:1 w` while `allow b 8:* rw` is listed): the v1 devices controller
/// ignores such a rule, so the container would keep (or lack) the access
/// the config removes (or grants). runc's device emulator refuses it with
/// "cannot punch hole in existing wildcard rule". Returns the index of the
/// first such rule.
pub(super) fn check_holes(rules: &[DevRule]) -> Result<(), usize> {
    let mut st = DevState::default();
    for (i, r) in rules.iter().enumerate() {
        if let DevRule::Dev { allow, key, access } = *r
            && allow == st.allow_all
        {
            let covered = st.exceptions.iter().any(|(w, bits)| {
                w != &key
                    && w.typ == key.typ
                    && (w.major.is_none() || w.major == key.major)
                    && (w.minor.is_none() || w.minor == key.minor)
                    && bits & access != 0
            });
            if covered {
                return Err(i);
            }
        }
        st.apply(r);
    }
    Ok(())
}

/// The writes that turn `actual` into `target`, in order.
pub(super) fn plan(target: &DevState, actual: &DevState) -> Vec<(DevFile, String)> {
    let mut writes = Vec::new();
    // File that adds an exception in the target's mode, and the one that trims.
    let (add, trim) = if target.allow_all {
        (DevFile::Deny, DevFile::Allow)
    } else {
        (DevFile::Allow, DevFile::Deny)
    };
    if target.allow_all != actual.allow_all {
        writes.push((trim, "a".to_string()));
        for (k, b) in &target.exceptions {
            writes.push((add, rule_line(k, *b)));
        }
        return writes;
    }
    if target.allow_all {
        // Deny exceptions are invisible in this mode; re-assert ours. Adding
        // an exception that already exists is a no-op for the kernel.
        for (k, b) in &target.exceptions {
            writes.push((add, rule_line(k, *b)));
        }
        return writes;
    }
    // Deny-all mode: take away extra access first (the safe direction),
    // then add what is missing.
    for (k, b) in &actual.exceptions {
        let want = target.exceptions.get(k).copied().unwrap_or(0);
        let extra = b & !want;
        if extra != 0 {
            writes.push((trim, rule_line(k, extra)));
        }
    }
    for (k, b) in &target.exceptions {
        let have = actual.exceptions.get(k).copied().unwrap_or(0);
        let missing = b & !have;
        if missing != 0 {
            writes.push((add, rule_line(k, missing)));
        }
    }
    writes
}

/// The writes that bring a devices cgroup without processes or children,
/// in any state, to `target`: the reset (`a` to the file that trims in the
/// target's mode), then every exception. (The kernel refuses a reset in a
/// cgroup with children; a running container would see every device
/// denied for a moment: use [`plan`] there.)
pub(super) fn reset_plan(target: &DevState) -> Vec<(DevFile, String)> {
    let (add, trim) = if target.allow_all {
        (DevFile::Deny, DevFile::Allow)
    } else {
        (DevFile::Allow, DevFile::Deny)
    };
    let mut writes = vec![(trim, "a".to_string())];
    for (k, b) in &target.exceptions {
        writes.push((add, rule_line(k, *b)));
    }
    writes
}

/// The rules runc appends to every container's device list (runc's
/// `AllowedDevices`): mknod of any block or char device, /dev/null,
/// /dev/random, /dev/full, /dev/tty, /dev/zero, /dev/urandom,
/// /dev/console, /dev/pts/*, /dev/ptmx and /dev/net/tun.
pub(super) fn runc_default_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(typ: char, major: Option<u32>, minor: Option<u32>) -> DevKey {
        DevKey { typ, major, minor }
    }

    #[test]
    fn parse_and_emulate() {
        let root = DevState::parse_list("a *:* rwm\n").unwrap();
        assert!(root.allow_all && root.exceptions.is_empty());
        let mut st = root.clone();
        st.apply(&DevRule::All { allow: false });
        st.apply(&DevRule::Dev {
            allow: true,
            key: key('c', Some(1), Some(3)),
            access: ALL_ACCESS,
        });
        st.apply(&DevRule::Dev {
            allow: true,
            key: key('c', Some(1), Some(5)),
            access: READ,
        });
        st.apply(&DevRule::Dev {
            allow: false,
            key: key('c', Some(1), Some(3)),
            access: MKNOD,
        });
        let listed = DevState::parse_list("c 1:3 rw\nc 1:5 r\n").unwrap();
        assert_eq!(st, listed);
        assert_eq!(
            DevState::parse_list("c *:* m\nb 8:* rwm\n")
                .unwrap()
                .describe(),
            "b 8:* rwm, c *:* m"
        );
    }

    #[test]
    fn plan_trims_extras_without_reset() {
        let target = DevState::parse_list("c 1:3 rwm\n").unwrap();
        let actual = DevState::parse_list("c 1:3 rwm\nc 1:5 rwm\nc *:* m\n").unwrap();
        let w = plan(&target, &actual);
        assert_eq!(
            w,
            vec![
                (DevFile::Deny, "c *:* m".to_string()),
                (DevFile::Deny, "c 1:5 rwm".to_string())
            ]
        );
        // A mode change needs a reset.
        let allow = DevState::parse_list("a *:* rwm").unwrap();
        assert_eq!(plan(&target, &allow)[0], (DevFile::Deny, "a".to_string()));
        assert!(plan(&target, &target).is_empty());
    }

    #[test]
    fn reset_plan_writes_the_whole_target() {
        let deny = DevState::parse_list("c 1:3 rwm\nc *:* m\n").unwrap();
        assert_eq!(
            reset_plan(&deny),
            vec![
                (DevFile::Deny, "a".to_string()),
                (DevFile::Allow, "c *:* m".to_string()),
                (DevFile::Allow, "c 1:3 rwm".to_string())
            ]
        );
        let mut allow = DevState::parse_list("a *:* rwm").unwrap();
        allow.apply(&DevRule::Dev {
            allow: false,
            key: key('c', Some(1), Some(3)),
            access: WRITE,
        });
        assert_eq!(
            reset_plan(&allow),
            vec![
                (DevFile::Allow, "a".to_string()),
                (DevFile::Deny, "c 1:3 w".to_string())
            ]
        );
    }

    #[test]
    fn oci_conversion() {
        let mut bad = LinuxDeviceCgroup::default();
        bad.set_typ(Some(LinuxDeviceType::C));
        bad.set_access(Some("rx".into()));
        let e = rules_from_oci(&[LinuxDeviceCgroup::default(), bad]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.devices[1].access: "),
            "{e}"
        );
        let rules = rules_from_oci(&runc_default_rules()).unwrap();
        assert_eq!(rules.len(), 11);
    }

    #[test]
    fn holes_in_wildcard_rules_are_found() {
        let dev = |allow, typ, major, minor, access| DevRule::Dev {
            allow,
            key: DevKey { typ, major, minor },
            access,
        };
        // deny all; allow b 8:* rw; deny b 8:1 w: a hole.
        let rules = [
            DevRule::All { allow: false },
            dev(true, 'b', Some(8), None, READ | WRITE),
            dev(false, 'b', Some(8), Some(1), WRITE),
        ];
        assert_eq!(check_holes(&rules), Err(2));
        // allow all; deny c *:* rwm; allow c 1:3 rwm (runc's default): a hole.
        let rules = [
            DevRule::All { allow: true },
            dev(false, 'c', None, None, ALL_ACCESS),
            dev(true, 'c', Some(1), Some(3), ALL_ACCESS),
        ];
        assert_eq!(check_holes(&rules), Err(2));
        // Trimming an exact exception, or one a wildcard does not cover: fine.
        let rules = [
            DevRule::All { allow: false },
            dev(true, 'c', Some(1), Some(3), ALL_ACCESS),
            dev(false, 'c', Some(1), Some(3), WRITE),
            dev(true, 'c', Some(4), None, READ),
            dev(false, 'c', Some(1), Some(5), WRITE),
        ];
        assert_eq!(check_holes(&rules), Ok(()));
    }
}
