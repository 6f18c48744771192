//! Image plans: `sprout plan --rootfs DIR [...] [-o FILE] [-- CMD...]`
//! compiles, ahead of time, the plan that `sprout-init` applies when it is
//! the entrypoint of a minimal image (image mode: no controller, see the
//! stub's docs); `sprout plan --show FILE` prints a plan file as JSON.
//!
//! It replaces gosu/su-exec's run-time user lookup: names are resolved
//! now, against the image's own `/etc/passwd` and `/etc/group` (read inside
//! `DIR` with [`crate::user`], never the host's), so the image needs no
//! libc and no user database at run time.
//!
//! What the options mean (the plan fields in brackets):
//!
//! - `--user NAME|UID[:GROUP|GID]` [uid, gid, additional gids, `HOME`]:
//!   resolved as gosu and su-exec do (their READMEs; su-exec.c's use of
//!   getgrouplist(3)): a name must exist in `/etc/passwd`; a number need
//!   not (then gid 0 and `HOME=/`, as `docker run --user N` and gosu do).
//!   Without a group the supplementary groups are the primary gid plus every
//!   `/etc/group` entry listing the user (getgrouplist(3)); with an explicit
//!   group they are just that group. `HOME` is the passwd entry's home
//!   (`/` when empty or unknown) unless `--env HOME=...` is given. Without
//!   `--user` the ids, groups and `HOME` are left as the container runtime
//!   set them (uid/gid [`UNSET`]: the stub's `setresuid(-1, -1, -1)` keeps
//!   them; `SKIP_SETGROUPS` unless `--group-add`).
//! - `--group-add G` (name or number): more supplementary groups, after
//!   the user's (docker's `--group-add`).
//! - Capabilities: by default **unchanged** ([`UNSET`] `cap_last_cap`): the
//!   stub leaves every set as the runtime gave it, and a switch away from
//!   uid 0 clears them as the kernel does (capabilities(7), "Effect of user
//!   ID changes on capabilities": gosu's behaviour). The docker default set
//!   was not chosen because the plan cannot know the set of the runtime
//!   that will start the image (podman's is smaller than docker's), and
//!   asking `capset(2)` for more than the process has fails.
//!   `--cap-drop ALL --cap-add X...` gives exactly X in all five sets
//!   (bounding, effective, permitted, inheritable and ambient), so a
//!   non-root user keeps X across exec (ambient, capabilities(7)); X must
//!   be in the bounding set the runtime gives, else the stub fails
//!   (`capset: errno 1`, exit 126) before running anything. `cap_last_cap` is
//!   40, the highest sprout knows; the stub ignores `EINVAL` from dropping
//!   numbers an older kernel does not know.
//! - `--no-new-privs` [`NO_NEW_PRIVS`], `--rlimit TYPE=SOFT:HARD`
//!   [rlimits, `APPLY_RLIMITS`: the stub calls setrlimit(2) itself; `TYPE`
//!   as `RLIMIT_NOFILE` or `nofile`, values a number or `unlimited`;
//!   `TYPE=N` sets both], `--cwd DIR` [cwd; default `.`, i.e. the runtime's
//!   working directory], `--env K=V` [entries set over the inherited
//!   environment], `-- CMD...` [args, used when `sprout-init` gets no
//!   command].
//!
//! Validation and messages are the OCI path's ([`crate::env`],
//! [`crate::caps`], [`crate::rlimit`], [`crate::user`]) with the option in
//! place of the config field: `--env[3] "FOO": missing '='`.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Args;
use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType};
use serde_json::{Value, json};
use sprout_protocol::{Caps, Plan as WirePlan, PlanSpec, Rlimit, UNSET, WinSize, flags};

use crate::error::{Error, Result};
use crate::user::{GroupEntry, PasswdEntry};
use crate::{caps, env, plan, rlimit, user};

/// The image-plan options of `sprout plan` (see the module docs).
#[derive(Debug, Default, Args)]
pub struct ImagePlanArgs {
    /// Compile an image plan for `sprout-init` against this root filesystem
    /// (its /etc/passwd and /etc/group) instead of planning a bundle.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["show", "bundle", "preserve_fds", "no_pivot"])]
    pub rootfs: Option<PathBuf>,
    /// The user to run as: NAME|UID[:GROUP|GID] (default: unchanged).
    #[arg(long, short = 'u', value_name = "USER[:GROUP]", requires = "rootfs")]
    pub user: Option<String>,
    /// An extra supplementary group (name or number); repeatable.
    #[arg(long = "group-add", value_name = "GROUP", requires = "rootfs")]
    pub group_add: Vec<String>,
    /// `ALL`: drop every capability but those of --cap-add (default: unchanged).
    #[arg(long = "cap-drop", value_name = "ALL", requires = "rootfs")]
    pub cap_drop: Vec<String>,
    /// A capability to keep after --cap-drop ALL (in all five sets); repeatable.
    #[arg(long = "cap-add", value_name = "CAP", requires = "rootfs")]
    pub cap_add: Vec<String>,
    /// Set no_new_privs (prctl(2) PR_SET_NO_NEW_PRIVS).
    #[arg(long = "no-new-privs", requires = "rootfs")]
    pub no_new_privs: bool,
    /// A resource limit, TYPE=SOFT:HARD (e.g. nofile=1024:4096); repeatable.
    #[arg(long, value_name = "TYPE=SOFT:HARD", requires = "rootfs")]
    pub rlimit: Vec<String>,
    /// Working directory (absolute; default: unchanged).
    #[arg(long, value_name = "DIR", requires = "rootfs")]
    pub cwd: Option<String>,
    /// An environment entry K=V set over the inherited environment; repeatable.
    #[arg(long, short = 'e', value_name = "K=V", requires = "rootfs")]
    pub env: Vec<String>,
    /// Write the binary plan to FILE (without it the plan is printed as JSON).
    #[arg(long, short = 'o', value_name = "FILE", requires = "rootfs")]
    pub output: Option<PathBuf>,
    /// Print the plan file FILE as JSON.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["bundle", "preserve_fds", "no_pivot"])]
    pub show: Option<PathBuf>,
    /// The command (after `--`), used when sprout-init is given none.
    #[arg(last = true, value_name = "CMD", requires = "rootfs")]
    pub cmd: Vec<String>,
}

impl ImagePlanArgs {
    /// Whether image-plan mode was asked for (`--rootfs` or `--show`).
    pub fn active(&self) -> bool {
        self.rootfs.is_some() || self.show.is_some()
    }
}

/// The highest capability number sprout knows (`CAP_CHECKPOINT_RESTORE`).
const LAST_KNOWN_CAP: u32 = caps::NAMES.len() as u32 - 1;

/// A computed image plan, owning its strings.
#[derive(Debug, PartialEq, Eq)]
pub struct ImagePlan {
    /// [`flags`] bits.
    pub flags: u32,
    /// uid, or [`UNSET`] (unchanged).
    pub uid: u32,
    /// gid, or [`UNSET`].
    pub gid: u32,
    /// Supplementary groups (`setgroups(2)` unless `SKIP_SETGROUPS`).
    pub groups: Vec<u32>,
    /// [`LAST_KNOWN_CAP`], or [`UNSET`] (capabilities unchanged).
    pub cap_last_cap: u32,
    /// Capability masks (all equal with --cap-drop ALL).
    pub caps: Caps,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Working directory (`.` = unchanged).
    pub cwd: CString,
    /// Default command.
    pub args: Vec<CString>,
    /// Environment entries set over the inherited ones.
    pub env: Vec<CString>,
}

/// `s` as a `CString`, naming `what` on a NUL byte.
fn cstring(what: impl std::fmt::Display, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::invalid(format!(
            "{what} \"{}\": contains a NUL byte",
            s.replace('\0', "\\0")
        ))
    })
}

/// A message of the OCI path with the config field replaced by the option.
fn renamed(e: Error, field: &str, option: &str) -> Error {
    Error::invalid(e.to_string().replacen(field, option, 1))
}

/// A group name or number, resolved in the rootfs's `/etc/group`.
fn group_id(option: &str, g: &str, groups: &[GroupEntry]) -> Result<u32> {
    if let Some(e) = groups.iter().find(|e| e.name == g) {
        return Ok(e.gid);
    }
    match g.parse::<u32>() {
        Ok(n) if n != UNSET => Ok(n),
        Ok(_) => crate::bail!("{option} \"{g}\": out of range"),
        Err(_) if g.bytes().all(|b| b.is_ascii_digit()) && !g.is_empty() => {
            crate::bail!("{option} \"{g}\": out of range")
        }
        Err(_) => crate::bail!("{option} \"{g}\": no such group in the rootfs's /etc/group"),
    }
}

/// uid, gid, supplementary groups and `HOME` for `--user` (module docs).
fn resolve_user(
    spec: &str,
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
) -> Result<(u32, u32, Vec<u32>, String)> {
    let (name, group) = match spec.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (spec, None),
    };
    if name.is_empty() {
        crate::bail!("--user \"{spec}\": empty user name");
    }
    if group == Some("") {
        crate::bail!("--user \"{spec}\": empty group name");
    }
    let numeric = name.bytes().all(|b| b.is_ascii_digit());
    let entry = if numeric {
        let uid = match name.parse::<u32>() {
            Ok(n) if n != UNSET => n,
            _ => crate::bail!("--user \"{spec}\": uid out of range"),
        };
        passwd.iter().find(|e| e.uid == uid).cloned().ok_or(uid)
    } else {
        match passwd.iter().find(|e| e.name == name) {
            Some(e) => Ok(e.clone()),
            None => crate::bail!("--user \"{spec}\": no such user in the rootfs's /etc/passwd"),
        }
    };
    let (uid, mut gid, home, member) = match &entry {
        Ok(e) => (
            e.uid,
            e.gid,
            if e.home.is_empty() {
                "/".to_string()
            } else {
                e.home.clone()
            },
            Some(&e.name),
        ),
        Err(uid) => (*uid, 0, "/".to_string(), None),
    };
    let mut sgids = Vec::new();
    match group {
        Some(g) => {
            gid = group_id("--user", g, groups)
                .map_err(|e| renamed(e, &format!("\"{g}\""), &format!("\"{spec}\"")))?;
            sgids.push(gid);
        }
        None => {
            sgids.push(gid);
            if let Some(member) = member {
                sgids.extend(
                    groups
                        .iter()
                        .filter(|e| e.members.iter().any(|m| m == member))
                        .map(|e| e.gid),
                );
            }
        }
    }
    Ok((uid, gid, sgids, home))
}

/// One `--rlimit TYPE=SOFT:HARD` as an oci-spec rlimit.
fn parse_rlimit(i: usize, s: &str) -> Result<oci_spec::runtime::PosixRlimit> {
    let bad = |why: &str| Error::invalid(format!("--rlimit[{i}] \"{s}\": {why}"));
    let (kind, values) = s
        .split_once('=')
        .ok_or_else(|| bad("expected TYPE=SOFT:HARD"))?;
    let mut name = kind.trim().to_ascii_uppercase();
    if !name.starts_with("RLIMIT_") {
        name = format!("RLIMIT_{name}");
    }
    if rlimit::resource_of(&name).is_none() {
        crate::bail!("--rlimit[{i}].type: unknown rlimit type \"{kind}\"");
    }
    let typ = PosixRlimitType::from_str(&name).map_err(|_| bad("unknown rlimit type"))?;
    let value = |v: &str| -> Result<u64> {
        match v.trim() {
            "unlimited" | "infinity" | "-1" => Ok(u64::MAX),
            n => n
                .parse()
                .map_err(|_| bad(&format!("\"{n}\" is not a number or \"unlimited\""))),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((a, b)) => (value(a)?, value(b)?),
        None => (value(values)?, value(values)?),
    };
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()
        .map_err(Error::invalid)
}

impl ImagePlan {
    /// Computes the plan (module docs). Errors name the option and value.
    pub fn compute(a: &ImagePlanArgs, rootfs: &Path) -> Result<ImagePlan> {
        match std::fs::metadata(rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => crate::bail!("--rootfs \"{}\": not a directory", rootfs.display()),
            Err(e) => return Err(Error::io(format!("--rootfs \"{}\"", rootfs.display()), &e)),
        }
        let mut fl = flags::APPLY_RLIMITS;
        let groups = if a.user.is_some() || !a.group_add.is_empty() {
            user::rootfs_groups(rootfs)?
        } else {
            vec![]
        };

        // Identity.
        let mut env_list = a.env.clone();
        env::validate(&env_list).map_err(|e| renamed(e, "process.env", "--env"))?;
        env_list = env::dedup(&env_list);
        let (uid, gid, mut sgids) = match &a.user {
            None => (UNSET, UNSET, vec![]),
            Some(spec) => {
                let passwd = user::rootfs_passwd(rootfs)?;
                let (uid, gid, sgids, home) = resolve_user(spec, &passwd, &groups)?;
                if !env::has_home(&env_list) {
                    env_list.push(format!("HOME={home}"));
                }
                (uid, gid, sgids)
            }
        };
        for g in &a.group_add {
            sgids.push(group_id("--group-add", g, &groups)?);
        }
        let mut seen = std::collections::HashSet::new();
        sgids.retain(|g| seen.insert(*g));
        if a.user.is_none() && a.group_add.is_empty() {
            fl |= flags::SKIP_SETGROUPS;
        }

        // Capabilities.
        let drop_all = match a.cap_drop.as_slice() {
            [] => false,
            list => {
                if let Some(c) = list.iter().find(|c| !c.eq_ignore_ascii_case("ALL")) {
                    crate::bail!(
                        "--cap-drop \"{c}\": only ALL is supported (the plan cannot know the capabilities the image \
                         will be started with; use --cap-drop ALL --cap-add ...)"
                    );
                }
                true
            }
        };
        let (cap_last_cap, caps) = if drop_all {
            let m = caps::mask_of(
                "--cap-add",
                a.cap_add.iter().map(String::as_str),
                LAST_KNOWN_CAP,
            )?;
            (
                LAST_KNOWN_CAP,
                Caps {
                    bounding: m,
                    effective: m,
                    permitted: m,
                    inheritable: m,
                    ambient: m,
                },
            )
        } else {
            if let Some(c) = a.cap_add.first() {
                crate::bail!(
                    "--cap-add \"{c}\": needs --cap-drop ALL (without it the capabilities are left as the container \
                     runtime gives them)"
                );
            }
            (UNSET, Caps::default())
        };
        if a.no_new_privs {
            fl |= flags::NO_NEW_PRIVS;
        }

        // Limits, cwd, command, environment.
        let oci: Vec<_> = a
            .rlimit
            .iter()
            .enumerate()
            .map(|(i, s)| parse_rlimit(i, s))
            .collect::<Result<_>>()?;
        let rlimits =
            rlimit::resolve(&oci).map_err(|e| renamed(e, "process.rlimits", "--rlimit"))?;
        let cwd = match &a.cwd {
            None => ".".to_string(),
            Some(c) if c.starts_with('/') => c.clone(),
            Some(c) => crate::bail!("--cwd \"{c}\": must be an absolute path"),
        };
        let cwd = cstring("--cwd", &cwd)?;
        let args = a
            .cmd
            .iter()
            .enumerate()
            .map(|(i, s)| cstring(format!("CMD[{i}]"), s))
            .collect::<Result<_>>()?;
        let env = env_list
            .iter()
            .enumerate()
            .map(|(i, s)| cstring(format!("--env[{i}]"), s))
            .collect::<Result<_>>()?;
        Ok(ImagePlan {
            flags: fl,
            uid,
            gid,
            groups: sgids,
            cap_last_cap,
            caps,
            rlimits,
            cwd,
            args,
            env,
        })
    }

    /// The wire bytes ([`PlanSpec::encode`]), checked by decoding them again.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let args: Vec<&CStr> = self.args.iter().map(CString::as_c_str).collect();
        let env: Vec<&CStr> = self.env.iter().map(CString::as_c_str).collect();
        let spec = PlanSpec {
            flags: self.flags,
            uid: self.uid,
            gid: self.gid,
            cap_last_cap: self.cap_last_cap,
            caps: self.caps,
            preserve_fds: 0,
            umask: UNSET,
            personality: UNSET,
            start_fd: UNSET,
            seccomp_flags: 0,
            rootfs_propagation: 0,
            console: WinSize::default(),
            rootfs: c"/",
            hostname: None,
            domainname: None,
            cwd: &self.cwd,
            additional_gids: &self.groups,
            namespaces: &[],
            rlimits: &self.rlimits,
            mounts: &[],
            args: &args,
            env: &env,
            seccomp: &[],
        };
        let mut buf = vec![0u8; spec.encoded_len()];
        let n = spec
            .encode(&mut buf)
            .map_err(|e| Error::invalid(format!("encoding the plan: {e}")))?;
        buf.truncate(n);
        let back = WirePlan::decode(&buf)
            .map_err(|e| Error::invalid(format!("plan self-check: decode: {e}")))?;
        if back.flags != self.flags
            || (back.uid, back.gid, back.cap_last_cap) != (self.uid, self.gid, self.cap_last_cap)
            || back.caps != self.caps
            || back.args.len() != self.args.len()
            || back.env.len() != self.env.len()
            || !back.additional_gids.iter().eq(self.groups.iter().copied())
            || !back.rlimits.iter().eq(self.rlimits.iter().copied())
        {
            crate::bail!("plan self-check: the decoded plan differs from the computed one");
        }
        Ok(buf)
    }
}

/// A plan (any plan; image plans show every field that matters to them) as
/// JSON, in the shape of `sprout plan --bundle`'s output: flag names,
/// capability sets as mask + names, rlimits by name; `"unchanged"` for the
/// [`UNSET`] sentinels of image plans.
pub fn view(p: &WirePlan<'_>, encoded_len: usize) -> Value {
    let s = |c: &CStr| c.to_string_lossy().into_owned();
    let unset = |v: u32, f: &dyn Fn(u32) -> Value| {
        if v == UNSET {
            Value::from("unchanged")
        } else {
            f(v)
        }
    };
    let capset = |m: u64| json!({"mask": format!("{m:#018x}"), "names": caps::names(m)});
    let capabilities = if p.cap_last_cap == UNSET {
        Value::from("unchanged")
    } else {
        json!({
            "bounding": capset(p.caps.bounding),
            "effective": capset(p.caps.effective),
            "permitted": capset(p.caps.permitted),
            "inheritable": capset(p.caps.inheritable),
            "ambient": capset(p.caps.ambient),
        })
    };
    let groups: Value = if p.has(flags::SKIP_SETGROUPS) {
        "unchanged".into()
    } else {
        p.additional_gids.iter().collect::<Vec<_>>().into()
    };
    json!({
        "flags": plan::flag_names(p.flags),
        "args": p.args.iter().map(s).collect::<Vec<_>>(),
        "env": p.env.iter().map(s).collect::<Vec<_>>(),
        "cwd": s(p.cwd),
        "user": {
            "uid": unset(p.uid, &|v| v.into()),
            "gid": unset(p.gid, &|v| v.into()),
            "additionalGids": groups,
            "umask": unset(p.umask, &|v| format!("{v:#05o}").into()),
        },
        "capLastCap": unset(p.cap_last_cap, &|v| v.into()),
        "capabilities": capabilities,
        "rlimits": p.rlimits.iter().map(|r| json!({
            "type": rlimit::name_of(r.resource),
            "resource": r.resource,
            "soft": r.soft,
            "hard": r.hard,
        })).collect::<Vec<_>>(),
        "rootfs": s(p.rootfs),
        "hostname": p.hostname.map(s),
        "namespacesToJoin": p.namespaces.len(),
        "mounts": p.mounts.len(),
        "seccomp": {"instructions": p.seccomp.len() / 8, "flags": p.seccomp_flags},
        "personality": unset(p.personality, &|v| format!("{v:#x}").into()),
        "preserveFds": p.preserve_fds,
        "encodedBytes": encoded_len,
    })
}

/// `sprout plan --rootfs ...` and `sprout plan --show FILE`: the JSON (or,
/// with `-o`, nothing) to print.
pub fn run(a: &ImagePlanArgs) -> Result<Option<Value>> {
    if let Some(file) = &a.show {
        let bytes = std::fs::read(file)
            .map_err(|e| Error::io(format!("--show \"{}\": read", file.display()), &e))?;
        let p = WirePlan::decode(&bytes).map_err(|e| {
            Error::invalid(format!(
                "--show \"{}\": not a sprout plan: {e}",
                file.display()
            ))
        })?;
        return Ok(Some(view(&p, bytes.len())));
    }
    let Some(rootfs) = &a.rootfs else {
        crate::bail!("plan: --rootfs or --show is required for an image plan");
    };
    let plan = ImagePlan::compute(a, rootfs)?;
    let bytes = plan.encode()?;
    match &a.output {
        Some(out) => {
            std::fs::write(out, &bytes)
                .map_err(|e| Error::io(format!("-o \"{}\": write", out.display()), &e))?;
            Ok(None)
        }
        None => {
            let p = WirePlan::decode(&bytes)
                .map_err(|e| Error::invalid(format!("plan self-check: decode: {e}")))?;
            Ok(Some(view(&p, bytes.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        demo:x:1000:1000:Demo:/home/demo:/bin/sh\n\
        nohome:x:1001:1001::::/bin/sh\n\
        app:x:1002:1002::/srv/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\ndemo:x:1000:\nextra:x:2000:demo,app\nwheel:x:10:demo\napp:x:1002:\naudio:x:29:\n";

    /// A rootfs in a temp dir with the passwd and group files above.
    struct Rootfs(PathBuf);
    impl Rootfs {
        fn new(tag: &str) -> Rootfs {
            let dir =
                std::env::temp_dir().join(format!("sprout-imageplan-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            std::fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
            std::fs::write(dir.join("etc/group"), GROUP).unwrap();
            Rootfs(dir)
        }
        fn plan(&self, edit: impl FnOnce(&mut ImagePlanArgs)) -> Result<ImagePlan> {
            let mut a = ImagePlanArgs {
                rootfs: Some(self.0.clone()),
                ..Default::default()
            };
            edit(&mut a);
            ImagePlan::compute(&a, &self.0)
        }
    }
    impl Drop for Rootfs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn strs(v: &[CString]) -> Vec<&str> {
        v.iter().map(|c| c.to_str().unwrap()).collect()
    }

    #[test]
    fn defaults_leave_everything_unchanged() {
        let r = Rootfs::new("defaults");
        let p = r.plan(|_| {}).unwrap();
        assert_eq!((p.uid, p.gid, p.cap_last_cap), (UNSET, UNSET, UNSET));
        assert_eq!(
            plan::flag_names(p.flags),
            ["SKIP_SETGROUPS", "APPLY_RLIMITS"]
        );
        assert_eq!(p.cwd.to_str().unwrap(), ".");
        assert!(p.env.is_empty() && p.args.is_empty() && p.groups.is_empty());
        let bytes = p.encode().unwrap();
        let v = view(&WirePlan::decode(&bytes).unwrap(), bytes.len());
        assert_eq!(v["user"]["uid"], "unchanged");
        assert_eq!(v["capabilities"], "unchanged");
    }

    #[test]
    fn user_by_name_gets_member_groups_and_home() {
        let r = Rootfs::new("name");
        let p = r.plan(|a| a.user = Some("demo".into())).unwrap();
        assert_eq!((p.uid, p.gid), (1000, 1000));
        assert_eq!(p.groups, [1000, 2000, 10]);
        assert_eq!(strs(&p.env), ["HOME=/home/demo"]);
        assert_eq!(p.flags & flags::SKIP_SETGROUPS, 0);
    }

    #[test]
    fn user_by_number_and_explicit_group() {
        let r = Rootfs::new("num");
        // Known uid: the entry's gid, groups and home.
        let p = r.plan(|a| a.user = Some("1002".into())).unwrap();
        assert_eq!(
            (p.uid, p.gid, p.groups.clone()),
            (1002, 1002, vec![1002, 2000])
        );
        assert_eq!(strs(&p.env), ["HOME=/srv/app"]);
        // Unknown uid: gid 0 and HOME=/, as docker --user N.
        let p = r.plan(|a| a.user = Some("4242".into())).unwrap();
        assert_eq!((p.uid, p.gid, p.groups.clone()), (4242, 0, vec![0]));
        assert_eq!(strs(&p.env), ["HOME=/"]);
        // Explicit group: only that group (su-exec's user:group).
        let p = r.plan(|a| a.user = Some("demo:audio".into())).unwrap();
        assert_eq!((p.uid, p.gid, p.groups.clone()), (1000, 29, vec![29]));
        let p = r.plan(|a| a.user = Some("demo:5555".into())).unwrap();
        assert_eq!((p.gid, p.groups.clone()), (5555, vec![5555]));
        // Empty home, --group-add by name and number, a HOME of our own.
        let p = r
            .plan(|a| {
                a.user = Some("nohome".into());
                a.group_add = vec!["wheel".into(), "77".into(), "1001".into()];
                a.env = vec!["HOME=/x".into()];
            })
            .unwrap();
        assert_eq!(p.groups, [1001, 10, 77]);
        assert_eq!(strs(&p.env), ["HOME=/x"]);
    }

    #[test]
    fn caps_drop_all_add_some() {
        let r = Rootfs::new("caps");
        let p = r
            .plan(|a| {
                a.cap_drop = vec!["all".into()];
                a.cap_add = vec!["NET_BIND_SERVICE".into(), "CAP_CHOWN".into()];
                a.no_new_privs = true;
            })
            .unwrap();
        let m = (1 << 10) | 1;
        assert_eq!(
            p.caps,
            Caps {
                bounding: m,
                effective: m,
                permitted: m,
                inheritable: m,
                ambient: m
            }
        );
        assert_eq!(p.cap_last_cap, 40);
        assert_ne!(p.flags & flags::NO_NEW_PRIVS, 0);
        let p = r.plan(|a| a.cap_drop = vec!["ALL".into()]).unwrap();
        assert_eq!(p.caps, Caps::default());
        assert_eq!(p.cap_last_cap, 40);
    }

    #[test]
    fn rlimits_cwd_cmd() {
        let r = Rootfs::new("misc");
        let p = r
            .plan(|a| {
                a.rlimit = vec![
                    "nofile=512:1024".into(),
                    "RLIMIT_CORE=0".into(),
                    "nproc=10:unlimited".into(),
                ];
                a.cwd = Some("/tmp".into());
                a.cmd = vec!["sh".into(), "-c".into(), "echo hi".into()];
                a.env = vec!["A=1".into(), "B=2".into(), "A=3".into()];
            })
            .unwrap();
        assert_eq!(
            p.rlimits,
            [
                Rlimit {
                    resource: 7,
                    soft: 512,
                    hard: 1024
                },
                Rlimit {
                    resource: 4,
                    soft: 0,
                    hard: 0
                },
                Rlimit {
                    resource: 6,
                    soft: 10,
                    hard: u64::MAX
                },
            ]
        );
        assert_eq!(p.cwd.to_str().unwrap(), "/tmp");
        assert_eq!(strs(&p.args), ["sh", "-c", "echo hi"]);
        assert_eq!(strs(&p.env), ["A=3", "B=2"]);
        let bytes = p.encode().unwrap();
        let w = WirePlan::decode(&bytes).unwrap();
        assert_eq!(w.rlimits.len(), 3);
        let v = view(&w, bytes.len());
        assert_eq!(v["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(v["cwd"], "/tmp");
    }

    #[test]
    fn errors_name_the_option() {
        let r = Rootfs::new("errors");
        type Edit = Box<dyn Fn(&mut ImagePlanArgs)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|a| a.user = Some("bob".into())),
                "--user \"bob\": no such user in the rootfs's /etc/passwd",
            ),
            (
                Box::new(|a| a.user = Some("demo:nogroup".into())),
                "--user \"demo:nogroup\": no such group in the rootfs's /etc/group",
            ),
            (
                Box::new(|a| a.user = Some(":1".into())),
                "--user \":1\": empty user name",
            ),
            (
                Box::new(|a| a.user = Some("99999999999".into())),
                "--user \"99999999999\": uid out of range",
            ),
            (
                Box::new(|a| a.group_add = vec!["nope".into()]),
                "--group-add \"nope\": no such group in the rootfs's /etc/group",
            ),
            (
                Box::new(|a| {
                    a.cap_drop = vec!["ALL".into()];
                    a.cap_add = vec!["CAP_FOO".into()];
                }),
                "--cap-add: unknown capability \"CAP_FOO\"",
            ),
            (
                Box::new(|a| a.cap_add = vec!["CHOWN".into()]),
                "--cap-add \"CHOWN\": needs --cap-drop ALL (without it the capabilities are left as the container \
                 runtime gives them)",
            ),
            (
                Box::new(|a| a.cap_drop = vec!["NET_RAW".into()]),
                "--cap-drop \"NET_RAW\": only ALL is supported (the plan cannot know the capabilities the image will \
                 be started with; use --cap-drop ALL --cap-add ...)",
            ),
            (
                Box::new(|a| a.rlimit = vec!["nofile=2048:1024".into()]),
                "--rlimit[0] RLIMIT_NOFILE: soft limit 2048 is above the hard limit 1024",
            ),
            (
                Box::new(|a| a.rlimit = vec!["nofile=1".into(), "NOFILE=2".into()]),
                "--rlimit[1]: RLIMIT_NOFILE is given twice",
            ),
            (
                Box::new(|a| a.rlimit = vec!["foo=1".into()]),
                "--rlimit[0].type: unknown rlimit type \"foo\"",
            ),
            (
                Box::new(|a| a.rlimit = vec!["nofile=x:1".into()]),
                "--rlimit[0] \"nofile=x:1\": \"x\" is not a number or \"unlimited\"",
            ),
            (
                Box::new(|a| a.rlimit = vec!["nofile".into()]),
                "--rlimit[0] \"nofile\": expected TYPE=SOFT:HARD",
            ),
            (
                Box::new(|a| a.env = vec!["A=1".into(), "FOO".into()]),
                "--env[1] \"FOO\": missing '='",
            ),
            (
                Box::new(|a| a.env = vec!["=x".into()]),
                "--env[0] \"=x\": empty variable name",
            ),
            (
                Box::new(|a| a.cwd = Some("tmp".into())),
                "--cwd \"tmp\": must be an absolute path",
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let got = r.plan(|a| edit(a)).map(|_| ()).unwrap_err().to_string();
            assert_eq!(got, want, "case {i}");
        }
        let a = ImagePlanArgs::default();
        let e = ImagePlan::compute(&a, Path::new("/nonexistent/rootfs")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--rootfs \"/nonexistent/rootfs\": No such file or directory (ENOENT)"
        );
        let e = ImagePlan::compute(&a, Path::new("/proc/self/stat")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--rootfs \"/proc/self/stat\": not a directory"
        );
    }

    #[test]
    fn show_rejects_garbage() {
        let dir =
            std::env::temp_dir().join(format!("sprout-imageplan-show-{}", std::process::id()));
        std::fs::write(&dir, b"not a plan").unwrap();
        let a = ImagePlanArgs {
            show: Some(dir.clone()),
            ..Default::default()
        };
        let e = run(&a).unwrap_err().to_string();
        let _ = std::fs::remove_file(&dir);
        assert!(
            e.starts_with(&format!(
                "--show \"{}\": not a sprout plan: ",
                dir.display()
            )),
            "{e}"
        );
    }
}
