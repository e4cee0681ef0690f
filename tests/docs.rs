//! The README and the guide tell the truth: every relative link and anchor resolves, and the
//! README's commands run as shown (its quickstart on the shipped data, its "your own runs" on a
//! CSV laid out as the README describes).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{repo, text, write};

/// README.md and every page of the guide.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo("README.md")];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

/// The anchor mdBook and GitHub give a heading: lowercase, spaces to `-`, other punctuation
/// dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// `(line, target)` of every inline link `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push((i + 1, tail[..end].to_owned()));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let body = std::fs::read_to_string(&page).unwrap();
        for (line, target) in links(&body) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !resolved.exists() {
                broken.push(format!("{}:{line}: {target}: no such file", page.display()));
                continue;
            }
            if !anchor.is_empty() && resolved.extension().is_some_and(|e| e == "md") {
                let heads = std::fs::read_to_string(&resolved).unwrap();
                let found = (heads.lines())
                    .filter(|l| l.starts_with('#'))
                    .any(|l| slug(l.trim_start_matches('#')) == anchor);
                if !found {
                    broken.push(format!(
                        "{}:{line}: {target}: no such heading",
                        page.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert_eq!(slug("Your own runs"), "your-own-runs");
}

/// The shell commands of the README's fenced `sh` block under `heading`: continuation lines
/// joined, `a && b` split, comments and blank lines dropped.
fn commands_under(readme: &str, heading: &str) -> Vec<String> {
    let section = readme
        .split_once(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has a `## {heading}` section"))
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("`## {heading}` has a sh block"));
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.split(" # ").next().unwrap().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        current.push_str(line.trim_end_matches('\\').trim());
        current.push(' ');
        if !line.ends_with('\\') {
            commands.extend(current.split(" && ").map(|c| c.trim().to_owned()));
            current.clear();
        }
    }
    commands
}

/// Runs `command` (a README line starting with `mixatlas` or `cargo run --release --`) with
/// the built binary in `dir`.
fn run_readme_command(command: &str, dir: &Path) {
    let args = command
        .strip_prefix("mixatlas ")
        .or_else(|| command.strip_prefix("cargo run --release -- "))
        .unwrap_or_else(|| panic!("not a mixatlas command: {command}"));
    // The README's commands split on spaces: none of them quotes an argument.
    let out = Command::new(env!("CARGO_BIN_EXE_mixatlas"))
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}:\n{}", text(&out).1);
}

#[test]
fn the_readme_commands_run_as_shown() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let d = tempfile::tempdir().unwrap();
    // "Your own runs": a CSV laid out as the README shows it.
    let mut csv = String::from("run,web,code,books,val_loss\n");
    for i in 0..40 {
        let web = 0.1 + 0.8 * ((i * 7) % 40) as f64 / 40.0;
        let code = (1.0 - web) * ((i * 3) % 10) as f64 / 10.0;
        let books = 1.0 - web - code;
        let loss = 2.2 + 0.5 * (web - 0.6).powi(2) + 0.3 * code.sqrt();
        csv.push_str(&format!("r{i},{web},{code},{books},{loss}\n"));
    }
    write(d.path(), "runs.csv", &csv);
    let own = commands_under(&readme, "Your own runs");
    assert_eq!(own.len(), 5, "{own:?}");
    for command in &own {
        run_readme_command(command, d.path());
    }
    assert!(d.path().join("report/report.html").is_file());
    assert!(d.path().join("spec/data.toml").is_file());
}

#[test]
#[ignore = "slow tier: the README's quickstart on the 512 shipped RegMix runs, then the guide's exports"]
fn the_readme_quickstart_runs_as_shown() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let d = tempfile::tempdir().unwrap();
    for shipped in ["configs", "datasets", "examples"] {
        std::os::unix::fs::symlink(repo(shipped), d.path().join(shipped)).unwrap();
    }
    let commands: Vec<String> = commands_under(&readme, "Quickstart on the shipped data")
        .into_iter()
        .filter(|c| !c.starts_with("cargo test"))
        .collect();
    // train && evaluate && propose.
    assert_eq!(commands.len(), 3, "{commands:?}");
    for command in &commands {
        run_readme_command(command, d.path());
    }
    assert!(d.path().join("out/proposals/proposals.json").is_file());
    // The guide's exports of the quickstart's proposal, with the shipped example tables.
    let guide = std::fs::read_to_string(repo("docs/integrations.md")).unwrap();
    let exports: Vec<&str> = (guide.lines())
        .filter(|l| l.starts_with("mixatlas export --recipe out/proposals/"))
        .collect();
    assert!(exports.len() >= 6, "{exports:?}");
    for command in exports {
        run_readme_command(command, d.path());
    }
}
