use super::summary::summarize;
use super::*;
use crate::device::Cpu;

/// `n` distinct runs of a smooth loss over three domains (keys `7-<i>`).
fn pool(n: usize) -> Runs {
    crate::proposer::tests::runs(n, 7)
}

fn config(text: &str) -> BacktestConfig {
    toml::from_str(text).unwrap()
}

const GP: &str = "initial = 8\nbatch = 4\nbudget = 24\nseeds = 2\nregret_at = [12, 24]\n\
                  [[strategy]]\nname = \"gp\"\nsurrogate = \"gp\"\n";

#[test]
fn exact_random_matches_simulated_random_picking() {
    // 4000 uniform reveal orders against the closed forms.
    let truth: Vec<f64> = (0..60).map(|i| -((i * 37 % 60) as f64)).collect();
    let c = config(
        "initial = 4\nbatch = 4\nbudget = 40\nseeds = 4000\nregret_at = [8, 20]\ntop = [0.05]\n\
         [[strategy]]\nname = \"random\"\nsurrogate = \"random\"\n",
    );
    let mut rng = StdRng::seed_from_u64(1);
    let runs: Vec<SeedRun> = (0..c.seeds as u64)
        .map(|seed| SeedRun {
            strategy: "random".into(),
            seed,
            revealed: sample(&mut rng, truth.len(), c.budget).into_vec(),
            round_seconds: vec![0.0],
            model_error: None,
        })
        .collect();
    let s = summarize(&c, &truth, &runs);
    let sim = &s.strategies[0];
    let exact = &s.exact_random;
    // Three top runs of 60: the first is found after 15.25 draws on average.
    assert_eq!(s.top_counts, vec![3]);
    assert_eq!(sim.runs_to_top[0].quartiles, exact.runs_to_top[0].1);
    for (r, (at, q, mean)) in sim.regret.iter().zip(&exact.regret) {
        assert_eq!(r.at, *at);
        assert!(
            (r.mean - mean).abs() < 0.05 * mean.max(0.1),
            "{} vs {mean}",
            r.mean
        );
        assert_eq!(r.quartiles.median, q.median);
    }
    let reached = sim.runs_to_top[0].reached as f64 / c.seeds as f64;
    assert!((reached - exact.reached[0]).abs() < 0.02);
}

#[test]
fn quartiles_interpolate_and_keep_unreached_infinite() {
    let q = summary::Quartiles::of(&[16.0, 24.0, 32.0, f64::INFINITY]);
    assert_eq!((q.q1, q.median), (22.0, 28.0));
    assert!(q.q3.is_infinite());
    let json = serde_json::to_string(&q).unwrap();
    assert!(json.contains("null"), "{json}");
    let back: summary::Quartiles = serde_json::from_str(&json).unwrap();
    assert_eq!(back, q);
}

#[test]
fn a_gp_strategy_beats_random_and_replays_exactly() {
    let b = Backtest::new(pool(120), config(GP), ObjectiveSpec::single("loss")).unwrap();
    assert_eq!(
        b.config.strategies[0].name, "random",
        "the baseline is added"
    );
    let device = Default::default();
    let gp = &b.config.strategies[1];
    let run = b.replay::<Cpu>(gp, 0, &device).unwrap();
    let random = b
        .replay::<Cpu>(&b.config.strategies[0], 0, &device)
        .unwrap();
    assert_eq!(run.revealed.len(), 24);
    assert_eq!(run.revealed[..8], random.revealed[..8], "paired by seed");
    let mut unique = run.revealed.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 24, "no run revealed twice");
    assert_eq!(run.round_seconds.len(), 4);
    assert_eq!(
        b.replay::<Cpu>(gp, 0, &device).unwrap().revealed,
        run.revealed
    );
    // On a smooth loss the GP's picks are far better than random ones.
    let dir = tempfile::tempdir().unwrap();
    let runs = b.run::<Cpu>(dir.path(), 2, &device, &mut ()).unwrap();
    assert_eq!(runs.len(), 4);
    let s = summarize(&b.config, &b.truth, &runs);
    let regret = |k: usize| s.strategies[k].regret[1].mean;
    assert!(regret(1) < regret(0), "{} vs {}", regret(1), regret(0));
    // Results are kept per seed: a second run replays nothing and returns the same.
    std::fs::write(seed_file(dir.path(), "gp", 1), "{}").unwrap();
    let err = b.run::<Cpu>(dir.path(), 1, &device, &mut ()).unwrap_err();
    assert!(err.to_string().contains("remove it to replay"), "{err}");
    std::fs::remove_file(seed_file(dir.path(), "gp", 1)).unwrap();
    let orders =
        |runs: &[SeedRun]| -> Vec<Vec<usize>> { runs.iter().map(|r| r.revealed.clone()).collect() };
    let again = b.run::<Cpu>(dir.path(), 1, &device, &mut ()).unwrap();
    assert_eq!(orders(&again), orders(&runs));
    assert_eq!(
        again[..3],
        runs[..3],
        "kept results are read back, not replayed"
    );
}

#[test]
fn bad_pools_and_parameters_are_refused_clearly() {
    let objective = || ObjectiveSpec::single("loss");
    let err = |pool: Runs, text: &str| {
        Backtest::new(pool, config(text), objective())
            .err()
            .unwrap()
            .to_string()
    };
    let e = err(pool(20), GP);
    assert!(
        e.contains("`budget` = 24 is larger than the pool (20 runs)"),
        "{e}"
    );
    let e = err(pool(40), &GP.replace("batch = 4", "batch = 0"));
    assert!(e.contains("`batch` must be at least 1"), "{e}");
    let e = err(pool(40), &GP.replace("[12, 24]", "[4]"));
    assert!(e.contains("`regret_at` = 4"), "{e}");
    let mut dup = pool(40);
    dup.mixtures[9] = dup.mixtures[3].clone();
    let e = err(dup, GP);
    assert!(
        e.contains("runs `7-3` and `7-9` have the same mixture"),
        "{e}"
    );
    let mut nan = pool(40);
    nan.outcomes[5][0] = f64::NAN;
    let e = err(nan, GP);
    assert!(e.contains("run `7-5`: target `loss` is NaN"), "{e}");
    let e = err(
        pool(40),
        &format!("{GP}[[strategy]]\nname = \"gp\"\nsurrogate = \"gp\"\n"),
    );
    assert!(e.contains("strategy `gp` is named twice"), "{e}");
    let e = err(pool(40), &GP.replace("name = \"gp\"", "name = \"../x\""));
    assert!(e.contains("strategy name `../x`"), "{e}");
    let bad = toml::from_str::<BacktestConfig>(&GP.replace("seeds = 2", "seeds = 2\nbeta = 1"));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unknown field `beta`")
    );
    let bad = toml::from_str::<BacktestConfig>(&format!("{GP}beta = \"fast\"\n"));
    assert!(bad.unwrap_err().to_string().contains("\"gp-ucb\""));
}

#[test]
fn a_resumed_backtest_refuses_another_pool_or_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backtest::new(pool(60), config(GP), ObjectiveSpec::single("loss")).unwrap();
    b.prepare(dir.path(), false).unwrap();
    b.prepare(dir.path(), true).unwrap();
    // More seeds resume the same backtest.
    let more = Backtest::new(
        pool(60),
        config(&GP.replace("seeds = 2", "seeds = 3")),
        ObjectiveSpec::single("loss"),
    );
    more.unwrap().prepare(dir.path(), true).unwrap();
    let other = Backtest::new(pool(61), config(GP), ObjectiveSpec::single("loss")).unwrap();
    let e = other.prepare(dir.path(), true).unwrap_err().to_string();
    assert!(e.contains("the pool differs"), "{e}");
    let changed = GP.replace(
        "surrogate = \"gp\"",
        "surrogate = \"gp\"\nacquisition = \"ei\"",
    );
    let changed = Backtest::new(pool(60), config(&changed), ObjectiveSpec::single("loss")).unwrap();
    let e = changed.prepare(dir.path(), true).unwrap_err().to_string();
    assert!(e.contains("a strategy of the same name"), "{e}");
}
