//! `mixatlas backtest`: the command end to end on a small pool, and the floors of the shipped
//! defaults on the shipped real runs (slow tier).

use std::path::Path;

use mixatlas::evaluation::backtest::{Backtest, BacktestConfig, summarize};
use mixatlas::objective::ObjectiveSpec;
use mixatlas::runs::{DataSpec, Runs};

use crate::util::{mixatlas, repo, text, write};

/// 80 distinct runs over 3 domains of a smooth loss; returns the spec path.
fn pool(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("run,a,b,c,loss\n");
    for i in 0..80 {
        let a = 0.05 + 0.9 * ((i * 37) % 80) as f64 / 80.0;
        let b = (1.0 - a) * ((i * 13) % 17) as f64 / 17.0;
        let c = 1.0 - a - b;
        let loss = 2.0 + (a - 0.6f64).powi(2) + 0.5 * (b - 0.2f64).powi(2);
        csv.push_str(&format!("r{i},{a},{b},{c},{loss}\n"));
    }
    write(dir, "pool.csv", &csv);
    write(
        dir,
        "pool.toml",
        "mixtures = \"pool.csv\"\nkey = \"run\"\nmixture_columns = [\"a\", \"b\", \"c\"]\n\
         [[targets]]\nname = \"loss\"\ndirection = \"lower\"\n",
    )
}

const CONFIG: &str = "initial = 8\nbatch = 4\nbudget = 24\nseeds = 1\nregret_at = [12]\n\
                      [[strategy]]\nname = \"gp\"\nsurrogate = \"gp\"\n";

fn run(args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["backtest"];
    all.extend_from_slice(args);
    let out = mixatlas(&all);
    let (stdout, stderr) = text(&out);
    (out.status.success(), stdout, stderr)
}

#[test]
fn backtest_writes_its_tables_resumes_and_refuses_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let spec = pool(d.path());
    let config = write(d.path(), "bt.toml", CONFIG);
    let out = d.path().join("bt");
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let base = [
        "--data".to_owned(),
        p(&spec),
        "--config".into(),
        p(&config),
        "--out".into(),
        p(&out),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let call = |extra: &[&str]| {
        let a = args(extra);
        run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (ok, stdout, stderr) = call(&[]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("| gp | ") && stdout.contains("| random (exact) |"),
        "{stdout}"
    );
    for f in [
        "backtest.md",
        "backtest.csv",
        "backtest.json",
        "seeds/gp/0.json",
        "seeds/random/0.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The report draws its best-so-far figure.
    let ck = d.path().join("ck");
    let trained = mixatlas(&[
        "train",
        "--data",
        &p(&spec),
        "--surrogate",
        "gp",
        "--out",
        &p(&ck),
    ]);
    assert!(trained.status.success(), "{}", text(&trained).1);
    let report = d.path().join("report");
    let drawn = mixatlas(&[
        "report",
        "--checkpoint",
        &p(&ck),
        "--backtest",
        &p(&out.join("backtest.json")),
        "--out",
        &p(&report),
    ]);
    assert!(drawn.status.success(), "{}", text(&drawn).1);
    let svg = std::fs::read_to_string(report.join("figures/backtest.svg")).unwrap();
    for label in ["runs revealed", "gp", "random (exact)"] {
        assert!(svg.contains(label), "the backtest figure lacks {label:?}");
    }
    let pixmap = mixatlas::report::rasterize(&svg).unwrap();
    assert!(crate::report::ink(&pixmap) > 0.01, "blank backtest figure");
    assert!(
        crate::report::rendered_text(&svg) >= 3,
        "its text did not render"
    );
    let csv = std::fs::read_to_string(out.join("backtest.csv")).unwrap();
    assert!(
        csv.starts_with("strategy,seed,runs_to_top_0.01,runs_to_top_0.05,regret_at_12\n"),
        "{csv}"
    );
    // Again without --resume or --force: refused, nothing touched.
    let (ok, _, stderr) = call(&[]);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
    // Resumed with one more seed: seed 0 is read back, only seed 1 is replayed.
    let kept = std::fs::metadata(out.join("seeds/gp/0.json"))
        .unwrap()
        .modified()
        .unwrap();
    let (ok, stdout, stderr) = call(&["--resume", "--seeds", "2"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("2 seeds"), "{stdout}");
    assert!(out.join("seeds/gp/1.json").is_file());
    let again = std::fs::metadata(out.join("seeds/gp/0.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(kept, again, "a kept result is not replayed");
    // Resumed with a changed strategy: refused.
    let changed = write(
        d.path(),
        "bt2.toml",
        &format!("{CONFIG}acquisition = \"ei\"\n"),
    );
    let (ok, _, stderr) = run(&[
        "--data",
        &p(&spec),
        "--config",
        &p(&changed),
        "--out",
        &p(&out),
        "--resume",
    ]);
    assert!(
        !ok && stderr.contains("a strategy of the same name differs"),
        "{stderr}"
    );
    // Bad input names the file and the field.
    let big = write(
        d.path(),
        "big.toml",
        &CONFIG.replace("budget = 24", "budget = 200"),
    );
    let (ok, _, stderr) = run(&[
        "--data",
        &p(&spec),
        "--config",
        &p(&big),
        "--out",
        &p(&d.path().join("x")),
    ]);
    assert!(
        !ok && stderr.contains("`budget` = 200 is larger than the pool (80 runs)"),
        "{stderr}"
    );
    let (ok, _, stderr) = call(&["--jobs", "0"]);
    assert!(
        !ok && stderr.contains("--jobs must be at least 1"),
        "{stderr}"
    );
    let zero = write(
        d.path(),
        "zero.toml",
        &CONFIG.replace("batch = 4", "batch = 0"),
    );
    let (ok, _, stderr) = run(&[
        "--data",
        &p(&spec),
        "--config",
        &p(&zero),
        "--out",
        &p(&d.path().join("x")),
    ]);
    assert!(
        !ok && stderr.contains("zero.toml: `batch` must be at least 1"),
        "{stderr}"
    );
    assert!(
        !d.path().join("x").exists(),
        "nothing written for bad input"
    );
    // A directory mixatlas did not write is never replaced.
    let foreign = d.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    write(&foreign, "notes.txt", "mine");
    let (ok, _, stderr) = run(&[
        "--data",
        &p(&spec),
        "--config",
        &p(&config),
        "--out",
        &p(&foreign),
        "--force",
    ]);
    assert!(!ok && stderr.contains("did not write"), "{stderr}");
    assert!(foreign.join("notes.txt").is_file());
}

/// The shipped strategy table on a shipped data spec, as `backtest` runs it.
fn shipped(data: &str, budget: usize, seeds: usize) -> mixatlas::evaluation::backtest::Summary {
    let pool =
        Runs::load(&DataSpec::from_file(&repo(&format!("configs/data/{data}.toml"))).unwrap())
            .unwrap();
    let mut config = BacktestConfig::from_file(&repo("configs/backtests/strategies.toml")).unwrap();
    config.budget = budget;
    config.seeds = seeds;
    config.regret_at = vec![32];
    config
        .strategies
        .retain(|s| s.name == "default" || s.name == "random");
    let objective = ObjectiveSpec::single(&pool.schema.targets[0].name);
    let b = Backtest::new(pool, config, objective).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runs = b
        .run::<crate::util::Backend>(dir.path(), 2, &Default::default(), &mut ())
        .unwrap();
    summarize(&b.config, &b.truth, &runs)
}

/// RegMix 512, 10 seeds, 16 + rounds of 8: the default strategy reaches a top-1% run in a
/// median of 24 runs (16 random + one round) with median regret 0 after 32 runs.
#[test]
#[ignore = "slow tier: 10 seeds of the default loop on 512 RegMix runs"]
fn regmix_default_strategy_floors() {
    let s = shipped("regmix-1m-train", 64, 10);
    let default = s
        .strategies
        .iter()
        .find(|x| x.strategy == "default")
        .unwrap();
    let top1 = &default.runs_to_top[0];
    assert!(top1.quartiles.median <= 24.0, "{:?}", top1);
    assert_eq!(
        default.regret[0].quartiles.median, 0.0,
        "{:?}",
        default.regret[0]
    );
}

/// Olmix DCLM, 127 runs: the default beats random on runs to a top-5% run and regret@32.
#[test]
#[ignore = "slow tier: 10 seeds of the default loop on 127 Olmix runs"]
fn olmix_default_strategy_beats_random() {
    let s = shipped("olmix-dclm", 64, 10);
    let find = |name: &str| s.strategies.iter().find(|x| x.strategy == name).unwrap();
    let (default, random) = (find("default"), find("random"));
    let top5 = |x: &mixatlas::evaluation::backtest::summary::StrategySummary| {
        x.runs_to_top[1].quartiles.median
    };
    assert!(
        top5(default) < top5(random),
        "{} vs {}",
        top5(default),
        top5(random)
    );
    let regret = |x: &mixatlas::evaluation::backtest::summary::StrategySummary| x.regret[0].mean;
    assert!(
        regret(default) < regret(random),
        "{} vs {}",
        regret(default),
        regret(random)
    );
    let wtl = default.regret[0].versus_random.unwrap();
    assert!(wtl.wins > wtl.losses, "{wtl:?}");
}

/// `kill -9` while seeds are being replayed, then `--resume`: the tables equal an
/// uninterrupted backtest's, and no finished seed is replayed.
#[test]
fn a_killed_backtest_resumes_to_the_same_tables() {
    let d = tempfile::tempdir().unwrap();
    let spec = pool(d.path());
    let config = write(
        d.path(),
        "bt.toml",
        "initial = 8\nbatch = 4\nbudget = 24\nseeds = 8\nregret_at = [12]\n\
         [[strategy]]\nname = \"ens\"\nacquisition = \"ucb\"\n\
         [strategy.training]\nmembers = 2\nhidden = [16]\nmax_epochs = 300\n",
    );
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let args = |out: &Path| {
        vec![
            "backtest".to_owned(),
            "--data".into(),
            p(&spec),
            "--config".into(),
            p(&config),
            "--jobs".into(),
            "1".into(),
            "--out".into(),
            p(out),
        ]
    };
    let whole = d.path().join("whole");
    let out = mixatlas(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out).1);
    let killed = d.path().join("killed");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mixatlas"))
        .args(args(&killed))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = killed.join("seeds/ens/0.json");
    let start = std::time::Instant::now();
    while !first.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(first.exists(), "no seed finished before the kill");
    assert!(
        !killed.join("backtest.md").exists(),
        "killed before the end, yet the tables were written"
    );
    let kept = std::fs::read(&first).unwrap();
    let mut resume = args(&killed);
    resume.push("--resume".into());
    let out = mixatlas(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        kept,
        "a finished seed was replayed"
    );
    assert_eq!(
        std::fs::read_to_string(killed.join("backtest.csv")).unwrap(),
        std::fs::read_to_string(whole.join("backtest.csv")).unwrap()
    );
}

/// `model_error = true`: each strategy's surrogate, refitted on the runs it revealed, is scored
/// on the rest of the pool (RMSE over the pool's population std, mean over targets), as the
/// same GP fitted and scored by hand; the `variance` acquisition's runs teach the GP more than
/// the mean's; the random baseline has no surrogate and no figure; a budget that reveals the
/// whole pool leaves nothing to score and is refused.
#[test]
fn model_error_scores_each_surrogate_on_the_runs_it_did_not_reveal() {
    use mixatlas::surrogate::{GaussianProcess, GpConfig};
    let d = tempfile::tempdir().unwrap();
    let pool = Runs::load(&DataSpec::from_file(&pool(d.path())).unwrap()).unwrap();
    let explore =
        "[[strategy]]\nname = \"explore\"\nsurrogate = \"gp\"\nacquisition = \"variance\"\n";
    let config: BacktestConfig =
        toml::from_str(&format!("model_error = true\n{CONFIG}{explore}")).unwrap();
    let objective = ObjectiveSpec::single("loss");
    let b = Backtest::new(pool.clone(), config.clone(), objective.clone()).unwrap();
    let runs = b
        .run::<crate::util::Backend>(&d.path().join("bt"), 1, &Default::default(), &mut ())
        .unwrap();
    let gp = runs.iter().find(|r| r.strategy == "gp").unwrap();
    let random = runs.iter().find(|r| r.strategy == "random").unwrap();
    assert_eq!(random.model_error, None);
    let error = gp.model_error.expect("the GP strategy's pool error");
    // By hand: the strategy's GP (default config, the replay's seed) on its revealed runs.
    let model = GaussianProcess::fit(&pool.subset(&gp.revealed), &GpConfig::default(), 0).unwrap();
    let rest: Vec<usize> = (0..pool.len())
        .filter(|i| !gp.revealed.contains(i))
        .collect();
    let held = pool.subset(&rest);
    let mean = model.predict(&held.mixtures, &held.context).unwrap().mean;
    let truth = held.target(0);
    let all = pool.target(0);
    let avg = all.iter().sum::<f64>() / all.len() as f64;
    let sd = (all.iter().map(|y| (y - avg).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    let rmse = (mean
        .iter()
        .zip(&truth)
        .map(|(m, y)| (m - y).powi(2))
        .sum::<f64>()
        / rest.len() as f64)
        .sqrt();
    assert!((error - rmse / sd).abs() < 1e-9, "{error} vs {}", rmse / sd);
    // Runs chosen where the GP is least sure teach it more than runs chosen near the optimum.
    let explore = runs.iter().find(|r| r.strategy == "explore").unwrap();
    let explored = explore.model_error.unwrap();
    assert!(
        explored < 0.5 * error,
        "variance {explored} vs mean {error}"
    );
    let summary = summarize(&b.config, &b.truth, &runs);
    assert!(summary.markdown().contains("pool error after 24 runs"));
    // The whole pool revealed: refused.
    let whole = BacktestConfig {
        budget: pool.len(),
        ..config
    };
    let refused = Backtest::new(pool, whole, objective)
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("reveals the whole pool"), "{refused}");
}
