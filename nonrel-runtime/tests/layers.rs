//! The runtime's layer map, enforced: each top-level module of `src/` may use only the
//! modules of the layers below it (ARCHITECTURE.md draws the map).
//!
//! The test reads every source file's `crate::` paths (in code, not comments or unit tests)
//! and fails naming each file and path that reaches up or sideways. Because every module
//! only reaches down, no import cycle between top-level modules can exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers from the bottom up; modules on one line are one layer and may not use each
/// other (the backends). The last, the conformance kit, uses the public API.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["core"],
    &["schema"],
    &["plan"],
    &["backend"],
    &["embedded", "mongo"],
    &["engine"],
    &["api"],
    &["conformance"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file: comment lines and the unit-test module left out.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first segment of every `crate::` path in `code`, including each of a
/// `crate::{a::b, c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` in macros, `nonrel_crate::` and the like
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first);
        if module == "lib" {
            continue; // the crate root re-exports the public API
        }
        let Some(own) = layer_of(module) else {
            problems.push(format!("{}: module `{module}` is in no layer of the map", rel.display()));
            continue;
        };
        *seen.entry(LAYERS[own][0]).or_default() += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&code(&text)) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!("{}: `{module}` uses `crate::{used}`", rel.display())),
                // The conformance kit, above every layer, uses the public API at the root.
                None if own == LAYERS.len() - 1 => {}
                None => problems.push(format!(
                    "{}: `crate::{used}` is not a layer: name the item by its layer's path",
                    rel.display()
                )),
            }
        }
    }
    assert!(seen.len() >= LAYERS.len() - 2, "too few layers found under src/: {seen:?}");
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} uses break the layer map:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_path_reader_sees_groups_and_skips_macros() {
    let paths = crate_paths("use crate::{core::value::Value, error};\nlet _ = $crate::x; crate::plan::Plan");
    assert_eq!(paths, ["core", "error", "plan"]);
}
