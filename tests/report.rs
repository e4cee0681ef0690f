//! `mixatlas report`: every figure renders to non-blank pixels with its text, the HTML opens in
//! headless Chromium (where installed), and missing inputs are explained instead of failing.

use std::path::Path;

use mixatlas::report::{parse_svg, rasterize};

use crate::util::{Fixture, campaign_config, mixatlas, path, text, world_evaluator, write};

/// Text nodes in an SVG that usvg turned into outlines (so a font was found and used).
pub(crate) fn rendered_text(svg: &str) -> usize {
    fn walk(g: &resvg::usvg::Group) -> usize {
        g.children()
            .iter()
            .map(|n| match n {
                resvg::usvg::Node::Text(t) => usize::from(!t.flattened().children().is_empty()),
                resvg::usvg::Node::Group(g) => walk(g),
                _ => 0,
            })
            .sum()
    }
    walk(parse_svg(svg).unwrap().root())
}

/// Share of pixels that are not white.
pub(crate) fn ink(pixmap: &resvg::tiny_skia::Pixmap) -> f64 {
    let px = pixmap.pixels();
    let inked = px
        .iter()
        .filter(|p| p.alpha() > 0 && (p.red() < 240 || p.green() < 240 || p.blue() < 240))
        .count();
    inked as f64 / px.len() as f64
}

fn report(args: &[&str]) -> (String, String) {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let out = mixatlas(&all);
    assert!(out.status.success(), "{}", text(&out).1);
    text(&out)
}

#[test]
fn every_figure_renders_with_its_text_and_the_page_opens() {
    let f = Fixture::new(60);
    let d = f.dir.path();
    assert!(f.train(&[]).status.success());
    let oof = d.join("oof.csv");
    let out = mixatlas(&[
        "evaluate",
        "--data",
        path(&f.spec),
        "--folds",
        "3",
        "--config",
        path(&f.config),
        "--predictions",
        path(&oof),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let proposals = d.join("proposals");
    let out = mixatlas(&[
        "propose",
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&f.spec),
        "--batch",
        "4",
        "--samples",
        "2000",
        "--out",
        path(&proposals),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    // A small measured campaign on the world for the campaign figures.
    let campaign = d.join("campaign");
    let cfg = campaign_config(
        d,
        &world_evaluator(0.0),
        "stages = 2\nsignals = [\"doc_reasoning\"]",
    );
    let out = mixatlas(&[
        "loop",
        "--config",
        path(&cfg),
        "--campaign",
        path(&campaign),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);

    let dir = d.join("report");
    let (stdout, _) = report(&[
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&f.spec),
        "--oof",
        path(&oof),
        "--proposals",
        path(&proposals.join("proposals.json")),
        "--out",
        path(&dir),
        "--png",
    ]);
    // The synthetic space has no attributes: only the heatmap is missing, with the reason.
    assert!(
        stdout.contains("not drawn: axis_heatmap: space"),
        "{stdout}"
    );
    let expected = [
        ("parity", "observed y"),
        ("calibration", "nominal coverage"),
        ("partial_dependence", "Partial dependence of y"),
        ("top_recipes", "proposal-01"),
        ("projection", "principal component 1"),
    ];
    let drawn = |dir: &Path, expected: &[(&str, &str)]| {
        for (name, label) in expected {
            let svg = std::fs::read_to_string(dir.join(format!("figures/{name}.svg"))).unwrap();
            assert!(svg.contains(label), "{name} lacks {label:?}");
            let pixmap = rasterize(&svg).unwrap();
            let inked = ink(&pixmap);
            assert!(inked > 0.01, "{name} is blank ({inked})");
            assert!(rendered_text(&svg) >= 3, "{name}: text did not render");
            assert!(dir.join(format!("figures/{name}.png")).exists());
        }
    };
    drawn(&dir, &expected);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("Best recipe: proposal-01")
            && html.contains("ranked first by `propose`'s acquisition")
            && html.contains("Held-out ranking over"),
        "{html}"
    );
    // The best recipe against the best logged run, and the missing inputs after the figures.
    assert!(html.contains("against the best logged run"), "{html}");
    assert!(html.find("Not drawn").unwrap() > html.rfind("<figure").unwrap());

    // The campaign's own report: its latest model, context held at its latest state.
    let own = d.join("campaign-report");
    let (stdout, _) = report(&["--campaign", path(&campaign), "--out", path(&own), "--png"]);
    drawn(
        &own,
        &[
            ("campaign_best", "runs spent"),
            ("campaign_uncertainty", "round"),
            ("partial_dependence", "Partial dependence of doc_reasoning"),
            // One section per target: the second target's figures carry its name.
            (
                "partial_dependence-visual_reasoning",
                "Partial dependence of visual_reasoning",
            ),
            ("top_recipes-visual_reasoning", "visual_reasoning"),
        ],
    );
    let campaign_html = std::fs::read_to_string(own.join("report.html")).unwrap();
    assert!(
        campaign_html.contains("Campaign: 20 runs measured")
            && campaign_html.contains("Context inputs held at the campaign's latest state")
            && campaign_html.contains("<h2>Target: doc_reasoning</h2>")
            && campaign_html.contains("<h2>Target: visual_reasoning</h2>")
            && campaign_html.contains("most uncertain targets"),
        "{stdout}"
    );
    // A checkpoint of another space is refused beside a campaign, naming both.
    let out = mixatlas(&[
        "report",
        "--campaign",
        path(&campaign),
        "--checkpoint",
        path(&f.ck),
        "--out",
        path(&d.join("mixed")),
    ]);
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("is not the space of campaign"),
        "{stderr}"
    );
    // The campaign's model outside its campaign: the context values must be given.
    let rounds = campaign.join("rounds");
    let mut models: Vec<_> = (std::fs::read_dir(&rounds).unwrap())
        .map(|e| e.unwrap().path().join("model"))
        .filter(|m| m.is_dir())
        .collect();
    models.sort();
    let model = models.last().unwrap();
    let alone = |extra: &[&str], out: &str| {
        let mut args = vec!["report", "--checkpoint", path(model), "--out"];
        args.push(out);
        args.extend(extra);
        mixatlas(&args)
    };
    let out = alone(&[], path(&d.join("alone-refused")));
    assert!(
        !out.status.success() && text(&out).1.contains("--context NAME=VALUE"),
        "{}",
        text(&out).1
    );
    let held = d.join("alone");
    let out = alone(
        &[
            "--context",
            "stage=1",
            "--context",
            "signal:doc_reasoning=0.4",
        ],
        path(&held),
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let alone_html = std::fs::read_to_string(held.join("report.html")).unwrap();
    assert!(
        alone_html.contains("Context inputs held at stage = 1.000, signal:doc_reasoning = 0.400"),
        "{alone_html}"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
    assert_eq!(html.matches("<svg").count(), expected.len());
    screenshot(&dir.join("report.html"));
}

/// Opens the page in headless Chromium and checks the screenshot is not blank. In CI (`CI`
/// set, as `.ci/run` does) a missing Chromium fails the test; elsewhere the check is skipped
/// with the reason printed.
fn screenshot(html: &Path) {
    let Ok(chromium) = which("chromium") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium for the screenshot check (.ci/run does)"
        );
        eprintln!("chromium not installed: screenshot check skipped (apt-get install chromium)");
        return;
    };
    let shot = html.with_file_name("screenshot.png");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&std::fs::read(&shot).unwrap()).unwrap();
    assert!(ink(&pixmap) > 0.02, "the screenshot is blank");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|p| p.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn missing_inputs_are_explained_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One domain: nothing to vary or project, but the recipe bars still draw.
    let mut csv = String::from("run,a,y\n");
    for i in 0..12 {
        csv.push_str(&format!("r{i},1.0,{}\n", 1.0 + 0.01 * (i % 5) as f64));
    }
    write(d, "one.csv", &csv);
    let spec = write(
        d,
        "one.toml",
        "mixtures = \"one.csv\"\nkey = \"run\"\nmixture_columns = [\"a\"]\n[[targets]]\nname = \"y\"\ndirection = \"lower\"\n",
    );
    let fast = write(
        d,
        "fast.toml",
        "members = 2\nhidden = [8]\nmax_epochs = 10\npatience = 5\n",
    );
    let ck = d.join("ck");
    let out = mixatlas(&[
        "train",
        "--data",
        path(&spec),
        "--out",
        path(&ck),
        "--config",
        path(&fast),
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    // An empty campaign: proposed, nothing measured.
    let campaign = d.join("campaign");
    let cfg = campaign_config(d, "false", "");
    let out = mixatlas(&[
        "loop",
        "--config",
        path(&cfg),
        "--campaign",
        path(&campaign),
        "--propose-only",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out_dir = d.join("report");
    let (stdout, _) = report(&[
        "--checkpoint",
        path(&ck),
        "--data",
        path(&spec),
        "--out",
        path(&out_dir),
    ]);
    for reason in [
        "parity: no out-of-fold predictions",
        "calibration: no out-of-fold predictions",
        "partial_dependence: space `one` has one domain",
        "projection: space `one` has one domain",
        "axis_heatmap: space `one` has no attribute",
        "campaign_best: no campaign given",
    ] {
        assert!(stdout.contains(reason), "{reason:?} missing from {stdout}");
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("Not drawn") && html.contains("has one domain"));
    // A campaign that has trained no surrogate yet has no model to report on.
    let out = mixatlas(&[
        "report",
        "--campaign",
        path(&campaign),
        "--out",
        path(&d.join("empty")),
    ]);
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("has trained no surrogate yet"),
        "{stderr}"
    );
    let bars = std::fs::read_to_string(out_dir.join("figures/top_recipes.svg")).unwrap();
    assert!(ink(&rasterize(&bars).unwrap()) > 0.01);
    // An existing output directory is kept unless --force.
    let out = mixatlas(&["report", "--checkpoint", path(&ck), "--out", path(&out_dir)]);
    assert!(!out.status.success() && text(&out).1.contains("--force"));
    // A malformed out-of-fold file is explained the same way, naming file and column.
    let oof = write(d, "oof.csv", "key,fold,y_mean\nr0,0,1.0\n");
    let (stdout, _) = report(&[
        "--checkpoint",
        path(&ck),
        "--oof",
        path(&oof),
        "--out",
        path(&out_dir),
        "--force",
    ]);
    assert!(
        stdout.contains("not drawn: parity:")
            && stdout.contains("oof.csv: missing column `y_observed`"),
        "{stdout}"
    );
}

/// A Gaussian-process checkpoint reports through the same posterior as an ensemble: the
/// partial-dependence curves carry its epistemic std.
#[test]
fn a_gp_checkpoint_reports_its_posterior() {
    let f = Fixture::new(40);
    let out = f.train_gp();
    assert!(out.status.success(), "{}", text(&out).1);
    let out_dir = f.dir.path().join("report");
    let (stdout, _) = report(&[
        "--checkpoint",
        path(&f.ck),
        "--data",
        path(&f.spec),
        "--out",
        path(&out_dir),
    ]);
    assert!(
        !stdout.contains("not drawn: partial_dependence"),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(out_dir.join("figures/partial_dependence.svg")).unwrap();
    assert!(rendered_text(&svg) > 0);
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("Best recipe: simulated-1"),
        "the summary names the best recipe"
    );
}
