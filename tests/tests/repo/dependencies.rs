//! No dependency pulled in that the code does not use, and the lock file is committed.

use crate::root;
use std::path::{Path, PathBuf};

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

/// What every function links for its one HTTP/TLS stack, by the lock file: hyper 1 and rustls
/// 0.23 on ring. Not the SDK's legacy stack (hyper 0.14, rustls 0.21), not aws-lc (about 4 MB
/// a binary), not the `aws-config` loader (STS, SSO, IMDS), not `regex`.
#[test]
fn the_workspace_links_one_http_and_tls_stack_and_none_of_the_heavy_extras() {
    let lock: toml::Table = std::fs::read_to_string(root().join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let packages = lock["package"].as_array().unwrap();
    let versions = |name: &str| -> Vec<&str> {
        let named = packages.iter().filter(|p| p["name"].as_str() == Some(name));
        named.map(|p| p["version"].as_str().unwrap()).collect()
    };
    for (name, major) in [("hyper", "1."), ("rustls", "0.23."), ("h2", "0.4.")] {
        let found = versions(name);
        assert!(
            found.iter().all(|v| v.starts_with(major)),
            "{name}: {found:?}"
        );
    }
    for name in [
        "aws-lc-rs",
        "aws-lc-sys",
        "aws-config",
        "aws-sdk-sts",
        "regex",
    ] {
        assert_eq!(versions(name), Vec::<&str>::new(), "{name} is linked");
    }
}
