//! Proposing mixtures end to end: swarm, simulate, propose (search and pool), export, and
//! the refusals of infeasible constraints and malformed recipes.

use std::path::Path;

use mixatlas::acquisition::{AcquisitionKind, AcquisitionSpec, Scorer, build};
use mixatlas::objective::{Objective, ObjectiveSpec};
use mixatlas::runs::{DataSpec, Runs};
use mixatlas::search::GradientAscent;
use mixatlas::surrogate::{Surrogate, fit};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::util::{Backend, Fixture, expect_error, fast_config, mixatlas, path, text, write};

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|row| row.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn tv(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// The weights of a proposals.json entry, in domain order a, b, c.
fn weights(p: &serde_json::Value) -> Vec<f64> {
    ["a", "b", "c"]
        .map(|d| p["weights"][d].as_f64().unwrap())
        .to_vec()
}

#[test]
fn propose_respects_constraints_and_writes_every_format() {
    let f = Fixture::new(60);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let constraints = write(
        d,
        "c.toml",
        "min = { c = 0.2 }\n[[group]]\ndomains = [\"a\", \"b\"]\nmax = 0.6\n[trust_region]\nmax_distance = 0.4\n",
    );
    let out_dir = d.join("proposals");
    let base = [
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&f.spec),
        "--constraints",
        path(&constraints),
        "--samples",
        "4000",
        "--batch",
        "5",
        "--min-distance",
        "0.05",
        "--out",
        path(&out_dir),
    ];
    for acquisition in ["ucb", "ei", "thompson", "ivr"] {
        let mut args = base.to_vec();
        args.extend(["--acquisition", acquisition, "--force"]);
        if acquisition == "ivr" {
            // IVR has no smooth form: the gradient searcher refuses it, the others run.
            let out = mixatlas(&args);
            expect_error(out, "gradient searcher cannot follow acquisition `ivr`");
            args.extend(["--searchers", "random,cmaes"]);
        }
        let out = mixatlas(&args);
        assert!(out.status.success(), "{acquisition}: {}", text(&out).1);
        let doc = json(&out_dir.join("proposals.json"));
        let props = doc["proposals"].as_array().unwrap();
        assert_eq!(props.len(), 5);
        for (i, p) in props.iter().enumerate() {
            let w = weights(p);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{w:?}");
            assert!(w[2] >= 0.2 - 1e-6 && w[0] + w[1] <= 0.6 + 1e-6, "{w:?}");
            assert!(p["nearest_run_distance"].as_f64().unwrap() <= 0.4 + 1e-6);
            assert!(p["targets"]["y"]["epistemic_std"].as_f64().unwrap() > 0.0);
            for q in &props[..i] {
                assert!(tv(&w, &weights(q)) >= 0.05 - 1e-9, "near-duplicates");
            }
        }
    }
    let (header, rows) = read_csv(&out_dir.join("proposals.csv"));
    assert_eq!(rows.len(), 5);
    for col in [
        "acquisition",
        "y_mean",
        "y_epistemic_std",
        "nearest_run_distance",
        "a",
    ] {
        assert!(header.iter().any(|h| h == col), "{col} in {header:?}");
    }

    // Exports of the first recipe.
    let recipe = out_dir.join("recipes/proposal-01.json");
    let w = weights(&json(&out_dir.join("proposals.json"))["proposals"][0]);
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--recipe", path(&recipe)];
        args.extend_from_slice(extra);
        let out = mixatlas(&args);
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out).0
    };
    let hf: Vec<f64> =
        serde_json::from_str(&export(&["--format", "hf", "--assume-equal-examples"])).unwrap();
    assert_eq!(hf.len(), 3);
    assert!((hf.iter().sum::<f64>() - 1.0).abs() < 1e-12 && tv(&hf, &w) < 1e-9);
    // Examples of different lengths: the per-example probabilities realise the token shares.
    let lengths = write(d, "len.toml", "a = 2000\nb = 100\nc = 500.5\n");
    let hf: Vec<f64> = serde_json::from_str(&export(&[
        "--format",
        "hf",
        "--tokens-per-example",
        path(&lengths),
    ]))
    .unwrap();
    let t = [2000.0, 100.0, 500.5];
    let total: f64 = hf.iter().zip(&t).map(|(p, t)| p * t).sum();
    let realised: Vec<f64> = hf.iter().zip(&t).map(|(p, t)| p * t / total).collect();
    assert!(tv(&realised, &w) < 1e-9, "{realised:?} vs {w:?}");
    let paths = write(
        d,
        "paths.toml",
        "a = \"/data/a_text\"\nb = \"/data/b_text\"\nc = \"/data/c_text\"\n",
    );
    let blend = export(&["--format", "megatron", "--paths", path(&paths)]);
    let parts: Vec<&str> = blend.split_whitespace().collect();
    assert_eq!(parts.len() % 2, 0);
    for pair in parts.chunks(2) {
        let weight: f64 = pair[0].parse().unwrap();
        let domain = ["a", "b", "c"]
            .iter()
            .position(|d| pair[1] == format!("/data/{d}_text"))
            .unwrap();
        assert!((weight - w[domain]).abs() < 1e-12);
    }
    let tokens = export(&["--format", "tokens", "--tokens", "1000003"]);
    let counts: Vec<u64> = tokens
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 1_000_003);
    // Budgets are usually written in scientific notation.
    let big = export(&["--format", "tokens", "--tokens", "2.5e10"]);
    let total: u64 = (big.lines().skip(1))
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 25_000_000_000);
    let yaml = export(&["--format", "yaml"]);
    let yaml_weights: Vec<f64> = yaml
        .lines()
        .skip_while(|l| *l != "weights:")
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(|l| l.rsplit(": ").next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(yaml_weights, w);
    let roundtrip: serde_json::Value =
        serde_json::from_str(&export(&["--format", "json"])).unwrap();
    assert_eq!(roundtrip, json(&recipe));

    // A recipe that is not a mixture is refused with its file and field.
    let bad = write(
        d,
        "bad.json",
        &std::fs::read_to_string(&recipe)
            .unwrap()
            .replacen("\"a\": ", "\"a\": 1.5 + ", 1),
    );
    expect_error(
        mixatlas(&["export", "--recipe", path(&bad), "--format", "hf"]),
        "bad.json",
    );
    expect_error(
        mixatlas(&["export", "--recipe", path(&recipe), "--format", "hf"]),
        "--format hf needs --tokens-per-example FILE",
    );
    let off = write(
        d,
        "off.json",
        "{\"format\": \"mixatlas-recipe\", \"name\": \"x\", \"space\": \"s\", \"weights\": {\"a\": 0.5, \"b\": 0.6, \"c\": 0.0}}",
    );
    expect_error(
        mixatlas(&[
            "export",
            "--recipe",
            path(&off),
            "--format",
            "hf",
            "--assume-equal-examples",
        ]),
        "off.json: field `weights.*` = 1.1",
    );
    expect_error(
        mixatlas(&[
            "export",
            "--recipe",
            path(&recipe),
            "--format",
            "megatron",
            "--paths",
            path(&write(d, "p2.toml", "a = \"/x\"\n")),
        ]),
        "no path for domain",
    );
}

#[test]
fn infeasible_constraints_are_refused_and_nothing_is_written() {
    let f = Fixture::new(30);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let out_dir = d.join("never");
    for (text, needle) in [
        (
            "min = { a = 0.7, b = 0.5 }\n",
            "minimum weights sum to 1.2000 > 1: 0.7 (min.a), 0.5 (min.b)",
        ),
        (
            "min = { a = 0.3 }\nmax = { a = 0.2 }\n",
            "domain `a`: minimum 0.3 (from min.a) exceeds maximum 0.2 (from max.a)",
        ),
        (
            "max = { a = 0.8 }\n[[group]]\ndomains = [\"a\", \"b\"]\nmin = 0.9\n[[group]]\ndomains = [\"b\", \"c\"]\nmax = 0.05\n",
            "no mixture satisfies all of: a in [0, 0.8]; group[0] in [0.9, 1]; group[1] in [0, 0.05]",
        ),
        ("max = { z = 0.1 }\n", "unknown domain `z`"),
        (
            "[tokens]\nbudget = 1e9\nmax_epochs = 4\n",
            "needs `tokens` for domain `a`",
        ),
    ] {
        let c = write(d, "c.toml", text);
        let out = mixatlas(&[
            "propose",
            "--checkpoint",
            path(&f.ck),
            "--constraints",
            path(&c),
            "--out",
            path(&out_dir),
        ]);
        expect_error(out, needle);
        assert!(!out_dir.exists());
    }
    // Asking for more distinct proposals than the pool holds.
    let pool = write(d, "pool.csv", "a,b,c\n0.2,0.3,0.5\n0.3,0.3,0.4\n");
    let out = mixatlas(&[
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--pool",
        path(&pool),
        "--batch",
        "3",
        "--out",
        path(&out_dir),
    ]);
    expect_error(out, "found 2 feasible candidates");
    assert!(!out_dir.exists());
}

#[test]
fn swarm_designs_are_feasible_distinct_and_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let space = crate::util::repo("configs/spaces/mixatlas-multimodal.toml");
    let c = write(
        d,
        "c.toml",
        "[[group]]\naxis = \"task\"\nvalue = \"ocr\"\nmax = 0.3\n",
    );
    for design in ["dirichlet", "space-filling"] {
        let out_dir = d.join(design);
        let out = mixatlas(&[
            "swarm",
            "--space",
            path(&space),
            "--runs",
            "24",
            "--design",
            design,
            "--constraints",
            path(&c),
            "--out",
            path(&out_dir),
            "--seed",
            "7",
        ]);
        assert!(out.status.success(), "{}", text(&out).1);
        // The CSV reads back as a mixture file: every row on the simplex.
        let spec =
            DataSpec::for_mixture_file(&out_dir.join("swarm.csv"), Vec::new(), Some("run".into()));
        let mut spec = spec;
        spec.space = Some(space.clone());
        let runs = Runs::load(&spec).unwrap();
        assert_eq!(runs.len(), 24);
        let ocr: Vec<usize> = runs
            .schema
            .space
            .domains
            .iter()
            .enumerate()
            .filter(|(_, d)| d.attributes["task"] == "ocr")
            .map(|(i, _)| i)
            .collect();
        for (i, w) in runs.mixtures.iter().enumerate() {
            assert!(ocr.iter().map(|&j| w[j]).sum::<f64>() <= 0.3 + 1e-9);
            for v in &runs.mixtures[..i] {
                assert!(tv(w, v) >= 0.01);
            }
        }
        assert_eq!(
            std::fs::read_dir(out_dir.join("recipes")).unwrap().count(),
            24
        );
    }
}

#[test]
fn simulate_streams_with_a_pareto_front() {
    let f = Fixture::new(60);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let lower = write(
        d,
        "lower.toml",
        "normalize = \"none\"\n[[term]]\ntarget = \"y\"\n",
    );
    let higher = write(
        d,
        "higher.toml",
        "normalize = \"none\"\n[[term]]\ntarget = \"y\"\ndirection = \"higher\"\n",
    );
    let out_file = d.join("sim.json");
    let out = mixatlas(&[
        "simulate",
        "--checkpoint",
        path(&f.ck),
        "--samples",
        "20000",
        "--chunk",
        "3000",
        "--top",
        "4",
        "--objective",
        path(&lower),
        "--objective",
        path(&higher),
        "--output",
        path(&out_file),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("recipes/s"));
    let v = json(&out_file);
    let sim = &v["simulation"];
    assert_eq!(sim["sampled"], 20000);
    assert_eq!(sim["objective"]["count"], 20000);
    let top = sim["top_objective"].as_array().unwrap();
    assert_eq!(top.len(), 4);
    let best = top[0]["objective"].as_f64().unwrap();
    assert!((best - sim["objective"]["max"].as_f64().unwrap()).abs() < 1e-9);
    // Opposite objectives: every point is on the front, the front runs from one end to the other.
    let front = sim["pareto"].as_array().unwrap();
    assert!(!front.is_empty());
    for p in front {
        assert!((p["objective"].as_f64().unwrap() + p["secondary"].as_f64().unwrap()).abs() < 1e-9);
    }
}

/// The gradient the ascent follows equals finite differences of the exact acquisition, and
/// ascent improves the mean from a poor start.
#[test]
fn gradient_matches_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::util::synthetic(dir.path(), 60);
    let runs = Runs::load(&DataSpec::from_file(&spec).unwrap()).unwrap();
    let p = fit::<Backend>(&runs, &fast_config(), 0, &Default::default(), &mut ()).unwrap();
    let objective = Objective::new(
        &ObjectiveSpec::default(),
        &p.meta.schema,
        &p.meta.target_norm,
    )
    .unwrap();
    let scorer = Scorer {
        surrogate: &p,
        objective: &objective,
        context: Vec::new(),
        members: false,
    };
    let ctx = scorer.acquisition_context(&runs.outcomes, None).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    for kind in [
        AcquisitionKind::Mean,
        AcquisitionKind::Ucb,
        AcquisitionKind::Ei,
        AcquisitionKind::Thompson,
    ] {
        let spec = AcquisitionSpec {
            kind,
            ..AcquisitionSpec::default()
        };
        let acq = build(&spec, &ctx, &p.capabilities(), &mut rng).unwrap();
        let g = GradientAscent::<Backend>::new(&p, &objective, acq.as_ref(), Vec::new()).unwrap();
        let w = vec![0.3, 0.3, 0.4];
        let (value, grad) = g.value_and_gradient(std::slice::from_ref(&w));
        let exact = acq.score(&scorer.scores(std::slice::from_ref(&w)).unwrap())[0];
        assert!(
            (value[0] - exact).abs() < 1e-3 * (1.0 + exact.abs()),
            "{kind:?}: {value:?} vs {exact}"
        );
        let h = 1e-3;
        for j in 0..3 {
            let (mut up, mut down) = (w.clone(), w.clone());
            up[j] += h;
            down[j] -= h;
            let s = scorer.scores(&[up, down]).unwrap();
            let a = acq.score(&s);
            let fd = (a[0] - a[1]) / (2.0 * h);
            assert!(
                (fd - grad[0][j]).abs() < 2e-2 * (1.0 + fd.abs()),
                "{kind:?} d/dw{j}: {fd} vs {}",
                grad[0][j]
            );
        }
    }
}

/// Pool mode reads its file in chunks and names each pick by its key, with the weights of
/// that row.
#[test]
fn pool_mode_picks_rows_by_key() {
    let f = Fixture::new(40);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let mut csv = String::from("name,a,b,c\n");
    let mut rows = Vec::new();
    for i in 0..30 {
        let a = f64::from(i) / 40.0;
        let b = f64::from(i % 7) / 20.0;
        rows.push((format!("cand{i}"), vec![a, b, 1.0 - a - b]));
        csv.push_str(&format!("cand{i},{a},{b},{}\n", 1.0 - a - b));
    }
    let pool = write(d, "pool.csv", &csv);
    let out_dir = d.join("picked");
    let out = mixatlas(&[
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--pool",
        path(&pool),
        "--pool-key",
        "name",
        "--acquisition",
        "mean",
        "--batch",
        "3",
        "--out",
        path(&out_dir),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let doc = json(&out_dir.join("proposals.json"));
    let props = doc["proposals"].as_array().unwrap();
    assert_eq!(props.len(), 3);
    for p in props {
        let key = p["pool_key"].as_str().unwrap();
        let (_, w) = rows.iter().find(|(k, _)| k == key).unwrap();
        assert!(
            tv(w, &weights(p)) < 1e-12,
            "{key}: {:?} vs {w:?}",
            weights(p)
        );
    }
    // The best by the mean comes first.
    let objective: Vec<f64> = props
        .iter()
        .map(|p| p["acquisition"].as_f64().unwrap())
        .collect();
    assert!(objective.windows(2).all(|w| w[0] >= w[1]), "{objective:?}");
    // Rows the constraints rule out are counted, not silently dropped: a > 0.5 in 9 rows.
    let cap = write(d, "cap.toml", "max = { a = 0.5 }\n");
    let out = mixatlas(&[
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--pool",
        path(&pool),
        "--constraints",
        path(&cap),
        "--batch",
        "2",
        "--out",
        path(&d.join("capped")),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("pool: 9 row(s) skipped: they violate the constraints"),
        "{stdout}"
    );
}
