//! Loading an OCI bundle: the directory, its `config.json` and the rootfs
//! (OCI runtime spec, "Filesystem Bundle" and "Configuration").
//!
//! A valid config is parsed once, straight into [`oci_spec::runtime::Spec`]
//! with plain serde_json. Only when that fails is the text parsed again to
//! word the error: first untyped, so that a syntax error gets a line and
//! column and so that capability and rlimit names get our own messages;
//! then with the field path of a type error (`config.json:
//! process.user.uid: invalid type: ...`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// The name of the configuration file in a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// A loaded, checked bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    /// The parsed configuration (boxed: a `Spec` is several KiB, and a
    /// bundle moves through deep call chains; on the stack it made the
    /// controller's peak stack ~100 KiB).
    pub spec: Box<Spec>,
    /// Absolute, canonical host path of the root filesystem (`root.path`
    /// resolved against the bundle); it exists and is a directory.
    pub rootfs: PathBuf,
}

/// Loads `dir/config.json`.
///
/// Errors, one line each: the bundle directory or `config.json` missing,
/// invalid JSON (with line and column), a type error (with the field path),
/// an unknown rlimit name (unknown capability names are dropped with a
/// warning, as runc), `root` missing, `root.path` not an
/// existing directory.
pub fn load(dir: &Path) -> Result<Bundle> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => crate::bail!("bundle \"{shown}\": not a directory"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::bail!("bundle \"{shown}\": no such directory")
        }
        Err(e) => return Err(Error::io(format!("bundle \"{shown}\""), &e)),
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::io(format!("bundle \"{shown}\""), &e))?;
    let path = dir.join(CONFIG_FILE);
    let text = match read_regular(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Named as given, as the missing-directory error above.
            crate::bail!("bundle \"{shown}\": no {CONFIG_FILE} in it")
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            crate::bail!("{}: not a regular file", path.display())
        }
        Err(e) => return Err(Error::io(format!("{}: read", path.display()), &e)),
    };
    let spec = parse(&text)?;
    let rootfs = rootfs(&dir, &spec)?;
    Ok(Bundle { dir, spec, rootfs })
}

/// The text of the regular file at `path`, opened with `O_NONBLOCK` so
/// that a FIFO in its place cannot hang a start (whose stopping signals a
/// foreground `run` holds). Errors: the open or read error; `InvalidInput`
/// for anything but a regular file (FIFO, device, directory).
fn read_regular(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let mut text = String::with_capacity(meta.len() as usize + 1);
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Parses config text into a [`Spec`] (see the module docs).
///
/// oci-spec and sprout know the same capability and rlimit names (unit
/// test `fast_path_names_are_known`), so the fast path accepts what the
/// checked path accepts.
pub fn parse(text: &str) -> Result<Box<Spec>> {
    // serde would also take a top-level array (a struct as a sequence).
    if !text.trim_start().starts_with('{') {
        return Err(explain(text));
    }
    match serde_json::from_str::<Box<Spec>>(text) {
        Ok(spec) if cap_names_exact(text) => Ok(spec),
        _ => parse_checked(text).map(Box::new),
    }
}

/// Whether every name in `process.capabilities` is spelled as runc knows
/// it ([`crate::caps::bit_of_exact`]). oci-spec also takes `sys_admin` or
/// `SYS_ADMIN`, which runc ignores as unknown; such a config takes the
/// checked parse, which drops them. One more pass over the text that
/// reads only these five lists (a few µs for `runc spec`'s config).
fn cap_names_exact(text: &str) -> bool {
    use std::borrow::Cow;
    #[derive(serde::Deserialize)]
    struct Config<'a> {
        #[serde(borrow)]
        process: Option<Process<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Process<'a> {
        #[serde(borrow)]
        capabilities: Option<Sets<'a>>,
    }
    type List<'a> = Option<Vec<Cow<'a, str>>>;
    #[derive(serde::Deserialize)]
    struct Sets<'a> {
        #[serde(borrow)]
        bounding: List<'a>,
        #[serde(borrow)]
        effective: List<'a>,
        #[serde(borrow)]
        permitted: List<'a>,
        #[serde(borrow)]
        inheritable: List<'a>,
        #[serde(borrow)]
        ambient: List<'a>,
    }
    let Ok(c) = serde_json::from_str::<Config>(text) else {
        return false;
    };
    let Some(s) = c.process.and_then(|p| p.capabilities) else {
        return true;
    };
    [
        s.bounding,
        s.effective,
        s.permitted,
        s.inheritable,
        s.ambient,
    ]
    .iter()
    .flatten()
    .flatten()
    .all(|n| crate::caps::bit_of_exact(n).is_some())
}

/// The error for config text that is not a JSON object.
fn explain(text: &str) -> Error {
    match parse_checked(text) {
        Err(e) => e,
        Ok(_) => Error::invalid(format!(
            "{CONFIG_FILE}: the top level must be a JSON object"
        )),
    }
}

/// The slow, checked parse that names the offending field, and that drops
/// unknown capability names with a warning (as runc; see
/// [`crate::caps::drop_unknown`]).
fn parse_checked(text: &str) -> Result<Spec> {
    let mut value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("{CONFIG_FILE}: invalid JSON: {e}")))?;
    if !value.is_object() {
        crate::bail!("{CONFIG_FILE}: the top level must be a JSON object");
    }
    let edited;
    let text = if crate::caps::drop_unknown(&mut value) {
        edited = value.to_string();
        edited.as_str()
    } else {
        text
    };
    crate::rlimit::precheck(&value)?;
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, Spec>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            Error::invalid(format!("{CONFIG_FILE}: {}", e.inner()))
        } else {
            Error::invalid(format!("{CONFIG_FILE}: {path}: {}", e.inner()))
        }
    })
}

/// `root.path` resolved against the bundle; it must be an existing directory.
fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let Some(root) = spec.root() else {
        crate::bail!("root: missing (the config must name a root filesystem)");
    };
    let given = root.path();
    if given.as_os_str().is_empty() {
        crate::bail!("root.path: must not be empty");
    }
    let path = if given.is_absolute() {
        given.clone()
    } else {
        bundle.join(given)
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => crate::bail!("root.path \"{}\": not a directory", given.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::bail!(
                "root.path \"{}\": no such file or directory",
                given.display()
            )
        }
        Err(e) => return Err(Error::io(format!("root.path \"{}\"", given.display()), &e)),
    }
    path.canonicalize()
        .map_err(|e| Error::io(format!("root.path \"{}\"", given.display()), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = parse("{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "config.json: invalid JSON: key must be a string at line 3 column 3"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let e =
            parse(r#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": "root"}}}"#)
                .unwrap_err()
                .to_string();
        assert!(
            e.starts_with("config.json: process.user.uid: invalid type: string \"root\""),
            "{e}"
        );
    }

    #[test]
    fn names_get_our_messages() {
        // An unknown capability is dropped (with a warning), as runc.
        let spec = parse(
            r#"{"process": {"cwd": "/", "user": {}, "capabilities": {"bounding": ["CAP_FOO", "CAP_KILL"]}}}"#,
        )
        .unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(
            crate::caps::resolve(Some(caps), 40).unwrap().bounding,
            1 << 5
        );
        let e =
            parse(r#"{"process": {"cwd": "/", "user": {}, "rlimits": [{"type": "RLIMIT_X", "soft": 1, "hard": 1}]}}"#)
                .unwrap_err()
                .to_string();
        assert_eq!(
            e,
            "process.rlimits[0].type: unknown rlimit type \"RLIMIT_X\""
        );
    }

    #[test]
    fn fast_path_names_are_known() {
        // Every Linux capability (0..=40) and rlimit: sprout and oci-spec
        // both know it, so oci-spec accepts no name that sprout's own
        // check would refuse (both strip any `CAP_` prefixes, any case).
        let known: Vec<String> = crate::caps::names(u64::MAX)
            .into_iter()
            .filter(|n| n[4..].parse::<u32>().is_err())
            .collect();
        assert_eq!(known.len(), 41);
        for name in &known {
            let c: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(
                crate::caps::bit_of(&c.to_string()),
                crate::caps::bit_of(name),
                "{name}"
            );
        }
        for r in 0..16 {
            let name = crate::rlimit::name_of(r);
            let t: oci_spec::runtime::PosixRlimitType =
                serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(name));
        }
        assert!(
            serde_json::from_value::<oci_spec::runtime::Capability>(serde_json::json!("CAP_FOO"))
                .is_err()
        );
    }

    #[test]
    fn fast_and_checked_parse_agree() {
        let good = r#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 1, "gid": 2},
            "capabilities": {"bounding": ["CAP_CHOWN"]}, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}]}}"#;
        let a = serde_json::to_value(parse(good).unwrap()).unwrap();
        let b = serde_json::to_value(parse_checked(good).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse("[]").unwrap_err().to_string(),
            "config.json: the top level must be a JSON object"
        );
    }

    #[test]
    fn bundle_errors() {
        let base = std::env::temp_dir().join(format!("sprout-config-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let e = load(&base).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("bundle \"{}\": no such directory", base.display())
        );
        std::fs::create_dir_all(&base).unwrap();
        let e = load(&base).unwrap_err().to_string();
        assert!(e.ends_with(": no config.json in it"), "{e}");
        std::fs::write(
            base.join("config.json"),
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}}"#,
        )
        .unwrap();
        assert_eq!(
            load(&base).unwrap_err().to_string(),
            "root.path \"rootfs\": no such file or directory"
        );
        std::fs::create_dir(base.join("rootfs")).unwrap();
        let b = load(&base).unwrap();
        assert_eq!(b.rootfs, base.canonicalize().unwrap().join("rootfs"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
