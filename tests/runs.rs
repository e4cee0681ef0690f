//! Logged-run readers: the three layouts, and refusals that name file, line and column.

use mixatlas::runs::{DataSpec, Runs};

use crate::util::{repo, write};

fn load(dir: &std::path::Path, spec: &str) -> Result<Runs, String> {
    let path = write(dir, "spec.toml", spec);
    DataSpec::from_file(&path)
        .and_then(|s| Runs::load(&s))
        .map_err(|e| e.to_string())
}

#[test]
fn reads_the_published_files_as_they_are() {
    let regmix =
        Runs::load(&DataSpec::from_file(&repo("configs/data/regmix-1m-train.toml")).unwrap())
            .unwrap();
    assert_eq!((regmix.len(), regmix.mixtures[0].len()), (512, 17));
    let olmix =
        Runs::load(&DataSpec::from_file(&repo("configs/data/olmix-dclm.toml")).unwrap()).unwrap();
    assert_eq!((olmix.len(), olmix.mixtures[0].len()), (127, 24));
    assert_eq!(
        olmix.schema.targets[0].mean_of.len(),
        110,
        "mean of the 110 BPB metrics"
    );
    for w in regmix.mixtures.iter().chain(&olmix.mixtures) {
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn wide_csv_and_jsonl_read_the_same_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "w.csv",
        "id,x,y,loss,size\nA,0.25,0.75,3.5,1e6\nB,1,0,2.5,2e6\n",
    );
    write(
        dir.path(),
        "w.jsonl",
        "{\"id\":\"A\",\"x\":0.25,\"y\":0.75,\"loss\":3.5,\"size\":1e6}\n\n{\"id\":\"B\",\"x\":1,\"y\":0,\"loss\":2.5,\"size\":2e6}\n",
    );
    let spec = |file: &str| {
        format!(
            "mixtures = \"{file}\"\nkey = \"id\"\nmixture_columns = [\"x\", \"y\"]\ncontext = [\"size\"]\n\
             [[targets]]\nname = \"loss\"\ndirection = \"lower\"\n"
        )
    };
    let csv = load(dir.path(), &spec("w.csv")).unwrap();
    let jsonl = load(dir.path(), &spec("w.jsonl")).unwrap();
    assert_eq!(csv, jsonl);
    assert_eq!(csv.keys, ["A", "B"]);
    assert_eq!(csv.context, [[1e6], [2e6]]);
    assert_eq!(csv.outcomes, [[3.5], [2.5]]);
}

#[test]
fn bad_input_is_refused_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "mixtures = \"m.csv\"\noutcomes = \"o.csv\"\nkey = \"k\"\nmixture_prefix = \"w_\"\n\
                [[targets]]\nname = \"loss\"\ndirection = \"lower\"\n";
    let ok_m = "k,w_a,w_b\n1,0.5,0.5\n2,0.2,0.8\n";
    let ok_o = "k,loss\n1,3.0\n2,2.0\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "k,w_a,w_b\n1,0.5,0.5\n2,-0.2,1.2\n",
            ok_o,
            "m.csv:3: column `w_a`: value `-0.2` is a negative",
        ),
        (
            "k,w_a,w_b\n1,0.5,0.5\n2,0.2,0.2\n",
            ok_o,
            "m.csv:3: mixture weights sum to 0.4",
        ),
        (
            "k,w_a,w_b\n1,0.5,0.5\n2,,1\n",
            ok_o,
            "m.csv:3: column `w_a`: value `` is empty",
        ),
        (
            "k,w_a,w_b\n1,0.5,0.5\n2,NaN,1\n",
            ok_o,
            "m.csv:3: column `w_a`: value `NaN` is not finite",
        ),
        (
            "k,w_a,w_b\n1,0.5,0.5\n2,x,1\n",
            ok_o,
            "m.csv:3: column `w_a`: value `x` is not a number",
        ),
        (
            ok_m,
            "k,loss\n1,3.0\n2,inf\n",
            "o.csv:3: column `loss`: value `inf` is not finite",
        ),
        (
            ok_m,
            "k,loss\n1,3.0\n1,2.0\n",
            "o.csv:3: key `1` already used on line 2",
        ),
        (ok_m, "k,loss\n1,3.0\n", "m.csv:3: key `2` has no row in"),
        (
            ok_m,
            "k,loss\n1,3.0\n2,2.0\n3,1.0\n",
            "o.csv:4: key `3` has no row in",
        ),
        (
            ok_m,
            "k,los\n1,3.0\n2,2.0\n",
            "o.csv: missing column `loss`",
        ),
        ("k,w_a,w_b\n1,0.5,0.5\n2,0.2\n", ok_o, "m.csv:3: "),
        // A blank line before a bad row does not shift the line named.
        (
            "k,w_a,w_b\n1,0.5,0.5\n\n2,x,1\n",
            ok_o,
            "m.csv:4: column `w_a`: value `x` is not a number",
        ),
    ];
    for (m, o, needle) in cases {
        write(dir.path(), "m.csv", m);
        write(dir.path(), "o.csv", o);
        let err = load(dir.path(), spec).unwrap_err();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    // Renormalisation on request.
    write(dir.path(), "m.csv", "k,w_a,w_b\n1,0.5,0.5\n2,0.2,0.2\n");
    write(dir.path(), "o.csv", ok_o);
    let runs = load(dir.path(), &format!("renormalize = true\n{spec}")).unwrap();
    assert_eq!(runs.mixtures[1], [0.5, 0.5]);
}

#[test]
fn space_columns_must_all_be_domains() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.toml",
        "name='s'\ncolumn_prefix='w_'\n[[domains]]\nname='a'\n[[domains]]\nname='b'\n",
    );
    write(dir.path(), "m.csv", "w_a,w_b,w_c,y\n0.5,0.5,0,1\n");
    let err = load(
        dir.path(),
        "space = \"s.toml\"\nmixtures = \"m.csv\"\n[[targets]]\nname = \"y\"\ndirection = \"higher\"\n",
    )
    .unwrap_err();
    assert!(
        err.contains("m.csv: column `w_c` has the mixture prefix but is not a domain"),
        "{err}"
    );
}

#[test]
fn malformed_jsonl_and_specs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = "[[targets]]\nname = \"y\"\ndirection = \"lower\"\n";
    write(
        dir.path(),
        "r.jsonl",
        "{\"a\":0.5,\"b\":0.5,\"y\":1}\n{\"a\":0.5,\"b\":\n",
    );
    let jsonl = format!("mixtures = \"r.jsonl\"\nmixture_columns = [\"a\", \"b\"]\n{target}");
    let err = load(dir.path(), &jsonl).unwrap_err();
    assert!(err.contains("r.jsonl:2: "), "{err}");
    write(dir.path(), "r.jsonl", "[1, 2]\n");
    let err = load(dir.path(), &jsonl).unwrap_err();
    assert!(
        err.contains("r.jsonl:1: expected a JSON object per line"),
        "{err}"
    );

    let specs = [
        (
            format!("mixtures = \"r.csv\"\n{target}"),
            "give exactly one of",
        ),
        (
            format!("mixtures = \"r.csv\"\noutcomes = \"o.csv\"\nmixture_prefix = \"w\"\n{target}"),
            "`key` is required",
        ),
        (
            format!("mixtures = \"r.csv\"\nmixture_prefix = \"w\"\ntolerance = -1\n{target}"),
            "`tolerance` must be",
        ),
        ("mixtures = 3\n".to_owned(), "spec.toml"),
    ];
    for (spec, needle) in specs {
        let err = load(dir.path(), &spec).unwrap_err();
        assert!(
            err.contains(needle) && err.contains("spec.toml"),
            "{err:?} lacks {needle:?}"
        );
    }
}

#[test]
fn targets_must_be_distinct_outcome_columns_and_a_byte_order_mark_is_not_data() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "r.csv",
        "\u{feff}a,b,y,z\n0.5,0.5,1,2\n0.2,0.8,2,3\n",
    );
    let base = "mixtures = \"r.csv\"\nmixture_columns = [\"a\", \"b\"]\n";
    let target = |name: &str, column: &str| {
        format!("[[targets]]\nname = \"{name}\"\ncolumn = \"{column}\"\ndirection = \"lower\"\n")
    };
    let runs = load(dir.path(), &format!("{base}{}", target("y", "y"))).unwrap();
    assert_eq!(
        runs.mixtures[0],
        [0.5, 0.5],
        "the BOM is stripped from the header"
    );
    let twice = format!("{base}{}{}", target("y", "y"), target("y", "z"));
    let err = load(dir.path(), &twice).unwrap_err();
    assert!(err.contains("r.csv: target `y`: defined twice"), "{err}");
    let mixture = format!("{base}{}", target("share", "a"));
    let err = load(dir.path(), &mixture).unwrap_err();
    assert!(
        err.contains("target `share`: reads a mixture, context or key column"),
        "{err}"
    );
}

#[test]
fn bytes_that_are_not_text_are_refused_naming_their_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.csv"),
        b"a,b,y\n0.5,0.5,1\n0.5,\xff0.5,2\n",
    )
    .unwrap();
    let spec = "mixtures = \"r.csv\"\nmixture_columns = [\"a\", \"b\"]\n[[targets]]\nname = \"y\"\ndirection = \"lower\"\n";
    let err = load(dir.path(), spec).unwrap_err();
    assert!(err.contains("r.csv:3: not valid UTF-8 text"), "{err}");
}

#[test]
fn candidates_stream_in_chunks_with_the_checks_of_a_whole_read() {
    use mixatlas::runs::{MixtureChunks, SchemaCheck};
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,a,b\n");
    for i in 0..10 {
        let a = f64::from(i) / 10.0;
        csv.push_str(&format!("k{i},{a},{}\n", 1.0 - a));
    }
    let file = write(dir.path(), "c.csv", &csv);
    let columns = vec!["a".to_owned(), "b".to_owned()];
    let spec = DataSpec::for_mixture_file(&file, columns.clone(), Some("id".into()));
    let whole =
        Runs::load_with_schema(&spec, &schema(&columns), SchemaCheck::MixturesOnly).unwrap();
    let chunks: Vec<Runs> = MixtureChunks::open(&spec, &schema(&columns), 3)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        chunks.iter().map(Runs::len).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    let keys: Vec<String> = chunks.iter().flat_map(|c| c.keys.clone()).collect();
    assert_eq!(keys, whole.keys);
    let mixtures: Vec<Vec<f64>> = chunks.iter().flat_map(|c| c.mixtures.clone()).collect();
    assert_eq!(mixtures, whole.mixtures);
    // A key repeated in a later chunk, and a bad cell there, name their own lines.
    write(dir.path(), "c.csv", &format!("{csv}k1,0.5,0.5\n"));
    let err = MixtureChunks::open(&spec, &schema(&columns), 3)
        .unwrap()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert!(
        err.contains("c.csv:12: key `k1` already used on line 3"),
        "{err}"
    );
    write(dir.path(), "c.csv", &format!("{csv}k10,x,0.5\n"));
    let err = MixtureChunks::open(&spec, &schema(&columns), 3)
        .unwrap()
        .find_map(Result::err)
        .unwrap()
        .to_string();
    assert!(
        err.contains("c.csv:12: column `a`: value `x` is not a number"),
        "{err}"
    );
}

/// A schema over mixture `columns` with no targets (candidates to score).
fn schema(columns: &[String]) -> mixatlas::runs::Schema {
    mixatlas::runs::Schema {
        space: mixatlas::space::Space::from_names("s", columns).unwrap(),
        mixture_columns: columns.to_vec(),
        context: Vec::new(),
        targets: Vec::new(),
    }
}

/// Fuzzing the readers: random byte edits (replace, insert, delete, truncate) of a valid data
/// file, data spec, space, constraints and campaign config load or are refused with an error
/// naming the file; none panics.
#[test]
fn malformed_files_are_refused_never_panic() {
    use mixatlas::campaign::CampaignConfig;
    use mixatlas::space::{Constraints, Space};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let space_text = "name = \"s\"\n[[domains]]\nname = \"a\"\ntokens = 1e9\n[[domains]]\nname = \"b\"\nmax = 0.8\n";
    let files: Vec<(&str, String)> = vec![
        ("r.csv", "run,a,b,y\nr1,0.5,0.5,1.0\nr2,0.2,0.8,2.0\nr3,0.9,0.1,1.5\n".into()),
        ("spec.toml", "mixtures = \"r.csv\"\nkey = \"run\"\nspace = \"space.toml\"\n[[targets]]\nname = \"y\"\ndirection = \"lower\"\n".into()),
        ("space.toml", space_text.into()),
        ("c.toml", "min = { a = 0.1 }\n[[group]]\ndomains = [\"a\", \"b\"]\nmax = 1.0\n[kl]\nprior = \"uniform\"\nmax = 2.0\n".into()),
        ("campaign.toml", "space = \"space.toml\"\ntargets = [{ name = \"y\", direction = \"higher\" }]\nmax_runs = 8\nbatch = 2\n[training]\nmembers = 2\n".into()),
    ];
    for (name, text) in &files {
        write(d, name, text);
    }
    let load = |name: &str| -> Result<(), String> {
        let path = d.join(name);
        let message = |e: &dyn std::fmt::Display| e.to_string();
        match name {
            "r.csv" | "spec.toml" => DataSpec::from_file(&d.join("spec.toml"))
                .and_then(|s| Runs::load(&s))
                .map(drop)
                .map_err(|e| message(&e)),
            "space.toml" => Space::from_file(&path).map(drop).map_err(|e| message(&e)),
            "c.toml" => {
                let space = Space::from_toml(space_text, &d.join("space.toml")).unwrap();
                (Constraints::load(&space, Some(&path), &[]).map(drop)).map_err(|e| message(&e))
            }
            _ => CampaignConfig::from_file(&path)
                .map(drop)
                .map_err(|e| message(&e)),
        }
    };
    for (name, _) in &files {
        load(name).unwrap_or_else(|e| panic!("{name} as written: {e}"));
    }
    let edit = (
        0..files.len(),
        0..4usize,
        any::<prop::sample::Index>(),
        any::<u8>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let refused = std::cell::Cell::new(0);
    runner
        .run(&edit, |(f, kind, at, byte)| {
            let (name, text) = &files[f];
            let mut bytes = text.clone().into_bytes();
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
            std::fs::write(d.join(name), &bytes).unwrap();
            let result = load(name);
            std::fs::write(d.join(name), text).unwrap();
            if let Err(message) = result {
                refused.set(refused.get() + 1);
                // Every refusal names a file: the edited one or one it refers to.
                let named = message.contains(d.to_str().unwrap());
                prop_assert!(named, "{} edited: {} names no file", name, message);
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "malformed files: 512 edits, {} refused, none panicked",
        refused.get()
    );
}

#[test]
fn tables_past_the_column_limit_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut header: Vec<String> = (0..(1usize << 20)).map(|i| format!("c{i}")).collect();
    header.extend(["a".into(), "b".into(), "y".into()]);
    write(dir.path(), "wide.csv", &format!("{}\n", header.join(",")));
    let spec = "mixtures = \"wide.csv\"\nmixture_columns = [\"a\", \"b\"]\n[[targets]]\nname = \"y\"\ndirection = \"lower\"\n";
    let err = load(dir.path(), spec).unwrap_err();
    assert!(err.contains("wide.csv: more than 1048576 columns"), "{err}");
}
