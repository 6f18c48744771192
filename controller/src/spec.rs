//! `sprout spec`: writes a default `config.json`, the same as `runc spec`
//! (runc `libcontainer/specconv.Example`) except for the hostname
//! (`sprout`), `ociVersion`, which is the runtime-spec version sprout
//! implements (`--version`'s `spec:`), as runc writes its own, and the
//! cgroup namespace: listed on every host, where runc 1.1 adds it on
//! cgroup v2-only hosts alone (a bundle made here runs alike under both;
//! `/proc/self/cgroup` then shows `/` inside on a v1 or hybrid host).
//!
//! Like runc's, `linux.resources.devices` starts with a rule denying
//! every device; sprout appends runc's default allow-list at create.

use std::io::Write;
use std::path::Path;

use crate::config::CONFIG_FILE;
use crate::error::{Error, Result};

/// The default configuration, formatted like `runc spec`'s output.
pub const DEFAULT_CONFIG: &str = r#"{
	"ociVersion": "1.1.0",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "sprout",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			},
			{
				"type": "cgroup"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
"#;

/// Writes [`DEFAULT_CONFIG`] to `bundle/config.json`.
///
/// Errors: the file exists (`File config.json exists. Remove it first`, as
/// runc says), the bundle directory is missing, or the write fails.
pub fn write_default(bundle: &Path) -> Result<()> {
    match std::fs::metadata(bundle) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => crate::bail!("bundle \"{}\": not a directory", bundle.display()),
        Err(e) => return Err(Error::io(format!("bundle \"{}\"", bundle.display()), &e)),
    }
    let path = bundle.join(CONFIG_FILE);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            crate::bail!("File {CONFIG_FILE} exists. Remove it first")
        }
        Err(e) => return Err(Error::io(format!("{}: create", path.display()), &e)),
    };
    f.write_all(DEFAULT_CONFIG.as_bytes())
        .map_err(|e| Error::io(format!("{}: write", path.display()), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_parses() {
        let spec = crate::config::parse(DEFAULT_CONFIG).unwrap();
        // The version `--version` prints after `spec:` (oci-spec's).
        assert_eq!(spec.version(), crate::cli::SPEC_VERSION);
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(spec.hostname().as_deref(), Some("sprout"));
        assert_eq!(spec.mounts().as_ref().unwrap().len(), 7);
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
        assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 10);
        assert_eq!(linux.readonly_paths().as_ref().unwrap().len(), 5);
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("sprout-spec-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        write_default(&dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            DEFAULT_CONFIG
        );
        assert_eq!(
            write_default(&dir).unwrap_err().to_string(),
            "File config.json exists. Remove it first"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
