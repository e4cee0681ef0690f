//! Training stacks and trackers: every export read back the way its stack reads it
//! (`scripts/check-export.py`), a staged Levanter schedule from a real campaign, and the
//! imports of Olmix configs and W&B runs.

use std::path::Path;
use std::process::Command;

use crate::util::{
    campaign_config, expect_error, mixatlas, path, python_with, repo, text, world_evaluator, write,
};

/// `(first step, {domain: share})` stages a stack would train on, per `check-export.py`.
type Stages = Vec<(u64, Vec<(String, f64)>)>;

fn read_back(python: &str, format: &str, file: &Path) -> Stages {
    let out = Command::new(python)
        .arg(repo("scripts/check-export.py"))
        .args([format, path(file)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{format}: {}", text(&out).1);
    let doc: Vec<(u64, serde_json::Map<String, serde_json::Value>)> =
        serde_json::from_str(&text(&out).0).unwrap();
    doc.into_iter()
        .map(|(step, w)| {
            let mut w: Vec<(String, f64)> = w
                .into_iter()
                .map(|(k, v)| (k, v.as_f64().unwrap()))
                .collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            (step, w)
        })
        .collect()
}

/// The positive weights of `weights`, sorted by domain.
fn positive(weights: &[(&str, f64)]) -> Vec<(String, f64)> {
    let mut w: Vec<(String, f64)> = (weights.iter())
        .filter(|w| w.1 > 0.0)
        .map(|(d, w)| ((*d).to_owned(), *w))
        .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn assert_close(got: &[(String, f64)], want: &[(String, f64)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.0 == w.0 && (g.1 - w.1).abs() < 1e-12,
            "{what}: {got:?} vs {want:?}"
        );
    }
}

#[test]
fn every_stack_reads_back_the_recipe_it_was_given() {
    let Some(python) = python_with("yaml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let weights = [
        ("web/en", 0.5),
        ("code", 0.3),
        ("math", 0.2),
        ("books", 0.0),
    ];
    let recipe = write(
        d,
        "r.json",
        "{\"format\": \"mixatlas-recipe\", \"name\": \"r\", \"space\": \"s\", \"weights\": \
         {\"web/en\": 0.5, \"code\": 0.3, \"math\": 0.2, \"books\": 0.0}}",
    );
    let space = write(
        d,
        "s.toml",
        "name = \"s\"\n[[domains]]\nname = \"web/en\"\ntokens = 1e9\n[[domains]]\nname = \
         \"code\"\ntokens = 1e8\n[[domains]]\nname = \"math\"\n[[domains]]\nname = \"books\"\n",
    );
    let paths = write(
        d,
        "paths.toml",
        "\"web/en\" = \"s3://bucket/web en/part-*.npy\"\ncode = \"s3://bucket/code\"\nmath = \
         \"gs://bucket/math\"\n",
    );
    let lengths = write(d, "len.toml", "\"web/en\" = 1000\ncode = 300\nmath = 500\n");
    let export = |format: &str, extra: &[&str]| {
        let out_file = d.join(format!("out.{format}"));
        let mut args = vec![
            "export",
            "--recipe",
            path(&recipe),
            "--format",
            format,
            "--output",
            path(&out_file),
            "--force",
        ];
        args.extend_from_slice(extra);
        let out = mixatlas(&args);
        assert!(out.status.success(), "{format}: {}", text(&out).1);
        out_file
    };
    let want = positive(&weights);
    let p = ["--paths", path(&paths)];
    let budget = ["--tokens", "2e9", "--space", path(&space)];
    for (format, extra) in [
        ("olmo-core", [&p[..], &budget[..]].concat()),
        ("olmix", budget.to_vec()),
        ("levanter", p.to_vec()),
        ("doremi", vec![]),
    ] {
        let stages = read_back(&python, format, &export(format, &extra));
        assert_eq!(stages.len(), 1);
        assert_eq!(stages[0].0, 0);
        assert_close(&stages[0].1, &want, format);
    }
    // Repetition caps: 0.3 * 2e9 tokens of code's 1e8 is 6 epochs; web 1; math unknown: 1.
    let olmo = std::fs::read_to_string(d.join("out.olmo-core")).unwrap();
    assert!(olmo.contains("max_repetitions: 6.0"), "{olmo}");
    assert!(
        !olmo.contains("books"),
        "zero-weight sources are left out: {olmo}"
    );
    let olmix = std::fs::read_to_string(d.join("out.olmix")).unwrap();
    assert!(olmix.contains("repetition_factor: 6.0"), "{olmix}");

    // MosaicML samples examples: the per-sample proportions realise the token shares.
    let mosaic = export(
        "mosaic",
        &[&p[..], &["--tokens-per-example", path(&lengths)]].concat(),
    );
    let stages = read_back(&python, "mosaic", &mosaic);
    let t = |d: &str| match d {
        "web/en" => 1000.0,
        "code" => 300.0,
        _ => 500.0,
    };
    let total: f64 = stages[0].1.iter().map(|(d, p)| p * t(d)).sum();
    let realised: Vec<(String, f64)> = (stages[0].1.iter())
        .map(|(d, p)| (d.clone(), p * t(d) / total))
        .collect();
    assert_close(&realised, &want, "mosaic");
    expect_error(
        mixatlas(&[
            "export",
            "--recipe",
            path(&recipe),
            "--format",
            "mosaic",
            "--paths",
            path(&paths),
        ]),
        "needs --tokens-per-example FILE",
    );
    let short = write(d, "short.toml", "\"web/en\" = 1000\ncode = 300\n");
    expect_error(
        mixatlas(&[
            "export",
            "--recipe",
            path(&recipe),
            "--format",
            "mosaic",
            "--paths",
            path(&paths),
            "--tokens-per-example",
            path(&short),
        ]),
        "short.toml: no tokens per example for domain `math`",
    );
    let missing = write(d, "p2.toml", "code = [\"s3://a\", \"s3://b\"]\n");
    expect_error(
        mixatlas(&[
            "export",
            "--recipe",
            path(&recipe),
            "--format",
            "olmo-core",
            "--paths",
            path(&missing),
        ]),
        "p2.toml: no path for domain `web/en`",
    );
    expect_error(
        mixatlas(&["export", "--recipe", path(&recipe), "--format", "levanter"]),
        "--paths",
    );
}

#[test]
fn a_staged_campaign_exports_a_levanter_schedule() {
    let Some(python) = python_with("yaml") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = campaign_config(
        d,
        &world_evaluator(0.0),
        "stages = 2\nsignals = [\"doc_reasoning\"]",
    );
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_runs = 20", "max_runs = 16");
    std::fs::write(&cfg, text_cfg).unwrap();
    let c = d.join("c");
    let out = mixatlas(&["loop", "--config", path(&cfg), "--campaign", path(&c)]);
    assert!(out.status.success(), "{}", text(&out).1);
    let schedule = c.join("final.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schedule).unwrap()).unwrap();
    let stages = doc["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    let names: Vec<String> = stages[0]["weights"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let paths = write(
        d,
        "paths.toml",
        &names
            .iter()
            .map(|n| format!("\"{n}\" = [\"gs://mm/{n}/train-*.jsonl\"]\n"))
            .collect::<String>(),
    );
    let out_file = d.join("levanter.yaml");
    let out = mixatlas(&[
        "export",
        "--schedule",
        path(&schedule),
        "--stage-steps",
        "0,5000",
        "--format",
        "levanter",
        "--paths",
        path(&paths),
        "--output",
        path(&out_file),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let read = read_back(&python, "levanter", &out_file);
    assert_eq!(read.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 5000]);
    for (stage, (_, got)) in stages.iter().zip(&read) {
        let w: Vec<(&str, f64)> = (stage["weights"].as_object().unwrap().iter())
            .map(|(k, v)| (k.as_str(), v.as_f64().unwrap()))
            .collect();
        let want = positive(&w);
        let sum: f64 = want.iter().map(|w| w.1).sum();
        let want: Vec<(String, f64)> = want.into_iter().map(|(d, x)| (d, x / sum)).collect();
        assert_close(got, &want, "levanter stage");
    }
    expect_error(
        mixatlas(&[
            "export",
            "--schedule",
            path(&schedule),
            "--stage-steps",
            "0",
            "--format",
            "levanter",
            "--paths",
            path(&paths),
        ]),
        "has 2 stage(s)",
    );
    expect_error(
        mixatlas(&[
            "export",
            "--schedule",
            path(&schedule),
            "--stage-steps",
            "0,10",
            "--format",
            "olmix",
        ]),
        "--schedule is exported by --format levanter",
    );
}
