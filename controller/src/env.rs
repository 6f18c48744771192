//! `process.env`: validation, de-duplication and `HOME`.
//!
//! Each entry must be `NAME=value` with a non-empty name and no NUL byte
//! (execve(2) cannot carry one). A name given twice keeps its first
//! position and its last value, as runc's `prepareEnv` does. When no `HOME`
//! is given the controller adds one (see [`crate::user::home_for`]).

use crate::error::Result;

/// Checks every entry; the error names the index and the entry
/// (`process.env[3] "FOO": missing '='`).
pub fn validate(env: &[String]) -> Result<()> {
    for (i, e) in env.iter().enumerate() {
        let shown = e.replace('\0', "\\0");
        if e.contains('\0') {
            crate::bail!("process.env[{i}] \"{shown}\": contains a NUL byte");
        }
        match e.find('=') {
            None => crate::bail!("process.env[{i}] \"{shown}\": missing '='"),
            Some(0) => crate::bail!("process.env[{i}] \"{shown}\": empty variable name"),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The name part of a validated entry.
fn name(e: &str) -> &str {
    e.split_once('=').map(|(n, _)| n).unwrap_or(e)
}

/// De-duplicates validated entries: first position, last value. A usual
/// environment is searched in place; a large one (more than
/// [`DEDUP_INDEX_FROM`] entries) through an index of names, so that tens
/// of thousands of entries cost linear, not quadratic, time.
pub fn dedup(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    if env.len() <= DEDUP_INDEX_FROM {
        for e in env {
            match out.iter_mut().find(|o| name(o) == name(e)) {
                Some(o) => *o = e.clone(),
                None => out.push(e.clone()),
            }
        }
        return out;
    }
    let mut at: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(env.len());
    for e in env {
        match at.entry(name(e)) {
            std::collections::hash_map::Entry::Occupied(o) => out[*o.get()] = e.clone(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(out.len());
                out.push(e.clone());
            }
        }
    }
    out
}

/// The size from which [`dedup`] indexes names instead of searching.
const DEDUP_INDEX_FROM: usize = 64;

/// Whether the (validated) environment sets `HOME`.
pub fn has_home(env: &[String]) -> bool {
    env.iter().any(|e| name(e) == "HOME")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dedup_keeps_first_position_and_last_value_small_and_large() {
        assert_eq!(
            dedup(&s(&["A=1", "B=2", "A=3", "C=", "B=4"])),
            s(&["A=3", "B=4", "C="])
        );
        // Past DEDUP_INDEX_FROM the index gives the same answer.
        let big: Vec<String> = (0..3 * DEDUP_INDEX_FROM)
            .map(|i| format!("V{}={i}", i % (DEDUP_INDEX_FROM + 7)))
            .collect();
        let want: Vec<String> = (0..DEDUP_INDEX_FROM + 7)
            .map(|k| {
                let last = (0..3 * DEDUP_INDEX_FROM)
                    .filter(|i| i % (DEDUP_INDEX_FROM + 7) == k)
                    .max()
                    .unwrap();
                format!("V{k}={last}")
            })
            .collect();
        assert_eq!(dedup(&big), want);
    }

    #[test]
    fn validation_names_the_entry() {
        assert!(validate(&s(&["A=1", "B=", "C==x"])).is_ok());
        assert_eq!(
            validate(&s(&["A=1", "B=2", "C=3", "FOO"]))
                .unwrap_err()
                .to_string(),
            "process.env[3] \"FOO\": missing '='"
        );
        assert_eq!(
            validate(&s(&["=x"])).unwrap_err().to_string(),
            "process.env[0] \"=x\": empty variable name"
        );
        assert_eq!(
            validate(&s(&["A=x\0y"])).unwrap_err().to_string(),
            "process.env[0] \"A=x\\0y\": contains a NUL byte"
        );
    }

    #[test]
    fn dedup_keeps_first_position_last_value() {
        assert_eq!(
            dedup(&s(&["A=1", "B=2", "A=3", "C=4"])),
            s(&["A=3", "B=2", "C=4"])
        );
        assert_eq!(dedup(&s(&[])), s(&[]));
    }

    #[test]
    fn detects_home() {
        assert!(has_home(&s(&["PATH=/bin", "HOME=/x"])));
        assert!(!has_home(&s(&["HOMEDIR=/x", "PATH=/bin"])));
        assert!(has_home(&s(&["HOME="])));
    }
}
