//! `mixatlas predict`.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;

use crate::cli::args::PredictArgs;
use crate::cli::output;
use crate::device::BackendTask;
use crate::predictor::Prediction;
use crate::runs::{DataSpec, Runs, SchemaCheck};

struct Task {
    args: PredictArgs,
}

impl BackendTask for Task {
    /// Run keys, target names, predictions.
    type Output = Result<(Vec<String>, Vec<String>, Prediction)>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output {
        let predictor =
            super::load_predictor::<B>(&self.args.checkpoint, self.args.common.device, &device)?;
        let schema = &predictor.meta.schema;
        let mut spec = DataSpec::for_mixture_file(
            &self.args.input,
            schema.mixture_columns.clone(),
            self.args.key.clone(),
        );
        spec.renormalize = self.args.renormalize;
        let runs = Runs::load_with_schema(&spec, schema, SchemaCheck::MixturesOnly)?;
        let prediction = predictor.predict(&runs.mixtures, &runs.context)?;
        Ok((runs.keys, schema.target_names(), prediction))
    }
}

pub fn run(args: PredictArgs) -> Result<()> {
    let inputs = [args.input.as_path(), args.checkpoint.as_path()];
    output::check_file(args.output.as_deref(), args.force, &inputs)?;
    let json = args.common.json;
    let output = args.output.clone();
    let (keys, names, prediction) = args.common.device.dispatch(Task { args })??;
    output::write_predictions(&keys, &names, None, &prediction, json, output.as_deref())
}
