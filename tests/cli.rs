//! The binary end to end: train -> predict -> evaluate, errors, devices, help.

use std::path::Path;
use std::process::Output;

use crate::util::{Fixture, expect_error, mixatlas, path, python_with, text, write};

#[test]
fn train_predict_evaluate_round_trip() {
    let f = Fixture::new(50);
    let (d, spec, config, ck) = (f.dir.path(), &f.spec, &f.config, &f.ck);
    let out = f.train(&["--seed", "3", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["train_rows"].as_u64().unwrap() + report["validation_rows"].as_u64().unwrap(),
        50
    );
    for file in ["manifest.json", "model.mpk", "model.safetensors"] {
        assert!(ck.join(file).is_file(), "{file} written");
    }

    let candidates = write(d, "cand.csv", "name,a,b,c\nx,0.2,0.3,0.5\ny,0.6,0.1,0.3\n");
    let preds = d.join("pred.csv");
    let out = predict(
        ck,
        &candidates,
        &["--key", "name", "--output", path(&preds)],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let csv = std::fs::read_to_string(&preds).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "key,y_mean,y_epistemic_std,y_aleatoric_std,y_total_std"
    );
    let row: Vec<f64> = lines
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    // y = 2 - a + 0.5 sqrt(b) = 2.0739 at (0.2, 0.3): a 30-epoch model lands near it.
    assert!((row[0] - 2.0739).abs() < 0.3, "{row:?}");
    // Bootstrapped members disagree, and the calibrated noise is positive.
    assert!(row[1] > 0.0 && row[2] > 0.0, "{row:?}");

    let out = predict(ck, &candidates, &["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(json[1]["targets"]["y"]["epistemic_std"].as_f64().unwrap() > 0.0);

    let out = mixatlas(&[
        "evaluate",
        "--checkpoint",
        path(ck),
        "--data",
        path(spec),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let metrics: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(metrics[0]["spearman"].as_f64().unwrap() > 0.5);
    // These are the training runs, and evaluate says so.
    assert!(
        text(&out)
            .1
            .contains("50 of 50 runs are at mixtures the checkpoint was trained on"),
        "{}",
        text(&out).1
    );
    let unseen = write(
        d,
        "unseen.csv",
        "run,a,b,c,y\nu1,0.15,0.25,0.6,2.1\nu2,0.55,0.05,0.4,1.56\n",
    );
    let out = mixatlas(&[
        "evaluate",
        "--checkpoint",
        path(ck),
        "--data",
        path(&unseen),
        "--target",
        "y",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!text(&out).1.contains("trained on"), "{}", text(&out).1);

    let oof = d.join("oof.csv");
    let out = mixatlas(&[
        "evaluate",
        "--data",
        path(spec),
        "--folds",
        "3",
        "--config",
        path(config),
        "--predictions",
        path(&oof),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("spearman"));
    let oof = std::fs::read_to_string(&oof).unwrap();
    assert_eq!(oof.lines().count(), 51);
    let folds: std::collections::BTreeSet<&str> = oof
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(folds.len(), 3);
}

#[test]
fn user_errors_exit_non_zero_with_a_clear_message() {
    let f = Fixture::new(30);
    let (d, spec, ck) = (f.dir.path(), &f.spec, &f.ck);
    let train = |extra: &[&str]| f.train(extra);
    assert!(train(&[]).status.success());

    expect_error(train(&[]), "exists already (pass --force");
    expect_error(train(&["--target", "nope", "--force"]), "--target nope");
    let bad_config = write(d, "bad.toml", "members = 0\n");
    let x = d.join("x");
    expect_error(
        mixatlas(&[
            "train",
            "--data",
            path(spec),
            "--out",
            path(&x),
            "--config",
            path(&bad_config),
        ]),
        "`members` must be at least 1",
    );
    let wrong = write(d, "wrong.csv", "a,b,z\n0.2,0.3,0.5\n");
    expect_error(predict(ck, &wrong, &[]), "wrong.csv: missing column `c`");
    let off = write(d, "off.csv", "a,b,c\n0.2,0.3,0.9\n");
    expect_error(
        predict(ck, &off, &[]),
        "off.csv:2: mixture weights sum to 1.4",
    );
    let out = predict(ck, &off, &["--renormalize"]);
    assert!(out.status.success(), "{}", text(&out).1);
    expect_error(predict(&d.join("none"), &off, &[]), "manifest.json");
    #[cfg(not(feature = "cuda"))]
    expect_error(
        predict(ck, &off, &["--device", "cuda"]),
        "device `cuda` is not built in: rebuild with `--features cuda`",
    );
}

/// `mixatlas predict --checkpoint CHECKPOINT --input INPUT`, plus `extra` flags.
fn predict(checkpoint: &Path, input: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "predict",
        "--checkpoint",
        path(checkpoint),
        "--input",
        path(input),
    ];
    args.extend_from_slice(extra);
    mixatlas(&args)
}

#[test]
fn help_texts_carry_examples() {
    for cmd in ["train", "predict", "evaluate"] {
        let out = mixatlas(&[cmd, "--help"]);
        assert!(out.status.success());
        let (stdout, _) = text(&out);
        assert!(stdout.contains("Example"), "{cmd} --help has an example");
        assert!(stdout.contains("--device"), "{cmd} --help lists --device");
    }
}

/// `--force` replaces only what mixatlas wrote and never an input of the command; files are
/// never overwritten without it.
#[test]
fn force_never_destroys_inputs_or_foreign_directories() {
    let f = Fixture::new(30);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let (spec, ck, config) = (path(&f.spec), path(&f.ck), path(&f.config));
    let manifest = std::fs::read(f.ck.join("manifest.json")).unwrap();
    // The current directory, a data directory, the data itself.
    let data = d.join("data");
    std::fs::create_dir(&data).unwrap();
    write(&data, "keep.csv", "x\n");
    let train = |out: &Path| {
        mixatlas(&[
            "train",
            "--data",
            spec,
            "--config",
            config,
            "--out",
            path(out),
            "--force",
        ])
    };
    // The fixture's directory holds the training data.
    expect_error(train(d), "is, or contains,");
    expect_error(train(&data), "mixatlas did not write");
    assert!(data.join("keep.csv").is_file());
    // The checkpoint a command reads.
    expect_error(
        mixatlas(&[
            "propose",
            "--checkpoint",
            ck,
            "--out",
            ck,
            "--force",
            "--samples",
            "100",
        ]),
        "an input of this command",
    );
    expect_error(
        mixatlas(&["report", "--checkpoint", ck, "--out", ck, "--force"]),
        "an input of this command",
    );
    assert_eq!(std::fs::read(f.ck.join("manifest.json")).unwrap(), manifest);
    // Files: not without --force, never an input.
    let candidates = write(d, "cand.csv", "a,b,c\n0.2,0.3,0.5\n");
    let preds = write(d, "preds.csv", "mine\n");
    let predict = |extra: &[&str]| {
        let mut args = vec!["predict", "--checkpoint", ck, "--input", path(&candidates)];
        args.extend_from_slice(extra);
        mixatlas(&args)
    };
    expect_error(
        predict(&["--output", path(&preds)]),
        "exists already (pass --force",
    );
    assert_eq!(std::fs::read_to_string(&preds).unwrap(), "mine\n");
    expect_error(
        predict(&["--output", path(&candidates), "--force"]),
        "an input of this command",
    );
    assert!(
        predict(&["--output", path(&preds), "--force"])
            .status
            .success()
    );
    assert!(std::fs::read_to_string(&preds).unwrap().starts_with("key,"));
    // A directory mixatlas wrote is replaced with --force.
    assert!(f.train(&["--force"]).status.success());
}

/// Sizes a user can set are bounded: refused with the limit, or served in bounded memory,
/// never an allocation abort.
#[test]
fn huge_sizes_are_refused_or_bounded() {
    let f = Fixture::new(30);
    assert!(f.train(&[]).status.success());
    let ck = path(&f.ck);
    let out_dir = f.dir.path().join("p");
    expect_error(
        mixatlas(&[
            "propose",
            "--checkpoint",
            ck,
            "--out",
            path(&out_dir),
            "--batch",
            "1000000000",
        ]),
        "ask for 1 to 10000 proposals, not 1000000000",
    );
    let simulate_with = |top: &str, chunk: &str, more: &[&str]| {
        let mut args = vec![
            "simulate",
            "--checkpoint",
            ck,
            "--samples",
            "2000",
            "--top",
            top,
            "--chunk",
            chunk,
            "--json",
        ];
        args.extend_from_slice(more);
        mixatlas(&args)
    };
    let simulate = |top: &str, chunk: &str| simulate_with(top, chunk, &[]);
    expect_error(
        simulate("100000000000", "8192"),
        "`top` = 100000000000: must lie in 1..=1000000",
    );
    expect_error(
        simulate("10", "1000000000000"),
        "`chunk` = 1000000000000: must lie in 1..=",
    );
    expect_error(simulate("0", "8192"), "`top` = 0");
    // Within the limits, a ranking keeps what was sampled: memory follows the stream.
    let out = simulate("500000", "8192");
    assert!(out.status.success(), "{}", text(&out).1);
    let sim: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    let kept = sim["simulation"]["top_objective"].as_array().unwrap().len();
    assert_eq!(kept, 2000, "every sampled recipe, no more");
    // A CPU run draws on the host and says so; --host-draws changes nothing there.
    assert_eq!(sim["simulation"]["drawn_on_device"], false);
    let host = simulate_with("500000", "8192", &["--host-draws"]);
    assert!(host.status.success(), "{}", text(&host).1);
    let again: serde_json::Value = serde_json::from_str(&text(&host).0).unwrap();
    assert_eq!(
        again["simulation"]["top_objective"],
        sim["simulation"]["top_objective"]
    );
}

/// Each cause is said once, and a target that never varies is refused by name.
#[test]
fn messages_say_it_once_and_constant_targets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("missing.toml");
    let out = mixatlas(&[
        "train",
        "--data",
        path(&missing),
        "--out",
        path(&d.join("ck")),
    ]);
    let stderr = text(&out).1;
    assert!(!out.status.success());
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    let mut csv = String::from("run,a,b,y\n");
    for i in 0..12 {
        let a = f64::from(i) / 12.0;
        csv.push_str(&format!("r{i},{a},{},4.2\n", 1.0 - a));
    }
    write(d, "runs.csv", &csv);
    let spec = write(
        d,
        "spec.toml",
        "mixtures = \"runs.csv\"\nkey = \"run\"\nmixture_columns = [\"a\", \"b\"]\n[[targets]]\nname = \"y\"\ndirection = \"lower\"\n",
    );
    for surrogate in ["ensemble", "gp"] {
        let out_dir = d.join(surrogate);
        let args = [
            "train",
            "--data",
            path(&spec),
            "--out",
            path(&out_dir),
            "--surrogate",
            surrogate,
        ];
        expect_error(
            mixatlas(&args),
            "target `y` has the same value in every run",
        );
    }
}

/// A Gaussian-process checkpoint works wherever an ensemble's does: `predict`, `evaluate` on
/// held-out runs, and `evaluate --folds --surrogate gp`; an ensemble config given to the GP is
/// refused naming the file.
#[test]
fn gp_checkpoints_predict_and_evaluate() {
    let f = Fixture::new(40);
    let out = f.train_gp();
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("log marginal likelihood"), "{stdout}");

    let candidates = write(
        f.dir.path(),
        "cand.csv",
        "id,a,b,c\nx,0.2,0.3,0.5\nz,0.6,0.1,0.3\n",
    );
    let out = predict(&f.ck, &candidates, &["--key", "id"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&out);
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    // y = 2 - a + 0.5 sqrt(b): the GP recovers it at an unseen mixture.
    let mean: f64 = rows[1].split(',').nth(1).unwrap().parse().unwrap();
    let truth = 2.0 - 0.2 + 0.5 * 0.3f64.sqrt();
    assert!((mean - truth).abs() < 0.05, "{mean} vs {truth}");

    let spearman = |extra: &[&str]| -> f64 {
        let mut args = vec!["evaluate", "--data", path(&f.spec), "--json"];
        args.extend_from_slice(extra);
        let out = mixatlas(&args);
        assert!(out.status.success(), "{}", text(&out).1);
        let metrics: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
        metrics[0]["spearman"].as_f64().unwrap()
    };
    assert!(spearman(&["--checkpoint", path(&f.ck)]) > 0.9);
    assert!(spearman(&["--folds", "4", "--surrogate", "gp"]) > 0.9);

    let out = mixatlas(&[
        "evaluate",
        "--data",
        path(&f.spec),
        "--folds",
        "4",
        "--surrogate",
        "gp",
        "--config",
        path(&f.config),
    ]);
    expect_error(out, "fast.toml");
}

/// `--surrogate auto` cross-validates the three surrogates on the same folds, keeps the best
/// and records the comparison in the checkpoint; `evaluate --folds` prints them side by side.
#[test]
fn auto_compares_every_surrogate_and_records_its_choice() {
    let f = Fixture::new(30);
    let config = write(
        f.dir.path(),
        "auto.toml",
        "folds = 3\n[ensemble]\nmembers = 2\nhidden = [8]\nmax_epochs = 20\npatience = 5\n[gp]\nstarts = 1\n[loglinear]\nmembers = 2\n",
    );
    let (spec, ck, cfg) = (path(&f.spec), path(&f.ck), path(&config));
    let out = mixatlas(&[
        "train",
        "--data",
        spec,
        "--out",
        ck,
        "--surrogate",
        "auto",
        "--config",
        cfg,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let report: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    let selection = &report["selection"];
    let kinds: Vec<&str> = selection["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["surrogate"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ensemble", "gp", "loglinear"], "{report}");
    assert_eq!(report["surrogate"], selection["chosen"], "{report}");
    // The checkpoint is the chosen kind and loads for prediction.
    let candidates = write(f.dir.path(), "cand.csv", "id,a,b,c\nx,0.2,0.3,0.5\n");
    let out = predict(&f.ck, &candidates, &["--key", "id"]);
    assert!(out.status.success(), "{}", text(&out).1);

    let out = mixatlas(&[
        "evaluate",
        "--data",
        spec,
        "--folds",
        "3",
        "--surrogate",
        "auto",
        "--config",
        cfg,
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&out);
    for kind in [
        "ensemble",
        "gp",
        "loglinear",
        "chosen by mean out-of-fold Spearman",
    ] {
        assert!(stdout.contains(kind), "{stdout}");
    }
}

/// With more targets than `max_targets`, `auto` compares the candidates on that many of them
/// (named in the checkpoint) and fits the winner on all; `evaluate` then scores the chosen one
/// on every target and says so.
#[test]
fn auto_compares_many_targets_on_a_spread_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("run,a,b,c,t0,t1,t2,t3,t4,t5\n");
    for i in 0..24 {
        let (a, b) = ((i % 6) as f64 / 10.0, (i / 6) as f64 / 10.0);
        let ys: Vec<String> = (0..6)
            .map(|t| {
                format!(
                    "{:.4}",
                    2.0 + a * (t as f64 + 1.0) - b * b + 0.01 * (i % 5) as f64
                )
            })
            .collect();
        csv += &format!("r{i},{a},{b},{},{}\n", 1.0 - a - b, ys.join(","));
    }
    let data = write(dir.path(), "runs.csv", &csv);
    let config = write(
        dir.path(),
        "auto.toml",
        "max_targets = 2\nfolds = 3\n[ensemble]\nmembers = 2\nhidden = [8]\nmax_epochs = 20\npatience = 5\n[gp]\nstarts = 1\n[loglinear]\nmembers = 2\n",
    );
    let ck = dir.path().join("ck");
    let targets: Vec<String> = (0..6).map(|t| format!("t{t}=lower")).collect();
    let mut args = vec!["--data", path(&data)];
    args.extend(targets.iter().flat_map(|t| ["--target", t.as_str()]));
    args.extend(["--surrogate", "auto", "--config", path(&config)]);
    let train = [&["train", "--out", path(&ck), "--json"][..], &args].concat();
    let out = mixatlas(&train);
    assert!(out.status.success(), "{}", text(&out).1);
    let report: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(
        report["selection"]["targets"],
        serde_json::json!(["t1", "t4"]),
        "{report}"
    );
    // The winner predicts every target.
    let candidates = write(dir.path(), "cand.csv", "id,a,b,c\nx,0.2,0.3,0.5\n");
    let out = predict(&ck, &candidates, &["--key", "id"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("t0") && stdout.contains("t5"), "{stdout}");

    let predictions = dir.path().join("oof.csv");
    let evaluate = [
        &[
            "evaluate",
            "--folds",
            "3",
            "--predictions",
            path(&predictions),
        ][..],
        &args,
    ]
    .concat();
    let out = mixatlas(&evaluate);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("the candidates were compared on 2 of the 6 targets"),
        "{stdout}"
    );
    // The chosen one's predictions of every target are written.
    let written = std::fs::read_to_string(&predictions).unwrap();
    let header: Vec<&str> = written.lines().next().unwrap().split(',').collect();
    let t5 = header
        .iter()
        .position(|h| *h == "t5_mean")
        .expect("t5 predicted");
    assert!(
        written
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(t5).unwrap().parse::<f64>().is_ok())
    );
    // As JSON: the candidates over the compared targets, the chosen one over all.
    let json = [&evaluate[..], &["--json", "--force"]].concat();
    let out = mixatlas(&json);
    assert!(out.status.success(), "{}", text(&out).1);
    let v: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(v["compared_on"], serde_json::json!(["t1", "t4"]), "{v}");
    for c in v["candidates"].as_array().unwrap() {
        assert_eq!(c["metrics"].as_array().unwrap().len(), 2, "{v}");
    }
    assert_eq!(
        v["chosen_on_every_target"].as_array().unwrap().len(),
        6,
        "{v}"
    );
}

/// `evaluate --target NAME` with a spec of two targets evaluates only that one, and refuses a
/// name the spec does not define, naming the spec.
#[test]
fn evaluate_selects_a_specs_targets() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("run,a,b,c,y,z\n");
    for i in 0..30 {
        let (a, b) = ((i % 7) as f64 / 10.0, (i % 5) as f64 / 10.0);
        csv += &format!("r{i},{a},{b},{},{},{}\n", 1.0 - a - b, 2.0 - a, 1.0 + b * b);
    }
    write(dir.path(), "runs.csv", &csv);
    let spec = write(
        dir.path(),
        "spec.toml",
        "mixtures = \"runs.csv\"\nkey = \"run\"\nmixture_columns = [\"a\", \"b\", \"c\"]\n\
         [[targets]]\nname = \"y\"\ndirection = \"lower\"\n\
         [[targets]]\nname = \"z\"\ndirection = \"lower\"\n",
    );
    let evaluate = |target: &str| {
        mixatlas(&[
            "evaluate",
            "--data",
            path(&spec),
            "--folds",
            "3",
            "--surrogate",
            "gp",
            "--target",
            target,
        ])
    };
    let out = evaluate("z");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<&str> = (stdout.lines().skip(1))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(rows, ["z"], "{stdout}");
    expect_error(evaluate("nope"), "spec.toml defines only");
}

/// The shipped surrogate configs parse as what they say they are.
#[test]
fn shipped_surrogate_configs_parse() {
    use mixatlas::surrogate::{GpConfig, LogLinearConfig, select::AutoConfig};
    let read = |name: &str| std::fs::read_to_string(crate::util::repo(name)).unwrap();
    assert_eq!(
        GpConfig::from_toml(&read("configs/surrogates/gp.toml")).unwrap(),
        GpConfig::default()
    );
    assert_eq!(
        LogLinearConfig::from_toml(&read("configs/surrogates/loglinear.toml")).unwrap(),
        LogLinearConfig::default()
    );
    assert_eq!(
        AutoConfig::from_toml(&read("configs/surrogates/auto.toml")).unwrap(),
        AutoConfig::default()
    );
}

/// `scripts/predict_numpy.py` scores both checkpoint kinds from their safetensors exports as
/// `mixatlas predict` does. Needs a Python with numpy and safetensors (`MIXATLAS_PYTHON`, else
/// `python3`): in CI (`CI` set, `.ci/run` installs them) a missing one fails the test; elsewhere
/// the check is skipped with the reason printed.
#[test]
fn numpy_scores_checkpoints_like_mixatlas() {
    let Some(python) = python_with("numpy, safetensors") else {
        return;
    };
    let f = Fixture::new(40);
    let candidates = write(
        f.dir.path(),
        "cand.csv",
        "id,a,b,c\nx,0.2,0.3,0.5\nz,0.6,0.1,0.3\nw,0.05,0.05,0.9\n",
    );
    let table = |csv: &str, columns: &[&str]| -> Vec<Vec<f64>> {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at: Vec<usize> = columns
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c)
                    .unwrap_or_else(|| panic!("{c}: {csv}"))
            })
            .collect();
        lines
            .map(|l| {
                let v: Vec<&str> = l.split(',').collect();
                at.iter().map(|&i| v[i].parse().unwrap()).collect()
            })
            .collect()
    };
    for gp in [false, true] {
        let out = if gp {
            f.train_gp()
        } else {
            f.train(&["--force"])
        };
        assert!(out.status.success(), "{}", text(&out).1);
        let out = predict(&f.ck, &candidates, &["--key", "id"]);
        assert!(out.status.success(), "{}", text(&out).1);
        let ours = table(&text(&out).0, &["y_mean", "y_epistemic_std"]);
        let script = crate::util::repo("scripts/predict_numpy.py");
        let out = std::process::Command::new(&python)
            .args([path(&script), path(&f.ck), path(&candidates)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
        let numpy = table(&text(&out).0, &["y_mean", "y_epistemic_std"]);
        for (a, b) in ours.iter().flatten().zip(numpy.iter().flatten()) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "gp={gp}: {ours:?} vs {numpy:?}"
            );
        }
    }
}

/// A plain CSV is `--data` for train, evaluate, propose and report: the key, mixture columns
/// and ignored columns are inferred, targets named with a direction; `init` writes the spec
/// it inferred, which trains the same model.
#[test]
fn your_own_csv_trains_evaluates_proposes_and_reports() {
    let f = Fixture::new(40);
    let d = f.dir.path();
    // The fixture's runs plus a step column that is neither mixture nor target.
    let csv = std::fs::read_to_string(d.join("runs.csv")).unwrap();
    let mut rows = csv.lines();
    let mut own = format!("{},step\n", rows.next().unwrap());
    rows.for_each(|r| own.push_str(&format!("{r},1000\n")));
    let runs = write(d, "own.csv", &own);
    let config = path(&f.config);
    let out = mixatlas(&[
        "train",
        "--data",
        path(&runs),
        "--target",
        "y=lower",
        "--out",
        path(&f.ck),
        "--config",
        config,
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("key: `run`")
            && stderr.contains("(a, b, c)")
            && stderr.contains("ignored: step"),
        "{stderr}"
    );
    let out = mixatlas(&[
        "evaluate",
        "--data",
        path(&runs),
        "--target",
        "y=lower",
        "--folds",
        "2",
        "--config",
        config,
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = mixatlas(&[
        "evaluate",
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&runs),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let proposals = d.join("proposals");
    let out = mixatlas(&[
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&runs),
        "--out",
        path(&proposals),
        "-q",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(proposals.join("proposals.json").is_file());
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("objective (higher is better): -y, standardised")
            && stdout.contains("acquisition mean: the predicted objective"),
        "{stdout}"
    );

    // Without a direction, or with no column summing to 1, the error says what to pass.
    let out = mixatlas(&[
        "train",
        "--data",
        path(&runs),
        "--target",
        "y",
        "--out",
        path(&d.join("x")),
    ]);
    expect_error(out, "--target NAME=lower");
    // Rows off the simplex are refused naming the line, or rescaled with --renormalize.
    let mut off = String::from("run,a,b,c,y\n");
    for i in 0..12 {
        let a = 0.1 + 0.05 * i as f64;
        off.push_str(&format!("r{i},{a},0.2,{},{}\n", 0.65 - a, 1.0 + a));
    }
    let off = write(d, "off.csv", &off);
    let x = d.join("x");
    let mut args = vec![
        "train",
        "--data",
        path(&off),
        "--target",
        "y=lower",
        "--mixture",
        "a,b,c",
        "--out",
        path(&x),
        "--config",
        config,
    ];
    expect_error(mixatlas(&args), "off.csv:2: mixture weights sum to 0.85");
    args.push("--renormalize");
    let out = mixatlas(&args);
    assert!(out.status.success(), "{}", text(&out).1);
    let loose = write(
        d,
        "loose.csv",
        "run,a,b,y\nr1,0.2,0.3,1.0\nr2,0.5,0.1,2.0\n",
    );
    let out = mixatlas(&[
        "train",
        "--data",
        path(&loose),
        "--target",
        "y=lower",
        "--out",
        path(&d.join("x")),
    ]);
    expect_error(out, "--mixture COL,COL");
    // A CSV under another name is read as a spec; the error says to name it .csv.
    let named = write(d, "runs.txt", &own);
    let out = mixatlas(&["train", "--data", path(&named), "--out", path(&d.join("x"))]);
    expect_error(out, "name it .csv");

    // `init` writes the inferred spec and space; the spec trains the same model.
    let spec_dir = d.join("spec");
    let out = mixatlas(&[
        "init",
        path(&runs),
        "--target",
        "y=lower",
        "--out",
        path(&spec_dir),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let data = std::fs::read_to_string(spec_dir.join("data.toml")).unwrap();
    assert!(
        data.contains("# key: `run`") && data.contains("space = \"space.toml\""),
        "{data}"
    );
    let again = d.join("again");
    let out = mixatlas(&[
        "train",
        "--data",
        path(&spec_dir.join("data.toml")),
        "--out",
        path(&again),
        "--config",
        config,
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let predictions = |ck: &Path| text(&predict(ck, &runs, &["--key", "run"])).0;
    assert_eq!(
        predictions(&again),
        predictions(&f.ck),
        "the same runs, the same model"
    );
    // `init` never writes over what it did not create, nor into its input.
    let out = mixatlas(&["init", path(&runs), "--target", "y=lower", "--out", path(d)]);
    expect_error(out, "is, or contains");
}

/// `--version` names the commit; the completion scripts and the man page are generated from
/// the same definitions as `--help`, and bash accepts its script.
#[test]
fn version_completions_and_man_page() {
    let out = mixatlas(&["--version"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.starts_with(&format!("mixatlas {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = mixatlas(&["completions", shell]);
        assert!(
            out.status.success() && text(&out).0.contains("init"),
            "{shell}"
        );
    }
    let d = tempfile::tempdir().unwrap();
    let bash = text(&mixatlas(&["completions", "bash"])).0;
    let script = write(d.path(), "mixatlas.bash", &bash);
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p mixatlas",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("mixatlas"), "{}", text(&out).0);
    let man = text(&mixatlas(&["man"])).0;
    assert!(
        man.contains(".TH mixatlas") && man.contains("completions"),
        "{man}"
    );
}
