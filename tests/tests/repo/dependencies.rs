//! No dependency pulled in that the code does not use, the lock file is committed, and
//! `deny.toml` bans what the functions must not link.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{read, root};

fn rust_sources(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

fn members() -> Vec<PathBuf> {
    let mut dirs = vec![root().join("shared"), root().join("tests")];
    for group in ["functions", "tools"] {
        for entry in std::fs::read_dir(root().join(group)).unwrap().flatten() {
            if entry.path().join("Cargo.toml").exists() {
                dirs.push(entry.path());
            }
        }
    }
    dirs
}

#[test]
fn every_dependency_of_every_crate_is_used_by_its_code() {
    let mut unused = Vec::new();
    for dir in members() {
        let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let mut code = String::new();
        rust_sources(&dir, &mut code);
        for section in ["dependencies", "dev-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for name in deps.keys() {
                let ident = name.replace('-', "_");
                let used = code.contains(&format!("{ident}::"))
                    || code.contains(&format!("use {ident}"))
                    || code.contains(&format!("{ident}!"));
                if !used {
                    unused.push(format!("{}: {name}", dir.display()));
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "dependencies the code never names: {unused:#?}"
    );
}

#[test]
fn the_lock_file_is_committed_with_the_workspace() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock exists");
    assert!(lock.contains("name = \"aws-sdk-dynamodb\""));
    let ignore = std::fs::read_to_string(root().join(".gitignore")).unwrap();
    assert!(!ignore
        .lines()
        .any(|l| l.trim() == "Cargo.lock" || l.trim() == "/Cargo.lock"));
}

/// What every function links for its one HTTP/TLS stack (hyper 1, h2 0.4, rustls 0.23 on ring),
/// as `deny.toml` bans the rest: not the SDK's legacy stack (hyper 0.14, h2 0.3, rustls 0.21),
/// not aws-lc (about 4 MB a binary), not the `aws-config` loader (STS, SSO, IMDS), not `regex`;
/// and one version of each of hyper, h2 and rustls. `cargo deny check bans` (`make check`) holds
/// the lock file to it; this keeps the list from losing an entry.
#[test]
fn the_workspace_links_one_http_and_tls_stack_and_none_of_the_heavy_extras() {
    let deny: toml::Table = read("deny.toml").parse().expect("deny.toml is TOML");
    let entries = deny["bans"]["deny"]
        .as_array()
        .expect("[bans] deny is a list");
    let (mut banned, mut one_version) = (BTreeSet::new(), BTreeSet::new());
    for entry in entries {
        let spec = entry
            .as_str()
            .or_else(|| entry.get("crate").and_then(toml::Value::as_str))
            .unwrap_or_else(|| panic!("{entry}: a crate spec, as a string or `crate = ...`"));
        if entry
            .get("deny-multiple-versions")
            .and_then(toml::Value::as_bool)
            == Some(true)
        {
            one_version.insert(spec);
        } else {
            banned.insert(spec);
        }
    }
    // `name:<req` bans a range; `name@req` would ban one exact version (cargo-deny's syntax).
    let heavy = [
        "aws-config",
        "aws-lc-rs",
        "aws-lc-sys",
        "aws-sdk-sts",
        "h2:<0.4",
        "hyper:<1",
        "regex",
        "rustls:<0.23",
    ];
    assert_eq!(banned, BTreeSet::from(heavy));
    assert_eq!(one_version, BTreeSet::from(["h2", "hyper", "rustls"]));
}
