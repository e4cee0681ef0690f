//! Accuracy floors on the shipped real data, with the DEFAULT training config. Figures quoted
//! are the reference tools' on the same splits (shared/datasets/README.md).

use mixatlas::acquisition::{AcquisitionKind, AcquisitionSpec, Scorer, build};
use mixatlas::burn::backend::Flex;
use mixatlas::device::Cpu;
use mixatlas::objective::{Objective, ObjectiveSpec};
use mixatlas::proposer::{PoolSource, Proposer, ProposerConfig};
use mixatlas::runs::{DataSpec, Runs, SchemaCheck};
use mixatlas::simulate::{SimulateConfig, simulate};
use mixatlas::space::Constraints;
use mixatlas::space::sampler::{DirichletSampler, Prior, prior_weights};
use mixatlas::surrogate::select::{AutoConfig, compare};
use mixatlas::surrogate::{
    EnsembleConfig, Fitted, GaussianProcess, GpConfig, LogLinear, LogLinearConfig, Predictor,
    Surrogate, SurrogateSpec, cross_validate, evaluate, fit,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::util::{Backend, repo};

fn spec(name: &str) -> DataSpec {
    DataSpec::from_file(&repo(&format!("configs/data/{name}.toml"))).unwrap()
}

fn regmix() -> Predictor<Flex> {
    let runs = Runs::load(&spec("regmix-1m-train")).unwrap();
    fit::<Backend>(
        &runs,
        &EnsembleConfig::default(),
        0,
        &Default::default(),
        &mut (),
    )
    .unwrap()
}

/// Fit 512 runs at 1M, predict 256 unseen mixtures at 1M (LightGBM 0.990, MLP x5 0.982) and
/// rank 64 runs at 1B; the 90% interval covers 85-95% of the 1M test runs.
#[test]
#[ignore = "slow tier: fits the default ensemble on 512 RegMix runs and simulates 10^6 recipes"]
fn regmix_floors() {
    let p = regmix();
    let test = Runs::load_with_schema(
        &spec("regmix-1m-test"),
        &p.meta.schema,
        SchemaCheck::WithTargets,
    )
    .unwrap();
    let model = Fitted::Ensemble(Box::new(p.clone()));
    let m = &evaluate(&model, &test).unwrap().metrics[0];
    assert!(m.spearman >= 0.990, "1M test Spearman {}", m.spearman);
    assert!(
        (0.85..=0.95).contains(&m.coverage90),
        "90% coverage {}",
        m.coverage90
    );
    let big = Runs::load_with_schema(
        &spec("regmix-1b-test"),
        &p.meta.schema,
        SchemaCheck::WithTargets,
    )
    .unwrap();
    let m = &evaluate(&model, &big).unwrap().metrics[0];
    // Measured 0.971 with seed 0; the goal of 0.975 is not met yet (see docs/figures.md).
    assert!(m.spearman >= 0.965, "1B rank Spearman {}", m.spearman);
    proposals_beat_the_logged_runs(&p);
}

/// With the same predictor: the best of 10^6 simulated recipes has a predicted Pile-CC loss
/// below every logged training run's, and pool mode over the 256 unseen test mixtures picks
/// one whose true loss is in their top 5%.
fn proposals_beat_the_logged_runs(p: &Predictor<Flex>) {
    let train = Runs::load(&spec("regmix-1m-train")).unwrap();
    let objective = Objective::new(
        &ObjectiveSpec::single("pile_cc_loss"),
        &p.meta.schema,
        &p.meta.target_norm,
    )
    .unwrap();
    let scorer = Scorer {
        surrogate: p,
        objective: &objective,
        context: Vec::new(),
        members: false,
    };
    let space = &p.meta.schema.space;
    let constraints = Constraints::simplex(space);
    let mean = AcquisitionSpec {
        kind: AcquisitionKind::Mean,
        ..AcquisitionSpec::default()
    };
    let ctx = scorer.acquisition_context(&train.outcomes, None).unwrap();
    let acq = build(
        &mean,
        &ctx,
        &p.capabilities(),
        &mut StdRng::seed_from_u64(0),
    )
    .unwrap();
    let sampler = DirichletSampler::around(prior_weights(space, Prior::Uniform));
    let config = SimulateConfig {
        samples: 1_000_000,
        chunk: 8192,
        top: 5,
        seed: 0,
        host_draws: false,
    };
    let sim = simulate(
        &scorer,
        acq.as_ref(),
        None,
        &sampler,
        &constraints,
        &config,
        &mut (),
    )
    .unwrap();
    let best_loss = sim.top_objective[0].targets[0];
    let logged_best = train.target(0).into_iter().fold(f64::INFINITY, f64::min);
    assert!(
        best_loss < logged_best,
        "simulated best {best_loss} vs logged best {logged_best}"
    );

    let test = Runs::load_with_schema(
        &spec("regmix-1m-test"),
        &p.meta.schema,
        SchemaCheck::WithTargets,
    )
    .unwrap();
    // Pool mode through the library's proposer: the model as it is, the acquisition `mean`.
    let config = ProposerConfig {
        acquisition: mean,
        objective: ObjectiveSpec::single("pile_cc_loss"),
        pool: Some(PoolSource::Mixtures(test.mixtures.clone())),
        min_distance: 0.0,
        ..ProposerConfig::default()
    };
    let model = Fitted::Ensemble(Box::new(p.clone()));
    let mut proposer =
        Proposer::<Cpu>::with_model(constraints, model, config, Default::default()).unwrap();
    let pick = proposer.ask(1).unwrap().proposals[0].pool_row.unwrap();
    let truth = test.target(0);
    let better = truth.iter().filter(|&&y| y < truth[pick]).count();
    assert!(better < 256 * 5 / 100, "pick ranks {} of 256", better + 1);
}

/// Olmix DCLM, mean of 110 BPB metrics, 5-fold out-of-fold (MLP x5 0.923, GP 0.893).
#[test]
#[ignore = "slow tier: 5-fold cross-validation on Olmix"]
fn olmix_floor() {
    let runs = Runs::load(&spec("olmix-dclm")).unwrap();
    let e = cross_validate::<Backend>(
        &runs,
        &SurrogateSpec::Ensemble(EnsembleConfig::default()),
        5,
        0,
        &Default::default(),
        &mut (),
    )
    .unwrap();
    // Measured 0.968 (0.938 with the old sqrt-linear, early-stopped defaults).
    assert!(
        e.metrics[0].spearman >= 0.96,
        "Olmix 5-fold Spearman {}",
        e.metrics[0].spearman
    );
}

/// The ARD GP (default config, seed 0) on RegMix: fit 512 @1M, 256 unseen @1M (scikit-learn's
/// ARD GP 0.9943, 90% coverage 0.934) and rank 64 @1B (scikit-learn 0.969).
#[test]
#[ignore = "slow tier: fits the GP on 512 RegMix runs"]
fn regmix_gp_floors() {
    let runs = Runs::load(&spec("regmix-1m-train")).unwrap();
    let gp = GaussianProcess::fit(&runs, &GpConfig::default(), 0).unwrap();
    let model = Fitted::<Flex>::Gp(Box::new(gp));
    let schema = model.surrogate().schema();
    let test = Runs::load_with_schema(&spec("regmix-1m-test"), schema, SchemaCheck::WithTargets);
    let m = &evaluate(&model, &test.unwrap()).unwrap().metrics[0];
    assert!(m.spearman >= 0.994, "1M test Spearman {}", m.spearman);
    assert!(
        (0.85..=0.95).contains(&m.coverage90),
        "90% coverage {}",
        m.coverage90
    );
    let big = Runs::load_with_schema(&spec("regmix-1b-test"), schema, SchemaCheck::WithTargets);
    let m = &evaluate(&model, &big.unwrap()).unwrap().metrics[0];
    assert!(m.spearman >= 0.965, "1B rank Spearman {}", m.spearman);
}

/// The ARD GP on Olmix DCLM, 5-fold out-of-fold with fold seeds 0 and 1 (scikit-learn's ARD GP
/// 0.978 / 0.973 on its own folds, 90% coverage 0.82 / 0.84): calibrated intervals cover 85-95%.
#[test]
#[ignore = "slow tier: 10 GP fits on Olmix"]
fn olmix_gp_floor() {
    let runs = Runs::load(&spec("olmix-dclm")).unwrap();
    for seed in [0, 1] {
        let spec = SurrogateSpec::Gp(GpConfig::default());
        let e = cross_validate::<Backend>(&runs, &spec, 5, seed, &Default::default(), &mut ());
        let m = &e.unwrap().metrics[0];
        assert!(m.spearman >= 0.973, "seed {seed}: Spearman {}", m.spearman);
        assert!(
            (0.85..=0.95).contains(&m.coverage90),
            "seed {seed}: 90% coverage {}",
            m.coverage90
        );
    }
}

/// The log-linear mixing law fitted at 1M ranks the 64 RegMix runs at 1B (the scale-transfer
/// model: scikit-learn's Huber fit of the same law 0.986, the ARD GP 0.969) and matches the
/// law's 1M -> 1M figure (0.9625) with calibrated intervals.
#[test]
#[ignore = "slow tier: 8 bootstrap fits and 5 calibration folds of the mixing law"]
fn regmix_loglinear_floors() {
    let runs = Runs::load(&spec("regmix-1m-train")).unwrap();
    let law = LogLinear::fit(&runs, &LogLinearConfig::default(), 0).unwrap();
    let model = Fitted::<Flex>::LogLinear(Box::new(law));
    let schema = model.surrogate().schema();
    let big = Runs::load_with_schema(&spec("regmix-1b-test"), schema, SchemaCheck::WithTargets);
    let m = &evaluate(&model, &big.unwrap()).unwrap().metrics[0];
    assert!(m.spearman >= 0.985, "1B rank Spearman {}", m.spearman);
    let test = Runs::load_with_schema(&spec("regmix-1m-test"), schema, SchemaCheck::WithTargets);
    let m = &evaluate(&model, &test.unwrap()).unwrap().metrics[0];
    assert!(m.spearman >= 0.96, "1M test Spearman {}", m.spearman);
    assert!(
        (0.85..=0.95).contains(&m.coverage90),
        "90% coverage {}",
        m.coverage90
    );
}

/// `auto` on Olmix DCLM, 5-fold out-of-fold over fold seeds 0, 1, 2: the comparison picks the
/// GP, whose mean Spearman is at least 0.975 (scikit-learn's ARD GP: 0.978 / 0.973 / 0.978 on its
/// own folds of seeds 0 / 1 / 2; mixatlas's seed-0 folds are the hardest, 0.973).
#[test]
#[ignore = "slow tier: 3 x 5-fold comparisons of three surrogates on Olmix"]
fn olmix_auto_floor() {
    let runs = Runs::load(&spec("olmix-dclm")).unwrap();
    let config = AutoConfig::default();
    let mut spearman = Vec::new();
    for seed in [0, 1, 2] {
        let compared = compare::<Backend>(&runs, &config, seed, &Default::default(), &mut ());
        let compared = compared.unwrap();
        let scores = compared.scores();
        let (_, score, e) = &compared.candidates[compared.winner()];
        assert!(
            (0.85..=0.95).contains(&e.metrics[0].coverage90),
            "{score:?}"
        );
        assert!(score.spearman >= 0.97, "seed {seed}: {scores:?}");
        spearman.push(score.spearman);
    }
    let mean = spearman.iter().sum::<f64>() / 3.0;
    assert!(
        mean >= 0.975,
        "mean out-of-fold Spearman {mean} ({spearman:?})"
    );
}
