//! `Plan::decode` on arbitrary bytes must never panic. When it accepts the
//! input, every list must iterate to exactly `len()` items, `get` must agree
//! with iteration, and re-encoding the decoded plan must give back exactly
//! the input (every accepted encoding is canonical).
#![no_main]

use std::ffi::CStr;

use libfuzzer_sys::fuzz_target;
use sprout_protocol::{Item, List, MountOp, Plan, PlanSpec, plan_len};

fn collect<'a, T: Item<'a> + PartialEq + core::fmt::Debug>(list: List<'a, T>) -> Vec<T> {
    let v: Vec<T> = list.iter().collect();
    assert_eq!(v.len(), list.len());
    assert_eq!(v.is_empty(), list.is_empty());
    if let Some(last) = v.last() {
        assert_eq!(list.get(v.len() - 1).as_ref(), Some(last));
        assert_eq!(list.get(0).as_ref(), v.first());
    }
    assert!(list.get(v.len()).is_none());
    v
}

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Plan::decode(data) else {
        return;
    };
    assert_eq!(plan_len(data), Ok(data.len()));
    assert_eq!(p.seccomp.len() % 8, 0);
    let gids = collect(p.additional_gids);
    let namespaces = collect(p.namespaces);
    let rlimits = collect(p.rlimits);
    let mounts: Vec<MountOp<'_>> = collect(p.mounts);
    let args: Vec<&CStr> = collect(p.args);
    let env: Vec<&CStr> = collect(p.env);
    let spec = PlanSpec {
        flags: p.flags,
        uid: p.uid,
        gid: p.gid,
        cap_last_cap: p.cap_last_cap,
        caps: p.caps,
        preserve_fds: p.preserve_fds,
        umask: p.umask,
        personality: p.personality,
        start_fd: p.start_fd,
        seccomp_flags: p.seccomp_flags,
        rootfs_propagation: p.rootfs_propagation,
        console: p.console,
        rootfs: p.rootfs,
        hostname: p.hostname,
        domainname: p.domainname,
        cwd: p.cwd,
        additional_gids: &gids,
        namespaces: &namespaces,
        rlimits: &rlimits,
        mounts: &mounts,
        args: &args,
        env: &env,
        seccomp: p.seccomp,
    };
    assert_eq!(spec.encoded_len(), data.len());
    let mut out = vec![0u8; data.len()];
    assert_eq!(spec.encode(&mut out), Ok(data.len()));
    assert!(out == data, "re-encoding an accepted plan changed its bytes");
});
