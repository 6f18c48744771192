//! The container's user database: `/etc/passwd` and `/etc/group` of the
//! **rootfs** (never the host's), read ahead of time by the controller.
//!
//! Used for `HOME` (when `process.env` has none: the passwd entry's home
//! for `process.user.uid`, else `/`, as runc's `prepareEnv` does) and for
//! image plans' `--user NAME`. (`process.user.username` is Windows-only and
//! ignored, as runc does.) Supplementary groups are exactly
//! `process.user.additionalGids`: nothing is added from `/etc/group`
//! (runc commit 7dc24868 dropped that parsing from its init too).
//!
//! The files are opened with `openat2(RESOLVE_IN_ROOT)` below the rootfs,
//! so a symlinked `/etc/passwd` (common: crun's tests make it one) resolves
//! inside the rootfs and can never reach a host file.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// Largest passwd/group file read (bytes); the rest is ignored.
const MAX_FILE: u64 = 16 << 20;

/// One line of `passwd(5)`: `name:password:uid:gid:gecos:home:shell`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric primary group id.
    pub gid: u32,
    /// Home directory (may be empty).
    pub home: String,
}

/// One line of `group(5)`: `name:password:gid:member,member`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
    /// Member login names.
    pub members: Vec<String>,
}

/// Whether a line is to be skipped: empty, a comment, or an NIS `+`/`-` entry.
fn skip(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('+') || t.starts_with('-')
}

/// Parses `passwd(5)` text; malformed lines are skipped (as glibc does).
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !skip(l))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// Parses `group(5)` text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !skip(l))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// `HOME` for `uid`: the first passwd entry's home, `/` when there is no
/// entry or its home is empty.
pub fn home_for(uid: u32, passwd: &[PasswdEntry]) -> String {
    passwd
        .iter()
        .find(|e| e.uid == uid)
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

/// Reads `rel` (e.g. `etc/passwd`) inside `rootfs`, resolving every path
/// component (symlinks included) as if `rootfs` were `/`. `Ok(None)` when
/// the file or a directory on the way does not exist.
///
/// Errors: any other failure, naming the file.
pub fn read_in_rootfs(rootfs: &Path, rel: &str) -> Result<Option<String>> {
    let file = match sys::open_in_root(rootfs, rel) {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(None);
        }
        Err(e) => return Err(Error::io(format!("rootfs /{rel}: open"), &e)),
    };
    let mut buf = Vec::new();
    file.take(MAX_FILE)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("rootfs /{rel}: read"), &e))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The rootfs's users (empty when there is no `/etc/passwd`).
pub fn rootfs_passwd(rootfs: &Path) -> Result<Vec<PasswdEntry>> {
    Ok(read_in_rootfs(rootfs, "etc/passwd")?
        .map(|t| parse_passwd(&t))
        .unwrap_or_default())
}

/// The rootfs's groups (empty when there is no `/etc/group`).
pub fn rootfs_groups(rootfs: &Path) -> Result<Vec<GroupEntry>> {
    Ok(read_in_rootfs(rootfs, "etc/group")?
        .map(|t| parse_group(&t))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
# comment
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
broken line
bad:x:notanumber:0::/x:/bin/sh
demo:x:1000:1000:Demo User:/home/demo:/bin/sh
nohome:x:1001:1001:::/bin/sh
+nisuser::::::

dup:x:1000:5::/second:/bin/sh
";

    #[test]
    fn parses_passwd_skipping_bad_lines() {
        let p = parse_passwd(PASSWD);
        let names: Vec<&str> = p.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "demo", "nohome", "dup"]);
        assert_eq!(
            p[2],
            PasswdEntry {
                name: "demo".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/demo".into()
            }
        );
    }

    #[test]
    fn home_resolution() {
        let p = parse_passwd(PASSWD);
        assert_eq!(home_for(0, &p), "/root");
        assert_eq!(home_for(1000, &p), "/home/demo"); // first entry wins
        assert_eq!(home_for(1001, &p), "/"); // empty home
        assert_eq!(home_for(4242, &p), "/"); // no entry
        assert_eq!(home_for(0, &[]), "/"); // no file
    }

    #[test]
    fn parses_group() {
        let g = parse_group("root:x:0:\nextra:x:2000:demo, other\n#c\nbad:x:y:\nshort:x\n");
        assert_eq!(
            g,
            [
                GroupEntry {
                    name: "root".into(),
                    gid: 0,
                    members: vec![]
                },
                GroupEntry {
                    name: "extra".into(),
                    gid: 2000,
                    members: vec!["demo".into(), "other".into()]
                },
            ]
        );
    }

    #[test]
    fn reads_inside_the_rootfs_only() {
        let dir = std::env::temp_dir().join(format!("sprout-user-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::create_dir_all(dir.join("usr/share")).unwrap();
        std::fs::write(dir.join("usr/share/passwd"), "u:x:7:7::/home/u:/bin/sh\n").unwrap();
        // An absolute symlink resolves inside the rootfs, not on the host.
        std::os::unix::fs::symlink("/usr/share/passwd", dir.join("etc/passwd")).unwrap();
        // A symlink climbing out with .. stays inside too.
        std::os::unix::fs::symlink("../../../../../../../etc/hostname", dir.join("etc/group"))
            .unwrap();
        let p = rootfs_passwd(&dir).unwrap();
        assert_eq!(home_for(7, &p), "/home/u");
        assert_eq!(read_in_rootfs(&dir, "etc/group").unwrap(), None);
        assert_eq!(read_in_rootfs(&dir, "etc/shadow").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rootfs_passwd(&dir).unwrap(), vec![]);
    }
}
