//! The module graph flows one way: a module names only modules below it. The order is `lib.rs`'s
//! data flow; a back-edge (a low module reaching up, e.g. `space` importing `export`) fails here
//! with its file and line. `crate::error` (the crate-wide `Error`, which wraps every module's
//! own error) sits just below `proposer`: the modules under it return their own error types.

use crate::util::repo;

/// Low to high. `kernels` (the GPU code, `kernels/`) implements the surrogate's device
/// protocol and is attached from above by `device`.
const LAYERS: &[&str] = &[
    "math",
    "progress",
    "io",
    "space",
    "runs",
    "surrogate",
    "kernels",
    "device",
    "objective",
    "acquisition",
    "search",
    "error",
    "proposer",
    "strategy",
    "driver",
    "simulate",
    "export",
    "import",
    "campaign",
    "evaluation",
    "report",
    "cli",
];

/// `.rs` files under `dir`, recursively.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/space/reuse.rs` -> `space`).
fn module_of(path: &std::path::Path) -> String {
    let src = repo("src");
    match path.strip_prefix(&src) {
        Ok(rel) => {
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            first.trim_end_matches(".rs").to_owned()
        }
        Err(_) => "kernels".to_owned(),
    }
}

/// Every `crate::<module>` named in code (not comments, not the unit tests at a file's end);
/// `crate::Error` and `crate::Result` count as `error`.
fn references(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let mut name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if rest.starts_with("Error") || rest.starts_with("Result") {
                name = "error".to_owned();
            }
            out.push((i + 1, name));
        }
    }
    out
}

#[test]
fn modules_only_name_modules_below_them() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut files = Vec::new();
    sources(&repo("src"), &mut files);
    sources(&repo("kernels"), &mut files);
    let mut back_edges = Vec::new();
    for file in &files {
        let module = module_of(file);
        if module == "error" {
            // It wraps every module's error, by design.
            continue;
        }
        let Some(own) = rank(&module) else {
            // lib.rs and main.rs sit outside the order.
            assert!(
                ["lib", "main"].contains(&module.as_str()),
                "{}: module `{module}` is missing from LAYERS",
                file.display()
            );
            continue;
        };
        for (line, target) in references(&std::fs::read_to_string(file).unwrap()) {
            if rank(&target).is_some_and(|r| r > own) {
                back_edges.push(format!("{}:{line}: {module} -> {target}", file.display()));
            }
        }
    }
    assert!(
        back_edges.is_empty(),
        "back-edges:\n{}",
        back_edges.join("\n")
    );
}

#[test]
fn the_check_sees_a_back_edge() {
    let text = "use crate::export::Recipe;\nfn f() -> crate::Result<()>;\n// crate::cli in a \
                comment\n#[cfg(test)]\nuse crate::cli;";
    let expected = vec![(1, "export".to_owned()), (2, "error".to_owned())];
    assert_eq!(references(text), expected);
}
