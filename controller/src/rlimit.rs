//! `process.rlimits`: `RLIMIT_*` names to resource numbers
//! (`getrlimit(2)`, `<asm-generic/resource.h>`), validated ahead of time.
//!
//! The controller applies them with `prlimit(2)` on the stub when it reports
//! `Ready` (still privileged, before exec), as runc does on `procReady`.
//! Raising a hard limit needs `CAP_SYS_RESOURCE`; without it `prlimit` fails
//! with `EPERM` and the run fails with a message naming the entry.

use oci_spec::runtime::PosixRlimit;
use sprout_protocol::Rlimit;

use crate::error::Result;

/// Resource names indexed by resource number (`RLIMIT_CPU` = 0 ...
/// `RLIMIT_RTTIME` = 15).
pub const NAMES: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// The resource number of an `RLIMIT_*` name (`"RLIMIT_NOFILE"` -> 7).
pub fn resource_of(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// The name of a resource number, or `"RLIMIT_<n>"`.
pub fn name_of(resource: u32) -> String {
    NAMES
        .get(resource as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("RLIMIT_{resource}"))
}

/// Resolves `process.rlimits` to wire entries, in config order.
///
/// Errors: soft above hard (`process.rlimits[0] RLIMIT_NOFILE: soft limit
/// 2048 is above the hard limit 1024`), a type given twice.
pub fn resolve(rlimits: &[PosixRlimit]) -> Result<Vec<Rlimit>> {
    let mut out: Vec<Rlimit> = Vec::with_capacity(rlimits.len());
    for (i, r) in rlimits.iter().enumerate() {
        let name = r.typ().to_string();
        let Some(resource) = resource_of(&name) else {
            crate::bail!("process.rlimits[{i}].type: unknown rlimit type \"{name}\"");
        };
        if r.soft() > r.hard() {
            crate::bail!(
                "process.rlimits[{i}] {name}: soft limit {} is above the hard limit {}",
                r.soft(),
                r.hard()
            );
        }
        if out.iter().any(|o| o.resource == resource) {
            crate::bail!("process.rlimits[{i}]: {name} is given twice");
        }
        out.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(out)
}

/// Checks the raw JSON's rlimit types before oci-spec parses them, so that
/// an unknown type gives our message (`process.rlimits[1].type: unknown
/// rlimit type "RLIMIT_FOO"`) rather than a serde one.
pub fn precheck(config: &serde_json::Value) -> Result<()> {
    let Some(list) = config
        .pointer("/process/rlimits")
        .and_then(|v| v.as_array())
    else {
        return Ok(());
    };
    for (i, r) in list.iter().enumerate() {
        if let Some(t) = r.get("type").and_then(|t| t.as_str())
            && resource_of(t).is_none()
        {
            crate::bail!("process.rlimits[{i}].type: unknown rlimit type \"{t}\"");
        }
    }
    Ok(())
}

/// Why `EPERM` for a limit: when its hard limit is above the one this
/// process has (the stub and the container start from it), the words
/// " (hard limit H is above sprout's own N; raising it needs
/// CAP_SYS_RESOURCE)", else nothing (setrlimit(2), prlimit(2)). `hard`
/// and `N` as the kernel counts them (`RLIM_INFINITY` = "unlimited").
pub fn raise_hint(resource: u32, hard: u64) -> String {
    let text = |v: u64| match v {
        u64::MAX => "unlimited".to_string(),
        v => v.to_string(),
    };
    match crate::sys::hard_limit(resource) {
        Ok(own) if hard > own => format!(
            " (hard limit {} is above sprout's own {}; raising it needs CAP_SYS_RESOURCE)",
            text(hard),
            text(own)
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType};

    fn rl(t: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(t)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn numbers_match_the_kernel() {
        assert_eq!(resource_of("RLIMIT_CPU"), Some(0));
        assert_eq!(resource_of("RLIMIT_CORE"), Some(4));
        assert_eq!(resource_of("RLIMIT_NOFILE"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(resource_of("RLIMIT_NPROC"), Some(libc::RLIMIT_NPROC));
        assert_eq!(resource_of("RLIMIT_AS"), Some(libc::RLIMIT_AS));
        assert_eq!(resource_of("RLIMIT_RTTIME"), Some(libc::RLIMIT_RTTIME));
        assert_eq!(resource_of("RLIMIT_FOO"), None);
        assert_eq!(name_of(7), "RLIMIT_NOFILE");
        assert_eq!(name_of(99), "RLIMIT_99");
    }

    #[test]
    fn resolves_in_order() {
        let v = resolve(&[
            rl(PosixRlimitType::RlimitNofile, 512, 1024),
            rl(PosixRlimitType::RlimitCore, 0, u64::MAX),
        ])
        .unwrap();
        assert_eq!(
            v,
            [
                Rlimit {
                    resource: 7,
                    soft: 512,
                    hard: 1024
                },
                Rlimit {
                    resource: 4,
                    soft: 0,
                    hard: u64::MAX
                }
            ]
        );
    }

    #[test]
    fn soft_above_hard_is_an_error() {
        let e = resolve(&[rl(PosixRlimitType::RlimitNofile, 2048, 1024)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.rlimits[0] RLIMIT_NOFILE: soft limit 2048 is above the hard limit 1024"
        );
    }

    #[test]
    fn duplicates_are_an_error() {
        let e = resolve(&[
            rl(PosixRlimitType::RlimitNofile, 1, 1),
            rl(PosixRlimitType::RlimitNofile, 2, 2),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.rlimits[1]: RLIMIT_NOFILE is given twice"
        );
    }

    #[test]
    fn precheck_names_unknown_types() {
        let v = serde_json::json!({"process": {"rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
            {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]}});
        assert_eq!(
            precheck(&v).unwrap_err().to_string(),
            "process.rlimits[1].type: unknown rlimit type \"RLIMIT_FOO\""
        );
    }
}
