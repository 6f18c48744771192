//! `sprout exec --cgroup`: the exec'd process joins a sub-cgroup of the
//! container's cgroup instead of the cgroup itself (runc 1.1's `exec
//! --cgroup`: `getSubCgroupPaths` in `exec.go`, `newSetnsProcess` in
//! `libcontainer/container_linux.go`).
//!
//! - `--cgroup PATH` (only one then): `PATH` below the container's cgroup
//!   in every hierarchy: each v1 one, named ones (`name=systemd`)
//!   included, and the cgroup2 one, on a Hybrid host too (runc's fs
//!   manager keys the unified hierarchy `""` there and moves it with the
//!   plain path like the others).
//! - `--cgroup CONTROLLER[,CONTROLLER]:PATH` (repeatable): `PATH` in the
//!   hierarchies of those v1 controllers; every other hierarchy, the
//!   cgroup2 one of a Hybrid host included, stays the container's cgroup.
//!   A cgroup2-only host has no controller hierarchies: any controller is
//!   `unknown controller` there (runc: only the plain path applies on v2),
//!   and so is a controller that only a Hybrid host's cgroup2 hierarchy
//!   has (`hugetlb` on this project's reference host): no `CTRL:` names
//!   that hierarchy, in runc neither (its key there is `""`, the plain
//!   path's).
//!   `:PATH` (no controller) is the plain path, as in runc.
//!
//! `PATH` is relative to the container's cgroup (a leading `/` too: `/`
//! is the container's cgroup itself) and must stay inside it after `.`
//! and `..` are resolved (runc: `.. is not a sub cgroup path`). The
//! sub-cgroup must exist wherever the container's cgroup does: runc's
//! write of the pid to its `cgroup.procs` fails otherwise; here that is
//! found before any process is started. Differences from runc, both
//! where runc's result is accidental: a plain `:PATH` given with
//! `CONTROLLER:PATH` ones moves the other hierarchies only (runc ignores
//! the controller ones then), and two controllers of one v1 hierarchy
//! (`cpu,cpuacct` mounted together) given different paths are refused
//! (runc writes both, in map order). runc's check is a string prefix
//! test (`../IDx` passed for the container `ID`); here it is by path
//! components.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::{Cgroup, CgroupError, CgroupSetup, Result, errno_text};

/// The `--cgroup` values of one `sprout exec`, parsed: where the process
/// goes, relative to the container's cgroup.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SubCgroups {
    /// The plain `PATH` (or `:PATH`) for every hierarchy, with the
    /// `--cgroup` value it came from; the last one given wins.
    all: Option<(PathBuf, String)>,
    /// `CONTROLLER:PATH`: controller name (`memory`, `name=systemd`) ->
    /// (path, the `--cgroup` value); the last one given for a controller
    /// wins, as in runc's map.
    per: BTreeMap<String, (PathBuf, String)>,
}

/// The one-line error for `--cgroup "VALUE": REASON`.
fn err(value: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::invalid(format!("--cgroup \"{value}\""), reason)
}

/// `path` (of `--cgroup` `value`) resolved lexically relative to the
/// container's cgroup: `a/./b/../c` -> `a/c`, `/` and `` -> ``.
/// Errors: a `..` that climbs out of the container's cgroup.
fn sub_path(value: &str, path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir => {
                return Err(err(
                    value,
                    format!(
                        "{path} is not a sub cgroup path (it leads out of the container's cgroup)"
                    ),
                ));
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

impl SubCgroups {
    /// Parses the `--cgroup` values in the order given (runc's
    /// `getSubCgroupPaths`): `PATH`, `:PATH` or `CTRL[,CTRL...]:PATH`.
    /// No values: nothing to move (the container's cgroup).
    ///
    /// Errors, naming the value: more than one `:` (`invalid --cgroup
    /// argument`); a plain `PATH` among other values (`missing
    /// <controller>: prefix`); an empty name in a controller list; a path
    /// that leaves the container's cgroup (`PATH is not a sub cgroup
    /// path`).
    pub fn parse(values: &[String]) -> Result<SubCgroups> {
        let mut out = SubCgroups::default();
        for v in values {
            let parts: Vec<&str> = v.splitn(3, ':').collect();
            match parts[..] {
                [path] if values.len() == 1 => out.all = Some((sub_path(v, path)?, v.clone())),
                [_] => {
                    return Err(err(
                        v,
                        "invalid --cgroup argument (missing <controller>: prefix; a plain PATH must be the only --cgroup)",
                    ));
                }
                ["", path] => out.all = Some((sub_path(v, path)?, v.clone())),
                [ctrls, path] => {
                    let p = sub_path(v, path)?;
                    for c in ctrls.split(',') {
                        if c.is_empty() {
                            return Err(err(
                                v,
                                "invalid --cgroup argument (an empty controller name)",
                            ));
                        }
                        out.per.insert(c.to_string(), (p.clone(), v.clone()));
                    }
                }
                _ => {
                    return Err(err(
                        v,
                        "invalid --cgroup argument (more than one ':'; the format is [CONTROLLER[,CONTROLLER]:]PATH)",
                    ));
                }
            }
        }
        Ok(out)
    }
}

impl Cgroup {
    /// This (container's) cgroup with its directories moved to the
    /// sub-cgroups `sub` names (see the module docs), for the exec'd
    /// process to join with [`Cgroup::join_fds`]. The cgroup's path
    /// (messages) becomes the sub-cgroup's with a plain `PATH`, and stays
    /// the container's otherwise.
    ///
    /// Errors, naming the `--cgroup` value: a controller no v1 hierarchy
    /// of this host has, or any controller on a cgroup2-only host
    /// (`unknown controller NAME`); two controllers of one hierarchy with
    /// different paths; a sub-cgroup missing where the container's cgroup
    /// exists (`no sub-cgroup to join: adding pid to
    /// /sys/fs/cgroup/cpu/sprout/ID/sub/cgroup.procs: no such file or
    /// directory`: runc's `adding pid` and errno words, found here before
    /// a process exists).
    pub fn into_sub(mut self, sub: &SubCgroups) -> Result<Cgroup> {
        if sub.all.is_none() && sub.per.is_empty() {
            return Ok(self);
        }
        // Per v1 hierarchy: the sub-path from a controller of it, if any.
        let mut v1: Vec<Option<(&Path, &str)>> = vec![None; self.v1.len()];
        for (ctrl, (path, value)) in &sub.per {
            let Some(i) = self.v1.iter().position(|d| d.has(ctrl)) else {
                let why = match self.setup {
                    CgroupSetup::Unified => "cgroup v2 has one hierarchy: give a plain PATH",
                    _ => "no cgroup v1 hierarchy of that name is mounted",
                };
                return Err(err(value, format!("unknown controller {ctrl} ({why})")));
            };
            match v1[i] {
                Some((p, _)) if p != path.as_path() => {
                    return Err(err(
                        value,
                        format!(
                            "{ctrl} shares its hierarchy ({}) with a controller given another sub-cgroup",
                            self.v1[i].controllers.join(",")
                        ),
                    ));
                }
                _ => v1[i] = Some((path, value)),
            }
        }
        let all = sub.all.as_ref().map(|(p, v)| (p.as_path(), v.as_str()));
        let mut moves: Vec<(usize, PathBuf)> = Vec::new();
        let dirs = self.dirs();
        for (i, dir) in dirs.iter().enumerate() {
            // v1 hierarchies first, then the cgroup2 one (`dirs`).
            let target = v1.get(i).copied().flatten().or(all);
            let Some((path, value)) = target.filter(|(p, _)| !p.as_os_str().is_empty()) else {
                continue;
            };
            let new = dir.join(path);
            // Where the container has no directory (a named or cgroup2
            // one a Hybrid host refused) it is joined best-effort anyway.
            if dir.is_dir() {
                let procs = new.join("cgroup.procs");
                if let Err(e) = fs::metadata(&procs) {
                    let text = errno_text(&e);
                    let mut chars = text.chars();
                    let text: String = chars
                        .next()
                        .map(|c| c.to_lowercase().chain(chars).collect())
                        .unwrap_or_default();
                    return Err(err(
                        value,
                        format!(
                            "no sub-cgroup to join: adding pid to {}: {text}",
                            procs.display()
                        ),
                    ));
                }
            }
            moves.push((i, new));
        }
        for (i, new) in moves {
            match self.v1.get_mut(i) {
                Some(d) => d.dir = new,
                None => {
                    if let Some((_, d)) = &mut self.unified {
                        *d = new;
                    }
                }
            }
        }
        if let Some((p, _)) = all {
            self.path = self.path.join(p);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Layout;
    use super::*;

    fn parse(v: &[&str]) -> Result<SubCgroups> {
        SubCgroups::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn err_text(v: &[&str]) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn parse_runc_syntax() {
        let s = parse(&["a/./b/../c"]).unwrap();
        assert_eq!(s.all, Some((PathBuf::from("a/c"), "a/./b/../c".into())));
        let s = parse(&["/"]).unwrap();
        assert_eq!(s.all, Some((PathBuf::new(), "/".into())));
        let s = parse(&["memory:m", "cpu,cpuacct:/c", "memory:m2", ":x"]).unwrap();
        assert_eq!(s.all.as_ref().unwrap().0, Path::new("x"));
        let per: Vec<(&str, &Path)> = s
            .per
            .iter()
            .map(|(k, (p, _))| (k.as_str(), p.as_path()))
            .collect();
        assert_eq!(
            per,
            [
                ("cpu", Path::new("c")),
                ("cpuacct", Path::new("c")),
                ("memory", Path::new("m2"))
            ]
        );
        assert_eq!(parse(&[]).unwrap(), SubCgroups::default());
    }

    #[test]
    fn parse_errors_name_the_value() {
        assert_eq!(
            err_text(&[".."]),
            "--cgroup \"..\": .. is not a sub cgroup path (it leads out of the container's cgroup)"
        );
        assert!(
            err_text(&["memory:a/../../x"])
                .starts_with("--cgroup \"memory:a/../../x\": a/../../x is not a sub cgroup path")
        );
        assert!(
            err_text(&["a:b:c"])
                .starts_with("--cgroup \"a:b:c\": invalid --cgroup argument (more than one ':'")
        );
        assert!(
            err_text(&["memory:m", "sub"])
                .contains("\"sub\": invalid --cgroup argument (missing <controller>: prefix")
        );
        assert!(err_text(&["memory,:m"]).contains("an empty controller name"));
        for v in [&[".."][..], &["a:b:c"], &["memory:m", "sub"]] {
            assert_eq!(err_text(v).lines().count(), 1);
        }
    }

    /// A fake Hybrid host under a temp dir: cpu,cpuacct together, memory,
    /// name=systemd, and the cgroup2 one; the container's cgroup `/c/1`
    /// in each, sub-cgroup `s` in all, `m` in memory only.
    fn fake_host(tag: &str) -> (PathBuf, Layout) {
        let top = std::env::temp_dir().join(format!("sprout-sub-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&top);
        let mut v1 = Vec::new();
        for (name, ctrls) in [
            ("cpu,cpuacct", &["cpu", "cpuacct"][..]),
            ("memory", &["memory"]),
            ("systemd", &["name=systemd"]),
        ] {
            v1.push((
                ctrls.iter().map(|c| c.to_string()).collect(),
                top.join(name),
            ));
        }
        for h in ["cpu,cpuacct", "memory", "systemd", "unified"] {
            for sub in ["c/1", "c/1/s"] {
                fs::create_dir_all(top.join(h).join(sub)).unwrap();
                fs::write(top.join(h).join(sub).join("cgroup.procs"), "").unwrap();
            }
        }
        fs::create_dir_all(top.join("memory/c/1/m")).unwrap();
        fs::write(top.join("memory/c/1/m/cgroup.procs"), "").unwrap();
        let layout = Layout {
            setup: CgroupSetup::Hybrid,
            v1,
            v2: Some(top.join("unified")),
        };
        (top, layout)
    }

    fn dirs_after(layout: &Layout, v: &[&str]) -> Result<Vec<PathBuf>> {
        let cg = Cgroup::with_layout(Path::new("/c/1"), layout.clone())?;
        Ok(cg.into_sub(&parse(v)?)?.dirs())
    }

    #[test]
    fn plain_path_moves_every_hierarchy_unified_included() {
        let (top, layout) = fake_host("plain");
        let want: Vec<PathBuf> = ["cpu,cpuacct", "memory", "systemd", "unified"]
            .iter()
            .map(|h| top.join(h).join("c/1/s"))
            .collect();
        assert_eq!(dirs_after(&layout, &["s"]).unwrap(), want);
        assert_eq!(dirs_after(&layout, &[":/s/"]).unwrap(), want);
        let cg = Cgroup::with_layout(Path::new("/c/1"), layout.clone()).unwrap();
        assert_eq!(
            cg.into_sub(&parse(&["s"]).unwrap()).unwrap().path(),
            Path::new("/c/1/s")
        );
        // `/`: the container's cgroup itself.
        let own: Vec<PathBuf> = ["cpu,cpuacct", "memory", "systemd", "unified"]
            .iter()
            .map(|h| top.join(h).join("c/1"))
            .collect();
        assert_eq!(dirs_after(&layout, &["/"]).unwrap(), own);
        let _ = fs::remove_dir_all(&top);
    }

    #[test]
    fn controller_paths_move_only_their_hierarchies() {
        let (top, layout) = fake_host("ctrl");
        let got = dirs_after(&layout, &["memory:m", "cpu:s"]).unwrap();
        assert_eq!(
            got,
            [
                top.join("cpu,cpuacct/c/1/s"),
                top.join("memory/c/1/m"),
                top.join("systemd/c/1"),
                top.join("unified/c/1"),
            ]
        );
        assert_eq!(
            dirs_after(&layout, &["name=systemd:s"]).unwrap()[2],
            top.join("systemd/c/1/s")
        );
        let _ = fs::remove_dir_all(&top);
    }

    #[test]
    fn host_errors() {
        let (top, layout) = fake_host("errors");
        let e = |v: &[&str]| dirs_after(&layout, v).unwrap_err().to_string();
        assert_eq!(
            e(&["whaaat:/"]),
            "--cgroup \"whaaat:/\": unknown controller whaaat (no cgroup v1 hierarchy of that name is mounted)"
        );
        let missing = e(&["nonexistent"]);
        assert_eq!(
            missing,
            format!(
                "--cgroup \"nonexistent\": no sub-cgroup to join: adding pid to {}: no such file or directory",
                top.join("cpu,cpuacct/c/1/nonexistent/cgroup.procs")
                    .display()
            )
        );
        // `m` is in memory only: missing in the other hierarchies.
        assert!(e(&["m"]).contains("cpu,cpuacct/c/1/m/cgroup.procs: no such file"));
        assert!(e(&["cpu:s", "cpuacct:m"]).contains("shares its hierarchy (cpu,cpuacct)"));
        let unified = Layout {
            setup: CgroupSetup::Unified,
            v1: Vec::new(),
            v2: Some(top.join("unified")),
        };
        let cg = Cgroup::with_layout(Path::new("/c/1"), unified.clone()).unwrap();
        assert!(
            cg.into_sub(&parse(&["memory:s"]).unwrap())
                .unwrap_err()
                .to_string()
                .contains("unknown controller memory (cgroup v2 has one hierarchy")
        );
        let cg = Cgroup::with_layout(Path::new("/c/1"), unified).unwrap();
        assert_eq!(
            cg.into_sub(&parse(&["s"]).unwrap()).unwrap().dirs(),
            [top.join("unified/c/1/s")]
        );
        let _ = fs::remove_dir_all(&top);
    }
}
