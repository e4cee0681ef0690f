//! Fixtures: temp dirs, small data files, the built binary, a fast training config.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mixatlas::surrogate::{EnsembleConfig, InputTransform};

pub type Backend = mixatlas::burn::backend::Autodiff<mixatlas::burn::backend::Flex>;

/// Absolute path of a file in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the built `mixatlas` binary.
pub fn mixatlas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixatlas"))
        .args(args)
        .output()
        .expect("the test binary can start mixatlas")
}

/// stdout and stderr of a run, for assertions and failure messages.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A quick config for tests that check plumbing, not accuracy.
pub fn fast_config() -> EnsembleConfig {
    // Two inputs per domain and early stopping: the paths the checkpoint tests take apart.
    EnsembleConfig {
        members: 4,
        hidden: vec![16, 16],
        max_epochs: 30,
        patience: 10,
        input_transform: InputTransform::SqrtLinear,
        validation_fraction: 0.1,
        ..EnsembleConfig::default()
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp dir is writable");
    path
}

/// A wide CSV of `n` synthetic runs over 3 domains `a, b, c` with outcome
/// `y = 2 - a + 0.5 sqrt(b)`, and its data spec; returns the spec path.
pub fn synthetic(dir: &Path, n: usize) -> PathBuf {
    let mut csv = String::from("run,a,b,c,y\n");
    for i in 0..n {
        let a = (i % 7) as f64 / 10.0;
        let b = (i % 5) as f64 / 10.0;
        let c = 1.0 - a - b;
        let y = 2.0 - a + 0.5 * b.sqrt();
        csv.push_str(&format!("r{i},{a},{b},{c},{y}\n"));
    }
    write(dir, "runs.csv", &csv);
    write(
        dir,
        "spec.toml",
        "mixtures = \"runs.csv\"\nkey = \"run\"\nmixture_columns = [\"a\", \"b\", \"c\"]\n\
         [[targets]]\nname = \"y\"\ndirection = \"lower\"\n",
    )
}

const FAST: &str = "members = 4\nhidden = [16, 16]\nmax_epochs = 30\npatience = 10\n";

/// Trains a quick ensemble (the fast config) on the data spec `data` into `ck` under `dir`.
pub fn train_fast(dir: &Path, data: &Path, ck: &Path) {
    let config = write(dir, "fast.toml", FAST);
    let out = mixatlas(&[
        "train",
        "--data",
        path(data),
        "--out",
        path(ck),
        "--config",
        path(&config),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
}

/// `n` synthetic runs, a fast training config and a checkpoint path, in a temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub spec: PathBuf,
    pub config: PathBuf,
    pub ck: PathBuf,
}

impl Fixture {
    pub fn new(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = synthetic(dir.path(), n);
        let config = write(dir.path(), "fast.toml", FAST);
        let ck = dir.path().join("ck");
        Fixture {
            dir,
            spec,
            config,
            ck,
        }
    }

    /// `mixatlas train --surrogate gp` on the fixture's runs into its checkpoint path, with a
    /// GP config of two starts.
    pub fn train_gp(&self) -> Output {
        let config = write(self.dir.path(), "gp.toml", "starts = 2\n");
        let (spec, ck) = (path(&self.spec), path(&self.ck));
        mixatlas(&[
            "train",
            "--data",
            spec,
            "--out",
            ck,
            "--surrogate",
            "gp",
            "--config",
            path(&config),
            "--force",
        ])
    }

    /// `mixatlas train` on the fixture's runs into its checkpoint path, plus `extra` flags.
    pub fn train(&self, extra: &[&str]) -> Output {
        let (spec, ck, config) = (path(&self.spec), path(&self.ck), path(&self.config));
        let mut args = vec!["train", "--data", spec, "--out", ck, "--config", config];
        args.extend_from_slice(extra);
        mixatlas(&args)
    }
}

/// A Python that imports `modules` (`MIXATLAS_PYTHON`, else `python3`). In CI (`CI` set;
/// `.ci/run` installs them) a missing module fails the test; elsewhere `None` skips the check
/// with the reason printed.
pub fn python_with(modules: &str) -> Option<String> {
    let python = std::env::var("MIXATLAS_PYTHON").unwrap_or_else(|_| "python3".into());
    let ready = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {python} with {modules} (.ci/run installs them)"
        );
        eprintln!("{python} lacks one of {modules}: check skipped");
        return None;
    }
    Some(python)
}

/// A temp path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Asserts that `out` failed without a panic and that stderr contains `needle`.
pub fn expect_error(out: Output, needle: &str) {
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "succeeded; expected {needle:?}");
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The world evaluator through the built binary, optionally slowed down.
pub fn world_evaluator(delay: f64) -> String {
    format!(
        "sleep {delay} && '{}' world --config '{}' --proposals {{proposals}} --results {{results}} --force",
        env!("CARGO_BIN_EXE_mixatlas"),
        repo("configs/world/multimodal.toml").display()
    )
}

/// A small campaign config in `dir` with `extra` lines appended; returns its path.
pub fn campaign_config(dir: &Path, evaluator: &str, extra: &str) -> PathBuf {
    let text = format!(
        "space = '{}'\nevaluator = \"{}\"\ntargets = [\n  {{ name = \"doc_reasoning\", direction = \"higher\" }},\n  {{ name = \"visual_reasoning\", direction = \"higher\" }},\n]\nmax_runs = 20\nbatch = 4\ninitial_runs = 8\nsamples = 2000\nseed = 3\n{extra}\n[training]\nmembers = 4\nhidden = [32, 32]\nmax_epochs = 40\npatience = 10\n",
        repo("configs/spaces/mixatlas-multimodal.toml").display(),
        evaluator.replace('\\', "\\\\").replace('"', "\\\""),
    );
    write(dir, "campaign.toml", &text)
}
