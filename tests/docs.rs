//! The README and the guide tell the truth: every relative link and anchor resolves, every
//! command they show runs as shown (or is listed in [`NOT_RUN`] with the reason), and the
//! figures they quote are what `scripts/figures.py` gets from rerunning their commands.

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

/// The commands of the README's `sh` blocks under `## heading` (up to the next `## `).
fn commands_under(heading: &str) -> Vec<String> {
    let readme = repo("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = (lines.iter().position(|l| *l == format!("## {heading}")))
        .unwrap_or_else(|| panic!("README has a `## {heading}` section"));
    let end = (lines[start + 1..].iter().position(|l| l.starts_with("## ")))
        .map_or(lines.len(), |k| start + 1 + k);
    (shown(&readme).into_iter())
        .filter(|c| (start..end).contains(&c.line))
        .map(|c| c.command)
        .collect()
}

/// 40 runs over `web`, `code` and `books` with a `val_loss` target, laid out as the README
/// and the own-data page show a table: key first, then weights, then (`with_step`) a numeric
/// column that is neither, then the outcome.
fn runs_table(with_step: bool) -> String {
    let step = if with_step { ",step" } else { "" };
    let mut csv = format!("run,web,code,books{step},val_loss\n");
    for i in 0..40 {
        let web = 0.1 + 0.8 * ((i * 7) % 40) as f64 / 40.0;
        let code = (1.0 - web) * ((i * 3) % 10) as f64 / 10.0;
        let books = 1.0 - web - code;
        let loss = 2.2 + 0.5 * (web - 0.6).powi(2) + 0.3 * code.sqrt();
        let step = if with_step { ",1000" } else { "" };
        csv.push_str(&format!("r{i},{web},{code},{books}{step},{loss}\n"));
    }
    csv
}

#[test]
fn the_readme_commands_run_as_shown() {
    let d = scratch();
    // "Your own runs": a CSV laid out as the README shows it.
    write(d.path(), "runs.csv", &runs_table(false));
    let own = commands_under("Your own runs");
    assert_eq!(own.len(), 5, "{own:?}");
    for command in &own {
        let out = sh(command, d.path());
        assert!(out.status.success(), "{command}:\n{}", text(&out).1);
    }
    assert!(d.path().join("report/report.html").is_file());
    assert!(d.path().join("spec/data.toml").is_file());
}

/// Commands the pages show that no test runs from the page, by prefix, and why. Every other
/// command in a `sh` block is run: by [`the_guide_commands_run_as_shown`] and its fast
/// siblings, or, in a block followed by a `<!-- figures:NAME -->` block, by
/// `scripts/figures.py` (which [`the_quoted_figures_are_current`] checks for the quick blocks).
const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo install --path .",
        "installs the binary the tests build with `cargo build --release`; `.ci/run` checks the GPU features compile",
    ),
    ("cargo test", "`.ci/run` runs the test tiers"),
    (
        "pip install ./python",
        "`.ci/run` installs the package; the slow tier tests it against the CLI",
    ),
    (".ci/run", "CI itself"),
    (
        "apt-get install",
        "system packages: `.ci/run` installs them",
    ),
    (
        "mixatlas simulate --checkpoint out/regmix --samples 100000000 --device cuda",
        "needs an NVIDIA GPU (`scripts/gpu-check` runs the CUDA path)",
    ),
    ("scripts/gpu-check", "needs a GPU"),
    ("GPU_CHECK_SIZES=", "needs a GPU"),
    (
        "cargo bench",
        "timings: criterion benches (compiled in CI by `clippy --all-targets`)",
    ),
    ("RAYON_NUM_THREADS=", "timings"),
    (
        "OMP_NUM_THREADS=",
        "timings of a reference needing PyTorch or scikit-learn",
    ),
    ("/usr/bin/time", "timings"),
    ("cargo tree", "a dependency query"),
    ("man ./mixatlas.1", "opens a pager"),
    (
        "chromium",
        "a screenshot by hand: the report test takes one",
    ),
    (
        "eval \"$(scripts/slurm-local start)\"",
        "starts a Slurm cluster: tests/slurm.rs does, in CI",
    ),
    (
        "python3 scripts/backtest-reference.py",
        "a reference needing scikit-learn and LightGBM: `scripts/figures.py write backtest-reference`",
    ),
    (
        "mixatlas loop --config campaign.toml",
        "a template for the user's own training script",
    ),
    (
        "examples/tiny-lm/run.sh",
        "minutes of training: the slow tier runs one seed (tests/interop.rs), \
         `scripts/figures.py write tiny-lm` the page's three",
    ),
    (
        "mixatlas import wandb runs-export.csv",
        "a CSV the W&B UI exports from the user's project; tests/interop.rs reads one",
    ),
];

/// One command a page shows in a `sh` block.
#[derive(Debug)]
struct Shown {
    page: PathBuf,
    line: usize,
    command: String,
    /// The figures block this command's `sh` block produces, if any.
    figures: Option<String>,
}

/// Every command of every `sh` block of `page` (indented blocks included): continuation lines
/// joined, `a && b` split, comments and blank lines dropped.
fn shown(page: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(page).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```sh" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while lines[end].trim() != "```" {
            end += 1;
        }
        let figures = (lines[end + 1..].iter().find(|l| !l.trim().is_empty()))
            .and_then(|l| l.trim().strip_prefix("<!-- figures:"))
            .and_then(|l| l.strip_suffix(" -->"))
            .map(str::to_owned);
        let mut current = String::new();
        for (k, raw) in lines[start..end].iter().enumerate() {
            let line = raw.split(" # ").next().unwrap().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            current.push_str(line.trim_end_matches('\\').trim());
            current.push(' ');
            if !line.ends_with('\\') {
                for command in current.split(" && ") {
                    out.push(Shown {
                        page: page.to_owned(),
                        line: start + k + 1,
                        command: command.trim().to_owned(),
                        figures: figures.clone(),
                    });
                }
                current.clear();
            }
        }
        i = end + 1;
    }
    out
}

fn not_run(command: &str) -> Option<&'static str> {
    (NOT_RUN.iter())
        .find(|(prefix, _)| command.starts_with(prefix))
        .map(|(_, why)| *why)
}

#[test]
fn every_command_shown_is_run_by_a_test_or_says_why_not() {
    let script = std::fs::read_to_string(repo("scripts/figures.py")).unwrap();
    let all: Vec<Shown> = pages().iter().flat_map(|p| shown(p)).collect();
    assert!(all.len() > 60, "{} commands", all.len());
    for c in &all {
        let at = format!("{}:{}: {}", c.page.display(), c.line, c.command);
        if let Some(name) = &c.figures {
            assert!(
                script.contains(&format!("\"{name}\": (")),
                "{at}: no figures block {name}"
            );
            continue;
        }
        let runnable = ([
            "mixatlas ",
            "python3 scripts/",
            "python3 examples/",
            "mkdir -p ",
        ]
        .iter())
        .any(|p| c.command.starts_with(p));
        assert!(
            runnable || not_run(&c.command).is_some(),
            "{at}: neither run by the docs tests nor listed in NOT_RUN"
        );
    }
    for (prefix, _) in NOT_RUN {
        assert!(
            all.iter().any(|c| c.command.starts_with(prefix)),
            "NOT_RUN lists `{prefix}`, which no page shows any more"
        );
    }
}

/// A scratch directory holding the shipped files (linked) and a `bin/` with `mixatlas`, as
/// a user's clone would after `cargo install --path .`.
fn scratch() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for shipped in ["configs", "datasets", "examples", "scripts"] {
        std::os::unix::fs::symlink(repo(shipped), d.path().join(shipped)).unwrap();
    }
    std::fs::create_dir(d.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_mixatlas"),
        d.path().join("bin/mixatlas"),
    )
    .unwrap();
    d
}

/// Runs `command` with `sh` in `dir`, `mixatlas` on the PATH (and the Python of the tests,
/// which has numpy, first), home in `dir`.
fn sh(command: &str, dir: &Path) -> std::process::Output {
    let mut path = vec![dir.join("bin")];
    if let Some(python) = std::env::var_os("MIXATLAS_PYTHON") {
        path.extend(Path::new(&python).parent().map(Path::to_owned));
    }
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Command::new("sh")
        .args(["-e", "-c", command])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// Runs the runnable commands `page` shows outside figure blocks, in order, in `dir`.
fn run_page(page: &str, dir: &Path) -> usize {
    let mut ran = 0;
    for c in shown(&repo(page)) {
        if c.figures.is_some() || not_run(&c.command).is_some() {
            continue;
        }
        // What each Python command imports (CI has them all; elsewhere a missing one skips).
        let modules = match &c.command {
            x if x.starts_with("python3 examples/python/") => "mixatlas, pandas",
            x if x.starts_with("python3 examples/wandb/") => "wandb",
            _ => "numpy, safetensors",
        };
        if c.command.starts_with("python3 ") && crate::util::python_with(modules).is_none() {
            continue;
        }
        let out = sh(&c.command, dir);
        assert!(
            out.status.success(),
            "{page}:{}: {}\n{}",
            c.line,
            c.command,
            text(&out).1
        );
        ran += 1;
    }
    ran
}

/// The README's quickstart, as its first commands show it (through `cargo run`), in `dir`.
fn quickstart(dir: &Path) {
    for command in commands_under("Quickstart on the shipped data") {
        if let Some(args) = command.strip_prefix("cargo run --release -- ") {
            let out = sh(&format!("mixatlas {args}"), dir);
            assert!(out.status.success(), "{command}\n{}", text(&out).1);
        }
    }
}

/// The campaigns page's first command.
const CAMPAIGN: &str =
    "mixatlas loop --config configs/campaigns/world-multimodal.toml --campaign out/campaign";

#[test]
fn the_own_data_page_runs_as_shown() {
    let d = scratch();
    // The table the page describes: mixture columns, a numeric column to ignore, a target.
    write(d.path(), "runs.csv", &runs_table(true));
    let ran = run_page("docs/own-data.md", d.path());
    assert!(ran >= 5, "{ran} commands");
    assert!(d.path().join("report/report.html").is_file());
}

#[test]
#[ignore = "slow tier: every runnable command of the README and the guide, page by page"]
fn the_guide_commands_run_as_shown() {
    let d = scratch();
    quickstart(d.path());
    assert!(d.path().join("out/proposals/proposals.json").is_file());
    // Every page of the guide but the own-data page (the fast tier runs it); the README's
    // blocks are its quickstart (above) and its own runs (the fast tier).
    let mut guide: Vec<PathBuf> = (pages().into_iter())
        .filter(|p| p.parent() == Some(repo("docs").as_path()))
        .filter(|p| !p.ends_with("own-data.md"))
        .collect();
    guide.sort();
    for path in &guide {
        let page = format!("docs/{}", path.file_name().unwrap().to_str().unwrap());
        let page = page.as_str();
        // Each page in its own directory, as a reader who ran what it assumes: these pages
        // start from the quickstart's outputs.
        let p = scratch();
        if ["docs/using.md", "docs/integrations.md", "docs/devices.md"].contains(&page) {
            let copied = sh(&format!("cp -r {}/out out", d.path().display()), p.path());
            assert!(copied.status.success());
        }
        if ["docs/integrations.md", "docs/reports.md"].contains(&page) {
            // Their schedule export and campaign report need the campaigns page's campaign.
            let out = sh(CAMPAIGN, p.path());
            assert!(out.status.success(), "{}", text(&out).1);
        }
        run_page(page, p.path());
    }
}

#[test]
#[ignore = "slow tier: reruns the commands of the quick figure blocks (about 4 minutes)"]
fn the_quoted_figures_are_current() {
    let out = Command::new("python3")
        .args([
            "scripts/figures.py",
            "check",
            "quickstart",
            "accuracy",
            "early-stopped",
            "proposals",
            "report",
        ])
        .current_dir(repo("."))
        .env("MIXATLAS_BIN", env!("CARGO_BIN_EXE_mixatlas"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out).0, text(&out).1);
}
