//! What mixatlas promises about files (docs/guarantees.md), each promise tried the way it can
//! break: campaigns that never take over a folder, kills at every write point of a round, a
//! long campaign killed at random points, memory that stays flat on a large `predict`, and
//! numbers that are refused instead of silently rescaled.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::campaign::ids as journal_ids;
use crate::util::{
    Fixture, campaign_config, expect_error, mixatlas, path, repo, text, world_evaluator, write,
};

/// Every file under `dir` with its contents, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn start_campaign(config: &Path, campaign: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "loop",
        "--config",
        path(config),
        "--campaign",
        path(campaign),
    ];
    args.push("--propose-only");
    args.extend_from_slice(extra);
    mixatlas(&args)
}

#[test]
fn a_new_campaign_never_takes_over_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inputs = d.join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let cfg = campaign_config(&inputs, "false", "");
    let before = snapshot(d);
    // The inputs' directory and its parent hold the config: never a campaign, even forced.
    for target in [&inputs, &d.to_path_buf()] {
        for force in [&[][..], &["--force"][..]] {
            expect_error(
                start_campaign(&cfg, target, force),
                "an input of this command",
            );
        }
    }
    // Another tool's output: refused, and with --force refused as not a campaign.
    let other = d.join("other");
    std::fs::create_dir(&other).unwrap();
    write(&other, "state.json", "{\"theirs\": true}");
    write(&other, "final.json", "precious");
    let before_other = snapshot(&other);
    expect_error(start_campaign(&cfg, &other, &[]), "exists and is not empty");
    expect_error(
        start_campaign(&cfg, &other, &["--force"]),
        "is not a campaign mixatlas created",
    );
    assert_eq!(
        snapshot(&other),
        before_other,
        "a refused start changes nothing"
    );
    assert_eq!(
        snapshot(&inputs),
        before
            .iter()
            .filter(|f| f.0.starts_with(&inputs))
            .cloned()
            .collect::<Vec<_>>()
    );
    // An empty directory is taken; a second start there needs --resume or --force.
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = start_campaign(&cfg, &empty, &[]);
    assert!(out.status.success(), "{}", text(&out).1);
    expect_error(
        start_campaign(&cfg, &empty, &[]),
        "holds a campaign already: pass --resume to continue it, or --force",
    );
    let journal = std::fs::read_to_string(empty.join("journal.jsonl")).unwrap();
    let out = start_campaign(&cfg, &empty, &["--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let replaced = std::fs::read_to_string(empty.join("journal.jsonl")).unwrap();
    assert_eq!(replaced.lines().count(), 1, "a fresh campaign: {replaced}");
    assert_eq!(
        replaced, journal,
        "same config, same seed, same first round"
    );
    // A missing directory is created; a file is not a directory.
    let out = start_campaign(&cfg, &d.join("new/deeper"), &[]);
    assert!(out.status.success(), "{}", text(&out).1);
    let file = write(d, "a-file", "x");
    expect_error(start_campaign(&cfg, &file, &["--force"]), "is a file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    // `.` when it is empty: the campaign is written into it, not renamed over it.
    let here = d.join("here");
    std::fs::create_dir(&here).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mixatlas"))
        .args([
            "loop",
            "--config",
            path(&cfg),
            "--campaign",
            ".",
            "--propose-only",
        ])
        .current_dir(&here)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(here.join("campaign.toml").is_file() && here.join("journal.jsonl").is_file());
    // A mistyped --resume writes nothing into the folder it names.
    let before_other = snapshot(&other);
    expect_error(
        mixatlas(&["loop", "--campaign", path(&other), "--resume"]),
        "holds no campaign",
    );
    assert_eq!(snapshot(&other), before_other);
    // A strategy the surrogate cannot serve is refused before the folder is touched.
    let kb = campaign_config(&inputs, "false", "batch_method = \"kriging-believer\"");
    expect_error(
        start_campaign(&kb, &d.join("kb"), &[]),
        "kriging believer conditions a Gaussian process",
    );
    assert!(!d.join("kb").exists());
}

/// A small two-stage GP campaign whose evaluator is the simulated world, appending the ids it
/// measured to `evaluated.log` in the campaign directory once its results are written.
fn kill_config(d: &Path, max_runs: usize, batch: usize, initial: usize) -> PathBuf {
    let world = world_evaluator(0.0);
    let evaluator = format!(
        "{world} && grep -o '\"run_id\": *\"[^\"]*\"' {{proposals}} | cut -d'\"' -f4 >> \
         \"$(dirname {{results}})/../../evaluated.log\""
    );
    let text = format!(
        "space = '{}'\nevaluator = \"{}\"\ntargets = [\n  {{ name = \"doc_reasoning\", direction = \
         \"higher\" }},\n  {{ name = \"visual_reasoning\", direction = \"higher\" }},\n]\n\
         signals = [\"doc_reasoning\"]\nstages = 2\nmax_runs = {max_runs}\nbatch = {batch}\n\
         initial_runs = {initial}\nsamples = 1000\nseed = 5\nsurrogate = \"gp\"\n[gp]\nstarts = 2\n",
        repo("configs/spaces/mixatlas-multimodal.toml").display(),
        evaluator.replace('\\', "\\\\").replace('"', "\\\""),
    );
    write(d, "kill.toml", &text)
}

/// Runs `loop` on `campaign` (created from `config` when given), killed by the crash hook at
/// its `crash_at`-th write point when set. Returns whether it was killed.
fn run_loop(campaign: &Path, config: Option<&Path>, crash_at: Option<usize>) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mixatlas"));
    cmd.args(["loop", "--campaign", path(campaign)]);
    match config {
        Some(c) => cmd.args(["--config", path(c)]),
        None => cmd.arg("--resume"),
    };
    if let Some(k) = crash_at {
        cmd.env("MIXATLAS_CRASH_AT", k.to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = cmd.stdout(Stdio::null()).output().unwrap();
        if out.status.signal() == Some(libc::SIGKILL) {
            return true;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // An evaluator left running by the killed loop holds the campaign until it ends.
        if stderr.contains("is in use by") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert!(
            out.status.success(),
            "loop (config: {}, crash at {crash_at:?}) failed: {stderr}",
            config.is_some()
        );
        return false;
    }
}

/// Continues the campaign in `campaign`, or starts it from `config` when a kill stopped its
/// creation before the directory appeared (created whole or not at all).
fn resume(campaign: &Path, config: &Path, crash_at: Option<usize>) -> bool {
    let created = campaign.join("campaign.toml").exists();
    run_loop(campaign, (!created).then_some(config), crash_at)
}

fn final_schedule(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("final.json")).unwrap()).unwrap()
}

/// The campaign in `killed` ended where `reference` did, each run proposed, measured and
/// evaluated exactly once.
fn assert_same_campaign(killed: &Path, reference: &Path, runs: usize) {
    assert_eq!(final_schedule(killed), final_schedule(reference));
    let (proposed, measured) = journal_ids(killed);
    assert_eq!((proposed.len(), measured.len()), (runs, runs));
    assert_eq!(journal_ids(killed), journal_ids(reference));
    let mut evaluated: Vec<String> = std::fs::read_to_string(killed.join("evaluated.log"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    evaluated.sort();
    let mut want = proposed.clone();
    want.sort();
    assert_eq!(evaluated, want, "every run evaluated exactly once");
}

#[test]
#[ignore = "slow tier: runs a campaign once per write point"]
fn a_kill_at_every_write_point_resumes_to_the_same_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = kill_config(d, 8, 2, 2);
    let reference = d.join("reference");
    assert!(!run_loop(&reference, Some(&cfg), None));
    let mut points = 0;
    for k in 1.. {
        let killed = d.join(format!("killed-{k}"));
        if !run_loop(&killed, Some(&cfg), Some(k)) {
            points = k - 1;
            std::fs::remove_dir_all(&killed).unwrap();
            break;
        }
        assert!(!resume(&killed, &cfg, None), "a resume without faults ends");
        assert_same_campaign(&killed, &reference, 8);
        std::fs::remove_dir_all(&killed).unwrap();
    }
    assert!(
        points > 40,
        "only {points} write points: is the hook armed?"
    );
    eprintln!("killed at each of {points} write points; every resume matched");
}

#[test]
#[ignore = "slow tier: a 200-run campaign killed 50 times"]
fn soak_a_long_campaign_killed_at_random_points() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = kill_config(d, 200, 8, 16);
    let start = Instant::now();
    let reference = d.join("reference");
    assert!(!run_loop(&reference, Some(&cfg), None));
    let uninterrupted = start.elapsed();
    let killed = d.join("killed");
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    let mut kills = 0;
    while kills < 50 {
        let at = rng.random_range(1..=12);
        if !resume(&killed, &cfg, Some(at)) {
            break;
        }
        kills += 1;
    }
    assert_eq!(kills, 50, "the campaign ended before 50 kills");
    assert!(!resume(&killed, &cfg, None));
    assert_same_campaign(&killed, &reference, 200);
    eprintln!(
        "200 runs: uninterrupted {:.1} s; killed 50 times and resumed {:.1} s",
        uninterrupted.as_secs_f64(),
        (start.elapsed() - uninterrupted).as_secs_f64()
    );
}

/// Peak resident memory (bytes) and wall time of `cmd` run to completion.
fn peak_rss(cmd: &mut Command) -> (u64, Duration, std::process::ExitStatus) {
    let start = Instant::now();
    // Reaped by wait4 below, which also reports its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: wait4 writes into the two locals; the child is ours and not waited for elsewhere.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let status = std::process::ExitStatus::from_raw(status);
    (usage.ru_maxrss as u64 * 1024, start.elapsed(), status)
}

#[test]
#[ignore = "slow tier: writes and scores a 1.2 GB candidate file"]
fn predict_memory_stays_flat_on_a_large_file() {
    use std::io::Write;
    let f = Fixture::new(30);
    assert!(f.train_gp().status.success());
    let input = f.dir.path().join("big.csv");
    let rows: u64 = 40_000_000;
    let mut w = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    writeln!(w, "run,a,b,c").unwrap();
    for i in 0..rows {
        let a = (i % 997) as f64 / 2000.0;
        let b = (i % 389) as f64 / 1000.0;
        writeln!(w, "r{i},{a:.4},{b:.4},{:.4}", 1.0 - a - b).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let bytes = std::fs::metadata(&input).unwrap().len();
    let (rss, time, status) = peak_rss(
        Command::new(env!("CARGO_BIN_EXE_mixatlas"))
            .args(["predict", "--checkpoint", path(&f.ck), "--input"])
            .args([path(&input), "--key", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(status.success());
    eprintln!(
        "predict on {:.2} GB ({rows} rows): peak RSS {} MB, {:.0} ns per row",
        bytes as f64 / 1e9,
        rss >> 20,
        time.as_nanos() as f64 / rows as f64
    );
    assert!(bytes > 1_100_000_000, "the file is {bytes} bytes");
    assert!(rss < 512 << 20, "peak RSS {} MB", rss >> 20);
    // A repeated key far apart is still found, named by both lines.
    let mut a = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    writeln!(a, "r17,0.2,0.3,0.5").unwrap();
    drop(a);
    let out = Command::new(env!("CARGO_BIN_EXE_mixatlas"))
        .args(["predict", "--checkpoint", path(&f.ck), "--input"])
        .args([path(&input), "--key", "run"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let needle = format!("big.csv:{}: key `r17` already used on line 19", rows + 2);
    expect_error(out, &needle);
}

/// Rewrites a checkpoint's payload and the manifest's sha256, as a hand edit that recomputes
/// the digest does.
fn edit_with_digest(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    use sha2::Digest;
    let p = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v["payload"]);
    let text = serde_json::to_vec(&v).unwrap();
    std::fs::write(&p, &text).unwrap();
    let digest = format!("{:x}", sha2::Sha256::digest(&text));
    std::fs::write(dir.join("manifest.sha256"), digest).unwrap();
}

#[test]
fn inconsistent_numbers_are_refused_naming_file_and_field() {
    let f = Fixture::new(30);
    let d = f.dir.path();
    assert!(f.train_gp().status.success());
    let predict = |ck: &Path| {
        mixatlas(&[
            "predict",
            "--checkpoint",
            path(ck),
            "--input",
            path(&d.join("runs.csv")),
        ])
    };
    assert!(predict(&f.ck).status.success());
    // A GP with negative noise (digest recomputed) predicts NaN std: refused on load.
    edit_with_digest(&f.ck, |v| v["noise"][0] = serde_json::json!(-0.1));
    expect_error(predict(&f.ck), "manifest.json: field `noise[0]` = -0.1");
    edit_with_digest(&f.ck, |v| {
        v["noise"][0] = serde_json::json!(0.1);
        v["targets"][0]["lengthscales"][1] = serde_json::json!(-2.0);
    });
    expect_error(predict(&f.ck), "field `targets[0].lengthscales[1]` = -2");
    let law = d.join("law");
    let spec = path(&f.spec);
    let out = mixatlas(&[
        "train",
        "--data",
        spec,
        "--out",
        path(&law),
        "--surrogate",
        "loglinear",
    ]);
    assert!(out.status.success(), "{}", text(&out).1);
    edit_with_digest(&law, |v| v["noise"][0] = serde_json::json!(-1.0));
    expect_error(predict(&law), "manifest.json: field `noise[0]` = -1");

    // Training settings out of range name the field, not a symptom.
    let cfg = write(d, "wd.toml", "weight_decay = 1e300\n");
    expect_error(
        mixatlas(&[
            "train",
            "--data",
            spec,
            "--out",
            path(&d.join("x")),
            "--config",
            path(&cfg),
        ]),
        "`weight_decay` must lie in [0, 100]",
    );
    // An empty domain name.
    let space = write(
        d,
        "space.toml",
        "name = \"s\"\n[[domains]]\nname = \"\"\n[[domains]]\nname = \"b\"\n",
    );
    let cfg = campaign_config(d, "false", "")
        .to_string_lossy()
        .into_owned();
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    let first_line_end = text_cfg.find('\n').unwrap();
    let with_space = format!(
        "space = '{}'{}",
        space.display(),
        &text_cfg[first_line_end..]
    );
    let bad = write(d, "empty-domain.toml", &with_space);
    expect_error(
        start_campaign(&bad, &d.join("c1"), &[]),
        "domains[0]: field `name` is empty",
    );
    // initial_runs = 0 names the file and the field.
    let zero = write(
        d,
        "zero.toml",
        &text_cfg.replace("initial_runs = 8", "initial_runs = 0"),
    );
    expect_error(
        start_campaign(&zero, &d.join("c2"), &[]),
        "zero.toml: `initial_runs` must be at least 1",
    );
    assert!(!d.join("c1").exists() && !d.join("c2").exists());

    // Reuse weights typed by hand must sum to 1.
    write(
        d,
        "full.toml",
        "name = \"full\"\n[[domains]]\nname = \"a\"\n[[domains]]\nname = \"b\"\n[[domains]]\nname = \"c\"\n",
    );
    for (weights, sum) in [("a = 0.8, b = 0.4", "1.2"), ("a = 0.05, b = 0.05", "0.1")] {
        let reuse = write(
            d,
            "reuse.toml",
            &format!(
                "space = \"full.toml\"\n[[virtual]]\nname = \"old\"\nweights = {{ {weights} }}\n"
            ),
        );
        let out = mixatlas(&[
            "reuse",
            "--reuse",
            path(&reuse),
            "--data",
            spec,
            "--out",
            path(&d.join("r")),
        ]);
        expect_error(
            out,
            &format!("reuse.toml: virtual[0].weights: the inner weights sum to {sum}"),
        );
    }
}

#[test]
fn unbounded_and_deeply_nested_inputs_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let start = Instant::now();
    let out = mixatlas(&[
        "export",
        "--recipe",
        "/dev/zero",
        "--format",
        "json",
        "--output",
        path(&d.join("x")),
    ]);
    expect_error(out, "/dev/zero");
    let nested = format!("swarm: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let fit = write(d, "fit.yaml", &nested);
    expect_error(
        mixatlas(&["import", "olmix", path(&fit), "--out", path(&d.join("o"))]),
        "fit.yaml: line 1: brackets nested deeper than 64 levels",
    );
    // Refused, not parsed: well under the 30 s the parser took.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn wandb_imports_skip_diverged_runs_and_refuse_negative_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Python's json module (which wandb writes summaries with) spells non-finite floats as
    // bare NaN and Infinity.
    let mut dirs = Vec::new();
    for (i, loss) in ["2.5", "NaN", "Infinity", "2.25"].iter().enumerate() {
        let files = d.join(format!("run-2026-abc{i:03}/files"));
        std::fs::create_dir_all(&files).unwrap();
        let (web, code) = (0.2 + 0.1 * i as f64, 0.8 - 0.1 * i as f64);
        write(
            &files,
            "config.yaml",
            &format!("data:\n  value:\n    mix:\n      web: {web}\n      code: {code}\n"),
        );
        write(
            &files,
            "wandb-summary.json",
            &format!("{{\"eval/loss\": {loss}, \"_step\": 1000, \"note\": \"NaN\"}}"),
        );
        dirs.push(files.parent().unwrap().to_owned());
    }
    let mut args = vec!["import", "wandb"];
    args.extend(dirs.iter().map(|p| path(p)));
    let out_dir = d.join("runs");
    args.extend([
        "--mixture",
        "data.mix.*",
        "--target",
        "eval/loss",
        "--out",
        path(&out_dir),
    ]);
    let out = mixatlas(&args);
    assert!(out.status.success(), "{}", text(&out).1);
    let stdout = text(&out).0;
    assert!(stdout.contains("2 runs over 2 domains"), "{stdout}");
    assert!(
        stdout.contains("skipped 2 run(s) without a finite `eval/loss`"),
        "{stdout}"
    );
    let export = write(
        d,
        "export.csv",
        "Name,State,mix.web,mix.code,eval/loss\nfirst,finished,0.5,0.5,2.5\nsecond,finished,-0.3,1.0,2.4\n",
    );
    expect_error(
        mixatlas(&[
            "import",
            "wandb",
            path(&export),
            "--mixture",
            "mix.*",
            "--target",
            "eval/loss",
            "--out",
            path(&d.join("x")),
        ]),
        "export.csv: field `mix.web`: run `second` (line 3) has weight -0.3",
    );
    assert!(!d.join("x").exists());
}
