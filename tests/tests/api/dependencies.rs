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
