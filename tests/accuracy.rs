//! Accuracy floors on the shipped real data, with the DEFAULT training config. Figures quoted
//! are the reference tools' on the same splits (shared/datasets/README.md).

use mixatlas::burn::backend::Flex;
use mixatlas::predictor::{EnsembleConfig, Predictor, cross_validate, evaluate, fit};
use mixatlas::runs::{DataSpec, Runs};

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
fn regmix_floors() {
    let p = regmix();
    let test = Runs::load_with_schema(&spec("regmix-1m-test"), &p.meta.schema, true).unwrap();
    let m = &evaluate(&p, &test).unwrap().metrics[0];
    assert!(m.spearman >= 0.990, "1M test Spearman {}", m.spearman);
    assert!(
        (0.85..=0.95).contains(&m.coverage90),
        "90% coverage {}",
        m.coverage90
    );
    let big = Runs::load_with_schema(&spec("regmix-1b-test"), &p.meta.schema, true).unwrap();
    let m = &evaluate(&p, &big).unwrap().metrics[0];
    // Measured 0.973 with seed 0; the goal of 0.975 is not met yet (see README).
    assert!(m.spearman >= 0.965, "1B rank Spearman {}", m.spearman);
}

/// Olmix DCLM, mean of 110 BPB metrics, 5-fold out-of-fold (MLP x5 0.923, GP 0.893).
#[test]
fn olmix_floor() {
    let runs = Runs::load(&spec("olmix-dclm")).unwrap();
    let e = cross_validate::<Backend>(
        &runs,
        &EnsembleConfig::default(),
        5,
        0,
        &Default::default(),
        &mut (),
    )
    .unwrap();
    assert!(
        e.metrics[0].spearman >= 0.93,
        "Olmix 5-fold Spearman {}",
        e.metrics[0].spearman
    );
}
