//! A cache of compiled seccomp programs, so that the same `linux.seccomp`
//! (podman's and Kubernetes' default profile for every container) is
//! compiled by libseccomp once, not on every `create`/`run`/`exec`:
//! building and exporting a 300-syscall profile for three architectures
//! takes libseccomp 10-20 ms, more than the rest of a `run`.
//!
//! - **Where**: `/run/sprout-cache/seccomp/` (tmpfs: gone at reboot), or
//!   the directory in `SPROUT_SECCOMP_CACHE`; `SPROUT_SECCOMP_CACHE=off`
//!   disables the cache. The directory is created mode 0700; an entry is
//!   used only if it and its directory are owned by this effective uid and
//!   not accessible to group or others (so only whoever could already
//!   change sprout's state can change an entry).
//! - **Key**: the exact bytes of the profile as serialized JSON, the
//!   libseccomp version, the architecture, sprout's version and build,
//!   and the entry format tag ([`MAGIC`], bumped when the compiler's
//!   output changes). The entry
//!   stores the whole key and is used only on an exact match (the file
//!   name is a 64-bit FNV-1a hash of it, an index only).
//! - **Entry**: the program, whether a rule notifies, and the syscall
//!   names libseccomp did not know. Everything else the profile decides
//!   (flags, the listener, warnings) is recomputed from the profile, and
//!   the program is checked again against the stub's own last syscalls.
//! - **Writes** are best-effort and atomic (a temporary file renamed into
//!   place); any failure just means compiling next time.
//! - **Size**: at most [`MAX_ENTRIES`] files; each store removes the
//!   oldest beyond that (by modification time), so a host that sees many
//!   profiles keeps the latest ones and its tmpfs stays small.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use libseccomp::ScmpVersion;
use oci_spec::runtime::LinuxSeccomp;

/// Default cache directory.
const DEFAULT_DIR: &str = "/run/sprout-cache/seccomp";
/// Entry format tag (bump when the entry or the compiler's output changes;
/// 0002: programs start with the -ENOSYS stub).
const MAGIC: &[u8; 8] = b"SPSC0002";
/// The most files the cache directory keeps ([`prune`]): podman's
/// default profile compiles to about 6 KiB, so some 400 KiB at most.
pub const MAX_ENTRIES: usize = 64;

/// A cached compilation.
pub struct Entry {
    /// The BPF program (`struct sock_filter` records).
    pub program: Vec<u8>,
    /// Whether a rule or the default action is `SCMP_ACT_NOTIFY`.
    pub notify: bool,
    /// Syscall names libseccomp did not know.
    pub skipped: Vec<String>,
}

/// The cache directory, or None when disabled.
fn dir() -> Option<PathBuf> {
    match std::env::var_os("SPROUT_SECCOMP_CACHE") {
        Some(v) if v == "off" || v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from(DEFAULT_DIR)),
    }
}

/// The cache key of a profile (see the module docs); None if it cannot be
/// serialized.
pub fn key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut k = serde_json::to_vec(s).ok()?;
    let v = ScmpVersion::current().ok()?;
    // The build that compiles: its commit, and the executable itself
    // (device, inode, size, mtime of /proc/self/exe), so that a program
    // compiled by another build of the same version (an older translation,
    // a bug fixed since) is never taken for this one's.
    let exe = fs::metadata("/proc/self/exe").ok()?;
    // And the format tag: a build whose compiler output changed never
    // looks up an older build's entry, even from the same executable path.
    k.push(0);
    k.extend_from_slice(MAGIC);
    k.extend_from_slice(
        format!(
            "\0libseccomp {}.{}.{}\0{}\0sprout {} {}\0exe {}:{}:{}:{}.{}",
            v.major,
            v.minor,
            v.micro,
            std::env::consts::ARCH,
            env!("CARGO_PKG_VERSION"),
            option_env!("SPROUT_COMMIT").unwrap_or("unknown"),
            exe.dev(),
            exe.ino(),
            exe.size(),
            exe.mtime(),
            exe.mtime_nsec()
        )
        .as_bytes(),
    );
    Some(k)
}

/// 64-bit FNV-1a: the entry's file name (an index, not a proof).
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// True for a file or directory owned by us and closed to group and others.
fn private(m: &fs::Metadata) -> bool {
    m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o077 == 0
}

/// The entry for `key`, if one is stored, private and for exactly `key`.
pub fn load(key: &[u8]) -> Option<Entry> {
    load_in(&dir()?, key)
}

fn load_in(dir: &std::path::Path, key: &[u8]) -> Option<Entry> {
    if !private(&fs::symlink_metadata(dir).ok()?) {
        return None;
    }
    let path = dir.join(format!("{:016x}", fnv1a(key)));
    let mut f = fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || !private(&m) || m.len() > 1 << 20 {
        return None;
    }
    let mut b = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut b).ok()?;
    parse(&b, key)
}

/// Decodes an entry: MAGIC, key length (u32 LE), key, notify (u8),
/// program length (u32 LE), program, then the skipped names, one per line.
fn parse(b: &[u8], key: &[u8]) -> Option<Entry> {
    let rest = b.strip_prefix(MAGIC.as_slice())?;
    let (klen, rest) = split_u32(rest)?;
    let (k, rest) = rest.split_at_checked(klen as usize)?;
    if k != key {
        return None;
    }
    let (&notify, rest) = rest.split_first()?;
    let (plen, rest) = split_u32(rest)?;
    let (program, rest) = rest.split_at_checked(plen as usize)?;
    if program.is_empty() || program.len() % 8 != 0 || notify > 1 {
        return None;
    }
    let skipped = std::str::from_utf8(rest)
        .ok()?
        .lines()
        .map(String::from)
        .collect();
    Some(Entry {
        program: program.to_vec(),
        notify: notify == 1,
        skipped,
    })
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (n, rest) = b.split_at_checked(4)?;
    Some((u32::from_le_bytes(n.try_into().ok()?), rest))
}

/// Stores an entry for `key` (best-effort: errors are ignored).
pub fn store(key: &[u8], e: &Entry) {
    if let Some(dir) = dir() {
        store_in(&dir, key, e);
    }
}

fn store_in(dir: &std::path::Path, key: &[u8], e: &Entry) {
    let _ = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() && private(&m) => {}
        _ => return,
    }
    let mut b = Vec::with_capacity(MAGIC.len() + key.len() + e.program.len() + 16);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(key.len() as u32).to_le_bytes());
    b.extend_from_slice(key);
    b.push(e.notify as u8);
    b.extend_from_slice(&(e.program.len() as u32).to_le_bytes());
    b.extend_from_slice(&e.program);
    b.extend_from_slice(e.skipped.join("\n").as_bytes());
    let name = format!("{:016x}", fnv1a(key));
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let written = fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&b));
    if written.is_err() || fs::rename(&tmp, dir.join(name)).is_err() {
        let _ = fs::remove_file(&tmp);
        return;
    }
    prune(dir);
}

/// Removes the oldest files of `dir` (by modification time, then name)
/// beyond [`MAX_ENTRIES`]: entries, and temporary files a killed writer
/// left. Best-effort. Called after each store, which follows a compile of
/// 10-20 ms, so the directory read costs nothing that matters.
fn prune(dir: &std::path::Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(i64, i64, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            // Only the cache's own files: entries (16 hex digits) and
            // temporary ones (`.NAME.PID`); the directory may be one that
            // `SPROUT_SECCOMP_CACHE` names, holding other files.
            let name = e.file_name();
            let name = name.to_str()?;
            let entry = name.trim_start_matches('.');
            let hex = entry.split('.').next()?;
            let ours = hex.len() == 16
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && (name == hex || name.starts_with('.'));
            let m = e.metadata().ok()?;
            (ours && m.is_file()).then(|| (m.mtime(), m.mtime_nsec(), e.path()))
        })
        .collect();
    if files.len() <= MAX_ENTRIES {
        return;
    }
    files.sort();
    let excess = files.len() - MAX_ENTRIES;
    for (_, _, p) in files.into_iter().take(excess) {
        let _ = fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_removes_only_the_caches_own_files() {
        let d = std::env::temp_dir().join(format!("sprout-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        // Foreign files, older than every entry: never removed.
        for i in 0..10 {
            fs::write(d.join(format!("precious{i}")), "x").unwrap();
        }
        fs::write(d.join("0123456789abcdeg"), "x").unwrap(); // not hex
        std::thread::sleep(std::time::Duration::from_millis(20));
        for i in 0..(MAX_ENTRIES + 5) {
            fs::write(d.join(format!("{:016x}", i as u64 + 1)), "x").unwrap();
        }
        fs::write(d.join(format!(".{:016x}.123", 7u64)), "x").unwrap();
        prune(&d);
        let names: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for i in 0..10 {
            assert!(names.contains(&format!("precious{i}")), "{names:?}");
        }
        assert!(names.contains(&"0123456789abcdeg".to_string()), "{names:?}");
        let ours = names
            .iter()
            .filter(|n| {
                n.len() >= 16 && !n.starts_with("precious") && n.as_str() != "0123456789abcdeg"
            })
            .count();
        assert_eq!(ours, MAX_ENTRIES, "{names:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_key_names_this_build_and_executable() {
        let s: LinuxSeccomp =
            serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
        let k = String::from_utf8_lossy(&key(&s).unwrap()).into_owned();
        let exe = fs::metadata("/proc/self/exe").unwrap();
        assert!(
            k.contains(&format!("\0exe {}:{}:", exe.dev(), exe.ino())),
            "{k}"
        );
        assert!(
            k.contains(option_env!("SPROUT_COMMIT").unwrap_or("unknown")),
            "{k}"
        );
        assert!(k.contains("\0SPSC0002"), "{k}");
    }

    #[test]
    fn entries_round_trip_and_need_the_exact_key() {
        let e = Entry {
            program: vec![6, 0, 0, 0, 0, 0, 0xff, 0x7f],
            notify: true,
            skipped: vec!["a".into(), "b".into()],
        };
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"key");
        b.push(1);
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&e.program);
        b.extend_from_slice(b"a\nb");
        let got = parse(&b, b"key").unwrap();
        assert_eq!(
            (got.program, got.notify, got.skipped),
            (e.program.clone(), true, e.skipped.clone())
        );
        assert!(parse(&b, b"kez").is_none());
        assert!(parse(&b, b"ke").is_none());
        for cut in 0..b.len() - 3 {
            // Truncated entries never decode (the names part may be cut).
            if cut < b.len() - 3 {
                assert!(parse(&b[..cut], b"key").is_none(), "cut {cut}");
            }
        }
    }

    #[test]
    fn the_cache_keeps_the_newest_entries_only() {
        let d = std::env::temp_dir().join(format!("sprout-sc-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let e = Entry {
            program: vec![0u8; 8],
            notify: false,
            skipped: vec![],
        };
        // The first entry, made old, then more than the limit of others.
        store_in(&d, b"first", &e);
        let first = d.join(format!("{:016x}", fnv1a(b"first")));
        let old = fs::File::options().write(true).open(&first).unwrap();
        old.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        for i in 0..MAX_ENTRIES + 5 {
            store_in(&d, format!("k{i}").as_bytes(), &e);
        }
        let n = fs::read_dir(&d).unwrap().count();
        assert_eq!(n, MAX_ENTRIES);
        assert!(!first.exists(), "the oldest entry is removed first");
        let last = format!("k{}", MAX_ENTRIES + 4);
        assert!(load_in(&d, last.as_bytes()).is_some());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn store_then_load_in_a_private_dir_only() {
        let d = std::env::temp_dir().join(format!("sprout-sc-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let e = Entry {
            program: vec![0u8; 16],
            notify: false,
            skipped: vec![],
        };
        store_in(&d, b"k1", &e);
        let got = load_in(&d, b"k1").expect("stored entry loads");
        assert_eq!(got.program, e.program);
        assert!(load_in(&d, b"k2").is_none());
        // A directory others can write to is not trusted.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(load_in(&d, b"k1").is_none());
        fs::remove_dir_all(&d).unwrap();
    }
}
