//! The ensemble: determinism, checkpoints, the safetensors export, batching, uncertainty.

use mixatlas::burn::backend::Flex;
use mixatlas::burn::module::Param;
use mixatlas::burn::prelude::*;
use mixatlas::io::Overwrite;
use mixatlas::runs::{DataSpec, Runs};
use mixatlas::surrogate::ensemble::checkpoint;
use mixatlas::surrogate::{Activation, EnsembleConfig, EnsembleMlp, Fitted, Predictor, fit};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::util::{Backend, fast_config, synthetic};

fn synthetic_runs(n: usize) -> (tempfile::TempDir, Runs) {
    let dir = tempfile::tempdir().unwrap();
    let spec = synthetic(dir.path(), n);
    let runs = Runs::load(&DataSpec::from_file(&spec).unwrap()).unwrap();
    (dir, runs)
}

fn train(runs: &Runs, config: &EnsembleConfig, seed: u64) -> Predictor<Flex> {
    fit::<Backend>(runs, config, seed, &Default::default(), &mut ()).unwrap()
}

#[test]
fn same_seed_same_predictions() {
    let (_dir, runs) = synthetic_runs(60);
    let a = train(&runs, &fast_config(), 7)
        .predict(&runs.mixtures, &runs.context)
        .unwrap();
    let b = train(&runs, &fast_config(), 7)
        .predict(&runs.mixtures, &runs.context)
        .unwrap();
    let c = train(&runs, &fast_config(), 8)
        .predict(&runs.mixtures, &runs.context)
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a.mean, c.mean);
}

#[test]
fn checkpoint_round_trip_predicts_identically() {
    let (dir, runs) = synthetic_runs(60);
    let p = train(&runs, &fast_config(), 1);
    let ck = dir.path().join("ck");
    checkpoint::save(&p, &ck, Overwrite::Refuse).unwrap();
    let q = checkpoint::load::<Flex>(&ck, &Default::default()).unwrap();
    assert_eq!(q.meta, p.meta);
    assert_eq!(
        q.predict(&runs.mixtures, &runs.context).unwrap(),
        p.predict(&runs.mixtures, &runs.context).unwrap()
    );
    let err = checkpoint::save(&p, &ck, Overwrite::Refuse)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exists already"), "{err}");
}

/// Re-implements the documented safetensors recipe with plain f64 loops: what a NumPy user
/// would write.
#[test]
fn safetensors_export_reproduces_predictions() {
    let (dir, runs) = synthetic_runs(60);
    let p = train(&runs, &fast_config(), 2);
    let ck = dir.path().join("ck");
    checkpoint::save(&p, &ck, Overwrite::Refuse).unwrap();
    let tensors = checkpoint::read_safetensors(&ck).unwrap();
    let get = |name: &str| {
        tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is exported"))
            .clone()
    };
    let values = |name: &str| get(name).values;
    let in_mean = values("input_mean");
    let in_std = values("input_std");
    let t_mean = values("target_mean");
    let t_std = values("target_std");
    let layers = p.meta.config.hidden.len() + 1;
    let expected = p.predict(&runs.mixtures, &runs.context).unwrap();
    for (i, w) in runs.mixtures.iter().enumerate() {
        // sqrt-linear transform: sqrt of every weight, then every weight.
        let raw: Vec<f64> = w
            .iter()
            .map(|x| x.sqrt())
            .chain(w.iter().copied())
            .collect();
        let x: Vec<f64> = raw
            .iter()
            .enumerate()
            .map(|(j, v)| (v - in_mean[j]) / in_std[j])
            .collect();
        let mut member_means = Vec::new();
        for m in 0..p.meta.config.members {
            let mut h = x.clone();
            for l in 0..layers {
                let w = get(&format!("layers.{l}.weight"));
                let bv = values(&format!("layers.{l}.bias"));
                let (fan_in, fan_out, wv) = (w.shape[1], w.shape[2], w.values);
                let mut next = vec![0.0; fan_out];
                for (o, out) in next.iter_mut().enumerate() {
                    *out = bv[m * fan_out + o]
                        + (0..fan_in)
                            .map(|k| h[k] * wv[(m * fan_in + k) * fan_out + o])
                            .sum::<f64>();
                    if l + 1 < layers {
                        *out /= 1.0 + (-*out).exp(); // silu
                    }
                }
                h = next;
            }
            member_means.push(h[0] * t_std[0] + t_mean[0]);
        }
        let mean = member_means.iter().sum::<f64>() / member_means.len() as f64;
        // f32 weights against f64 loops: agree to float precision.
        assert!(
            (mean - expected.mean[i]).abs() < 1e-4,
            "row {i}: {mean} vs {}",
            expected.mean[i]
        );
    }
}

#[test]
fn corrupted_truncated_or_mismatched_checkpoints_are_refused() {
    let (dir, runs) = synthetic_runs(40);
    let p = train(&runs, &fast_config(), 3);
    let ck = dir.path().join("ck");
    let load = || {
        checkpoint::load::<Flex>(&ck, &Default::default())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };

    checkpoint::save(&p, &ck, Overwrite::Replace).unwrap();
    let record = ck.join(checkpoint::RECORD);
    let mut bytes = std::fs::read(&record).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&record, &bytes).unwrap();
    assert!(load().contains("sha256 differs"), "{}", load());

    checkpoint::save(&p, &ck, Overwrite::Replace).unwrap();
    let bytes = std::fs::read(&record).unwrap();
    std::fs::write(&record, &bytes[..bytes.len() - 10]).unwrap();
    assert!(load().contains("truncated"), "{}", load());

    // The safetensors export is verified too, though scoring reads the record.
    checkpoint::save(&p, &ck, Overwrite::Replace).unwrap();
    let tensors = ck.join(checkpoint::SAFETENSORS);
    let mut bytes = std::fs::read(&tensors).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&tensors, &bytes).unwrap();
    assert!(
        load().contains("model.safetensors: sha256 differs"),
        "{}",
        load()
    );

    // Any edit of the manifest breaks its digest.
    checkpoint::save(&p, &ck, Overwrite::Replace).unwrap();
    let manifest = ck.join(checkpoint::MANIFEST);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("\"y\"", "\"z\"", 1)).unwrap();
    assert!(load().contains("edited or corrupted"), "{}", load());

    // Without its digest the manifest is refused too (only 0.1 checkpoints may lack one).
    std::fs::remove_file(ck.join(checkpoint::MANIFEST_DIGEST)).unwrap();
    assert!(load().contains("no sha256 beside it"), "{}", load());
    // A hand edit with the digest recomputed: the contents are checked.
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(Edit, &str); 4] = [
        (|d| d["payload"]["widths"][0] = 7.into(), "disagree"),
        (
            |d| d["payload"]["noise_var"][0] = (-1.0).into(),
            "`noise_var` must be",
        ),
        (
            |d| d["payload"]["input_norm"]["std"][0] = 0.0.into(),
            "`input_norm.std` must be finite and positive",
        ),
        (|d| d["version"] = 9.into(), "this mixatlas reads 1"),
    ];
    for (edit, needle) in edits {
        let mut edited = doc.clone();
        edit(&mut edited);
        let bytes = serde_json::to_vec(&edited).unwrap();
        std::fs::write(&manifest, &bytes).unwrap();
        use sha2::Digest;
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        std::fs::write(ck.join(checkpoint::MANIFEST_DIGEST), sha).unwrap();
        assert!(load().contains(needle), "{needle}: {}", load());
    }
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
    assert!(load().contains("unreadable manifest"), "{}", load());

    // Weights that are not finite (saved as they are, digests and all) are refused on load.
    let mut broken = p.clone();
    broken.model.weights[0] =
        Param::from_tensor(broken.model.weights[0].val().mul_scalar(f32::NAN));
    checkpoint::save(&broken, &ck, Overwrite::Replace).unwrap();
    assert!(
        load().contains("layer 0: a weight or bias is not finite"),
        "{}",
        load()
    );

    std::fs::remove_file(&manifest).unwrap();
    assert!(load().contains("manifest.json"), "{}", load());
}

fn random_model(members: usize, widths: &[usize]) -> EnsembleMlp<Flex> {
    EnsembleMlp::init(
        members,
        widths,
        &mut StdRng::seed_from_u64(9),
        &Default::default(),
    )
}

/// The batched computation equals M separate 2-D MLPs built from the member slices.
#[test]
fn batched_ensemble_equals_separate_mlps() {
    let device = Default::default();
    let model = random_model(3, &[5, 7, 6, 2]);
    let x = Tensor::<Flex, 2>::random([11, 5], mixtures_distribution(), &device);
    let batched = model.forward_shared(x.clone(), Activation::Gelu);
    for m in 0..3 {
        let mut h = x.clone();
        for (l, (w, b)) in model.weights.iter().zip(&model.biases).enumerate() {
            let [_, fi, fo] = w.dims();
            let wm: Tensor<Flex, 2> = w.val().slice([m..m + 1, 0..fi, 0..fo]).reshape([fi, fo]);
            let bm: Tensor<Flex, 2> = b.val().slice([m..m + 1, 0..1, 0..fo]).reshape([1, fo]);
            h = h.matmul(wm) + bm;
            if l + 1 < model.weights.len() {
                h = mixatlas::burn::tensor::activation::gelu(h);
            }
        }
        let single: Vec<f32> = h.into_data().to_vec().unwrap();
        let from_batch: Vec<f32> = batched
            .clone()
            .slice([m..m + 1, 0..11, 0..2])
            .into_data()
            .to_vec()
            .unwrap();
        for (a, b) in single.iter().zip(&from_batch) {
            assert!((a - b).abs() < 1e-5, "member {m}: {a} vs {b}");
        }
    }
}

fn mixtures_distribution() -> mixatlas::burn::tensor::Distribution {
    mixatlas::burn::tensor::Distribution::Uniform(-1.0, 1.0)
}

#[test]
fn identical_members_have_zero_epistemic_variance() {
    let (_dir, runs) = synthetic_runs(40);
    let mut p = train(&runs, &fast_config(), 4);
    let m = p.model.members();
    let copy_first = |t: Tensor<Flex, 3>| {
        let [_, a, b] = t.dims();
        Param::from_tensor(t.slice([0..1, 0..a, 0..b]).repeat_dim(0, m))
    };
    p.model.weights = p
        .model
        .weights
        .iter()
        .map(|w| copy_first(w.val()))
        .collect();
    p.model.biases = p.model.biases.iter().map(|b| copy_first(b.val())).collect();
    let pred = p.predict(&runs.mixtures, &runs.context).unwrap();
    for i in 0..runs.len() {
        let (e, a, t) = (
            pred.epistemic_std(i, 0),
            pred.aleatoric_std(i, 0),
            pred.total_std(i, 0),
        );
        assert!(e.abs() < 1e-9, "{e}");
        assert!((a - t).abs() < 1e-9);
    }
    // Every member now is the first one: the ensemble mean is that member's prediction.
    let features = p.meta.features(&runs.mixtures, &runs.context).unwrap();
    let (means, _) = p.member_outputs(&features);
    for (i, mean) in pred.mean.iter().enumerate() {
        // Member 0's row i of one target: `[M, n, 1]` flat.
        assert!((mean - means[i]).abs() < 1e-9);
    }
}

#[test]
fn heteroscedastic_members_split_the_variance() {
    let (_dir, runs) = synthetic_runs(80);
    let config = EnsembleConfig {
        heteroscedastic: true,
        ..fast_config()
    };
    let p = train(&runs, &config, 5);
    let pred = p.predict(&runs.mixtures, &runs.context).unwrap();
    let alea: Vec<f64> = (0..runs.len()).map(|i| pred.aleatoric_std(i, 0)).collect();
    assert!(alea.iter().all(|&a| a > 0.0));
    assert!(
        alea.iter().any(|&a| (a - alea[0]).abs() > 1e-9),
        "aleatoric std varies by row"
    );
    for i in 0..runs.len() {
        let (e, a, t) = (
            pred.epistemic_std(i, 0),
            pred.aleatoric_std(i, 0),
            pred.total_std(i, 0),
        );
        // Recomputed from the raw member outputs: aleatoric = mean member variance,
        // epistemic = population variance of the member means.
        let features = p
            .meta
            .features(&runs.mixtures[i..=i], &runs.context[i..=i])
            .unwrap();
        let (means, vars) = p.member_outputs(&features);
        let vars = vars.expect("heteroscedastic members predict a variance");
        // One row, one target: `[M, 1, 1]` flat.
        let m = means.len() as f64;
        let mean = means.iter().sum::<f64>() / m;
        let epi = means.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m;
        let alea = vars.iter().sum::<f64>() / m;
        assert!((pred.mean[i] - mean).abs() < 1e-9);
        assert!(
            (e * e - epi).abs() < 1e-9 * (1.0 + epi),
            "{e} vs {}",
            epi.sqrt()
        );
        assert!(
            (a * a - alea).abs() < 1e-9 * (1.0 + alea),
            "{a} vs {}",
            alea.sqrt()
        );
        assert!(t > e && t > a, "noise and model uncertainty add up");
        assert!(e > 0.0, "independent members disagree somewhere");
    }
}

#[test]
fn invalid_configs_are_refused() {
    for text in [
        "members = 0",
        "validation_fraction = 0.9",
        "learning_rate = -1",
        "hidden = [0]",
        "membres = 3",
        // Sizes that would abort on allocation instead of refusing.
        "members = 1000000000",
        "hidden = [100000, 100000]",
        "members = 1024\nhidden = [16384, 16384]",
        // Typos inside a table are refused like those at the top level.
        "[input_transform]\nkind = \"log\"\nesp = 0.01",
        "[input_transform]\nkind = \"sqrt\"\neps = 0.01",
    ] {
        let err = EnsembleConfig::from_toml(text).err();
        assert!(err.is_some(), "{text} accepted");
    }
    let err = EnsembleConfig::from_toml("members = 5000")
        .unwrap_err()
        .to_string();
    assert!(err.contains("limit of 1024"), "{err}");
    let ok =
        EnsembleConfig::from_toml("members = 3\n[input_transform]\nkind = \"log\"\neps = 0.01")
            .unwrap();
    assert_eq!(ok.members, 3);
}

/// Checkpoints written by mixatlas 0.1 (`tests/fixtures/v0.1-checkpoints`, three layouts) load
/// and predict what 0.1 predicted; written again, they take the envelope and predict the same.
#[test]
fn checkpoints_of_every_0_1_layout_still_load() {
    let fixtures = crate::util::repo("tests/fixtures/v0.1-checkpoints");
    let runs = Runs::load(&DataSpec::from_file(&fixtures.join("data.toml")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in ["ensemble", "gp", "loglinear"] {
        let old = Fitted::<Flex>::load(&fixtures.join(kind), &Default::default()).unwrap();
        let predicted = old.predict(&runs.mixtures, &runs.context).unwrap();
        // The predictions 0.1 wrote with `mixatlas predict` (key, then per target mean,
        // epistemic, aleatoric and total std).
        let csv =
            std::fs::read_to_string(fixtures.join(format!("{kind}-predictions.csv"))).unwrap();
        for (i, line) in csv.lines().skip(1).enumerate() {
            let cells: Vec<f64> = line
                .split(',')
                .skip(1)
                .map(|c| c.parse().unwrap())
                .collect();
            for t in 0..2 {
                let (mean, epistemic) = (cells[4 * t], cells[4 * t + 1]);
                let tol = 1e-6 * (1.0 + mean.abs());
                assert!(
                    (predicted.mean_at(i, t) - mean).abs() < tol,
                    "{kind} row {i}"
                );
                assert!(
                    (predicted.epistemic_std(i, t) - epistemic).abs() < tol,
                    "{kind} row {i}"
                );
            }
        }
        let new = dir.path().join(kind);
        old.save(&new, Overwrite::Refuse).unwrap();
        let manifest = std::fs::read_to_string(new.join("manifest.json")).unwrap();
        assert!(
            manifest.contains("\"format\": \"mixatlas-surrogate\""),
            "{manifest}"
        );
        let again = Fitted::<Flex>::load(&new, &Default::default()).unwrap();
        assert_eq!(again.kind(), old.kind());
        assert_eq!(
            again.predict(&runs.mixtures, &runs.context).unwrap(),
            predicted
        );
    }
}

/// Runs whose outcomes carry Gaussian noise of a known sd: the reported aleatoric std is that
/// noise, not folded into the epistemic std (40 runs, as a first small swarm has).
#[test]
fn known_noise_is_reported_as_aleatoric() {
    use mixatlas::runs::{Direction, TargetSpec};
    use mixatlas::space::Space;
    use mixatlas::surrogate::select::AutoConfig;
    use mixatlas::surrogate::{SurrogateKind, SurrogateSpec};
    use rand::Rng;
    use rand_distr::{Distribution, Normal};
    const SD: f64 = 0.02;
    let mut rng = StdRng::seed_from_u64(11);
    let noise = Normal::new(0.0, SD).unwrap();
    // Mixtures drawn uniformly over the simplex (sorted uniform cuts).
    let mut draw = |n: usize| -> Vec<Vec<f64>> {
        (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                let (lo, hi) = (u.min(v), u.max(v));
                vec![lo, hi - lo, 1.0 - hi]
            })
            .collect()
    };
    let mixtures = draw(40);
    let query = draw(97);
    let outcomes = (mixtures.iter())
        .map(|w| {
            vec![2.2 + 0.5 * (w[0] - 0.6).powi(2) + 0.3 * w[1].sqrt() + noise.sample(&mut rng)]
        })
        .collect();
    let names = ["web", "code", "books"].map(String::from);
    let space = Space::from_names("s", &names).unwrap();
    let targets = vec![TargetSpec::new("val_loss", Direction::Lower)];
    let runs = Runs::new(space, mixtures, targets, outcomes).unwrap();
    for kind in [SurrogateKind::Ensemble, SurrogateKind::Gp] {
        let spec = SurrogateSpec::fitted(kind, &AutoConfig::default());
        let model = (spec.fit::<Backend>(&runs, 0, &Default::default(), &mut ())).unwrap();
        let pred = model
            .predict(&query, &vec![Vec::new(); query.len()])
            .unwrap();
        let mut aleatoric: Vec<f64> = (0..query.len()).map(|i| pred.aleatoric_std(i, 0)).collect();
        aleatoric.sort_by(f64::total_cmp);
        let median = aleatoric[query.len() / 2];
        assert!(
            (0.6 * SD..1.5 * SD).contains(&median),
            "{kind:?}: aleatoric std {median} for noise sd {SD}"
        );
    }
}
